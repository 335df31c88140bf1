"""A plugin's tracking rows as an accept or a run reads them: once, in as few transactions
as possible (the run's ride in its claim's transaction, see ``prefetch``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker

from worker import placement
from worker.lifecycle.lease import Claim
from worker.lifecycle.requests import Request
from worker.manifest import Manifest
from worker.states import UNFINISHED, Kind
from worker.tracking.db import tracking_errors
from worker.tracking.models import LifecycleOperation, PluginDatasource


@dataclass
class Tracked:
    """A plugin's tracking rows as one read saw them: its datasource and reservations.

    The manifest of its newest unfinished provision (``pending``) is read only when needed.
    """

    ds: PluginDatasource | None
    reserved: list[str]
    states: dict[str, str] | None = None
    """Target state overrides, when the read also fetched them (a provision's placement)."""
    pending: dict[str, Any] | None = None
    pending_read: bool = False


Seen = dict[str, Tracked]


@dataclass
class Held:
    """An operation leased to this process as it was inserted: what its run needs first."""

    claim: Claim
    seen: Seen
    """The plugin's rows, read in the insert's transaction."""
    request: Request
    manifest: Manifest
    """The manifest the accept worked out (valid while the datasource row is unchanged)."""
    stamp: datetime | None

    def manifest_if_current(self) -> Manifest | None:
        """The accept's manifest if the rows read at insert show the same datasource."""
        rows = self.seen.get(self.claim.op.plugin_id) if self.claim.op else None
        if rows is None:
            return None
        return self.manifest if stamp_of(rows) == self.stamp else None


def stamp_of(rows: Tracked) -> datetime | None:
    """When the datasource of ``rows`` last changed (None: no datasource)."""
    return rows.ds.updated_at if rows.ds is not None else None


_SEEN: ContextVar[Seen | None] = ContextVar("tracked_rows", default=None)


_DS = cast(Table, PluginDatasource.__table__)
_DS_BY_ID = select(_DS).where(_DS.c.plugin_id == bindparam("pid"))


def datasource_row(session: Session, plugin_id: str) -> PluginDatasource | None:
    """``plugin_id``'s datasource row as a detached object, read with one Core SELECT (no
    identity map or loading machinery: the run attaches it to each step's transaction)."""
    found = session.connection().execute(_DS_BY_ID, {"pid": plugin_id}).mappings().first()
    return None if found is None else stored_row(dict(found))


def stored_row(values: Mapping[str, Any]) -> PluginDatasource:
    """A datasource object holding ``values`` (every column) as its stored, unchanged state."""
    ds = PluginDatasource(**values)
    make_transient_to_detached(ds)
    return ds


def read_rows(session: Session, plugin_id: str, *, states: bool = False) -> Tracked:
    """``plugin_id``'s datasource and reservations (and target states) in ``session``."""
    return Tracked(
        datasource_row(session, plugin_id),
        placement.reserved(session, plugin_id),
        placement.state_overrides(session) if states else None,
    )


@contextmanager
def reading_once(seen: Seen | None = None) -> Iterator[None]:
    """Within the block, a plugin's tracking rows are read once (the block writes none);
    ``seen`` holds rows read already (``prefetch``)."""
    token = _SEEN.set({} if seen is None else seen)
    try:
        yield
    finally:
        _SEEN.reset(token)


def current() -> Seen | None:
    """The rows the enclosing ``reading_once`` block has read (None outside one)."""
    return _SEEN.get()


def prefetch(seen: Seen) -> Callable[[Session, LifecycleOperation], None]:
    """A callback reading an operation's plugin rows into ``seen`` (in the transaction that
    claims it, so the run's context needs no transaction of its own)."""

    def read(session: Session, op: LifecycleOperation) -> None:
        seen[op.plugin_id] = read_rows(session, op.plugin_id)

    return read


def tracked(reads: sessionmaker[Session], plugin_id: str) -> Tracked:
    """``plugin_id``'s rows: as read already in this block, else read now."""
    seen = _SEEN.get()
    if seen is not None and plugin_id in seen:
        return seen[plugin_id]
    with tracking_errors(), reads() as session:
        found = read_rows(session, plugin_id)
    if seen is not None:
        seen[plugin_id] = found
    return found


def pending(reads: sessionmaker[Session], plugin_id: str) -> dict[str, Any] | None:
    """The manifest of the plugin's newest unfinished provision (read once)."""
    rows = tracked(reads, plugin_id)
    if not rows.pending_read:
        with tracking_errors(), reads() as session:
            request = session.scalars(
                select(LifecycleOperation.request)
                .where(
                    LifecycleOperation.plugin_id == plugin_id,
                    LifecycleOperation.kind == Kind.PROVISION.value,
                    LifecycleOperation.state.in_(UNFINISHED),
                )
                .order_by(LifecycleOperation.id.desc())
            ).first()
        rows.pending_read = True
        if request is not None:
            rows.pending = request.get("manifest", {"id": plugin_id})
    return rows.pending
