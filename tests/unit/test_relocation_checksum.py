"""The relocation checksum's text of a value: the same for the same data whatever the engine's
driver hands back (bool or 0/1, Decimal scale, aware or naive UTC, bytes or memoryview, JSON
as text or decoded, with keys in any order)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from worker.relocation.copy import normalise

NAIVE = datetime(2026, 11, 30, 5, 0, 1, 250000)
SAME: list[tuple[Any, Any, bool]] = [
    (True, 1, False),
    (False, 0, False),
    (Decimal("1.50"), Decimal("1.5"), False),
    (NAIVE.replace(tzinfo=UTC), NAIVE, False),
    (NAIVE.replace(tzinfo=timezone(timedelta(hours=2))) + timedelta(hours=2), NAIVE, False),
    (b"\x00\xff", memoryview(b"\x00\xff"), False),
    ('{"b": 1, "a": [1, null]}', {"a": [1, None], "b": 1}, True),
    (b'{"a": "\xc3\xa9"}', '{"a":"\\u00e9"}', True),
]


@pytest.mark.parametrize(("one", "other", "is_json"), SAME)
def test_equal_data_has_equal_text(one: Any, other: Any, is_json: bool) -> None:
    """Given two driver representations of one value, both normalise to the same text."""
    assert normalise(one, is_json) == normalise(other, is_json)


def test_texts_are_the_documented_ones() -> None:
    """Given each kind of value, its text is the one every engine can produce."""
    assert [normalise(v, False) for v in (None, True, 7, "x", 0.1, date(2026, 1, 2))] == [
        "\\N",
        "1",
        "7",
        "x",
        "0.1",
        "2026-01-02",
    ]
    assert normalise(NAIVE, False) == "2026-11-30 05:00:01.250000"
    assert normalise(Decimal("10.000"), False) == "10"
    assert normalise("not json", True) == "not json"
    assert normalise(None, True) == "\\N"
