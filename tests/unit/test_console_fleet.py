"""The console's fleet table: every column sorts (both ways, unknown values last) and filters;
where the live stream starts; sizes in binary units."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from worker.console.fleet import CHOICES, COLUMNS, FleetQuery, FleetRow, _sorted
from worker.console.live import start_position
from worker.console.routes import human_size

MIB = 1024 * 1024
NOW = datetime.now(UTC)
BASE = FleetRow(
    plugin="a",
    mode="exclusive-sqlite",
    target="sqlite",
    status="ready",
    size_bytes=None,
    limit_bytes=None,
    connections=None,
    migration=None,
    drift="none",
    drift_detail="",
    next_rotation=None,
    rotation="none",
)
ROWS = [
    replace(BASE, plugin="c", size_bytes=MIB // 2, limit_bytes=MIB, connections=10,
            migration="002", drift="drift", next_rotation=NOW - timedelta(days=1), rotation="due"),
    replace(BASE, plugin="a", mode="exclusive-postgres", target="pg", status="failed",
            size_bytes=MIB // 10, limit_bytes=MIB, connections=5, migration="001",
            drift="pending", next_rotation=NOW + timedelta(days=3), rotation="scheduled"),
    replace(BASE, plugin="b", status="archived", drift=""),
]  # fmt: skip


@pytest.mark.parametrize("column", COLUMNS)
def test_every_column_sorts_both_ways_with_unknown_values_last(column: str) -> None:
    up, down = _sorted(ROWS, column), _sorted(ROWS, "-" + column)
    assert sorted(r.plugin for r in up) == sorted(r.plugin for r in down) == ["a", "b", "c"]
    known = sum(r.key(column) is not None for r in ROWS)
    assert [r.key(column) for r in up[:known]] == sorted(r.key(column) for r in up[:known])
    assert [r.key(column) for r in down[:known]] == sorted(
        (r.key(column) for r in down[:known]), reverse=True
    )
    assert all(r.key(column) is None for r in up[known:] + down[known:])


def test_size_sorts_by_share_of_the_limit() -> None:
    assert [r.plugin for r in _sorted(ROWS, "-size")] == ["c", "a", "b"]
    assert ROWS[0].size_percent == 50.0 and ROWS[2].size_percent is None


@pytest.mark.parametrize("column", CHOICES)
def test_every_choice_column_filters_on_its_value(column: str) -> None:
    value = ROWS[0].cell(column)
    kept = [r.plugin for r in ROWS if FleetQuery(choices={column: value}).keeps(r)]
    assert kept and "c" in kept
    assert all(ROWS[[x.plugin for x in ROWS].index(p)].cell(column) == value for p in kept)


def test_id_and_size_filters_and_the_query_string() -> None:
    query = FleetQuery.from_params({"q": "c", "full": "40", "drift": "drift", "sort": "-size"})
    assert [r.plugin for r in ROWS if query.keeps(r)] == ["c"]
    assert [r.plugin for r in ROWS if FleetQuery(full=40).keeps(r)] == ["c"]
    assert query.params(sort="plugin") == {
        "q": "c",
        "full": "40",
        "drift": "drift",
        "sort": "plugin",
    }


def test_malformed_parameters_are_ignored() -> None:
    query = FleetQuery.from_params({"sort": "password", "full": "-3", "nope": "x"})
    assert query == FleetQuery()


@pytest.mark.parametrize(
    ("last_event_id", "after", "expected"),
    [("7", "3", 7), (None, "3", 3), ("", "", 42), ("x1", "-2", 42), ("9" * 19, None, 42)],
)
def test_the_live_stream_starts_after_last_event_id_then_after_then_the_head(
    last_event_id: str | None, after: str | None, expected: int
) -> None:
    assert start_position(last_event_id, after, head=42) == expected


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (None, ""),
        (512, "512 B"),
        (2048, "2.0 KiB"),
        (3 * MIB // 2, "1.5 MiB"),
        (5 << 40, "5120.0 GiB"),
    ],
)
def test_sizes_read_in_binary_units(size: int | None, text: str) -> None:
    assert human_size(size) == text
