"""Every Prometheus series plugin-db exports: name, type, labels, meaning and where it comes from.

The exporters (:mod:`worker.metrics`, :mod:`worker.metrics_tracking`), the alert rules, the
Grafana dashboard and the documentation all take their names from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Series:
    """One exported series (``name`` as scraped: counters end in ``_total``)."""

    name: str
    type: str
    labels: tuple[str, ...]
    help: str
    source: str


LIVE = "counted by the worker processes as it happens"
TRACKING = "read from the tracking tables at each scrape"
DOCTOR = "set by each run of the periodic doctor"
OUTCOME_EVENTS = {
    "operation_succeeded": "succeeded",
    "operation_failed": "failed",
    "request_rejected": "rejected",
}
RETRY_EVENTS = {"retry_scheduled": "transient", "operation_retried": "operator"}
COUNTED_EVENTS = frozenset({*OUTCOME_EVENTS, *RETRY_EVENTS, "message_rejected"})
"""The audit events the live series count (see ``worker.metrics.audit_event``)."""

SERIES: tuple[Series, ...] = (
    Series(
        "plugin_db_operations_total",
        "counter",
        ("kind", "outcome"),
        "Lifecycle operations finished, by kind and outcome (succeeded, failed, rejected).",
        LIVE,
    ),
    Series(
        "plugin_db_step_duration_seconds",
        "histogram",
        ("kind", "step", "status"),
        "Duration of lifecycle steps, by operation kind, step and step status.",
        LIVE,
    ),
    Series(
        "plugin_db_retries_total",
        "counter",
        ("reason",),
        "Operations put back to run again: transient (backoff) or operator (plugin-db retry).",
        LIVE,
    ),
    Series(
        "plugin_db_messages_rejected_total",
        "counter",
        (),
        "Broker messages refused before any task saw them (not the contract's shape).",
        LIVE,
    ),
    Series(
        "plugin_db_storage_bytes",
        "gauge",
        ("plugin_id",),
        "Storage used by a plugin, as last measured by the doctor.",
        DOCTOR,
    ),
    Series(
        "plugin_db_storage_limit_bytes",
        "gauge",
        ("plugin_id",),
        "A plugin's limits.storageMb in bytes (absent when it declares none).",
        DOCTOR,
    ),
    Series(
        "plugin_db_storage_quota_ratio",
        "gauge",
        ("plugin_id",),
        "Storage used over limits.storageMb (1 = at the limit).",
        DOCTOR,
    ),
    Series(
        "plugin_db_tracking_up",
        "gauge",
        (),
        "1 when the tracking database answered this scrape, else 0.",
        TRACKING,
    ),
    Series(
        "plugin_db_plugins",
        "gauge",
        ("status", "mode", "provider", "target"),
        "Plugins by datasource status, mode, provider and target.",
        TRACKING,
    ),
    Series(
        "plugin_db_operations_by_state",
        "gauge",
        ("kind", "state"),
        "Lifecycle operations in the tracking database, by kind and state.",
        TRACKING,
    ),
    Series(
        "plugin_db_retirements_pending",
        "gauge",
        (),
        "Rotated-out logins still valid, waiting to be retired.",
        TRACKING,
    ),
    Series(
        "plugin_db_retirements_past_grace",
        "gauge",
        (),
        "Rotated-out logins still valid after their rotation.graceMinutes.",
        TRACKING,
    ),
    Series(
        "plugin_db_outbox_pending",
        "gauge",
        (),
        "Events in the outbox not yet relayed to the stream and the webhooks.",
        TRACKING,
    ),
    Series(
        "plugin_db_webhook_endpoints",
        "gauge",
        ("state",),
        "Webhook endpoints, enabled or disabled (after repeated failures).",
        TRACKING,
    ),
    Series(
        "plugin_db_webhook_attempts_total",
        "counter",
        ("outcome",),
        "Webhook delivery attempts: succeeded (2xx) or failed (other answer, timeout).",
        TRACKING,
    ),
    Series(
        "plugin_db_webhook_delivery_lag_seconds",
        "gauge",
        (),
        "Age of the oldest webhook delivery still pending (0 when none is).",
        TRACKING,
    ),
    Series(
        "plugin_db_target_usage_ratio",
        "gauge",
        ("target", "dimension"),
        "Plugins a target holds over its declared capacity (targets file), per dimension.",
        TRACKING,
    ),
)
BY_NAME = {series.name: series for series in SERIES}


def help_of(name: str) -> str:
    """The help text of series ``name`` (with or without ``_total``)."""
    series = BY_NAME.get(name) or BY_NAME[f"{name}_total"]
    return series.help


def family_of(sample: str) -> str | None:
    """The catalogued series a sample name belongs to (``_bucket`` and friends), or None."""
    for suffix in ("", "_bucket", "_count", "_sum", "_created"):
        if sample.endswith(suffix):
            base = sample[: len(sample) - len(suffix)] if suffix else sample
            if base in BY_NAME:
                return base
    return None
