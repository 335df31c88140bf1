"""Which target fits a new plugin: its need, each target's headroom, the best choice.

Pure functions over the targets file and usage figures; :mod:`worker.placement` reserves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from providers.targets import Target, Targets
from worker.errors import PlacementRefused
from worker.manifest import Manifest

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
