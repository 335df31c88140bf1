"""Placement through the real worker: spread by capacity, never overfilled, refusals say why."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

from sqlalchemy import select
from typer.testing import CliRunner

from tests.support.stack import Stack, write_plugin
from worker.cli import app
from worker.states import OpState
from worker.tracking.models import AuditEvent, PluginDatasource, TargetUsage


def _provision_all(fleet: Stack, ids: list[str], **extra: object) -> dict[str, str]:
    """Send every provision at once, wait for all; plugin id → final state."""
    sent = {pid: fleet.send("plugin_db.provision", {"plugin_id": pid, **extra}) for pid in ids}
    return {pid: fleet.wait(rid, timeout=180).state for pid, rid in sent.items()}


def _targets_of(fleet: Stack, ids: list[str]) -> Counter[str]:
    with fleet.sessions() as session:
        rows = session.scalars(select(PluginDatasource).where(PluginDatasource.plugin_id.in_(ids)))
        return Counter(str(ds.target) for ds in rows)


def test_sixty_concurrent_provisions_spread_in_proportion_to_capacity(
    fleet: Stack, plugin_ids: Iterator[str]
) -> None:
    pg = [next(plugin_ids) for _ in range(30)]
    my = [next(plugin_ids) for _ in range(30)]
    for pid in pg:
        write_plugin(fleet.plugins_root, pid, "exclusive-postgres")
    for pid in my:
        write_plugin(fleet.plugins_root, pid, "exclusive-mysql", limits={"storageMb": 100})
    states = _provision_all(fleet, pg + my)
    assert set(states.values()) == {OpState.SUCCEEDED.value}, states
    # capacities 40:20 on both engines: the ideal split of 30 is 20:10, within one plugin
    spread_pg, spread_my = _targets_of(fleet, pg), _targets_of(fleet, my)
    assert abs(spread_pg["pg-a"] - 20) <= 1 and spread_pg["pg-a"] + spread_pg["pg-b"] == 30
    assert abs(spread_my["my-a"] - 20) <= 1 and spread_my["my-a"] + spread_my["my-b"] == 30
    with fleet.sessions() as session:
        usage = {row.target: row for row in session.scalars(select(TargetUsage))}
    assert usage["my-a"].storage_mb == 100 * spread_my["my-a"]
    listed = CliRunner().invoke(app, ["targets", "list", "--json"], env=fleet.env)
    assert listed.exit_code == 0, listed.output
    rows = {row["name"]: row for row in json.loads(listed.output)}
    assert rows["pg-b"]["usage"]["plugins"] == {
        "used": spread_pg["pg-b"],
        "capacity": 20,
        "percent": round(100 * spread_pg["pg-b"] / 20, 1),
    }
    assert rows["pg-a"]["plugins"] == spread_pg["pg-a"]


def test_a_full_target_is_never_exceeded_and_the_refusal_says_why(
    fleet: Stack, plugin_ids: Iterator[str]
) -> None:
    # files-a (tier=small) holds 3 plugins; 8 concurrent provisions ask for tier=small
    ids = [next(plugin_ids) for _ in range(8)]
    for pid in ids:
        write_plugin(
            fleet.plugins_root, pid, "exclusive-sqlite", placement={"labels": {"tier": "small"}}
        )
    states = _provision_all(fleet, ids)
    assert Counter(states.values()) == {OpState.SUCCEEDED.value: 3, OpState.REJECTED.value: 5}
    assert _targets_of(fleet, ids) == {"files-a": 3}
    refused = [pid for pid, state in states.items() if state == OpState.REJECTED.value]
    with fleet.sessions() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.plugin_id == refused[0])).all()
    text = json.dumps([e.details for e in events])
    assert "no open target has room" in text and "files-a: plugins 3+1/3" in text, text


def test_a_request_can_name_its_labels_and_a_mismatch_is_refused(
    fleet: Stack, plugin_ids: Iterator[str]
) -> None:
    pid, other = next(plugin_ids), next(plugin_ids)
    write_plugin(fleet.plugins_root, pid, "exclusive-sqlite")
    write_plugin(fleet.plugins_root, other, "exclusive-sqlite")
    states = _provision_all(fleet, [pid], placement={"labels": {"tier": "other"}})
    assert states[pid] == OpState.SUCCEEDED.value and _targets_of(fleet, [pid]) == {"files-b": 1}
    rid = fleet.send(
        "plugin_db.provision", {"plugin_id": other, "placement": {"labels": {"tier": "gold"}}}
    )
    op = fleet.wait(rid)
    assert op.state == OpState.REJECTED.value
    assert "carries labels tier=gold" in (op.error or ""), op.error
