"""Pure logic of the migration engine: status, dependency graph, plan rules, fleet scheduler."""

from __future__ import annotations

import pytest

from tests.support.stack import migration
from worker.errors import DriftDetected
from worker.migrations import deps, fleet, status
from worker.migrations.deps import DependencyError
from worker.migrations.entrypoint import OUTPUT_LIMIT, clean_output
from worker.migrations.files import parse, set_checksum
from worker.migrations.ledger import LedgerEntry
from worker.migrations.plan import MigrationBlocked, plan


def f(version: str, up: str = "CREATE TABLE t (id INTEGER);", down: str = "DROP TABLE t;"):
    return parse(f"{version}-m.sql", migration(up, down, version))


def row(version: str, state: str, checksum: str | None = None) -> status.TrackedRow:
    return status.TrackedRow(version, state, checksum)


def entry(file, complete: bool = True, checksum: str | None = None, done: int = 1) -> LedgerEntry:
    return LedgerEntry(file.version, checksum or file.checksum, done, complete)


# -- status ----------------------------------------------------------------------------------


def test_status_covers_every_state_and_the_set_checksum() -> None:
    files = [f("001"), f("002"), f("003"), f("004", up="SELECT 4;"), f("005"), f("006")]
    rows = [
        row("001", "completed", files[0].checksum),
        row("002", "completed", "0" * 64),  # the file changed since it ran
        row("004", "completed", files[3].checksum),
        row("005", "failed"),
        row("006", "rolled_back", files[5].checksum),
        row("009", "completed", "f" * 64),  # the file is gone
        row("schema-1.0.0", "completed"),  # the declarative registry: no file by design
    ]
    report = status.compute(files, rows)
    states = {v.version: v.state for v in report.versions}
    assert states == {
        "001": "completed",
        "002": "changed-since-applied",
        "003": "out-of-order",  # pending below the highest completed (004)
        "004": "completed",
        "005": "failed",
        "006": "rolled_back",
        "009": "missing-file",
        "schema-1.0.0": "completed",
    }
    assert [v.version for v in report.versions][-1] == "schema-1.0.0"
    assert report.set_checksum == set_checksum(files)
    assert report.in_state(*status.NOT_APPLIED) == ["003", "005", "006"]
    assert not report.up_to_date
    listing = report.to_json()
    assert {e["set_checksum"] for e in listing} == {report.set_checksum}
    assert listing[1]["status"] == "completed" and listing[1]["state"] == "changed-since-applied"


def test_status_pending_only_when_nothing_completed_below_and_repaired_rows_are_pending() -> None:
    files = [f("001"), f("002")]
    assert [v.state for v in status.compute(files, []).versions] == ["pending", "pending"]
    report = status.compute(
        files, [row("001", "completed", files[0].checksum), row("002", "pending")]
    )
    assert [v.state for v in report.versions] == ["completed", "pending"]
    done = status.compute(files, [row(x.version, "completed", x.checksum) for x in files])
    assert done.up_to_date and done.counts() == {"completed": 2}


# -- dependency graph ------------------------------------------------------------------------


def test_resolve_orders_dependencies_first_and_ignores_core() -> None:
    graph = {"x": ["core", "b", "a"], "b": ["a"], "a": ["core"]}
    assert deps.resolve("x", graph.get) == [("a", ["x", "b", "a"]), ("b", ["x", "b"])]


