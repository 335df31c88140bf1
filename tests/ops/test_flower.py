"""The real Flower against the stack's broker: task events visible, no secret anywhere in them."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tests.ops.helpers import add_plugin, login_for
from tests.support.redis import free_port
from tests.support.stack import ROOT, Stack

WAIT = 30.0


def get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, str]:
    """GET ``url``: (status, body)."""
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def get_json(url: str) -> Any:
    status, body = get(url)
    assert status == 200, (url, status, body[:500])
    return json.loads(body)


def until(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll ``predicate`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (urllib.error.URLError, ConnectionError, AssertionError):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:.0f}s")


@contextmanager
def flower(stack: Stack, *args: str, unauthenticated: bool = True) -> Iterator[str]:
    """A Flower process on a free port with the stack's settings; yields its base URL."""
    port = free_port()
    env = {**os.environ, **stack.env}
    env.pop("FLOWER_UNAUTHENTICATED_API", None)
    if unauthenticated:
        env["FLOWER_UNAUTHENTICATED_API"] = "true"
    argv = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "flower"]
    argv += [f"--port={port}", "--address=127.0.0.1", *args]
    with (stack.workdir / f"flower-{port}.log").open("wb") as log:
        proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        until(lambda: get(f"{base}/healthcheck")[0] == 200, "flower up")
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_flower_shows_the_provision_task_and_no_password(ops_stack: Stack) -> None:
    """Workers, tasks and one task's info through Flower's API; the issued password nowhere."""
    with (
        flower(ops_stack) as api,
        flower(ops_stack, "--basic_auth=user:pw", unauthenticated=False) as locked,
    ):
        until(
            lambda: "flower_worker_online{" in get(f"{api}/metrics")[1],
            "worker heartbeats reaching flower",
        )
        plugin_id = add_plugin(ops_stack, "pg")
        request = {"plugin_id": plugin_id, "request_id": f"flower-{plugin_id}"}
        result = ops_stack.producer.send_task(
            "plugin_db.provision", args=[request], queue="plugin-db"
        )
        op = ops_stack.wait(request["request_id"], timeout=WAIT)
        assert op.state == "succeeded", op.error

        info = until(
            lambda: (i := get_json(f"{api}/api/task/info/{result.id}"))["state"] == "SUCCESS" and i,
            "task info SUCCESS",
        )
        assert info["name"] == "plugin_db.provision" and info["uuid"] == result.id
        assert plugin_id in info["args"] and "password" not in info["args"].lower()
        tasks = get_json(f"{api}/api/tasks")
        assert tasks[result.id]["name"] == "plugin_db.provision"
        assert tasks[result.id]["state"] == "SUCCESS"
        workers = get_json(f"{api}/api/workers?refresh=1")
        assert workers and all("stats" in w or "registered" in w for w in workers.values())

        login = login_for(ops_stack, plugin_id)
        assert login is not None and len(login.password) >= 20
        for path in (
            "/api/workers",
            "/api/tasks",
            f"/api/task/info/{result.id}",
            f"/api/task/result/{result.id}",
            "/api/task/types",
            "/metrics",
        ):
            status, body = get(f"{api}{path}")
            assert status == 200, (path, status)
            assert login.password not in body, f"the password leaked into flower {path}"

        assert get(f"{locked}/api/workers")[0] == 401
        assert get(f"{locked}/api/task/info/{result.id}")[0] == 401
        assert get(f"{locked}/api/workers", auth=("user", "pw"))[0] == 200
        assert get(f"{locked}/api/workers", auth=("user", "wrong"))[0] == 401
