"""The HTTP API as a real uvicorn process next to a real worker, and a client with tokens."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.env import sqlite_stack
from tests.support.redis import free_port
from tests.support.stack import ROOT, Stack
from worker import tokens

__all__ = ["Api", "free_port", "served_api", "sqlite_api"]


@dataclass
class Api:
    """A ``plugin-db api`` process of ``stack`` and tokens for each scope."""

    stack: Stack
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.stack.workdir / f"api-{self.port}.log"

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        """Start uvicorn through the CLI and wait until /healthz answers."""
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "api", "--port", str(self.port)],
            env={**os.environ, **self.stack.env, **(extra_env or {})},
            cwd=ROOT,
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
            if self.proc.poll() is not None:
                break
        raise AssertionError(f"the API did not start:\n{self.logs()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def token(self, *scopes: str) -> str:
        """A token with exactly ``scopes`` (created once per set of scopes)."""
        key = ",".join(sorted(scopes))
        if key not in self.tokens:
            name = "t-" + "-".join(s.replace(":", "_") for s in sorted(scopes))
            self.tokens[key] = tokens.create(self.stack.sessions, name, list(scopes))
        return self.tokens[key]

    def client(self, *scopes: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(*scopes)}"} if scopes else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def wait_op(self, operation_id: int, timeout: float = 90.0) -> dict[str, Any]:
        """Poll GET /api/operations/{id} until the operation is terminal."""
        deadline = time.monotonic() + timeout
        with self.client("plugins:read") as http:
            while time.monotonic() < deadline:
                op: dict[str, Any] = http.get(f"/api/operations/{operation_id}").json()
                if op["state"] in {"succeeded", "failed", "rejected"}:
                    return op
                time.sleep(0.1)
        raise AssertionError(f"operation {operation_id} did not finish: {op}")


@contextmanager
def served_api(
    stack: Stack, *, beat: bool = True, extra_env: dict[str, str] | None = None
) -> Iterator[Api]:
    """A worker and a ``plugin-db api`` process on ``stack``; both stopped afterwards."""
    stack.start_worker(beat=beat)
    served = Api(stack)
    try:
        served.start(extra_env)
        yield served
    finally:
        served.stop()
        stack.stop()
        stack.engine.dispose()


@contextmanager
def sqlite_api(workdir: Path, *, beat: bool = True) -> Iterator[Api]:
    """``served_api`` on a SQLite-tracked stack rooted at ``workdir``."""
    with served_api(sqlite_stack(workdir), beat=beat) as served:
        yield served
