"""A step's datasource writes (``worker.lifecycle.datasource``): one statement per change, the
ORM object kept as stored, nothing left for the session to flush."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

from tests.support.stack import upgrade
from worker.lifecycle.datasource import set_status, write
from worker.states import DsStatus
from worker.tracking.db import make_engine, make_sessionmaker
from worker.tracking.models import PluginDatasource


@dataclass
class _Run:
    """The two things of a run's context that ``set_status`` uses on a new row."""

    plugin_id: str
    created: PluginDatasource | None = None


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """An up-to-date SQLite tracking database."""
    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    upgrade(url)
    made = make_engine(url)
    yield made
    made.dispose()


def _statements(engine: Engine) -> list[str]:
    sent: list[str] = []

    def listen(*args: Any) -> None:
        sent.append(args[2].split()[0])

    event.listen(engine, "before_cursor_execute", listen)
    return sent


def _create(sessions: sessionmaker[Session], plugin_id: str) -> PluginDatasource:
    run: Any = _Run(plugin_id)
    with sessions.begin() as session:
        return set_status(
            session, run, DsStatus.PROVISIONING, None, mode="exclusive-sqlite", provider="sqlite"
        )


def test_a_new_row_is_one_insert_and_stored_as_written(engine: Engine) -> None:
    """Creating the row sends one INSERT; the object is stored, with nothing to flush."""
    sessions = make_sessionmaker(engine)
    sent = _statements(engine)
    ds = _create(sessions, "ds-new")
    assert sent == ["INSERT"]
    with sessions() as session:
        stored = session.get(PluginDatasource, "ds-new")
        assert stored is not None
        for key in ("status", "mode", "provider", "descriptor", "manifest", "generation"):
            assert getattr(stored, key) == getattr(ds, key), key
    assert (stored.status, stored.generation, stored.descriptor) == ("provisioning", 1, {})


def test_an_unchanged_value_writes_nothing_and_a_changed_one_one_update(engine: Engine) -> None:
    """``write`` sends an UPDATE of the values that differ only, and leaves nothing dirty."""
    sessions = make_sessionmaker(engine)
    ds = _create(sessions, "ds-write")
    sent = _statements(engine)
    with sessions.begin() as session:
        held = session.merge(ds, load=False)
        write(session, held, descriptor={}, mode="exclusive-sqlite")
        assert sent == []
        write(session, held, descriptor={"url": "sqlite:///x"})
        assert sent == ["UPDATE"]
        assert not session.dirty and not inspect(held).modified
    with sessions() as session:
        stored = session.get(PluginDatasource, "ds-write")
        assert stored is not None and stored.descriptor == {"url": "sqlite:///x"}
