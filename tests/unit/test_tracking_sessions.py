"""Sessions of a PostgreSQL tracking database: reads outside a transaction, writes inside one,
whichever ran on a pooled connection before."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from worker.tracking import db


@pytest.fixture
def engine(pg_tracking_url: str) -> Iterator[Engine]:
    """An engine of the session's PostgreSQL tracking database, with one pooled connection."""
    made = db.make_engine(pg_tracking_url)
    yield made
    made.dispose()


def _driver(session: Session) -> Any:
    return session.connection().connection.dbapi_connection


def test_a_read_runs_outside_a_transaction_and_a_write_after_it_inside_one(
    engine: Engine,
) -> None:
    """A read session is in autocommit; the next write session on that connection is not."""
    sessions = db.make_sessionmaker(engine)
    reads = db.read_sessions(sessions)
    for _ in range(2):
        with reads() as session:
            session.execute(text("SELECT 1"))
            assert _driver(session).autocommit is True
            assert _driver(session).info.transaction_status is TransactionStatus.IDLE
        with sessions.begin() as session:
            session.execute(text("SELECT 1"))
            assert _driver(session).autocommit is False
            assert _driver(session).info.transaction_status is TransactionStatus.INTRANS


def test_a_connection_pinged_after_idling_holds_no_transaction(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The idle ping's SELECT does not leave a transaction open for the next user."""
    sessions = db.make_sessionmaker(engine)
    reads = db.read_sessions(sessions)
    with sessions.begin() as session:
        session.execute(text("SELECT 1"))
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
    time.sleep(0.01)
    with reads() as session:  # pinged at checkout, then switched to autocommit
        session.execute(text("SELECT 1"))
        assert _driver(session).autocommit is True
