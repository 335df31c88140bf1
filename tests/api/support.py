"""The HTTP API as a real uvicorn process next to a real worker, and a client with tokens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.stack import ROOT, Stack
from worker import tokens


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
