"""Placement: which target a new plugin goes to, and the capacity it reserves there.

A plugin goes to the open target that serves its mode, carries its placement labels and has
the most headroom: the highest remaining share of its tightest capacity dimension once the
plugin is counted. Each placement reserves the plugin's share in ``target_reservations`` and
adds it to ``target_usage`` with a conditional UPDATE (under a row lock where the tracking
database has them), so concurrent provisions never overfill a target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from providers.targets import DIMENSIONS, Target, Targets
from worker.errors import PlacementRefused
from worker.fit import Need, Usage, candidates, choose, headroom, matches, need_of, tightest
from worker.manifest import Manifest
from worker.tracking.direct import Direct
from worker.tracking.models import TargetReservation, TargetUsage, utcnow

__all__ = [
    "Again",
    "Need",
    "Placing",
    "candidates",
    "choose",
    "headroom",
    "matches",
    "need_of",
    "place",
    "placing_new",
    "release",
    "reserved",
    "set_state",
    "state_overrides",
    "tightest",
    "usage_of",
]

Sessions = Callable[[], Session]


_USAGE_TABLE = cast(sa.Table, TargetUsage.__table__)
_RESERVATIONS = cast(sa.Table, TargetReservation.__table__)
_USAGE = _USAGE_TABLE.c
_RESERVE = Direct(_RESERVATIONS.insert())
"""Core tables: placement's statements skip the ORM (it sits on every provision's path)."""


@cache
def _usage_query(lock: bool) -> Any:
    u = _USAGE
    query = select(u.target, u.plugins, u.storage_mb, u.connections)
    query = query.where(u.target.in_(bindparam("names", expanding=True)))
    return query.order_by(u.target).with_for_update() if lock else query


_STATES = select(_USAGE.target, _USAGE.state).where(_USAGE.state.is_not(None))
_RESERVED = (
    select(_RESERVATIONS.c.target)
    .where(_RESERVATIONS.c.plugin_id == bindparam("plugin_id"))
    .order_by(_RESERVATIONS.c.created_at)
)


def usage_of(session: Session, names: Iterable[str], *, lock: bool = False) -> dict[str, Usage]:
    """``target_usage`` of ``names`` (locked FOR UPDATE in name order when ``lock``)."""
    rows = session.connection().execute(_usage_query(lock), {"names": sorted(names)})
    return {
        str(name): {"plugins": plugins, "storage_mb": storage, "connections": connections}
        for name, plugins, storage, connections in rows
    }


def state_overrides(session: Session) -> dict[str, str]:
    """Targets whose state the tracking database overrides (``targets drain``)."""
    return {str(name): str(state) for name, state in session.connection().execute(_STATES)}


def set_state(sessions: Sessions, target: str, state: str | None) -> None:
    """Override ``target``'s state (None: the targets file's again)."""
    _ensure_rows(sessions, [target])
    with sessions() as session:
        session.execute(update(TargetUsage).where(TargetUsage.target == target).values(state=state))
        session.commit()


def reserved(session: Session, plugin_id: str) -> list[str]:
    """The targets holding a reservation of ``plugin_id`` (oldest first)."""
    found = session.connection().scalars(_RESERVED, {"plugin_id": plugin_id})
    return [str(name) for name in found]


def _ensure_rows(sessions: Sessions, names: Sequence[str]) -> None:
    """Create missing ``target_usage`` rows (a concurrent creator is fine)."""
    with sessions() as session:
        have = set(session.scalars(select(TargetUsage.target).where(TargetUsage.target.in_(names))))
        for name in names:
            if name in have:
                continue
            try:
                with session.begin_nested():
                    session.add(TargetUsage(target=name, plugins=0, storage_mb=0, connections=0))
            except IntegrityError:
                pass
        session.commit()


@cache
def _take_statement(bounded: tuple[str, ...]) -> Direct:
    """The conditional UPDATE adding a need, for a target bounded in ``bounded``."""
    row = _USAGE
    query = update(_USAGE_TABLE).where(row.target == bindparam("t_name"))
    for dim in bounded:
        query = query.where(row[dim] + bindparam(f"n_{dim}") <= bindparam(f"cap_{dim}"))
    return Direct(query.values({dim: row[dim] + bindparam(f"n_{dim}") for dim in DIMENSIONS}))


def _take(session: Session, target: Target, need: Need) -> bool:
    """Add ``need`` to the target's usage if it stays within capacity; whether it did."""
    params: dict[str, object] = {"t_name": target.name}
    params |= {f"n_{dim}": need.amount(dim) for dim in DIMENSIONS}
    params |= {f"cap_{dim}": cap for dim, cap in target.capacity.items()}
    statement = _take_statement(tuple(target.capacity))
    return statement.run(session.connection(), params) == 1


