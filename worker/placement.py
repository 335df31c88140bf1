"""Placement: which target a new plugin goes to, and the capacity it reserves there.

A plugin goes to the open target that serves its mode, carries its placement labels and has
the most headroom: the highest remaining share of its tightest capacity dimension once the
plugin is counted. Each placement reserves the plugin's share in ``target_reservations`` and
adds it to ``target_usage`` with a conditional UPDATE (under a row lock where the tracking
database has them), so concurrent provisions never overfill a target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import cast

import sqlalchemy as sa
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from providers.targets import DIMENSIONS, Target, Targets
from worker.errors import PlacementRefused
from worker.manifest import Manifest
from worker.tracking.models import TargetReservation, TargetUsage

Sessions = Callable[[], Session]
Usage = Mapping[str, int]


@dataclass(frozen=True)
class Need:
    """What one plugin takes: one plugin slot, its storage and connection limits."""

    storage_mb: int = 0
    connections: int = 0

    def amount(self, dimension: str) -> int:
        """The need in ``dimension``."""
        return {"plugins": 1, "storage_mb": self.storage_mb, "connections": self.connections}[
            dimension
        ]


def need_of(manifest: Manifest) -> Need:
    """The plugin's need: its ``limits`` (absent limits take nothing)."""
    limits = manifest.database.limits
    return Need(limits.storage_mb or 0, limits.connections or 0)


def headroom(target: Target, used: Usage, need: Need) -> float:
    """Remaining share of the tightest bounded dimension after adding ``need`` (<0: no room)."""
    shares = [
        (cap - used.get(dim, 0) - need.amount(dim)) / cap for dim, cap in target.capacity.items()
    ]
    return min(shares, default=1.0)


def matches(target: Target, labels: Mapping[str, str]) -> bool:
    """Whether ``target`` carries every one of ``labels``."""
    return all(target.labels.get(key) == value for key, value in labels.items())


def candidates(
    targets: Targets,
    mode: str,
    labels: Mapping[str, str],
    exclude: Iterable[str] = (),
    states: Mapping[str, str] | None = None,
) -> list[Target]:
    """Open targets serving ``mode`` that carry ``labels``; PlacementRefused names why none.

    ``states`` overrides the file's state of some targets (a drain in progress).
    """
    skip, overrides = set(exclude), states or {}
    serving = [
        replace(t, state=overrides.get(t.name, t.state))
        for t in targets.serving(mode)
        if t.name not in skip
    ]
    open_ = [t for t in serving if t.state == "open"]
    found = [t for t in open_ if matches(t, labels)]
    if found:
        return found
    if not serving:
        why = f"no target serves mode {mode}" + (f" besides {sorted(skip)}" if skip else "")
    elif not open_:
        shown = ", ".join(f"{t.name} ({t.state})" for t in serving)
        why = f"no target serving {mode} is open: {shown}"
    else:
        wanted = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        have = "; ".join(f"{t.name} {_labels(t)}" for t in open_)
        why = f"no open target serving {mode} carries labels {wanted}; open ones: {have}"
    raise PlacementRefused("no target fits", [f"placement: {why}"])


def _labels(target: Target) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(target.labels.items())) + "}"


def tightest(target: Target, used: Usage, need: Need) -> str:
    """``dimension used+need/capacity`` of the target's tightest dimension, for messages."""
    if not target.capacity:
        return "unbounded"
    dim = min(
        target.capacity, key=lambda d: (target.capacity[d] - used.get(d, 0)) / target.capacity[d]
    )
    return f"{dim} {used.get(dim, 0)}+{need.amount(dim)}/{target.capacity[dim]}"


def choose(pool: Sequence[Target], usage: Mapping[str, Usage], need: Need) -> Target:
    """The target of ``pool`` with the most headroom (file order breaks ties).

    Raises PlacementRefused naming the constraint and the closest targets when none fits.
    """
    scored = [(headroom(t, usage.get(t.name, {}), need), -i, t) for i, t in enumerate(pool)]
    best = max(scored, key=lambda s: (s[0], s[1]))
    if best[0] >= 0:
        return best[2]
    closest = sorted(scored, key=lambda s: (s[0], s[1]), reverse=True)[:3]
    shown = "; ".join(
        f"{t.name}: {tightest(t, usage.get(t.name, {}), need)}" for _, _, t in closest
    )
    raise PlacementRefused(
        "no target has room",
        [
            f"placement: no open target has room for 1 plugin, {need.storage_mb} MB, "
            f"{need.connections} connections; closest: {shown}"
        ],
    )


