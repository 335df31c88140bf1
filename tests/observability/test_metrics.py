"""The worker's Prometheus exporter, scraped from a real prefork worker after real operations."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from tests.support.env import sqlite_stack, unique_id
from tests.support.redis import free_port
from tests.support.stack import Stack, migration, write_plugin
from worker import metrics
from worker.settings import Settings
from worker.tracking import db
from worker.tracking.models import PluginDatasource, PluginSecret

GOOD = {
    "001-items.sql": migration(
        "CREATE TABLE items (id INTEGER PRIMARY KEY);", "DROP TABLE items;", "001"
    )
}
BROKEN = {"001-broken.sql": migration("INSERT INTO missing_table VALUES (1);", "SELECT 1;", "001")}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, int]]:
    """A SQLite-tracked stack whose prefork worker exports metrics on a port of its own."""
    stack = sqlite_stack(tmp_path_factory.mktemp("metrics"))
    port = free_port()
    stack.start_worker(concurrency=2, beat=False, extra_env={"PLUGIN_DB_METRICS_PORT": str(port)})
    stack.wait_ready()
    yield stack, port
    stack.stop()


def scrape(port: int) -> tuple[str, Samples]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def test_operations_steps_and_fleet_are_exported(metered: tuple[Stack, int]) -> None:
    """Outcomes by kind, step histograms, plugins by status and operations by state."""
    stack, port = metered
    good, bad = unique_id("mg"), unique_id("mb")
    write_plugin(stack.plugins_root, good, "exclusive-sqlite", GOOD, limits={"storageMb": 8})
    write_plugin(stack.plugins_root, bad, "exclusive-sqlite", BROKEN)
    assert stack.run("plugin_db.provision", {"plugin_id": good}).state == "succeeded"
    assert stack.run("plugin_db.provision", {"plugin_id": bad}).state == "failed"
    assert stack.run("plugin_db.migrate", {"plugin_id": "Not Valid!"}).state == "rejected"
    text, samples = scrape(port)
    ops = "plugin_db_operations_total"
    assert value(samples, ops, kind="provision", outcome="succeeded") >= 1
    assert value(samples, ops, kind="provision", outcome="failed") >= 1
    assert value(samples, ops, kind="migrate", outcome="rejected") >= 1
    steps = "plugin_db_step_duration_seconds_count"
    assert value(samples, steps, kind="provision", status="done") >= 4
    assert value(samples, "plugin_db_plugins", status="ready", mode="exclusive-sqlite") >= 1
    assert value(samples, "plugin_db_plugins", status="failed") >= 1
    assert value(samples, "plugin_db_operations_by_state", kind="provision", state="failed") >= 1
    assert value(samples, "plugin_db_tracking_up") == 1
    names = {name for name, _ in samples}
    for series in (  # read from the outbox, webhook and retirement tables
        "plugin_db_outbox_pending",
        "plugin_db_webhook_endpoints",
        "plugin_db_webhook_attempts_total",
        "plugin_db_webhook_delivery_lag_seconds",
        "plugin_db_retirements_pending",
        "plugin_db_retirements_past_grace",
    ):
        assert series in names, series
    assert good not in text and bad not in text, "no per-plugin label on operation series"


def test_doctor_exports_storage_and_quota_per_plugin(metered: tuple[Stack, int]) -> None:
    """The periodic doctor sets storage bytes, limit and quota ratio for each plugin."""
    stack, port = metered
    plugin_id = unique_id("mq")
    write_plugin(stack.plugins_root, plugin_id, "exclusive-sqlite", GOOD, limits={"storageMb": 1})
    assert stack.run("plugin_db.provision", {"plugin_id": plugin_id}).state == "succeeded"
    stack.producer.send_task("plugin_db.doctor", queue="plugin-db").get(timeout=60)
    _, samples = scrape(port)
    size = value(samples, "plugin_db_storage_bytes", plugin_id=plugin_id)
    assert size > 0
    assert value(samples, "plugin_db_storage_limit_bytes", plugin_id=plugin_id) == 1024 * 1024
    ratio = value(samples, "plugin_db_storage_quota_ratio", plugin_id=plugin_id)
    assert ratio == pytest.approx(size / (1024 * 1024))


def test_no_secret_in_the_metrics(metered: tuple[Stack, int]) -> None:
    """No stored ciphertext, key or URL password appears in a scrape."""
    stack, port = metered
    text, _ = scrape(port)
    assert stack.env["PLUGIN_DB_SECRET_KEY"] not in text
    with stack.sessions() as session:
        for secret in session.scalars(select(PluginSecret)):
            assert secret.ciphertext not in text


def test_registry_without_a_worker(tmp_path: Path) -> None:
    """The API's view: this process's live series and the tracking gauges, no folder needed."""
    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    db.upgrade(url)
    registry = metrics.registry(db.make_engine(url))
    failed = ("plugin_db_operations_total", {"kind": "migrate", "outcome": "failed"})
    retries = ("plugin_db_retries_total", {"reason": "transient"})
    before = [registry.get_sample_value(*s) or 0.0 for s in (failed, retries)]
    metrics.audit_event("operation_failed", {"kind": "migrate"})
    metrics.audit_event("retry_scheduled", {})
    after = [registry.get_sample_value(*s) for s in (failed, retries)]
    assert after == [before[0] + 1, before[1] + 1]
    assert registry.get_sample_value("plugin_db_tracking_up") == 1.0


def test_a_tracking_outage_is_a_gauge_not_a_failed_scrape() -> None:
    """With the tracking database unreachable, the scrape answers plugin_db_tracking_up 0."""
    engine = db.make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    registry = metrics.registry(engine)
    assert registry.get_sample_value("plugin_db_tracking_up") == 0.0


def test_target_usage_against_the_capacity_of_the_targets_file(tmp_path: Path) -> None:
    """Plugins held over ``capacity`` per target; deleted plugins do not count."""
    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    db.upgrade(url)
    targets = tmp_path / "targets.toml"
    targets.write_text(
        f'[targets.files]\ndriver = "sqlite"\nadmin_url = "{tmp_path}"\ncapacity = 4\n'
        f'[targets.spare]\ndriver = "sqlite"\nadmin_url = "{tmp_path / "spare"}"\n'
    )
    engine = db.make_engine(url)
    with db.make_sessionmaker(engine).begin() as session:
        for i, status in enumerate(["ready", "ready", "failed", "deleted"]):
            session.add(
                PluginDatasource(
                    plugin_id=f"t{i}",
                    mode="exclusive-sqlite",
                    provider="sqlite",
                    status=status,
                    target="files",
                )
            )
    settings = Settings.from_env({"PLUGIN_DB_TARGETS": str(targets), "PLUGIN_DB_DATABASE_URL": url})
    registry = metrics.registry(engine, settings)
    labels = {"target": "files", "dimension": "plugins"}
    assert registry.get_sample_value("plugin_db_target_usage_ratio", labels) == 0.75
    assert (
        registry.get_sample_value(
            "plugin_db_target_usage_ratio", {"target": "spare", "dimension": "plugins"}
        )
        is None
    )
    ready = {"status": "ready", "mode": "exclusive-sqlite", "provider": "sqlite", "target": "files"}
    assert registry.get_sample_value("plugin_db_plugins", ready) == 2
