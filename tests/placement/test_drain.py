"""Draining a target moves every plugin on it elsewhere, and the target ends empty."""

from __future__ import annotations

import json
from collections.abc import Iterator

import sqlalchemy as sa
from typer.testing import CliRunner

from tests.support.stack import Stack, migration, write_plugin
from worker.cli import app
from worker.states import OpState

PLUGINS = 20
NOTES = migration(
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"
    "INSERT INTO notes (id, body) VALUES (1, 'ünï'), (2, NULL);",
    "DROP TABLE notes;",
    version="001",
)


def test_drain_moves_every_plugin_and_empties_the_target(
    fleet: Stack, plugin_ids: Iterator[str]
) -> None:
    ids = [next(plugin_ids) for _ in range(PLUGINS)]
    for pid in ids:
        write_plugin(fleet.plugins_root, pid, "exclusive-sqlite", {"001_notes.sql": NOTES})
    sent = [
        fleet.send("plugin_db.provision", {"plugin_id": pid, "target": "files-c"}) for pid in ids
    ]
    assert {fleet.wait(rid, timeout=120).state for rid in sent} == {OpState.SUCCEEDED.value}
    drained = CliRunner().invoke(
        app, ["targets", "drain", "files-c", "--parallel", "4", "--json"], env=fleet.env
    )
    assert drained.exit_code == 0, drained.output
    report = json.loads(drained.output[drained.output.index("{") :])
    assert (report["moved"], report["failed"], report["left"]) == (PLUGINS, [], [])
    for pid in ids:
        ds = fleet.datasource(pid)
        assert ds is not None and ds.target == "files-b", (pid, ds and ds.target)
        path = ds.descriptor["url"]
        with sa.create_engine(f"sqlite:///{path.removeprefix('sqlite:///')}").connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM notes")).scalar_one() == 2
    listed = CliRunner().invoke(app, ["targets", "list", "--json"], env=fleet.env)
    rows = {row["name"]: row for row in json.loads(listed.output)}
    assert rows["files-c"]["state"] == "draining" and rows["files-c"]["plugins"] == 0
