"""Prometheus metrics of the worker and the API.

Two kinds of series:

* **live** ones, counted where things happen (operation outcomes and retries from the audit
  trail, step durations from the runner, storage sizes from the periodic doctor). A prefork
  worker counts them in every pool process through prometheus_client's multiprocess mode
  (``PROMETHEUS_MULTIPROC_DIR``, set by :func:`serve_worker` before the pool forks);
* **tracking** ones, read from the tracking tables at scrape time by
  :mod:`worker.metrics_tracking` (plugins by status, operations by state, outbox, webhooks,
  retirements), so every exporter shows the same fleet.

Names, types, labels and meanings are catalogued in :mod:`worker.metrics_catalogue`.

Labels are bounded: kinds, states, steps, statuses, providers. Only the low-volume storage
gauges carry ``plugin_id`` (one series per plugin, updated once per doctor run).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from worker.logging import get_logger
from worker.metrics_catalogue import OUTCOME_EVENTS, RETRY_EVENTS, help_of
from worker.metrics_tracking import TrackingCollector
from worker.settings import Settings

log = get_logger("metrics")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass(frozen=True)
class Live:
    """The series counted where things happen."""

    operations: Counter
    steps: Histogram
    retries: Counter
    rejected_messages: Counter
    storage_bytes: Gauge
    storage_limit: Gauge
    quota_ratio: Gauge
    registry: CollectorRegistry


@cache
def live() -> Live:
    """The live series, made on first use (after the multiprocess mode is decided)."""
    reg = CollectorRegistry()
    per_plugin: dict[str, Any] = {"registry": reg, "multiprocess_mode": "mostrecent"}
    return Live(
        registry=reg,
        operations=Counter(
            "plugin_db_operations",
            help_of("plugin_db_operations"),
            ["kind", "outcome"],
            registry=reg,
        ),
        steps=Histogram(
            "plugin_db_step_duration_seconds",
            help_of("plugin_db_step_duration_seconds"),
            ["kind", "step", "status"],
            buckets=STEP_BUCKETS,
            registry=reg,
        ),
        retries=Counter(
            "plugin_db_retries",
            help_of("plugin_db_retries"),
            ["reason"],
            registry=reg,
        ),
        rejected_messages=Counter(
            "plugin_db_messages_rejected",
            help_of("plugin_db_messages_rejected"),
            registry=reg,
        ),
        storage_bytes=Gauge(
            "plugin_db_storage_bytes",
            help_of("plugin_db_storage_bytes"),
            ["plugin_id"],
            **per_plugin,
        ),
        storage_limit=Gauge(
            "plugin_db_storage_limit_bytes",
            help_of("plugin_db_storage_limit_bytes"),
            ["plugin_id"],
            **per_plugin,
        ),
        quota_ratio=Gauge(
            "plugin_db_storage_quota_ratio",
            help_of("plugin_db_storage_quota_ratio"),
            ["plugin_id"],
            **per_plugin,
        ),
    )


# -- what the rest of the code calls --------------------------------------------------------


def audit_event(event: str, details: Mapping[str, Any]) -> None:
    """Count an audit event that is an operation outcome, a retry or a refused message."""
    if event in OUTCOME_EVENTS:
        kind = str(details.get("kind") or "unknown")
        live().operations.labels(kind=kind, outcome=OUTCOME_EVENTS[event]).inc()
    elif event in RETRY_EVENTS:
        live().retries.labels(reason=RETRY_EVENTS[event]).inc()
    elif event == "message_rejected":
        live().rejected_messages.inc()


def step_finished(kind: str, step: str, status: str, milliseconds: float) -> None:
    """Observe one recorded step's duration."""
    live().steps.labels(kind=kind, step=step, status=status).observe(milliseconds / 1000)


def storage_measured(sizes: Mapping[str, tuple[int | None, int | None]]) -> None:
    """Set the storage gauges from a doctor run: {plugin_id: (size_bytes, limit_bytes)}."""
    series = live()
    for plugin_id, (size, limit) in sizes.items():
        if size is None:
            continue
        series.storage_bytes.labels(plugin_id=plugin_id).set(size)
        if limit:
            series.storage_limit.labels(plugin_id=plugin_id).set(limit)
            series.quota_ratio.labels(plugin_id=plugin_id).set(size / limit)


class _LiveCollector(Collector):
    """This process's live series (when no multiprocess folder is in use)."""

    def collect(self) -> Iterable[Metric]:
        return live().registry.collect()


def registry(engine: Engine | None, settings: Settings | None = None) -> CollectorRegistry:
    """What an exporter serves: live series (every process's, in multiprocess mode) and,
    given an engine, the tracking gauges (target usage needs the settings' targets)."""
    reg = CollectorRegistry(auto_describe=False)
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        MultiProcessCollector(reg, path=folder)  # type: ignore[no-untyped-call]
    else:
        reg.register(_LiveCollector())
    if engine is not None:
        reg.register(TrackingCollector(engine, capacities(settings)))
    return reg


def capacities(settings: Settings | None) -> dict[str, int | None]:
    """Each configured target's plugin capacity (none without settings or a bad targets file)."""
    if settings is None:
        return {}
    from providers.targets import Targets
    from worker.errors import PluginDbError

    try:
        targets = Targets.from_settings(settings).targets
    except PluginDbError as exc:
        log.warning("metrics_targets_unreadable", error=str(exc))
        return {}
    return {name: target.capacity.get("plugins") for name, target in targets.items()}


def use_multiprocess(folder: Path) -> None:
    """Count live series in ``folder`` from now on (this process and its forks); the folder
    is emptied first, since its files are a previous run's."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(folder)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    live.cache_clear()


def serve_worker(settings: Settings) -> int | None:
    """Start the worker's exporter on ``PLUGIN_DB_METRICS_PORT`` (None: not configured);
    returns the port it listens on."""
    if settings.metrics_port is None:
        return None
    from prometheus_client import start_http_server

    from worker.tracking.db import make_engine

    use_multiprocess(settings.metrics_dir)
    server, _ = start_http_server(
        settings.metrics_port,
        addr=settings.metrics_address,
        registry=registry(make_engine(settings.database_url), settings),
    )
    port = int(server.server_address[1])
    log.info("metrics_exporter_started", address=settings.metrics_address, port=port)
    return port
