"""Failpoints: named places where tests make the worker pause or die on purpose.

Off unless ``PLUGIN_DB_FAILPOINTS`` is set, e.g. ``after:create_storage=sleep:60`` or
``before:apply_migrations=crash``. ``after:STEP`` fires once the provider has acted but
before the step is recorded, the window a crash-safety proof needs. ``kill`` sends the
process SIGKILL. With ``PLUGIN_DB_FAILPOINT_MARKS`` naming a folder, each failpoint fires
once: a marker file is written there first, and a failpoint with a marker is passed over (so
one operation can be killed at each of its step boundaries in turn). ``NAME@PLUGIN`` (e.g.
``after:copy_data@my-plugin=sleep:60``) fires only for that plugin's operations.
"""

from __future__ import annotations

import os
import signal
import time
from functools import cache
from pathlib import Path

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
    """Run the action configured for ``name`` (``sleep:SECONDS``, ``crash``, ``kill``), if any;
    ``name@scope`` first, where a ``scope`` (the plugin id) is given."""
    points = _parse(spec) if spec else {}
    action = (points.get(f"{name}@{scope}") if scope else None) or points.get(name)
    if not action or not _first_time(name):
        return
    log.warning("failpoint_hit", failpoint=name, action=action)
    if action == "crash":
        os._exit(137)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action.startswith("sleep:"):
        time.sleep(float(action.split(":", 1)[1]))


def _first_time(name: str) -> bool:
    """False if ``PLUGIN_DB_FAILPOINT_MARKS`` holds this failpoint's marker; else mark it."""
    folder = os.environ.get("PLUGIN_DB_FAILPOINT_MARKS")
    if not folder:
        return True
    try:
        os.close(os.open(Path(folder) / name.replace(":", "-"), os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return False
    return True
