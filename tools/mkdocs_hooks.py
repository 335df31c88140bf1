"""mkdocs hooks: add the generated reference pages, and refuse a build whose runbooks miss a
doctor check or an alert."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # mkdocs loads hooks by path: make the project importable
    sys.path.insert(0, str(ROOT))

from tools import docgen, docgen_ops  # noqa: E402
from worker.ops import events_checks  # noqa: E402
from worker.ops.findings import Check  # noqa: E402

RUNBOOKS = ROOT / "docs" / "operations" / "runbooks.md"


def runbook_gaps() -> list[str]:
    """Doctor checks and alerts that have no ``## name`` section in the runbooks page."""
    written = set(docgen.headings(RUNBOOKS.read_text()))
    checks = [c.value for c in Check]
    checks += [events_checks.WEBHOOK_DISABLED, events_checks.ROTATION_WAITING]
    wanted = [f"`{c}`" for c in checks] + [a["alert"] for a in docgen.alerts()]
    return [name for name in wanted if name not in written]


def on_files(files: Files, config: Any) -> Files:
    """Add every generated page (see tools/docgen_ops.py:pages)."""
    gaps = runbook_gaps()
    if gaps:
        raise PluginError(f"docs/operations/runbooks.md has no runbook for: {', '.join(gaps)}")
    for path, content in docgen_ops.pages().items():
        files.append(File.generated(config, path, content=content))
    return files
