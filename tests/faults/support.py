"""Helpers for fault and hostile-input tests: a private Redis, a TCP proxy, leak and orphan checks.

Fault tests run against a Redis server of their own (not the shared test server on 16379), so
that other test runs on the same machine can never consume their messages, and so that a test
may stop and restart its broker.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pymysql
import redis
from sqlalchemy import select
from sqlalchemy.engine import make_url

from providers.base import Login
from providers.postgres import PgNames
from providers.registry import get_provider_class
from tests.support.redis import RedisServer, free_port
from tests.support.services import service_url
from tests.support.stack import Stack
from worker.lifecycle.context import spec_for
from worker.manifest import parse_manifest
from worker.naming import namespace
from worker.secrets import SecretBox, load
from worker.settings import Settings
from worker.tracking.models import AuditEvent, PluginSecret

REEXPORTED = (RedisServer,)  # tests import the server from here


class TcpProxy:
    """A loopback TCP forwarder that a test can take down (refusing connections) and bring back.

    ``stop()`` closes the listening socket and every open connection, so the target looks
    unreachable; ``start()`` listens again on the same port.
    """

    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.accepted = 0

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            _close(conn)

    @property
    def running(self) -> bool:
        return self._listener is not None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(upstream)
                    return
                self._conns |= {client, upstream}
                self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                _close(sock)
            with self._lock:
                self._conns -= {src, dst}


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@contextmanager
def proxy_to(url_name: str) -> Iterator[TcpProxy]:
    """A running proxy to the host and port of the test server URL ``url_name``."""
    url = make_url(service_url(url_name))
    proxy = TcpProxy(url.host or "127.0.0.1", int(url.port or 5432))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def via_proxy(url: str, proxy: TcpProxy) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    parsed = make_url(url).set(host="127.0.0.1", port=proxy.port)
    return parsed.render_as_string(hide_password=False)


# -- what exists in the providers' backends ------------------------------------------------


def pg_objects(plugin_id: str) -> dict[str, list[str]]:
    """The plugin's roles and schemas (active or archived) on the PostgreSQL test server."""
    ns = namespace(plugin_id)
    with psycopg.connect(service_url("PG_ADMIN_URL"), autocommit=True) as conn:
        roles = [
            r[0]
            for r in conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE %s ORDER BY 1", [ns + "%"]
            )
        ]
        schemas = [
            r[0]
            for r in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s ORDER BY 1", [ns + "%"]
            )
        ]
    return {"roles": roles, "schemas": schemas}


def pg_expected(plugin_id: str, *, archived: bool = False) -> dict[str, list[str]]:
    """Exactly the objects a provisioned (or archived) plugin owns."""
    n = PgNames.of(spec_for(parse_manifest({"id": plugin_id})))
    return {
        "roles": sorted(n.roles),
        "schemas": [n.archived if archived else n.schema],
    }


def mysql_admin() -> Any:
    url = make_url(service_url("MYSQL_ADMIN_URL"))
    return pymysql.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.username,
        password=url.password or "",
        autocommit=True,
    )


def mysql_objects(plugin_id: str) -> dict[str, list[str]]:
    """The plugin's users and databases (active or archived) on the MariaDB test server."""
    ns = namespace(plugin_id)
    with closing(mysql_admin()) as conn, conn.cursor() as cur:
        cur.execute("SELECT User FROM mysql.user WHERE User LIKE %s ORDER BY 1", [ns + "\\_%"])
        users = [r[0] for r in cur.fetchall()]
        cur.execute(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s "
            "ORDER BY 1",
            [f"%{ns}%"],
        )
        dbs = [r[0] for r in cur.fetchall()]
    return {"users": users, "databases": dbs}


def sqlite_files(stack: Stack, plugin_id: str) -> list[str]:
    """Every file of the plugin under the data dir (active, archived, sidecars)."""
    data = Path(stack.env["PLUGIN_DB_DATA_DIR"])
    return sorted(str(p.relative_to(data)) for p in data.rglob(f"{plugin_id}.db*"))


# -- secrets and leaks -------------------------------------------------------------------


def box_of(stack: Stack, keys: str | None = None) -> SecretBox:
    env = dict(stack.env)
    if keys is not None:
        env["PLUGIN_DB_SECRET_KEY"] = keys
    return SecretBox.from_settings(Settings.from_env(env))


def secret_payload(stack: Stack, plugin_id: str, keys: str | None = None) -> dict[str, Any] | None:
    """The plugin's decrypted credentials; every password seen is remembered for leak checks."""
    ds = stack.datasource(plugin_id)
    with stack.sessions() as session:
        payload = load(session, box_of(stack, keys), ds.secrets_ref if ds else None)
    if payload:
        issued(stack).update(v for v in payload["slots"].values() if v)
    return payload


def issued(stack: Stack) -> set[str]:
    """Every password a test saw for ``stack`` (checked for leaks when the stack stops)."""
    found: set[str] | None = getattr(stack, "_issued", None)
    if found is None:
        found = set()
        stack._issued = found  # type: ignore[attr-defined]
    return found