class Again(Exception):
    """One placement attempt must be made again (outside its transaction).

    ``missing``: ``target_usage`` rows to create first.
    """

    def __init__(self, missing: Sequence[str] = ()) -> None:
        super().__init__("placement: read again")
        self.missing = list(missing)


@dataclass(frozen=True)
class Placing:
    """A placement to make: ``plugin_id``'s ``need`` on the best target of ``pool``.

    Calling it makes one attempt in the caller's transaction (which commits it, with
    whatever else it writes); it raises Again when the transaction must be made again.
    """

    pool: Sequence[Target]
    plugin_id: str
    need: Need
    replace: bool = True

    def __call__(self, session: Session) -> str:
        """Reserve in ``session``; the target's name."""
        names = [t.name for t in self.pool]
        usage = usage_of(session, names, lock=True)
        if len(usage) < len(names):  # a target placement has not seen yet
            raise Again(names)
        # read under the lock: a concurrent placement of the same plugin has committed
        held = reserved(session, self.plugin_id)
        if mine := [name for name in held if name in names]:
            return mine[0]
        if self.replace and held:
            release(session, self.plugin_id)
        target = choose(self.pool, usage, self.need)
        if not _take(session, target, self.need):
            raise Again()  # filled meanwhile
        values: dict[str, object] = {"plugin_id": self.plugin_id, "target": target.name}
        values |= {"storage_mb": self.need.storage_mb, "connections": self.need.connections}
        _RESERVE.run(session.connection(), {**values, "created_at": utcnow()})
        return target.name


def attempts(pool: Sequence[Target]) -> int:
    """How many times a placement on ``pool`` is tried before PlacementRefused."""
    return len(pool) + 3


def prepare(sessions: Sessions, again: Again) -> None:
    """What an attempt needs before it is made again (outside any transaction)."""
    if again.missing:
        _ensure_rows(sessions, again.missing)


def place(
    sessions: Sessions,
    pool: Sequence[Target],
    plugin_id: str,
    need: Need,
    *,
    replace: bool = True,
) -> str:
    """Reserve ``need`` for ``plugin_id`` on the best target of ``pool``; its name.

    A reservation the plugin holds in ``pool`` already is kept (placement is idempotent).
    With ``replace`` (a plugin not yet living anywhere) reservations elsewhere are given
    back; relocation passes ``replace=False`` to keep the source's until the switch.
    """
    placing = Placing(pool, plugin_id, need, replace)
    with sessions() as session:
        for _ in range(attempts(pool)):
            try:
                name = placing(session)
                session.commit()
                return name
            except Again as again:
                session.rollback()
                prepare(sessions, again)
            except IntegrityError:  # a concurrent placement recorded one first
                session.rollback()
        raise PlacementRefused("no target has room", ["placement: targets filled concurrently"])


def release(session: Session, plugin_id: str, target: str | None = None) -> None:
    """Give back ``plugin_id``'s reservations (on ``target`` only, when given), in ``session``."""
    query = select(TargetReservation).where(TargetReservation.plugin_id == plugin_id)
    if target is not None:
        query = query.where(TargetReservation.target == target)
    row = TargetUsage.__table__.c
    for held in session.scalars(query).all():
        session.execute(
            update(TargetUsage)
            .where(row.target == held.target)
            .values(
                plugins=row.plugins - 1,
                storage_mb=row.storage_mb - held.storage_mb,
                connections=row.connections - held.connections,
            )
        )
        session.execute(
            delete(TargetReservation).where(
                TargetReservation.plugin_id == plugin_id, TargetReservation.target == held.target
            )
        )


def placing_new(
    sessions: Sessions,
    targets: Targets,
    manifest: Manifest,
    requested: str | None,
    labels: Mapping[str, str],
    *,
    states: Mapping[str, str] | None = None,
) -> Placing:
    """The placement of a plugin that lives nowhere yet (PlacementRefused if none can be)."""
    mode = manifest.database.mode.value
    if requested is not None:
        pool = [targets.choose(mode, requested)]
    else:
        if states is None:
            with sessions() as session:
                states = state_overrides(session)
        pool = candidates(targets, mode, labels, states=states)
    return Placing(pool, manifest.id, need_of(manifest))
