"""plugin-db: the worker that gives every platform plugin the database it asked for."""
