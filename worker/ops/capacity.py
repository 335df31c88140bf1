"""Targets filling up: every capacity dimension above :data:`FULL_SHARE` is a warning."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from providers.targets import Targets
from worker.ops.findings import Check, Finding, Severity
from worker.placement import usage_of

FULL_SHARE = 0.9
"""Share of a dimension's capacity above which ``doctor`` warns."""


def capacity_findings(sessions: Callable[[], Session], targets: Targets) -> list[Finding]:
    """One warning per target and dimension used above 90 % of its capacity."""
    bounded = [t for t in targets.targets.values() if t.capacity]
    if not bounded:
        return []
    with sessions() as session:
        usage = usage_of(session, [t.name for t in bounded])
    findings = []
    for target in bounded:
        used = usage.get(target.name, {})
        for dim, cap in target.capacity.items():
            value = used.get(dim, 0)
            if value > FULL_SHARE * cap:
                findings.append(
                    Finding(
                        None,
                        Severity.WARNING,
                        Check.TARGET_CAPACITY,
                        f"target {target.name} uses {value} of {cap} {dim} "
                        f"({100 * value / cap:.0f} %)",
                        "raise its capacity in the targets file, add a target with the same "
                        f"labels, or move plugins away: plugin-db targets drain {target.name}",
                    )
                )
    return findings
