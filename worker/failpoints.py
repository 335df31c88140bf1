"""Failpoints: named places where tests make the worker pause or die on purpose.

Off unless ``PLUGIN_DB_FAILPOINTS`` is set, e.g. ``after:create_storage=sleep:60`` or
``before:apply_migrations=crash``. ``after:STEP`` fires once the provider has acted but
before the step is recorded, the window a crash-safety proof needs. ``NAME@SCOPE`` (e.g.
``after:copy_data@my-plugin=sleep:60``) fires only for that plugin's operations.
"""

from __future__ import annotations

import os
import time
from functools import cache

from worker.logging import get_logger

log = get_logger("failpoints")


@cache
def _parse(spec: str) -> dict[str, str]:
    points: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, action = item.partition("=")
        points[name] = action
    return points


def hit(spec: str, name: str, scope: str | None = None) -> None:
    """Run the action configured for ``name`` (``sleep:SECONDS`` or ``crash``), if any;
    ``name@scope`` first, where a ``scope`` (the plugin id) is given."""
    points = _parse(spec) if spec else {}
    action = (points.get(f"{name}@{scope}") if scope else None) or points.get(name)
    if not action:
        return
    log.warning("failpoint_hit", failpoint=name, action=action)
    if action == "crash":
        os._exit(137)
    if action.startswith("sleep:"):
        time.sleep(float(action.split(":", 1)[1]))
