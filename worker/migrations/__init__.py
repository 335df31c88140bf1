"""Per-plugin SQL migrations: file format, plans and the runner."""
