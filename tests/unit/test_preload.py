"""The worker's preload, run before its pool forks."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from tasks.preload import preload
lazy = ("worker.snapshots.policy", "worker.rotation.retire", "sqlglot.dialects.mysql",
        "sqlglot.dialects.postgres", "sqlglot.dialects.sqlite")
before = [m for m in lazy if m in sys.modules]
preload()
print(before, [m for m in lazy if m not in sys.modules])
"""


def test_preload_imports_what_operations_load_on_first_use() -> None:
    """After preload, the modules operations import lazily and every built-in driver's SQL
    dialect are loaded (and were not before)."""
    out = (
        subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    assert out == "[] []"
