"""Celery tasks: thin wrappers that bind log context, call the service, declare retries."""