_USAGE_TABLE = cast(sa.Table, TargetUsage.__table__)
_RESERVATIONS = cast(sa.Table, TargetReservation.__table__)
_USAGE = _USAGE_TABLE.c
"""Core tables: placement's statements skip the ORM (it sits on every provision's path)."""


def usage_of(session: Session, names: Iterable[str], *, lock: bool = False) -> dict[str, Usage]:
    """``target_usage`` of ``names`` (locked FOR UPDATE in name order when ``lock``)."""
    u = _USAGE
    query = select(u.target, u.plugins, u.storage_mb, u.connections)
    query = query.where(u.target.in_(sorted(names)))
    if lock:
        query = query.order_by(u.target).with_for_update()
    return {
        str(name): {"plugins": plugins, "storage_mb": storage, "connections": connections}
        for name, plugins, storage, connections in session.execute(query)
    }


def state_overrides(session: Session) -> dict[str, str]:
    """Targets whose state the tracking database overrides (``targets drain``)."""
    query = select(TargetUsage.target, TargetUsage.state).where(TargetUsage.state.is_not(None))
    return {str(name): str(state) for name, state in session.execute(query).all()}


def set_state(sessions: Sessions, target: str, state: str | None) -> None:
    """Override ``target``'s state (None: the targets file's again)."""
    _ensure_rows(sessions, [target])
    with sessions() as session:
        session.execute(update(TargetUsage).where(TargetUsage.target == target).values(state=state))
        session.commit()


def reserved(session: Session, plugin_id: str) -> list[str]:
    """The targets holding a reservation of ``plugin_id`` (oldest first)."""
    r = _RESERVATIONS.c
    query = select(r.target).where(r.plugin_id == plugin_id).order_by(r.created_at)
    return [str(name) for name in session.scalars(query)]


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


def _take(session: Session, target: Target, need: Need) -> bool:
    """Add ``need`` to the target's usage if it stays within capacity; whether it did."""
    row = _USAGE
    query = update(_USAGE_TABLE).where(row.target == target.name)
    for dim, cap in target.capacity.items():
        query = query.where(row[dim] + need.amount(dim) <= cap)
    values = {dim: row[dim] + need.amount(dim) for dim in DIMENSIONS}
    done = session.execute(query.values(**values))
    return int(getattr(done, "rowcount", 0)) == 1


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
    names = [t.name for t in pool]
    with sessions() as session:
        for _ in range(len(pool) + 3):
            usage = usage_of(session, names, lock=True)
            if len(usage) < len(names):  # a target placement has not seen yet
                session.rollback()
                _ensure_rows(sessions, names)
                continue
            # read under the lock: a concurrent placement of the same plugin has committed
            held = reserved(session, plugin_id)
            if mine := [name for name in held if name in names]:
                session.commit()
                return mine[0]
            if replace and held:
                release(session, plugin_id)
            target = choose(pool, usage, need)
            if _take(session, target, need) and _reserve(session, plugin_id, target, need):
                return target.name
            session.rollback()  # filled or placed meanwhile: read again
        raise PlacementRefused("no target has room", ["placement: targets filled concurrently"])


def _reserve(session: Session, plugin_id: str, target: Target, need: Need) -> bool:
    """Record the reservation and commit; False if a concurrent placement recorded one first."""
    values: dict[str, object] = {"plugin_id": plugin_id, "target": target.name}
    values |= {"storage_mb": need.storage_mb, "connections": need.connections}
    try:
        session.execute(insert(_RESERVATIONS).values(values))
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


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


def place_new(
    sessions: Sessions,
    targets: Targets,
    manifest: Manifest,
    requested: str | None,
    labels: Mapping[str, str],
    *,
    states: Mapping[str, str] | None = None,
) -> str:
    """Place a plugin that lives nowhere yet: on ``requested`` if named, else the best fit.

    ``states``: the target state overrides when the caller read them already.
    """
    mode = manifest.database.mode.value
    if requested is not None:
        pool = [targets.choose(mode, requested)]
    else:
        if states is None:
            with sessions() as session:
                states = state_overrides(session)
        pool = candidates(targets, mode, labels, states=states)
    return place(sessions, pool, manifest.id, need_of(manifest))
