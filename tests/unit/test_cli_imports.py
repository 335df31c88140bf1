"""The command line loads lazily: reads import no Celery, parser, schema package or driver."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
import typer

import worker.cli
from worker.cli import COMMANDS, attach
from worker.tracking import db

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "celery",
    "kombu",
    "sqlglot",
    "alembic",
    "fastapi",
    "uvicorn",
    "worker.schema",
    "worker.lifecycle",
    "worker.migrations",
    "providers.postgres",
    "providers.mysql",
    "providers.sqlite",
    "providers.shared",
)
READ_HEAVY = (*HEAVY, "sqlalchemy", "worker.tracking.models", "rich", "structlog")
"""A ``--json`` read uses the database driver alone: no ORM, no rich, no logging setup."""
PROBE = """
import json, sys
from typer.testing import CliRunner
from worker.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({"code": result.exit_code, "modules": sorted(sys.modules)}))
"""


def _loaded(*argv: str, tmp_path: Path) -> tuple[int, list[str]]:
    env = {"PLUGIN_DB_DATABASE_URL": f"sqlite:///{tmp_path / 'tracking.db'}", "PATH": "/usr/bin"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return data["code"], data["modules"]


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_importing_the_command_line_loads_nothing_heavy(tmp_path: Path) -> None:
    """Given a fresh interpreter, importing the CLI loads none of the heavy modules."""
    code, modules = _loaded("--version-free-probe", tmp_path=tmp_path)
    assert code != 0  # an unknown command: usage error, but the import itself was measured
    assert _heavy(modules) == []


def _heavy_for_reads(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in READ_HEAVY)]


def test_reads_load_nothing_heavy(tmp_path: Path) -> None:
    """Given an up-to-date tracking database, `--json` reads import no ORM, rich or logging."""
    db.upgrade(f"sqlite:///{tmp_path / 'tracking.db'}")
    argvs = (["info", "nope", "--json"], ["ops", "--json"], ["op", "1", "--json"])
    for argv in (*argvs, ["audit", "nope", "--json"]):
        _code, modules = _loaded(*argv, tmp_path=tmp_path)
        assert _heavy_for_reads(modules) == [], argv


def test_doctor_for_one_plugin_loads_no_parser_schema_or_server_client(tmp_path: Path) -> None:
    """Given `doctor --plugin`, no Celery, SQL parser, Alembic, schema package or PostgreSQL
    and MySQL client is imported (a SQLite tracking database, an unknown plugin)."""
    db.upgrade(f"sqlite:///{tmp_path / 'tracking.db'}")
    _code, modules = _loaded("doctor", "--plugin", "nope", "--json", tmp_path=tmp_path)
    heavy = ("celery", "kombu", "sqlglot", "alembic", "fastapi", "worker.schema", "psycopg")
    assert [m for m in modules if m.split(".")[0] in {*heavy, "pymysql"} or m in heavy] == []
    assert [m for m in modules if m.startswith(("sqlalchemy", "worker.tracking.models"))] == []


MAIN_PROBE = """
import json, sys
from worker.cli import main
sys.argv = ["plugin-db", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""
EARLY_HEAVY = (*READ_HEAVY, "typer", "click", "pydantic")
"""What the console script loads for a plain read: not even Typer (nor pydantic, its
dependency); ``doctor`` parses the stored manifest (pydantic) and reads the migration files."""
DOCTOR_NEEDS = ("pydantic", "pydantic_core", "worker.migrations", "worker.migrations.files")


@pytest.mark.parametrize(
    "argv",
    [
        ["info", "p", "--json"],
        ["ops", "--plugin", "p", "--state", "failed", "--limit", "5", "--json"],
        ["op", "7", "--json"],
        ["audit", "p", "--limit=3", "--json"],
        ["doctor", "--plugin", "p", "--json"],
    ],
)
def test_plain_reads_run_before_typer_loads(tmp_path: Path, argv: list[str]) -> None:
    """Given the console script's entry point, a plain read imports no Typer and no ORM."""
    db.upgrade(f"sqlite:///{tmp_path / 'tracking.db'}")
    env = {"PLUGIN_DB_DATABASE_URL": f"sqlite:///{tmp_path / 'tracking.db'}", "PATH": "/usr/bin"}
    done = subprocess.run(
        [sys.executable, "-c", MAIN_PROBE, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    data = json.loads(done.stdout.strip().splitlines()[-1])
    assert data["code"] in (0, 2), done.stdout  # found nothing, or an empty list
    allowed = DOCTOR_NEEDS if argv[0] == "doctor" else ()
    loaded = [
        m
        for m in data["modules"]
        if any(m == h or m.startswith(h + ".") for h in EARLY_HEAVY)
        and not (m in allowed or m.split(".")[0] in allowed)
    ]
    assert loaded == [], argv


@pytest.mark.parametrize(
    ("argv", "early"),
    [
        (["info", "p"], True),
        (["info", "p", "--json", "--json"], False),
        (["ops", "--state", "bogus"], False),
        (["ops", "--limit"], False),
        (["op", "x"], True),  # parsed; the command hands "x" back to Typer
        (["op", "1", "2"], False),
        (["info", "--help"], False),
        (["doctor", "--plugin=p", "--json"], True),
        (["migrate", "p"], True),  # one plugin's migrate: an enqueue
        (["migrate", "p", "--parallel", "2"], False),
        (["migrate", "--all", "p"], False),
        (["migrate", "--all", "--target", "002"], False),
        (["migrate"], False),
        (["teardown", "p", "--purge", "--no-snapshot", "--wait", "--json"], True),
        (["teardown", "p", "--no-purge"], False),
        (["relocate", "p", "--mode"], False),
        (["rotate", "p", "q"], False),
        (["rollback", "p", "001"], False),  # reads applied versions through Typer's command
    ],
)
def test_the_early_parser_leaves_anything_unusual_to_typer(argv: list[str], early: bool) -> None:
    """Given arguments Typer would refuse or explain, the early parser declines them."""
    from worker.cli.fast import parse

    assert (parse(argv) is not None) is early


@pytest.mark.parametrize("revision", [None, "0001", "0011"])
def test_out_of_date_database_says_to_upgrade(tmp_path: Path, revision: str | None) -> None:
    """Given a tracking database behind the code, a read that it cannot answer and every
    enqueue (even one whose rows it could still read) print one line and exit 1."""
    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    if revision:
        db.upgrade(url, revision)
    env = {"PLUGIN_DB_DATABASE_URL": url, "PATH": "/usr/bin"}
    argvs = [["teardown", "p", "--json"], ["rotate", "p"], ["migrate", "p"], ["migrate", "--all"]]
    argvs += [["retry", "1"], ["connection", "ack", "p", "2"]]
    if revision != "0011":  # the reads' tables changed after 0001; at 0011 they still answer
        argvs += [["info", "p", "--json"], ["info", "p"], ["doctor", "--plugin", "p"]]
    for argv in argvs:
        done = subprocess.run(
            [sys.executable, "-m", "worker.cli", *argv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        text = done.stdout + done.stderr
        assert done.returncode == 1, (argv, text)
        assert "Traceback" not in text, argv
        assert "run `plugin-db db upgrade`" in text, argv
        assert len(text.strip().splitlines()) <= 3, text  # one line (or one JSON object)


def test_command_map_matches_the_modules() -> None:
    """Given every CLI module with a `register`, the lazy map names exactly their commands."""
    registered: dict[str, set[str]] = {}
    for info in pkgutil.iter_modules(worker.cli.__path__):
        if info.name in ("schema", "__main__"):
            continue
        module = importlib.import_module(f"worker.cli.{info.name}")
        if not callable(getattr(module, "register", None)):
            continue
        sub = typer.Typer()
        module.register(sub)
        group = typer.main.get_group(sub)
        for name in group.commands:
            registered.setdefault(name, set()).add(info.name)
    mapped = {name for name, entries in COMMANDS.items() if name != "schema"}
    assert set(registered) == mapped, "add new command names to COMMANDS in worker/cli/__init__.py"
    for name, modules in registered.items():
        assert modules <= set(COMMANDS[name]), name


def test_every_mapped_command_resolves() -> None:
    """Given the map, each name attaches a command of that name."""
    for name, entries in COMMANDS.items():
        sub = typer.Typer()
        for entry in entries:
            attach(sub, name, entry)
        assert name in typer.main.get_group(sub).commands, name


ENQUEUE_HEAVY = (
    "sqlglot",
    "alembic",
    "fastapi",
    "uvicorn",
    "worker.schema",
    "worker.lifecycle.runner",
    "worker.lifecycle.plans",
    "worker.lifecycle.relocate",
    "worker.migrations.analysis",
    "worker.relocation",
    "worker.snapshots",
    "providers.postgres",
    "providers.mysql",
    "psycopg",
    "pymysql",
)
"""An enqueueing command validates and records the request, then sends its message: no
runner, no engine it drives, no SQL parser, no server client."""
ENQUEUE_EARLY_HEAVY = (*ENQUEUE_HEAVY, "typer", "rich", "structlog", "prometheus_client")
ENQUEUE_EARLY_HEAVY += ("sqlalchemy", "worker.tracking", "worker.lifecycle.intake")
ENQUEUE_EARLY_HEAVY += ("worker.lifecycle.store", "worker.audit")
"""Nor, in its plain form, Typer (it runs before Typer loads), rich (``--json``), structlog
(nothing is logged at warning or above) or the Prometheus client; and a teardown, rotate or
restore (checked by its manifest alone) neither SQLAlchemy nor the models: it is recorded
through the database driver."""


@pytest.mark.parametrize(
    ("argv", "code"),
    [(["teardown", "bench-cli", "--json"], 0), (["rotate", "no-such-plugin", "--json"], 2)],
)
def test_enqueueing_loads_only_validation_and_the_sender(
    tmp_path: Path, argv: list[str], code: int
) -> None:
    """Given a ready plugin and the embedded broker, an enqueue (accepted, or refused at
    once) imports neither Typer, SQLAlchemy, the runner nor the parser, records and sends all
    the same, and prints no warning."""
    from bench.cli import seed

    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    seed(url, tmp_path / "data")
    env = {
        "PLUGIN_DB_DATABASE_URL": url,
        "PLUGIN_DB_DATA_DIR": str(tmp_path / "data"),
        "PLUGIN_DB_PLUGINS_ROOT": str(tmp_path / "plugins"),
        "PLUGIN_DB_BROKER_URL": "filesystem://",
        "PATH": "/usr/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", MAIN_PROBE, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    data = json.loads(done.stdout.strip().splitlines()[-1])
    assert data["code"] == code, done.stdout + done.stderr
    loaded = [
        m
        for m in data["modules"]
        if any(m == h or m.startswith(h + ".") for h in ENQUEUE_EARLY_HEAVY)
    ]
    assert loaded == [], argv
    assert "No hostname was supplied" not in done.stderr  # kombu's warning on every send
    queued = list((tmp_path / "data" / "broker" / "queue").glob("*"))
    assert len(queued) == (1 if code == 0 else 0)
    with closing(sqlite3.connect(tmp_path / "tracking.db")) as conn:
        events = [row[0] for row in conn.execute("SELECT event FROM audit_events ORDER BY id")]
    assert events[-1] == ("operation_accepted" if code == 0 else "request_rejected")
