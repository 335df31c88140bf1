"""The lifecycle engine: requests become persisted operations run as state machines."""
