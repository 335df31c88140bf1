"""The documentation site: ``mkdocs build --strict`` passes; its generated pages cover the code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from tests.examples.test_examples import plugin_folders
from tools import docgen_ops
from tools.mkdocs_hooks import runbook_gaps
from worker.cli import app
from worker.metrics_catalogue import SERIES
from worker.states import DsStatus, OpState
from worker.tracking.models import Base

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as CI builds it: strict, so a broken link or anchor fails."""
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def page(site: Path, path: str) -> str:
    return (site / path / "index.html").read_text()


def test_every_doctor_check_and_alert_has_a_runbook() -> None:
    assert runbook_gaps() == []


def test_state_machines_are_drawn_from_the_transition_tables(site: Path) -> None:
    html = page(site, "concepts/state-machines")
    assert 'class="mermaid"' in html
    for state in [*OpState, *DsStatus]:
        assert state.value in html
    assert "failed --&gt; pending" in html  # the operator retry edge of OP_TRANSITIONS


def test_configuration_lists_every_setting(site: Path) -> None:
    html = page(site, "operations/configuration")
    for name in docgen_ops.settings_variables():
        assert name in html


def test_cli_reference_lists_every_command(site: Path) -> None:
    html = page(site, "reference/cli")
    group = typer.main.get_command(app)
    paths = [" ".join(path) for path, _ in docgen_ops._commands(group, ["plugin-db"])]
    assert {"plugin-db provision", "plugin-db doctor", "plugin-db db upgrade"} <= set(paths)
    for path in paths:
        assert path in html, path


def test_tracking_tables_and_metrics_are_generated(site: Path) -> None:
    tables = page(site, "reference/tracking-tables")
    for table in Base.metadata.tables:
        assert table in tables
    metrics = page(site, "operations/metrics")
    for series in SERIES:
        assert series.name in metrics


def test_every_example_has_a_section(site: Path) -> None:
    html = page(site, "examples")
    for folder in plugin_folders():
        assert f"examples/{folder.name}/" in html


def test_manifest_reference_comes_from_the_model(site: Path) -> None:
    html = page(site, "plugin-authors/manifest")
    for key in ("storageMb", "migrations", "dependencies", "featureFlag", "intervalDays"):
        assert key in html
