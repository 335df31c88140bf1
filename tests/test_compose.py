"""Static checks of docker-compose.yml: no Docker engine needed.

The file is read with PyYAML (merge keys resolved, ``${...}`` left as written) and checked
against the project itself: the commands it runs must exist in the ``plugin-db`` CLI or the
Celery app, it must set every variable of CONTRACT.md section 5, and Prometheus and Grafana must
be provisioned with the project's alert rules and dashboard. Debian's ``docker-compose``
(installed by scripts/tools.sh) validates the whole stack with its own parser too.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
CONTRACT = Path("/work/shared/CONTRACT.md")
ENV_ANCHOR = "x-plugin-db-env"
APP_SERVICES = ("migrate", "worker", "api", "beat", "flower")
DATA_SERVICES = ("redis", "postgres", "mariadb")
CELERY_APP = "worker.celery_app"
CONTRACT_ENV_FALLBACK = (
    "PLUGIN_DB_BROKER_URL",
    "PLUGIN_DB_DATABASE_URL",
    "PLUGIN_DB_DATA_DIR",
    "PLUGIN_DB_PLUGINS_ROOT",
    "PLUGIN_DB_POSTGRES_ADMIN_URL",
    "PLUGIN_DB_MYSQL_ADMIN_URL",
    "PLUGIN_DB_SHARED_URL",
    "PLUGIN_DB_SECRET_KEY",
)
# Variables the file must refuse to run without (``${VAR:?message}``).
REQUIRED_VARS = (
    "POSTGRES_PASSWORD",
    "MARIADB_ROOT_PASSWORD",
    "PLUGIN_DB_SECRET_KEY",
    "FLOWER_BASIC_AUTH",
    "GRAFANA_ADMIN_PASSWORD",
)
DUMMY_ENV = {
    "POSTGRES_PASSWORD": "dummy-pg",
    "MARIADB_ROOT_PASSWORD": "dummy-maria",
    "PLUGIN_DB_SECRET_KEY": "dummy-key",
    "FLOWER_BASIC_AUTH": "ops:dummy-flower",
    "GRAFANA_ADMIN_PASSWORD": "dummy-grafana",
}
# Contract variables an operator opts into: the file documents them (header comments) but need
# not set them, since the worker's behaviour without them is the right default.
OPTIONAL_IN_COMPOSE = {
    "PLUGIN_DB_TARGETS": "without a targets file the admin URLs define one target each",
    "PLUGIN_DB_CONNECTION_DIR": "a connection-file sink for hosts that mount a folder",
    "PLUGIN_DB_WEBHOOK_ALLOWED_HOSTS": "an allowance beyond public addresses",
}
REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>[^}]*)\}")
SENSITIVE = re.compile(r"password|secret", re.IGNORECASE)
URL_CREDENTIALS = re.compile(r"://[^/\s:@]+:(?P<password>[^@\s]*)@")


@cache
def compose() -> dict[str, Any]:
    """docker-compose.yml as PyYAML reads it (YAML merge keys resolved)."""
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def contract_env_vars() -> list[str]:
    """Names in CONTRACT.md section 5's table, or the known eight if the file is absent."""
    if not CONTRACT.exists():
        return list(CONTRACT_ENV_FALLBACK)
    text = CONTRACT.read_text()
    match = re.search(r"^## 5\..*?$(?P<body>.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"{CONTRACT} has no section 5"
    names = re.findall(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", match["body"], re.MULTILINE)
    assert names, f"no variables found in the table of {CONTRACT} section 5"
    return names


def required_env_vars() -> list[str]:
    """Contract variables the compose file must set (all but the opt-in ones)."""
    return [name for name in contract_env_vars() if name not in OPTIONAL_IN_COMPOSE]


def command_words(service: str) -> list[str]:
    """The service's command as words; a ``${...}`` reference (which compose interpolates
    before splitting) stays inside its word even when its message has spaces."""
    command = services()[service].get("command")
    assert command, f"service {service} has no command"
    if not isinstance(command, str):
        return [str(word) for word in command]
    refs: list[str] = []

    def hide(match: re.Match[str]) -> str:
        refs.append(match[0])
        return f"@@ref{len(refs) - 1}@@"

    words = shlex.split(REFERENCE.sub(hide, command))
    return [re.sub(r"@@ref(\d+)@@", lambda m: refs[int(m[1])], word) for word in words]


def depends_on(service: dict[str, Any]) -> dict[str, str | None]:
    """``depends_on`` in either form, as {service: condition or None}."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps)
    return {name: (spec or {}).get("condition") for name, spec in deps.items()}


def values(node: Any) -> Iterator[str]:
    """Every string value in the document (mapping values, list items; not keys).

    A list-form variable ``NAME=value`` yields only its value."""
    if isinstance(node, str):
        name, sep, value = node.partition("=")
        yield value if sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", name) else node
    elif isinstance(node, dict):
        for value in node.values():
            yield from values(value)
    elif isinstance(node, list):
        for item in node:
            yield from values(item)


def published_ports(service: dict[str, Any]) -> set[int]:
    ports: set[int] = set()
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            ports.add(int(entry["published"]))
            continue
        spec = REFERENCE.sub("host", str(entry)).split("/")[0]
        parts = spec.split(":")
        if len(parts) >= 2:
            ports.add(int(parts[-2]))
    return ports


# --- structure -----------------------------------------------------------------------------


def test_expected_services_are_defined() -> None:
    assert set(services()) >= set(APP_SERVICES) | set(DATA_SERVICES)


def test_every_dependency_is_a_defined_service() -> None:
    for name, service in services().items():
        for dep in depends_on(service):
            assert dep in services(), f"{name} depends on undefined service {dep}"


def test_start_order() -> None:
    assert depends_on(services()["migrate"]) == {"postgres": "service_healthy"}
    assert depends_on(services()["worker"]) == {
        "migrate": "service_completed_successfully",
        "redis": "service_healthy",
        "postgres": "service_healthy",
        "mariadb": "service_healthy",
    }
    for name, service in services().items():
        for dep, condition in depends_on(service).items():
            if condition == "service_healthy":
                assert "healthcheck" in services()[dep], f"{name} waits on {dep}'s healthcheck"


def test_redis_is_durable_and_never_evicts() -> None:
    command = " ".join(command_words("redis"))
    assert re.search(r"--appendonly\s+yes", command)
    assert re.search(r"--maxmemory-policy\s+noeviction", command)


@pytest.mark.parametrize("name", DATA_SERVICES)
def test_data_services_have_healthchecks(name: str) -> None:
    check = services()[name].get("healthcheck")
    assert check and check.get("test"), f"{name} has no healthcheck"
    assert not check.get("disable")
    test = check["test"]
    text = test if isinstance(test, str) else " ".join(test)
    expected = {
        "redis": "redis-cli ping",
        "postgres": "pg_isready",
        "mariadb": "healthcheck.sh --connect --innodb_initialized",
    }[name]
    assert expected in text


def test_postgres_init_script_creates_the_databases() -> None:
    mounts = [str(v) for v in services()["postgres"].get("volumes", [])]
    init = [m for m in mounts if ":/docker-entrypoint-initdb.d" in m]
    assert init, "postgres mounts no init scripts"
    folder = ROOT / init[0].split(":")[0]
    assert folder.resolve().is_relative_to((ROOT / "docker").resolve())
    scripts = "\n".join(p.read_text() for p in sorted(folder.iterdir()) if p.is_file())
    for database in ("plugin_db", "plugins", "shared"):
        assert re.search(rf"CREATE DATABASE \"?{database}\"?\b", scripts), database


def test_named_volumes_keep_the_data() -> None:
    declared = set(compose().get("volumes") or {})
    targets = {
        "redis": "/data",
        "postgres": "/var/lib/postgresql/data",
        "mariadb": "/var/lib/mysql",
    }
    for name, target in {**targets, "worker": "/data"}.items():
        mounts = [str(v).split(":") for v in services()[name].get("volumes", [])]
        sources = [m[0] for m in mounts if len(m) > 1 and m[1] == target]
        assert sources, f"{name} does not mount a volume at {target}"
        assert sources[0] in declared, f"{name}:{target} is not a named volume"


def test_app_services_build_the_project_image() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    assert re.search(r"^USER (?!root\b|0\b)\S+", dockerfile, re.MULTILINE), "runs as root"
    assert re.search(r"^WORKDIR /app$", dockerfile, re.MULTILINE)
    assert re.search(r"pip install .*\.\s.*flower", dockerfile)
    assert re.search(r"^COPY examples/? ", dockerfile, re.MULTILINE)
    for name in APP_SERVICES:
        build = services()[name].get("build")
        context = build if isinstance(build, str) else (build or {}).get("context")
        assert context == ".", f"{name} does not build from ./Dockerfile"


# --- commands ------------------------------------------------------------------------------


def plugin_db_cli() -> Any:
    """The click group typer builds for ``plugin-db`` (typer may vendor its own click)."""
    import typer.main

    from worker.cli import app

    group = typer.main.get_command(app)
    assert hasattr(group, "list_commands"), "plugin-db is not a command group"
    return group


def check_plugin_db_command(args: list[str]) -> None:
    """Walk ``args`` down the CLI's groups, then parse the rest with the command found."""
    command = plugin_db_cli()
    path = ["plugin-db"]
    while hasattr(command, "list_commands"):  # a group: descend (lazy groups load on demand)
        assert args, f"`{' '.join(path)}` needs a subcommand"
        name, args = args[0], args[1:]
        ctx = command.make_context(" ".join(path), [name], resilient_parsing=True)
        found = command.get_command(ctx, name)
        assert found is not None, (
            f"`{' '.join(path)} {name}` is not a command (have {command.list_commands(ctx)})"
        )
        command = found
        path.append(name)
    # Parses options and arguments exactly as a run would, without invoking the command.
    try:
        command.make_context(" ".join(path), list(args))
    except Exception as exc:
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        pytest.fail(f"`{' '.join([*path, *args])}` does not parse: {message}")


def check_celery_command(args: list[str]) -> None:
    from celery.bin.celery import celery as celery_cli

    assert args[:2] == ["-A", CELERY_APP], f"celery must run with -A {CELERY_APP}: {args}"
    sub = args[2]
    assert sub in celery_cli.commands, f"`celery {sub}` is not a celery command"

    import tasks.lifecycle  # noqa: F401  (registers the public tasks)
    from worker.celery_app import app

    app.loader.import_default_modules()  # what worker and beat do: the app's `include`
    assert "plugin_db.provision" in app.tasks
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks, f"beat schedules unknown task {entry['task']}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_command_exists(name: str) -> None:
    program, *args = command_words(name)
    assert program in ("plugin-db", "celery"), f"{name} runs {program}"
    if program == "plugin-db":
        check_plugin_db_command(args)
    else:
        check_celery_command(args)


def test_service_commands_match_their_roles() -> None:
    assert command_words("migrate") == ["plugin-db", "db", "upgrade"]
    assert command_words("worker")[:2] == ["plugin-db", "worker"]
    assert command_words("beat")[:4] == ["celery", "-A", CELERY_APP, "beat"]
    assert command_words("flower")[:4] == ["celery", "-A", CELERY_APP, "flower"]
    assert services()["migrate"].get("restart") in ("no", None), "migrate is one-shot"


def test_flower_requires_basic_auth_and_publishes_5555() -> None:
    words = command_words("flower")
    auth = [w for w in words if w.startswith("--basic-auth")]
    assert auth, "flower runs without --basic-auth"
    value = auth[0].partition("=")[2]
    ref = REFERENCE.fullmatch(value)
    assert ref and ref["rest"].startswith(":?"), "credentials must be a required ${VAR:?...}"
    assert "--port=5555" in words
    assert 5555 in published_ports(services()["flower"])


# --- environment and secrets ---------------------------------------------------------------


def test_env_anchor_sets_every_contract_variable() -> None:
    anchor = compose().get(ENV_ANCHOR)
    assert isinstance(anchor, dict), f"{ENV_ANCHOR} must be a mapping of variables"
    for name in required_env_vars():
        assert anchor.get(name), f"{ENV_ANCHOR} does not set {name}"
    assert anchor["PLUGIN_DB_BROKER_URL"] == "redis://redis:6379/0"
    assert anchor["PLUGIN_DB_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert anchor["PLUGIN_DB_DATABASE_URL"].endswith("@postgres:5432/plugin_db")
    assert anchor["PLUGIN_DB_MYSQL_ADMIN_URL"].startswith("mysql+pymysql://root:")
    assert anchor["PLUGIN_DB_DATA_DIR"] == "/data"
    assert anchor["PLUGIN_DB_PLUGINS_ROOT"] == "/plugins"


def test_opt_in_variables_are_documented_in_the_file() -> None:
    header = COMPOSE_FILE.read_text()
    for name in OPTIONAL_IN_COMPOSE:
        if name in contract_env_vars():
            assert re.search(rf"^#.*\b{name}\b", header, re.MULTILINE), f"{name} undocumented"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_use_the_shared_env(name: str) -> None:
    environment = services()[name].get("environment")
    assert isinstance(environment, dict)
    anchor = compose()[ENV_ANCHOR]
    assert {k: environment.get(k) for k in anchor} == anchor


def test_no_literal_passwords() -> None:
    for text in values(compose()):
        literal = REFERENCE.sub("", text)
        assert not SENSITIVE.search(literal), f"literal secret-looking value: {text!r}"
        for match in URL_CREDENTIALS.finditer(text):
            assert REFERENCE.fullmatch(match["password"]), f"password in URL: {text!r}"
    for name, service in services().items():
        environment = service.get("environment") or {}
        items = environment.items() if isinstance(environment, dict) else []
        for key, value in items:
            if re.search(r"PASSWORD|SECRET", key):
                assert REFERENCE.fullmatch(str(value)), f"{name}: {key} is not a ${{...}}"


def test_credential_variables_are_required() -> None:
    seen: set[str] = set()
    for text in values(compose()):
        for ref in REFERENCE.finditer(text):
            if ref["name"] in REQUIRED_VARS:
                seen.add(ref["name"])
                assert ref["rest"].startswith(":?"), f"{ref[0]} has a default; use :?"
    assert seen == set(REQUIRED_VARS)


# --- docker-compose's own parser -----------------------------------------------------------

DOCKER_COMPOSE = shutil.which("docker-compose")


@pytest.fixture
def empty_env_file(tmp_path: Path) -> Path:
    path = tmp_path / "empty.env"
    path.write_text("")
    return path


def run_docker_compose(
    env: dict[str, str], env_file: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` with exactly ``env``: an empty env file instead of a local
    .env, and no inherited variables."""
    assert DOCKER_COMPOSE, "docker-compose is missing: scripts/tools.sh installs it"
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    return subprocess.run(
        [DOCKER_COMPOSE, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_docker_compose_accepts_the_file(empty_env_file: Path) -> None:
    result = run_docker_compose(DUMMY_ENV, empty_env_file, "-q")
    assert result.returncode == 0, result.stderr


def test_docker_compose_resolves_the_shared_env(empty_env_file: Path) -> None:
    result = run_docker_compose(DUMMY_ENV, empty_env_file)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    for name in APP_SERVICES:
        environment = resolved[name]["environment"]
        for var in required_env_vars():
            assert environment.get(var), f"{name}: {var} is empty after interpolation"
        assert environment["PLUGIN_DB_SECRET_KEY"] == DUMMY_ENV["PLUGIN_DB_SECRET_KEY"]
    assert f"--basic-auth={DUMMY_ENV['FLOWER_BASIC_AUTH']}" in resolved["flower"]["command"]


@pytest.mark.parametrize("missing", REQUIRED_VARS)
def test_docker_compose_refuses_missing_credentials(missing: str, empty_env_file: Path) -> None:
    env = {k: v for k, v in DUMMY_ENV.items() if k != missing}
    result = run_docker_compose(env, empty_env_file, "-q")
    assert result.returncode != 0, f"config accepted the file without {missing}"
    assert missing in result.stderr