def harvest(stack: Stack) -> set[str]:
    """Decrypt every stored secret of the stack (any key the stack was given)."""
    keys = getattr(stack, "all_keys", stack.env["PLUGIN_DB_SECRET_KEY"])
    box = box_of(stack, keys)
    with stack.sessions() as session:
        for row in session.scalars(select(PluginSecret)):
            issued(stack).update(v for v in box.open(row.ciphertext)["slots"].values() if v)
    return issued(stack)


def login_of(
    stack: Stack, plugin_id: str, keys: str | None = None
) -> tuple[Any, Any, Login | None]:
    """(provider, spec, active login) of a plugin, built in the test process."""
    ds = stack.datasource(plugin_id)
    assert ds is not None
    provider = get_provider_class(ds.provider).from_settings(Settings.from_env(stack.env))
    spec = spec_for(parse_manifest(ds.manifest))
    payload = secret_payload(stack, plugin_id, keys)
    if payload is None:
        return provider, spec, None
    active = payload["active"]
    return (
        provider,
        spec,
        Login(provider.describe(spec, active).username or "", payload["slots"][active]),
    )


def redis_dump(url: str) -> str:
    """Every value of every key in the Redis database at ``url``."""
    client = redis.Redis.from_url(url)
    dump: list[bytes] = []
    for key in client.scan_iter():
        dump.append(key)
        kind = client.type(key)
        if kind == b"string":
            dump.append(client.get(key) or b"")
        elif kind == b"list":
            dump.extend(client.lrange(key, 0, -1))
        elif kind == b"hash":
            for k, v in client.hgetall(key).items():
                dump.extend((k, v))
        elif kind == b"set":
            dump.extend(client.smembers(key))
        elif kind == b"zset":
            dump.extend(m for m, _ in client.zrange(key, 0, -1, withscores=True))
    return b"\n".join(dump).decode(errors="replace")


def tracking_dump(stack: Stack) -> dict[str, str]:
    """Every tracking table except plugin_secrets, as text."""
    out: dict[str, str] = {}
    with stack.engine.connect() as conn:
        names = [
            t
            for t in stack.engine.dialect.get_table_names(conn)
            if t not in ("plugin_secrets", "alembic_version")
        ]
        for table in names:
            rows = conn.exec_driver_sql(f'SELECT * FROM "{table}"').fetchall()
            out[table] = json.dumps([list(map(str, r)) for r in rows])
    return out


def assert_no_leak(stack: Stack, passwords: set[str], *, redis_url: str | None = None) -> int:
    """No password in worker logs, tracking tables (but plugin_secrets), results or Redis."""
    haystacks = {"worker logs": stack.logs(), **tracking_dump(stack)}
    url = redis_url or stack.env["PLUGIN_DB_BROKER_URL"]
    with suppress(redis.RedisError):  # a test that stopped its broker checked it before
        haystacks["redis"] = redis_dump(url)
    for where, text in haystacks.items():
        for password in passwords:
            assert password not in text, f"a password leaked into {where}"
    return len(passwords)


# -- processes ---------------------------------------------------------------------------


def pool_children(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The worker's prefork pool processes (children of its main process)."""
    return psutil.Process(proc.pid).children(recursive=False)


def step_events(stack: Stack, op_id: int) -> list[str]:
    """The step audit events of an operation as 'status:step'."""
    with stack.sessions() as session:
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.operation_id == op_id, AuditEvent.event.like("step_%"))
            .order_by(AuditEvent.id)
        )
        return [f"{e.event.removeprefix('step_')}:{e.details['step']}" for e in rows]


def request_id() -> str:
    return f"t-{uuid.uuid4()}"


def kill_all(stack: Stack) -> None:
    """SIGKILL every worker process group of the stack."""
    for proc in stack.workers:  # kept in the list: log file names count the workers
        if proc.poll() is None:
            stack.kill(proc, signal.SIGKILL)


def raw_message(
    task: str,
    body: bytes,
    *,
    content_type: str = "application/json",
    task_id: str | None = None,
    headers: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """A Celery protocol 2 message as a non-Celery producer would LPUSH it; (task id, JSON)."""
    import base64

    task_id = task_id or str(uuid.uuid4())
    message = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "binary" if "python" in content_type else "utf-8",
        "content-type": content_type,
        "headers": headers
        if headers is not None
        else {
            "lang": "py",
            "task": task,
            "id": task_id,
            "root_id": task_id,
            "parent_id": None,
            "group": None,
        },
        "properties": {
            "correlation_id": task_id,
            "reply_to": "",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "plugin-db", "routing_key": "plugin-db"},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return task_id, json.dumps(message)


def push_raw(stack: Stack, payload: str) -> None:
    """LPUSH a raw message onto the queue the worker consumes."""
    redis.Redis.from_url(stack.env["PLUGIN_DB_BROKER_URL"]).lpush("plugin-db", payload)


def protocol2_body(*args: Any, **kwargs: Any) -> bytes:
    embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    return json.dumps([list(args), kwargs, embed]).encode()
