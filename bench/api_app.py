"""The API under benchmark plus a bare endpoint of the same framework, in one process.

``uvicorn --factory bench.api_app:make`` serves both; the bare route goes through the same
middleware stack and returns a document of the same shape without auth, database or audit.
"""

from __future__ import annotations

from fastapi import FastAPI

from worker.api.app import create_app

BARE = {
    "plugin_id": "bench",
    "url": "postgresql://u:p@127.0.0.1:5432/db?schema=s",
    "env": {"PLUGIN_DATABASE_URL": "postgresql://u:p@127.0.0.1:5432/db?schema=s"},
    "provider": "postgresql",
    "schema": "s",
    "database": "db",
    "username": "u",
    "generation": 1,
}


def make() -> FastAPI:
    """create_app() from the environment, with ``GET /bench/bare``."""
    app = create_app()

    @app.get("/bench/bare", include_in_schema=False)
    def bare() -> dict[str, object]:
        return BARE

    return app
