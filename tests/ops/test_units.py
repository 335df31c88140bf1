"""Pure parts of the doctor: when an operation is stuck, the summary line, the JSON form."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from worker.ops.doctor import Report
from worker.ops.findings import Check, Finding, Severity, error, human_size, ok, warning
from worker.ops.operations import stuck_reason
from worker.settings import RetryPolicy, Settings
from worker.tracking.models import utcnow

SETTINGS = Settings(lease_seconds=60.0, retry=RetryPolicy(backoff_max=120.0))


def _op(state: str, idle: float, lease_in: float | None = None, owner: str | None = None) -> Any:
    return {"state": state, "idle": idle, "lease_in": lease_in, "owner": owner}


def _build(state: str, idle: float, lease_in: float | None, owner: str | None) -> Any:
    """The operation row as of now (built when the test runs, not when it is collected)."""
    now = utcnow()
    return SimpleNamespace(
        state=state,
        updated_at=(now - timedelta(seconds=idle)).replace(tzinfo=None),  # as SQLite returns it
        lease_expires_at=None if lease_in is None else now + timedelta(seconds=lease_in),
        lease_owner=owner,
    )


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (_op("running", 5, lease_in=30, owner="w"), None),  # leased and alive
        (_op("running", 400, lease_in=-300, owner="w"), "lease of w expired 5 min ago"),
        (_op("pending", 60), None),  # within 2 x lease
        (_op("pending", 130), "pending for 2 min"),
        (_op("running", 200), None),  # released, its retry countdown may still be running
        (_op("running", 300), "the retry never came"),
    ],
)
def test_stuck_reason(op: Any, expected: str | None) -> None:
    reason = stuck_reason(_build(**op), SETTINGS, utcnow())
    assert (reason is None) == (expected is None)
    assert expected is None or expected in (reason or "")


def test_report_summary_and_json() -> None:
    findings = [
        ok("a", Check.HEALTH, "ready"),
        warning("b", Check.MIGRATION_DRIFT, "changed", "restore it"),
        error("b", Check.STORAGE_MISSING, "gone", "purge"),
        error(None, Check.ORPHAN_STORAGE, "orphan", "drop it"),
    ]
    report = Report(findings, ["a", "b"])
    assert report.summary == "checked 2 plugins: 1 healthy, 1 warning, 2 errors"
    data = report.to_json()
    assert (data["warnings"], data["errors"], data["plugins_checked"]) == (1, 2, 2)
    assert data["findings"][1] == {
        "plugin_id": "b",
        "severity": "warning",
        "check": "migration_drift",
        "message": "changed",
        "fix": "restore it",
    }
    assert Finding("x", Severity.OK, "health", "fine").fix is None
    assert [human_size(n) for n in (512, 2048, 3 * 1024**2)] == ["512 B", "2.0 KiB", "3.0 MiB"]
