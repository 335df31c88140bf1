"""Engine and sessions of the tracking database, and its Alembic revision check."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, TextClause, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from worker.errors import TrackingOutOfDate, TrackingUnavailable

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where it is used: command-line reads never need it.
ALEMBIC_DIR = Path(__file__).resolve().parent.parent / "alembic"
READ_ONLY = "tracking_read_only"
"""Execution option of the engine behind ``read_sessions``."""
USED = "last_used"
IDLE_PING_SECONDS = 1.0
"""A pooled PostgreSQL/MySQL connection idle longer than this is pinged at checkout."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN IMMEDIATE
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # WAL + NORMAL: a commit survives the process being killed (SIGKILL included) and the
    # database is never corrupted; an OS crash or power loss may roll back the last commits
    # (the state stays consistent: a step whose record is lost runs again on redelivery, and
    # steps are idempotent). FULL would fsync every commit (~3 ms each here, five per
    # provision). Where power-loss durability of the tracking database matters, use
    # PostgreSQL tracking (synchronous_commit on).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Take the write lock up front: a deferred transaction that later writes can fail with
    # SQLITE_BUSY at once instead of waiting, when another process wrote in between. Read-only
    # sessions (``read_sessions``) begin deferred: in WAL mode they never wait for a writer.
    read = conn.get_execution_options().get(READ_ONLY, False)
    # on the driver's own connection: the one statement, without SQLAlchemy's cursor and result
    conn.connection.dbapi_connection.execute("BEGIN" if read else "BEGIN IMMEDIATE")


def _stamp(_dbapi_conn: Any, record: Any, *_: Any) -> None:
    record.info[USED] = time.monotonic()


def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Check a connection idle for a while before handing it out (a cheaper ``pre_ping``).

    A connection used within the last ``IDLE_PING_SECONDS`` is handed out as is: on the hot
    path (one operation's transactions, one after another) no checkout costs a round trip.
    One that sat idle is pinged; a dead one is replaced by the pool. A server lost in the
    short window between two uses fails the next statement instead, which
    ``tracking_errors`` turns into TrackingUnavailable (retried), after the pool has
    dropped its connections.
    """
    if time.monotonic() - record.info.get(USED, 0.0) < IDLE_PING_SECONDS:
        return
    try:
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_conn.rollback()  # the ping's own transaction: none is left open at checkout
    except Exception as exc:  # the driver's own error types: any failure means a dead link
        raise DisconnectionError(str(exc)) from exc
    record.info[USED] = time.monotonic()


_KEY_LOCKS: dict[str, TextClause | None] = {
    "sqlite": None,  # a writing transaction holds the database's write lock (BEGIN IMMEDIATE)
    "postgresql": text("SELECT pg_advisory_xact_lock(:key)"),
}
"""How each tracking database serializes transactions on a key until they end."""


def hold_key(session: Session, key: str) -> bool:
    """Serialize ``session``'s transaction with every other one holding ``key``, until it
    ends; False if this tracking database has no such lock (nothing was done)."""
    conn = session.connection()
    if conn.dialect.name not in _KEY_LOCKS:
        return False
    statement = _KEY_LOCKS[conn.dialect.name]
    if statement is not None:
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        conn.execute(statement, {"key": int.from_bytes(digest, "big", signed=True)})
    return True


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and immediate transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(url, pool_size=5, max_overflow=5)
    event.listen(engine.pool, "connect", _stamp)
    event.listen(engine.pool, "checkout", _ping_if_idle)
    event.listen(engine.pool, "checkin", _stamp)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit."""
    return sessionmaker(engine, expire_on_commit=False)


_READ_OPTIONS: dict[str, dict[str, Any]] = {
    # READ COMMITTED gives each statement its own snapshot, in a transaction or not: a read
    # outside one sees the same rows and saves the BEGIN and ROLLBACK round trips (and the
    # driver's DEALLOCATE ALL of its prepared statements after each ROLLBACK)
    "postgresql": {"isolation_level": "AUTOCOMMIT"},
}
"""Execution options of read-only sessions, by tracking database."""


def read_sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions like ``sessions`` for reads only: on SQLite they begin deferred, not IMMEDIATE;
    on PostgreSQL they run outside a transaction."""
    bind = sessions.kw["bind"]
    options = {READ_ONLY: True, **_READ_OPTIONS.get(bind.dialect.name, {})}
    return sessionmaker(bind.execution_options(**options), expire_on_commit=False)


@contextmanager
def tracking_errors() -> Iterator[None]:
    """Turn "cannot reach the tracking database" into TrackingUnavailable (retried)."""
    try:
        yield
    except OperationalError as exc:
        raise TrackingUnavailable(f"tracking database unavailable: {exc.orig}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise TrackingUnavailable("tracking database connection lost") from exc
        raise


def alembic_config(url: str) -> Config:
    """Alembic configuration for the tracking database at ``url``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The newest Alembic revision the code knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the tracking database is at (None if never upgraded)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the tracking database to ``revision`` (``plugin-db db upgrade``)."""
    from alembic import command

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            config = alembic_config(url)
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def require_current(engine: Engine) -> None:
    """Refuse to run on a tracking database that is behind the code."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise TrackingOutOfDate(
            f"the tracking database is at revision {current or 'none'}, the code needs {head}; "
            "run `plugin-db db upgrade` (same PLUGIN_DB_DATABASE_URL) and start again"
        )
