"""The Node.js toolchain of the Prisma tests: Prisma 7, its driver adapters and tsx.

``scripts/node-deps.sh`` installs the packages of ``node/package.json`` (its lock file pinned)
into ``.cache/node/<hash>`` once; ``scripts/test.sh`` runs it before pytest. A machine without
Node.js or without the npm registry fails these tests with the script's message; they are
never skipped.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRISMA_ENV = {
    "PRISMA_SCHEMA_ENGINE_BINARY": "/bin/true",
    "PRISMA_QUERY_ENGINE_LIBRARY": "/bin/true",
    "CHECKPOINT_DISABLE": "1",
    "NO_COLOR": "1",
}


@dataclass(frozen=True)
class Toolchain:
    """The installed packages: ``root`` holds ``node_modules``."""

    root: Path
    sqlite_error: str | None

    @property
    def bin(self) -> Path:
        """The folder of the packages' commands (prisma, tsx)."""
        return self.root / "node_modules" / ".bin"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment to run them in: no engine download, modules resolved from root."""
        path = f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"
        return {
            **os.environ,
            **PRISMA_ENV,
            "PATH": path,
            "NODE_PATH": str(self.root / "node_modules"),
            **extra,
        }


@cache
def _install() -> Toolchain | str:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "node-deps.sh")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        return result.stderr.strip() or f"scripts/node-deps.sh exited {result.returncode}"
    root = Path(result.stdout.strip().splitlines()[-1])
    failed = root / "sqlite-adapter.failed"
    return Toolchain(root, failed.read_text().strip() if failed.exists() else None)


def toolchain() -> Toolchain:
    """The installed toolchain; fails the calling test with the reason when it cannot be had."""
    found = _install()
    if isinstance(found, str):
        pytest.fail(f"the Node.js/Prisma toolchain is not available: {found}")
    return found
