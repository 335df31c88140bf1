"""What a worker loads before its pool forks, so that no operation pays a first import.

Operations import some modules on first use (snapshot policy, credential retirement) and
build a sqlglot dialect on the first migration file they parse. In a prefork worker every
child would pay that on its first such operation (20-50 ms measured); loaded in the parent,
the children inherit it.
"""

from __future__ import annotations

import importlib

from providers.registry import get_provider_class
from worker.logging import get_logger
from worker.sqlguard_facts import prepare

log = get_logger("preload")

MODULES = (
    "worker.snapshots.policy",
    "worker.snapshots.service",
    "worker.rotation.retire",
)
"""Modules that operations import on first use."""
DRIVERS = ("sqlite", "postgresql", "mysql")
"""Built-in drivers whose SQL dialect migrations parse."""


def preload() -> None:
    """Import :data:`MODULES` and prepare the migration parser of every built-in driver."""
    for name in MODULES:
        importlib.import_module(name)
    for driver in DRIVERS:
        prepare(get_provider_class(driver).dialect)
    log.debug("worker_preloaded", modules=len(MODULES), drivers=len(DRIVERS))
