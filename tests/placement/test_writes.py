"""A plugin keeps writing through its own login while a real worker relocates it.

A writer thread inserts rows one by one (autocommit) through the connection document's login,
re-reading the document whenever it reconnects. The fleet's worker holds this plugin's
relocation 2 s inside the write freeze (conftest), so the writer meets the freeze for sure: it
gets PostgreSQL's read-only error (SQLSTATE 25006), never another one, retries, and after the
switch writes through the new login at the destination, one generation up. Every row it was
told was committed is at the destination.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psycopg
from psycopg import errors
from sqlalchemy.engine import make_url

from tests.placement.conftest import WRITER
from tests.support.stack import Stack, migration, write_plugin
from worker.connection import read_connection
from worker.secrets import SecretBox
from worker.settings import Settings
from worker.states import OpState

ITEMS = migration(
    "CREATE TABLE items (id INTEGER PRIMARY KEY, body VARCHAR(100));",
    "DROP TABLE items;",
    version="001",
)


@dataclass
class Writer:
    """What the writer saw: acknowledged ids (with the generation), refusals, surprises."""

    acked: list[tuple[int, int]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


def _document(fleet: Stack) -> dict[str, object]:
    box = SecretBox.from_settings(Settings.from_env(fleet.env))
    with fleet.sessions() as session:
        return read_connection(session, box, WRITER)


def _dsn(doc: dict[str, object]) -> str:
    """libpq's form of the document's URL (the login's search_path finds the tables)."""
    return make_url(str(doc["url"])).set(query={}).render_as_string(hide_password=False)


def _write(fleet: Stack, seen: Writer) -> None:
    """Insert ids 1, 2, ... until told to stop; reconnect (re-reading the document) on error."""
    next_id, conn, generation = 1, None, 0
    while not seen.stop.is_set():
        try:
            if conn is None:
                doc = _document(fleet)
                conn = psycopg.connect(_dsn(doc), autocommit=True, connect_timeout=5)
                generation = int(str(doc["generation"]))
            conn.execute("INSERT INTO items (id, body) VALUES (%s, 'é')", [next_id])
            seen.acked.append((next_id, generation))
            next_id += 1
            continue
        except errors.UniqueViolation:  # committed just before its session ended: it is there
            seen.acked.append((next_id, generation))
            next_id += 1
        except errors.ReadOnlySqlTransaction as exc:
            seen.refused.append(str(exc))
        except psycopg.OperationalError:
            pass  # the session was ended (freeze, archive): connect again
        except psycopg.Error as exc:
            seen.unexpected.append(f"{type(exc).__name__}: {exc}")
        if conn is not None:
            conn.close()
            conn = None
        time.sleep(0.02)
    if conn is not None:
        conn.close()


def test_a_writer_sees_read_only_errors_during_the_freeze_and_loses_nothing(
    fleet: Stack, servers: dict[str, str]
) -> None:
    write_plugin(fleet.plugins_root, WRITER, "exclusive-postgres", {"001_items.sql": ITEMS})
    op = fleet.run("plugin_db.provision", {"plugin_id": WRITER, "target": "pg-old"}, timeout=120)
    assert op.state == OpState.SUCCEEDED.value, op.error
    before = int(str(_document(fleet)["generation"]))
    seen = Writer()
    thread = threading.Thread(target=_write, args=(fleet, seen), daemon=True)
    thread.start()
    try:
        fleet.wait_until(lambda: len(seen.acked) >= 20, what="the writer writes")
        moved = fleet.run("plugin_db.relocate", {"plugin_id": WRITER, "target": "pg-new"}, 180)
        assert moved.state == OpState.SUCCEEDED.value, moved.error
        fleet.wait_until(
            lambda: sum(g == before + 1 for _, g in seen.acked) >= 20, what="writes after"
        )
    finally:
        seen.stop.set()
        thread.join(timeout=30)
    assert not seen.unexpected, seen.unexpected
    assert seen.refused, "the writer never met the write freeze"
    assert all("read-only transaction" in text for text in seen.refused), seen.refused[:3]
    assert {g for _, g in seen.acked} == {before, before + 1}
    doc = _document(fleet)
    assert make_url(str(doc["url"])).port == make_url(servers["pg18"]).port  # the destination
    with psycopg.connect(_dsn(doc), autocommit=True) as conn:
        present = {row[0] for row in conn.execute("SELECT id FROM items")}
    missing = {i for i, _ in seen.acked} - present
    assert not missing, f"acknowledged writes lost: {sorted(missing)[:10]}"
    steps = {s["name"]: s["detail"] for s in moved.steps}
    assert steps["freeze_source"]["frozen"] is True
    assert isinstance(steps["switch_datasource"]["frozen_seconds"], float)
