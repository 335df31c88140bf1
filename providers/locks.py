"""Per-plugin migration locks the drivers offer through :meth:`Provider.migration_lock`.

One migrate per plugin at a time, across workers and CLI processes. The lock is taken on the
plugin connection that runs the migrations, so a process that dies cannot leave it held:

* PostgreSQL: ``pg_try_advisory_lock(key)``, session level, released on disconnect;
* MySQL/MariaDB: ``GET_LOCK(name, timeout)``, released on disconnect;
* SQLite: ``BEGIN IMMEDIATE`` already serializes writers per file, but a plan is read before
  its versions run, so a lease row in ``<ledger>_lock`` (name, owner, expiry) covers the whole
  run. The lease is renewed between versions (at most every 15 s); a crashed holder's lease
  expires, or is taken over at once when its owner was a process of this host that no longer exists.
  In WAL mode the lease's writes commit without an fsync (``synchronous=NORMAL`` around them
  only): a killed process loses nothing, the next FULL commit (the migration's) makes the
  lease durable with it, and only a power loss may bring back a lease row whose owner is gone
  (taken over at expiry). The migrations themselves keep the connection's own setting.

Waiting is bounded by ``settings.lock_wait_seconds``; then :class:`LockTimeout` (transient,
so the operation is retried with backoff).
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from worker.errors import LockTimeout

LEASE_SECONDS = 120.0
"""SQLite lease length; renewed after a version once an eighth of it has passed (a renewal
is a write transaction on the plugin's file), so a version must fit in seven eighths."""
POLL_SECONDS = 0.1


class Lease:
    """A held lock; :meth:`renew` extends a SQLite lease (a no-op for server locks)."""

    def __init__(
        self, conn: Any, table: str | None = None, name: str = "", owner: str = ""
    ) -> None:
        self.conn, self.table, self.name, self.owner = conn, table, name, owner
        self.renewed = time.monotonic()

    def renew(self) -> None:
        """Push the lease's expiry forward (SQLite only; at most every LEASE_SECONDS / 8)."""
        if self.table is not None and time.monotonic() - self.renewed >= LEASE_SECONDS / 8:
            self.renewed = time.monotonic()
            self.conn.execute(
                f"UPDATE {self.table} SET expires_at = ? WHERE name = ? AND owner = ?",
                (time.time() + LEASE_SECONDS, self.name, self.owner),
            )


def lock_name(plugin_id: str) -> str:
    """The lock's name (at most 64 characters: MySQL's limit)."""
    return f"plugin_db_migrate:{plugin_id}"[:64]


def advisory_key(plugin_id: str) -> int:
    """A signed 64-bit PostgreSQL advisory lock key for ``plugin_id``."""
    digest = hashlib.sha256(lock_name(plugin_id).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _timeout(plugin_id: str, wait: float, how: str) -> LockTimeout:
    return LockTimeout(
        f"another migrate of {plugin_id} holds its migration lock ({how}); gave up after "
        f"{wait:g}s (PLUGIN_DB_LOCK_WAIT_SECONDS); the operation will be retried"
    )


def _scalar(conn: Any, sql: str, params: tuple[Any, ...]) -> Any:
    cursor = conn.cursor()
    try:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    finally:
        cursor.close()
    return None if row is None else row[0]


@contextmanager
def advisory_lock(conn: Any, plugin_id: str, wait: float) -> Iterator[Lease]:
    """PostgreSQL: a session-level advisory lock, polled until ``wait`` runs out."""
    key, deadline = advisory_key(plugin_id), time.monotonic() + wait
    while not _scalar(conn, "SELECT pg_try_advisory_lock(%s)", (key,)):
        if time.monotonic() >= deadline:
            raise _timeout(plugin_id, wait, "PostgreSQL advisory lock")
        time.sleep(POLL_SECONDS)
    try:
        yield Lease(conn)
    finally:
        with suppress(Exception):  # a broken connection released it already
            _scalar(conn, "SELECT pg_advisory_unlock(%s)", (key,))


@contextmanager
def named_lock(conn: Any, plugin_id: str, wait: float) -> Iterator[Lease]:
    """MySQL/MariaDB: ``GET_LOCK`` with a bounded wait."""
    name = lock_name(plugin_id)
    if _scalar(conn, "SELECT GET_LOCK(%s, %s)", (name, max(0.0, wait))) != 1:
        raise _timeout(plugin_id, wait, "GET_LOCK")
    try:
        yield Lease(conn)
    finally:
        with suppress(Exception):
            _scalar(conn, "SELECT RELEASE_LOCK(%s)", (name,))


def owner_token() -> str:
    """Who holds a SQLite lease: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_dead(owner: str) -> bool:
    """Whether a lease's owner is a process of this host that no longer exists.

    A SIGKILLed worker cannot delete its lease row; on the same host its absence is certain,
    so the lease is taken over at once instead of after its expiry (other hosts: expiry).
    """
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


@contextmanager
def _unsynced(conn: Any, wal: bool) -> Iterator[None]:
    """Commits without fsync in WAL mode (a lease needs no power-loss durability; in rollback
    journal mode NORMAL could corrupt on power loss, so the setting is kept there)."""
    if not wal:
        yield
        return
    level = conn.execute("PRAGMA synchronous").fetchone()[0]
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA synchronous={int(level)}")


def _try_lease(conn: Any, table: str, name: str, owner: str) -> bool:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except Exception:  # busy beyond the connection's busy timeout: not ours this round
        return False
    try:
        row = conn.execute(f"SELECT owner, expires_at FROM {table} WHERE name = ?", (name,))
        found = row.fetchone()
        now = time.time()
        held = found is not None and found[0] != owner and float(found[1]) > now
        if held and not owner_dead(str(found[0])):
            conn.execute("ROLLBACK")
            return False
        conn.execute(
            f"INSERT OR REPLACE INTO {table} (name, owner, expires_at) VALUES (?, ?, ?)",
            (name, owner, now + LEASE_SECONDS),
        )
        conn.execute("COMMIT")
    except BaseException:
        with suppress(Exception):
            conn.execute("ROLLBACK")
        raise
    return True


@contextmanager
def lease_lock(conn: Any, plugin_id: str, table: str, wait: float) -> Iterator[Lease]:
    """SQLite: a renewable lease row in ``table``, taken over when its holder died."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {table} (name VARCHAR(100) PRIMARY KEY, "
        "owner VARCHAR(200) NOT NULL, expires_at REAL NOT NULL)"
    )
    wal = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"
    name, owner, deadline = lock_name(plugin_id), owner_token(), time.monotonic() + wait
    while True:
        with _unsynced(conn, wal):
            if _try_lease(conn, table, name, owner):
                break
        if time.monotonic() >= deadline:
            raise _timeout(plugin_id, wait, f"lease row in {table}")
        time.sleep(POLL_SECONDS)
    try:
        yield Lease(conn, table, name, owner)
    finally:
        with suppress(Exception), _unsynced(conn, wal):
            conn.execute(f"DELETE FROM {table} WHERE name = ? AND owner = ?", (name, owner))
