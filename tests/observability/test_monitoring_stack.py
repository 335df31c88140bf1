"""Prometheus and Grafana as docker-compose.yml provisions them: config, rules, dashboard."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from worker.metrics_catalogue import BY_NAME, family_of

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "plugin-db.json"
METRIC_NAME = re.compile(r"\b(plugin_db_[a-z_]+)\b")


def compose_services() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def mounts(service: str) -> dict[str, str]:
    """{container path: host path} of a service's bind mounts."""
    found = {}
    for entry in compose_services()[service].get("volumes", []):
        host, container, *_ = str(entry).split(":")
        if host.startswith("./"):
            found[container] = host
    return found


def expressions() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    return exprs + [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def test_prometheus_gets_the_config_and_the_rules() -> None:
    assert mounts("prometheus")["/etc/prometheus"] == "./deploy/prometheus"
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: scripts/tools.sh installs Debian's prometheus package"
    result = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"],
        cwd=DEPLOY / "prometheus",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]


def test_prometheus_scrapes_the_worker_exporter() -> None:
    """Every scrape target is a compose service; the worker's port is its exporter's."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = [
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    ]
    services = compose_services()
    for target in targets:
        host, _, _port = target.partition(":")
        assert host in services, f"scrape target {target} is not a compose service"
    worker_env = services["worker"]["environment"]
    assert f"worker:{worker_env['PLUGIN_DB_METRICS_PORT']}" in targets
    assert worker_env["PLUGIN_DB_METRICS_ADDRESS"] == "0.0.0.0"


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard() -> None:
    grafana = mounts("grafana")
    provisioning = ROOT / grafana["/etc/grafana/provisioning"]
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    source = datasources["datasources"][0]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((provisioning / "dashboards" / "plugin-db.yml").read_text())
    folder = providers["providers"][0]["options"]["path"]
    assert grafana[f"{folder}/plugin-db.json"] == "./deploy/grafana/plugin-db.json"
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "plugin-db" and dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"], panel["title"]


def test_rules_and_dashboard_use_only_catalogued_series() -> None:
    used = {name for expr in expressions() for name in METRIC_NAME.findall(expr)}
    unknown = sorted(name for name in used if family_of(name) is None)
    assert not unknown, f"not in worker/metrics_catalogue.py: {unknown}"


def test_the_dashboard_shows_every_catalogued_series() -> None:
    used = {family_of(name) for expr in expressions() for name in METRIC_NAME.findall(expr)}
    missing = sorted(set(BY_NAME) - used - {"plugin_db_messages_rejected_total"})
    assert not missing, f"no panel or alert uses {missing}"
