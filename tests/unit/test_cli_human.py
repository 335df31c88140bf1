"""The human output of the reads: tables of fields, never a Python dict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.cli import PLUGIN, seed

ROOT = Path(__file__).resolve().parents[2]


def test_info_and_audit_print_readable_tables(tmp_path: Path) -> None:
    """Given a ready plugin, `info` shows one row per descriptor field and `audit` its events."""
    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    seed(url, tmp_path / "data")
    env = {"PLUGIN_DB_DATABASE_URL": url, "PATH": "/usr/bin", "COLUMNS": "200"}
    outputs = {}
    for command in ("info", "audit"):
        done = subprocess.run(
            [sys.executable, "-m", "worker.cli", command, PLUGIN],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        outputs[command] = done.stdout
        assert "{'" not in done.stdout, done.stdout
    assert "descriptor.url" in outputs["info"] and "descriptor.objects.file" in outputs["info"]
    assert "operation_succeeded" in outputs["audit"]
