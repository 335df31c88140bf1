"""The architecture, enforced: import layers (import-linter) and backend knowledge in drivers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BRANCHING = re.compile(r'dialect ==|name == "(shared|sqlite|postgresql|mysql)"')
CONCRETE = re.compile(r"providers\.(postgres|mysql|sqlite|shared|memory)\b")


def _sources() -> list[Path]:
    return sorted(p for d in ("worker", "tasks") for p in (ROOT / d).rglob("*.py"))


def test_the_import_layers_hold() -> None:
    """``lint-imports`` checks the contracts in pyproject.toml ([tool.importlinter])."""
    linter = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(linter)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_module_outside_the_drivers_branches_on_a_backend() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in _sources()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if BRANCHING.search(line) or CONCRETE.search(line)
    ]
    assert found == []
