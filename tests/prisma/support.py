"""A Prisma project folder: a schema exported by plugin-db, its generated client, tsx scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.node import ROOT, Toolchain
from tests.support.stack import Stack

CONFIG = """import { defineConfig } from "prisma/config";

export default defineConfig({ schema: "schema.prisma" });
"""


@dataclass(frozen=True)
class PrismaProject:
    """``folder`` holds schema.prisma, prisma.config.ts and ``generated/`` (the client)."""

    folder: Path
    node: Toolchain

    def generate(self, schema: str) -> Path:
        """Write the schema, run ``prisma generate`` and return the client's folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        link = self.folder / "node_modules"
        if not link.exists():
            link.symlink_to(self.node.root / "node_modules")
        (self.folder / "schema.prisma").write_text(schema)
        (self.folder / "prisma.config.ts").write_text(CONFIG)
        done = self.run([str(self.node.bin / "prisma"), "generate"])
        assert done.returncode == 0, done.stdout + done.stderr
        return self.folder / "generated"

    def run(
        self, args: list[str], env: dict[str, str] | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the project folder with the toolchain's environment."""
        return subprocess.run(
            args,
            cwd=self.folder,
            env=self.node.env(**(env or {})),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def tsx(self, script: Path, *args: str, env: dict[str, str] | None = None) -> Any:
        """Run a TypeScript script with tsx; its last stdout line is JSON."""
        done = self.run([str(self.node.bin / "tsx"), str(script), *args], env)
        assert done.returncode == 0, f"{script.name} failed:\n{done.stdout}\n{done.stderr}"
        return json.loads(done.stdout.strip().splitlines()[-1])


def repo_path(*parts: str) -> Path:
    """A path inside the repository."""
    return ROOT.joinpath(*parts)


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """``plugin-db ARGS`` as an operator runs it, against the stack."""
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        env={**os.environ, **stack.env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
