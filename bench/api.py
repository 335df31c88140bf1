"""8. The HTTP API: what it adds to a connection read, and to an enqueue.

* ``GET /api/plugins/{id}/connection`` (token check, tracking read, decryption, one audit
  commit) against ``GET /bench/bare`` of the same FastAPI app in the same uvicorn process,
  requests interleaved one at a time from one client: median and p99 in ms. Checked: every
  connection answer is 200 with the password in the URL, and one audit row per read exists.
* ``POST /api/plugins/{id}/provision`` with 50 concurrent clients (validation, the
  ``pending`` row, the message) against 50 threads calling Celery ``send_task`` directly:
  requests per second. Checked: one pending operation and one queued message per request.
  No worker runs, so only the intake is measured.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import redis
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.common import BenchError, add_plugin, bench_stack, token, wait_all
from bench.report import Config, Result, Row, fmt, summary
from tests.support.api import free_port
from tests.support.stack import ROOT, Stack
from worker import tokens
from worker.celery_app import QUEUE
from worker.tracking.models import AuditEvent, LifecycleOperation

NAME = "api"
GOAL_MS = 2.0
CLIENTS = 50


def serve(stack: Stack) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn with bench.api_app:make on a free port; waits for /healthz."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "--factory", "bench.api_app:make"]
    proc = subprocess.Popen(
        [*argv, "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env={**os.environ, **stack.env, "PLUGIN_DB_LOG_FORMAT": "console"},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(stack.workdir / "api.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise BenchError("the API did not start: " + (stack.workdir / "api.log").read_text()[-2000:])


def latency(stack: Stack, url: str, n: int) -> dict[str, Any]:
    """Interleaved GET /connection and GET /bench/bare, one at a time."""
    plugin_id = f"ab-{token()}"
    add_plugin(stack, plugin_id, "postgresql")
    wait_all(stack, [stack.send("plugin_db.provision", {"plugin_id": plugin_id})], timeout=120)
    secret = tokens.create(stack.sessions, f"bench-{token()}", ["connections:read"])
    api: list[float] = []
    bare: list[float] = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"}) as http:
        for i in range(n + 20):
            for path, into in (
                (f"/api/plugins/{plugin_id}/connection", api),
                ("/bench/bare", bare),
            ):
                started = time.perf_counter()
                answer = http.get(path)
                elapsed = (time.perf_counter() - started) * 1000
                if answer.status_code != 200:
                    raise BenchError(f"GET {path}: {answer.status_code} {answer.text[:200]}")
                if i >= 20:  # warm-up
                    into.append(elapsed)
        document = http.get(f"/api/plugins/{plugin_id}/connection").json()
    if not make_url(document["url"]).password:
        raise BenchError("the connection document has no password")
    with stack.sessions() as session:
        reads = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.plugin_id == plugin_id, AuditEvent.event == "connection_read")
        )
    if reads != n + 21:
        raise BenchError(f"{reads} connection_read audit rows for {n + 21} reads")
    return {"api_ms": summary(api), "bare_ms": summary(bare), "plugin_id": plugin_id}


def _rate(count: int, work: Any) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(work, range(count)))
    return count / (time.perf_counter() - started)


def throughput(stack: Stack, url: str, n: int) -> dict[str, Any]:
    """Requests per second: API provisions vs direct send_task, 50 concurrent clients each."""
    tag = token()
    ids = [f"tp-{tag}-{i:05d}" for i in range(n)]
    for plugin_id in ids:
        add_plugin(stack, plugin_id, "sqlite")
    secret = tokens.create(stack.sessions, f"bench-w-{tag}", ["plugins:write"])
    queue = redis.Redis.from_url(stack.env["PLUGIN_DB_BROKER_URL"])
    queue.delete(QUEUE)
    limits = httpx.Limits(max_connections=CLIENTS)
    with httpx.Client(base_url=url, limits=limits, timeout=120) as http:
        headers = {"Authorization": f"Bearer {secret}"}

        def post(i: int) -> None:
            answer = http.post(f"/api/plugins/{ids[i]}/provision", json={}, headers=headers)
            if answer.status_code != 202:
                raise BenchError(f"provision {ids[i]}: {answer.status_code} {answer.text[:200]}")

        api_rate = _rate(n, post)
    with stack.sessions() as session:
        pending = session.scalar(
            select(func.count())
            .select_from(LifecycleOperation)
            .where(LifecycleOperation.plugin_id.in_(ids), LifecycleOperation.state == "pending")
        )
    queued = queue.llen(QUEUE)
    if pending != n or queued != n:
        raise BenchError(f"{pending} pending operations and {queued} messages for {n} requests")
    queue.delete(QUEUE)

    def direct(i: int) -> None:
        stack.producer.send_task(
            "plugin_db.provision",
            args=[{"plugin_id": ids[i], "request_id": f"direct-{tag}-{i}"}],
            queue=QUEUE,
        )

    direct_rate = _rate(n, direct)
    if queue.llen(QUEUE) != n:
        raise BenchError(f"{queue.llen(QUEUE)} messages for {n} direct sends")
    queue.delete(QUEUE)
    return {"api_per_s": round(api_rate, 1), "celery_per_s": round(direct_rate, 1), "n": n}


def run(cfg: Config) -> Result:
    n_reads, n_posts = cfg.n(20, 300, 2000), cfg.n(10, 500, 2000)
    with bench_stack(cfg, NAME) as stack:
        stack.start_worker(concurrency=1, beat=False)
        proc, url = serve(stack)
        try:
            reads = latency(stack, url, n_reads)
            stack.stop()  # intake only from here: nothing consumes the queue
            posts = throughput(stack, url, n_posts)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    api, bare = reads["api_ms"], reads["bare_ms"]
    added = api["median"] - bare["median"]
    rows = [
        Row(
            "GET /connection median / p99",
            f"{fmt(api['median'])} / {fmt(api['p99'])} ms",
            f"{fmt(bare['median'])} / {fmt(bare['p99'])} ms",
            f"+{fmt(added)} ms",
            goal=f"adds < {GOAL_MS:g} ms (median)",
            met=added < GOAL_MS,
        ),
        Row(
            f"POST /provision, {CLIENTS} clients",
            f"{fmt(posts['api_per_s'], '/s', 0)}",
            f"{fmt(posts['celery_per_s'], '/s', 0)}",
            f"{fmt(posts['api_per_s'] / posts['celery_per_s'])}x",
        ),
    ]
    notes = [
        "baselines: GET /bench/bare of the same app and process; Celery send_task from "
        f"{CLIENTS} threads. Tracking database: SQLite (bench stack)."
    ]
    return Result(NAME, {"reads": n_reads, "posts": n_posts}, {**reads, **posts}, rows, notes)
