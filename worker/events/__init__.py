"""Lifecycle events: the transactional outbox, its relay, the stream and the connection sink."""
