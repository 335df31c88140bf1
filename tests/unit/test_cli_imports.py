"""The command line loads lazily: reads import no Celery, parser, schema package or driver."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
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


@pytest.mark.parametrize("revision", [None, "0001"])
def test_reads_on_an_out_of_date_database_say_to_upgrade(
    tmp_path: Path, revision: str | None
) -> None:
    """Given a tracking database behind the code, a read prints one line and exits 1."""
    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    if revision:
        db.upgrade(url, revision)
    env = {"PLUGIN_DB_DATABASE_URL": url, "PATH": "/usr/bin"}
    for argv in (["info", "p", "--json"], ["info", "p"], ["doctor", "--plugin", "p"]):
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
