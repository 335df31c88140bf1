"""Concurrent placements of one plugin on a PostgreSQL tracking database take one reservation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from providers.targets import Targets
from worker.placement import Need, place
from worker.settings import Settings
from worker.tracking import db
from worker.tracking.models import TargetReservation, TargetUsage

TOML = """
[targets.pg-a]
driver = "postgresql"
admin_url = "postgresql://admin@db1/plugins"
capacity = { plugins = 10 }

[targets.pg-b]
driver = "postgresql"
admin_url = "postgresql://admin@db2/plugins"
capacity = { plugins = 10 }
"""


def test_one_plugin_placed_at_once_by_many_holds_one_reservation(
    tmp_path: Path, pg_tracking_url: str
) -> None:
    """Given 16 threads placing the same new plugin, all get one target and usage counts it once."""
    (tmp_path / "targets.toml").write_text(TOML)
    targets = Targets.from_settings(
        Settings.from_env({"PLUGIN_DB_TARGETS": str(tmp_path / "targets.toml")})
    )
    pool = list(targets.targets.values())
    db.upgrade(pg_tracking_url)
    engine = db.make_engine(pg_tracking_url)
    sessions = db.make_sessionmaker(engine)
    plugin_id = f"race-{tmp_path.name[-8:]}".lower().replace("_", "-")
    names = list(targets.targets)
    try:
        before = _used(sessions, names)  # the session's database: other tests' plugins too
        with ThreadPoolExecutor(16) as pool_exec:
            chosen = set(
                pool_exec.map(lambda _: place(sessions, pool, plugin_id, Need()), range(16))
            )
        assert len(chosen) == 1
        with sessions() as session:
            held = session.scalar(
                select(func.count()).where(TargetReservation.plugin_id == plugin_id)
            )
        assert (held, _used(sessions, names) - before) == (1, 1)
    finally:
        engine.dispose()


def _used(sessions: sessionmaker[Session], names: list[str]) -> int:
    """How many plugins the usage rows of ``names`` count."""
    with sessions() as session:
        query = select(func.sum(TargetUsage.plugins)).where(TargetUsage.target.in_(names))
        return int(session.scalar(query) or 0)
