"""The tracking database's Alembic history matches the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tests.support.env import fresh_pg_database
from worker.errors import TrackingOutOfDate
from worker.tracking import db
from worker.tracking.models import Base


def _check(url: str) -> None:
    db.upgrade(url)
    engine = db.make_engine(url)
    try:
        db.require_current(engine)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        with engine.begin() as conn:
            config = db.alembic_config(url)
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        with pytest.raises(TrackingOutOfDate, match="plugin-db db upgrade"):
            db.require_current(engine)
    finally:
        engine.dispose()


def test_sqlite_upgrade_matches_models_and_downgrades(tmp_path: Path) -> None:
    """Upgrading a fresh SQLite file yields exactly the models; downgrade empties it."""
    _check(f"sqlite:///{tmp_path / 'tracking.db'}")


def test_postgres_upgrade_matches_models_and_downgrades() -> None:
    """The same on PostgreSQL, the production tracking database."""
    with fresh_pg_database() as url:
        _check(url)
