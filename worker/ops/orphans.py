"""Orphans: storage named like a plugin's (by its driver's naming) that no datasource tracks.

Each target's driver looks for them (:meth:`~providers.base.Provider.find_orphans`), given the
plugins the target holds in any status but ``deleted``; every finding is a warning. A target
that cannot be scanned is an error finding, and the others are still scanned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from providers.base import PluginSpec
from providers.targets import Targets
from worker.errors import PluginDbError
from worker.ops.findings import Check, Finding, error, warning


def orphans(targets: Targets, live: Mapping[str, Sequence[PluginSpec]]) -> list[Finding]:
    """Every orphan the configured targets can see; ``live`` maps target → tracked specs."""
    findings: list[Finding] = []
    for name in targets.targets:
        try:
            found = targets.provider(name).find_orphans(live.get(name, ()))
        except (OSError, PluginDbError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            findings.append(
                error(
                    None,
                    Check.PROVIDER,
                    f"cannot scan target {name} for orphans: {reason}",
                    "check that the server is reachable with the target's admin URL",
                )
            )
            continue
        findings += [warning(o.plugin_id, Check.ORPHAN_STORAGE, o.what, o.remedy) for o in found]
    return findings
