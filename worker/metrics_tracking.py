"""Fleet series read from the tracking tables at scrape time (see :mod:`worker.metrics`).

Each family is one grouped read. Families over tables that a feature brings (the outbox,
webhooks, credential retirements) are read when the table is part of the tracking models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, Table, func, select

from worker.logging import get_logger
from worker.metrics_catalogue import help_of
from worker.states import DsStatus
from worker.tracking.models import Base, LifecycleOperation, PluginDatasource, utcnow

log = get_logger("metrics")
Reader = Callable[[Connection, datetime], Iterator[Metric]]


def gauge(name: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    """An empty gauge family with the catalogue's help text."""
    return GaugeMetricFamily(name, help_of(name), labels=labels)


def _table(name: str) -> Table | None:
    return Base.metadata.tables.get(name)


def plugins(conn: Connection, _now: datetime) -> Iterator[Metric]:
    """Plugins by status, mode, provider and target."""
    ds = PluginDatasource
    family = gauge("plugin_db_plugins", ["status", "mode", "provider", "target"])
    columns = (ds.status, ds.mode, ds.provider, ds.target)
    for status, mode, provider, target, count in conn.execute(
        select(*columns, func.count()).group_by(*columns)
    ):
        family.add_metric([status, mode, provider, target or ""], count)
    yield family


def target_usage(conn: Connection, capacities: Mapping[str, int | None]) -> Iterator[Metric]:
    """Plugins held by each target over its declared capacity (targets without one: none)."""
    ds = PluginDatasource
    held = dict(
        conn.execute(
            select(ds.target, func.count())
            .where(ds.status != DsStatus.DELETED.value)
            .group_by(ds.target)
        ).all()
    )
    family = gauge("plugin_db_target_usage_ratio", ["target", "dimension"])
    for name, capacity in sorted(capacities.items()):
        if capacity:
            family.add_metric([name, "plugins"], held.get(name, 0) / capacity)
    yield family


def operations(conn: Connection, _now: datetime) -> Iterator[Metric]:
    """Operations by kind and state."""
    op = LifecycleOperation
    family = gauge("plugin_db_operations_by_state", ["kind", "state"])
    query = select(op.kind, op.state, func.count()).group_by(op.kind, op.state)
    for kind, state, count in conn.execute(query):
        family.add_metric([kind, state], count)
    yield family


def retirements(conn: Connection, now: datetime) -> Iterator[Metric]:
    """Rotated-out logins not yet retired, and those past their grace period."""
    table = _table("credential_retirements")
    if table is None:
        return
    waiting = select(func.count()).select_from(table).where(table.c.state == "pending")
    pending = gauge("plugin_db_retirements_pending")
    pending.add_metric([], conn.scalar(waiting) or 0)
    late = gauge("plugin_db_retirements_past_grace")
    late.add_metric([], conn.scalar(waiting.where(table.c.grace_until < now)) or 0)
    yield from (pending, late)


def outbox(conn: Connection, _now: datetime) -> Iterator[Metric]:
    """Events written but not yet relayed to the stream and the webhooks."""
    table = _table("outbox_events")
    if table is None:
        return
    family = gauge("plugin_db_outbox_pending")
    query = select(func.count()).select_from(table).where(table.c.relayed_at.is_(None))
    family.add_metric([], conn.scalar(query) or 0)
    yield family


def webhooks(conn: Connection, now: datetime) -> Iterator[Metric]:
    """Endpoints by state, deliveries by outcome, and the age of the oldest undelivered one."""
    endpoints, deliveries, attempts = (
        _table(name) for name in ("webhook_endpoints", "webhook_deliveries", "webhook_attempts")
    )
    if endpoints is None or deliveries is None or attempts is None:
        return
    family = gauge("plugin_db_webhook_endpoints", ["state"])
    disabled = endpoints.c.disabled_at.is_not(None)
    total = conn.scalar(select(func.count()).select_from(endpoints)) or 0
    off = conn.scalar(select(func.count()).select_from(endpoints).where(disabled)) or 0
    family.add_metric(["enabled"], total - off)
    family.add_metric(["disabled"], off)
    yield family
    done = CounterMetricFamily(
        "plugin_db_webhook_attempts",
        help_of("plugin_db_webhook_attempts_total"),
        labels=["outcome"],
    )
    ok = attempts.c.status_code.between(200, 299)
    all_attempts = conn.scalar(select(func.count()).select_from(attempts)) or 0
    succeeded = conn.scalar(select(func.count()).select_from(attempts).where(ok)) or 0
    done.add_metric(["succeeded"], succeeded)
    done.add_metric(["failed"], all_attempts - succeeded)
    yield done
    oldest = conn.scalar(
        select(func.min(deliveries.c.created_at)).where(deliveries.c.state == "pending")
    )
    lag = gauge("plugin_db_webhook_delivery_lag_seconds")
    lag.add_metric([], _age(oldest, now))
    yield lag


def _age(moment: datetime | None, now: datetime) -> float:
    if moment is None:
        return 0.0
    if moment.tzinfo is None:  # SQLite returns naive UTC
        moment = moment.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - moment).total_seconds())


READERS: tuple[Reader, ...] = (plugins, operations, retirements, outbox, webhooks)


class TrackingCollector(Collector):
    """Fleet series read from the tracking database at each scrape."""

    def __init__(self, engine: Engine, capacities: Mapping[str, int | None] | None = None) -> None:
        self.engine = engine
        self.capacities = dict(capacities or {})

    def collect(self) -> Iterable[Metric]:
        """Every family; ``plugin_db_tracking_up`` says whether the reads worked."""
        up = gauge("plugin_db_tracking_up")
        try:
            now = utcnow()
            with self.engine.connect() as conn:
                families = [family for read in READERS for family in read(conn, now)]
                families += target_usage(conn, self.capacities)
        except Exception as exc:  # a scrape never fails: it says the database is down
            log.warning("metrics_tracking_unavailable", error=type(exc).__name__)
            up.add_metric([], 0)
            return [up]
        finally:
            self.engine.dispose()  # no pooled connection survives into a forked child
        up.add_metric([], 1)
        return [up, *families]
