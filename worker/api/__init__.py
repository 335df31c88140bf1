"""The HTTP API (``plugin-db api``): a front door that records and enqueues, never runs work."""