@pytest.mark.parametrize(
    ("graph", "root", "needle"),
    [
        ({"a": ["b"], "b": ["a"]}, "a", "dependency cycle: a -> b -> a"),
        ({"a": ["a"]}, "a", "dependency cycle: a -> a"),
        ({"x": ["a"], "a": ["b"], "b": ["c"], "c": ["a"]}, "x", "x -> a -> b -> c -> a"),
        ({"a": ["b"], "b": ["c"]}, "a", "missing dependency: a -> b -> c (c is not a plugin)"),
    ],
)
def test_cycles_and_missing_dependencies_name_the_chain(graph, root, needle) -> None:
    with pytest.raises(DependencyError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        deps.resolve(root, graph.get)


def test_fleet_order_is_topological_and_refuses_cycles_missing_and_their_dependents() -> None:
    graph = {
        "app": ["lib", "core"],
        "lib": ["base"],
        "base": [],
        "solo": [],
        "c1": ["c2"],
        "c2": ["c1"],
        "uses-cycle": ["c1"],
        "orphan": ["gone"],
    }
    order, refused = deps.fleet_order(graph)
    assert order == ["base", "lib", "app", "solo"]  # ties broken by id
    assert set(refused) == {"c1", "c2", "uses-cycle", "orphan"}
    assert "c1 -> c2 -> c1" in refused["c1"]
    assert "uses-cycle -> c1 -> c2 -> c1" in refused["uses-cycle"]
    assert "orphan -> gone (gone is not in the fleet)" in refused["orphan"]


# -- plan --------------------------------------------------------------------------------------


def test_an_incomplete_entry_is_not_drift_and_continues() -> None:
    one = f("001")
    fixed = f("001", up="CREATE TABLE t (id INTEGER);\nCREATE TABLE u (id INTEGER);")
    partial = {"001": entry(one, complete=False)}
    assert [p.file.version for p in plan([fixed], partial)] == ["001"]
    with pytest.raises(DriftDetected, match=r"001-m\.sql"):
        plan([fixed], {"001": entry(one)})


def test_a_failed_version_blocks_later_ones_unless_retried_repaired_or_forced() -> None:
    files = [f("001"), f("003")]  # 002 failed and its file was removed
    applied = {"001": entry(files[0])}
    with pytest.raises(MigrationBlocked, match=r"version 002 failed.*003"):
        plan(files, applied, failed=["002"])
    assert [p.file.version for p in plan(files, applied, failed=["002"], force=True)] == ["003"]
    assert [p.file.version for p in plan(files, applied, failed=[])] == ["003"]  # repaired
    retried = [f("001"), f("002"), f("003")]
    assert [p.file.version for p in plan(retried, applied, failed=["002"])] == ["002", "003"]
    assert plan(files, applied, target="001", failed=["002"]) == []  # nothing above it runs


def test_force_reruns_an_applied_target() -> None:
    files = [f("001"), f("002")]
    applied = {v.version: entry(v) for v in files}
    assert plan(files, applied) == []
    forced = plan(files, applied, target="001", force=True)
    assert [(p.direction, p.file.version) for p in forced] == [("up", "001")]


# -- fleet scheduler ----------------------------------------------------------------------------


def test_fleet_respects_dependencies_parallelism_and_skips_dependents_of_failures() -> None:
    graph = {"a": [], "b": ["a"], "c": [], "d": [], "e": ["d"], "f": []}
    order, _ = deps.fleet_order(graph)
    submitted: list[str] = []
    flying_max = 0
    live: set[str] = set()

    def submit(plugin: str) -> str:
        nonlocal flying_max
        for dep in graph[plugin]:
            assert dep not in live, f"{plugin} started while {dep} still ran"
        submitted.append(plugin)
        live.add(plugin)
        flying_max = max(flying_max, len(live))
        return f"r-{plugin}"

    def poll(request_ids: list[str]) -> dict[str, fleet.Outcome]:
        done = request_ids[:1]  # one finishes per tick
        for rid in done:
            live.discard(rid[2:])
        return {rid: ("failed" if rid == "r-d" else "succeeded", 1, None) for rid in done}

    items = fleet.Fleet(order, graph, 2, submit, poll, interval=0).run(wait=True)
    states = {i.plugin_id: i.state for i in items}
    assert states == {
        "a": "succeeded",
        "b": "succeeded",
        "c": "succeeded",
        "d": "failed",
        "e": "skipped",
        "f": "succeeded",
    }
    assert flying_max == 2 and "e" not in submitted
    assert next(i for i in items if i.plugin_id == "e").error == "dependency d failed"


# -- entry point output ------------------------------------------------------------------------


def test_entry_point_output_is_redacted_then_truncated_to_its_end() -> None:
    secret = "s3cr3t-passw0rd-value"
    raw = "x" * (OUTPUT_LIMIT * 2) + f"\npostgresql://u:{secret}@h/db\nlast line"
    text = clean_output(raw, len(raw), (secret,))
    assert secret not in text and text.endswith("last line")
    assert len(text) < OUTPUT_LIMIT + 100 and text.startswith("[output truncated")
    assert clean_output("short", 5, (None,)) == "short"
