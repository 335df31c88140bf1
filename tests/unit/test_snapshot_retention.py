"""Snapshot retention (pure) and the sealed file format."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet

from worker.errors import SnapshotError
from worker.snapshots.policy import doomed
from worker.snapshots.sealed import FRAME, SealingWriter, unseal
from worker.tracking.models import PluginSnapshot, utcnow


def snap(id_: int, versions: list[str], age_days: float, keep_days: int = 30) -> PluginSnapshot:
    created = utcnow() - timedelta(days=age_days)
    return PluginSnapshot(
        id=id_,
        state="ready",
        ledger=[{"version": v} for v in versions],
        created_at=created,
        expires_at=created + timedelta(days=keep_days),
    )


def test_keep_and_keep_days_but_never_the_way_back_from_an_applied_migration() -> None:
    rows = [  # newest first
        snap(5, ["001", "002"], 0),
        snap(4, ["001", "002"], 1),
        snap(3, ["001", "002"], 2),
        snap(2, ["001"], 40),  # the only snapshot before 002, which is applied: kept
        snap(1, [], 50),  # before 001: the way back from 001, kept
    ]
    gone = doomed(rows, {"001", "002"}, keep=2, keep_days=30)
    assert [r.id for r in gone] == [3]
    assert [r.id for r in doomed(rows, {"001"}, keep=2, keep_days=30)] == [3, 2]


def test_sealed_round_trip_many_frames_and_key_rotation() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    payload = bytes(range(256)) * (3 * FRAME // 256) + b"tail"
    raw = io.BytesIO()
    writer = SealingWriter(raw, old)
    for i in range(0, len(payload), 70_000):
        writer.write(payload[i : i + 70_000])
    writer.close()
    assert writer.raw_bytes == len(payload)
    assert b"".join(unseal(io.BytesIO(raw.getvalue()), [new, old])) == payload
    with pytest.raises(SnapshotError, match="no longer lists"):
        b"".join(unseal(io.BytesIO(raw.getvalue()), [new]))
    with pytest.raises(SnapshotError, match=r"truncated|authentication"):
        b"".join(unseal(io.BytesIO(raw.getvalue()[:-10]), [old]))
