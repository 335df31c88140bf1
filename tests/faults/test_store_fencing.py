"""The lease fence of OperationStore, without processes: a failed write keeps the claim valid."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from worker.errors import LeaseLost
from worker.lifecycle.store import OperationStore
from worker.states import Kind
from worker.tracking import db


def store_with_op(tmp_path: Path) -> tuple[OperationStore, int]:
    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    db.upgrade(url)
    store = OperationStore(db.make_sessionmaker(db.make_engine(url)), lease_seconds=30)
    op, _ = store.insert(
        kind=Kind.PROVISION,
        plugin_id="fence-me",
        request_id="r1",
        request={"plugin_id": "fence-me"},
        actor=None,
        task_id="t1",
    )
    return store, op.id


def test_a_fenced_transaction_that_fails_does_not_cost_the_worker_its_lease(
    tmp_path: Path,
) -> None:
    """Before the fix the claim's version moved on even when its transaction rolled back, so
    the next write of the same worker (recording the failure) raised LeaseLost and the
    operation stayed ``running`` until its lease expired and it was retried as a lost worker."""
    store, op_id = store_with_op(tmp_path)
    claim = store.claim(op_id)
    assert claim is not None
    with pytest.raises(RuntimeError), store.fenced(claim, current_step="x") as session:
        session.execute(text("SELECT 1"))
        raise RuntimeError("a write the database refused")
    with store.fenced(claim, current_step="y"):
        pass
    op = store.get(op_id)
    assert op is not None and op.current_step == "y" and op.version == claim.version


def test_a_stale_claim_is_still_refused(tmp_path: Path) -> None:
    store, op_id = store_with_op(tmp_path)
    claim = store.claim(op_id)
    assert claim is not None
    with store.fenced(claim, lease_expires_at=None, lease_owner=None):
        pass  # released, as a retry does
    newer = store.claim(op_id)
    assert newer is not None
    with pytest.raises(LeaseLost), store.fenced(claim, current_step="stale"):
        pass
    with store.fenced(newer, current_step="fresh"):
        pass
    op = store.get(op_id)
    assert op is not None and op.current_step == "fresh"
