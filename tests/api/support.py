"""The API test helpers live in tests/support/api.py; this name stays for existing imports."""

from tests.support.api import Api, free_port, served_api, sqlite_api

__all__ = ["Api", "free_port", "served_api", "sqlite_api"]
