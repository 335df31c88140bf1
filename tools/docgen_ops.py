"""Reference pages for operators and integrators: CLI, configuration, API, examples.

Each ``*_page()`` returns Markdown; ``tools/mkdocs_hooks.py`` adds them to the site.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from tools.docgen import ROOT, table
from worker.settings import ENV_PREFIX, Settings

# What each variable means (and its default where a value alone says too little); the list of
# names, the field each sets and its default come from Settings.from_env (see settings_page).
VARIABLES: Mapping[str, tuple[str, str]] = {
    "BROKER_URL": (
        "Celery broker (`filesystem://` for the embedded default)",
        "`redis://localhost:6379/0`",
    ),
    "RESULT_BACKEND": (
        "where workers keep task results (producers send without one: they never read them)",
        "the broker (files with `filesystem://`)",
    ),
    "DATABASE_URL": ("tracking database (SQLAlchemy URL)", "`sqlite:///<data dir>/tracking.db`"),
    "DATA_DIR": (
        "SQLite plugin files (`<dir>/plugins/<id>.db`), embedded key and broker",
        "`./var`",
    ),
    "PLUGINS_ROOT": ("folders of plugins (`<root>/<id>/plugin.json`)", "`./plugins`"),
    "POSTGRES_ADMIN_URL": ("PostgreSQL provider admin (superuser or CREATEROLE owner)", "-"),
    "MYSQL_ADMIN_URL": ("MySQL/MariaDB provider admin", "-"),
    "SHARED_URL": (
        "the platform's shared database (`shared` mode)",
        "`sqlite:///<data dir>/shared.db`",
    ),
    "SECRET_KEY": (
        "comma-separated Fernet keys: the first encrypts, all decrypt",
        "a key file in the data dir",
    ),
    "LEASE_SECONDS": ("lease of a running operation; a worker renews it while it works", "60"),
    "MAX_ATTEMPTS": ("worker losses an operation survives before it fails", "5"),
    "MAX_RETRIES": ("retries of a transient error", "8"),
    "BACKOFF_BASE": ("first backoff, seconds (doubles each retry, full jitter)", "2"),
    "BACKOFF_MAX": ("longest backoff, seconds", "120"),
    "VISIBILITY_TIMEOUT": (
        "Redis visibility timeout; must stay well above the longest backoff",
        "3600",
    ),
    "LOCK_WAIT_SECONDS": ("how long a migrate waits for the plugin's migration lock", "30"),
    "ARCHIVE_RETENTION_DAYS": ("archived plugins older than this are purged on schedule", "30"),
    "DOCTOR_INTERVAL_SECONDS": ("period of the scheduled doctor", "3600"),
    "ENABLE_ENTRY_POINTS": ("`1` lets migrate run a manifest's `migrations.entryPoint`", "off"),
    "FAILPOINTS": ("test-only fault injection (`before:STEP`, `after:STEP`)", "empty"),
    "LOG_FORMAT": ("`json` (worker) or `console`", "`json`"),
    "METRICS_PORT": ("port of the worker's Prometheus exporter (`0`: any free port)", "off"),
    "METRICS_ADDRESS": ("address the exporter binds", "`127.0.0.1`"),
    "METRICS_DIR": (
        "where pool processes count metrics (emptied at start)",
        "`<data dir>/metrics`",
    ),
    "SNAPSHOT_DIR": (
        "where snapshots are stored (compressed, encrypted)",
        "`<data dir>/snapshots`",
    ),
    "LARGE_TABLE_MB": ("a locking migration on a table larger than this needs `force`", "64"),
    "TOOLS_DIR": ("folder of the database client tools used for snapshots", "found on `PATH`"),
    "QUOTA_INTERVAL_SECONDS": ("period of the scheduled quota enforcement", "300"),
}


class _Recorder(dict[str, str]):
    """An environment that remembers every variable looked up."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.append(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.seen.append(key)
        return super().__getitem__(key)


def settings_variables() -> list[str]:
    """Every ``PLUGIN_DB_*`` variable ``Settings.from_env`` reads, in order."""
    env = _Recorder()
    Settings.from_env(env)
    return list(dict.fromkeys(k for k in env.seen if k.startswith(ENV_PREFIX)))


def _field_of(name: str, baseline: Settings) -> tuple[str, Any]:
    """The settings field a variable sets, found by setting it, and that field's default."""
    for probe in ("7777", "1", "x"):
        try:
            changed = Settings.from_env({name: probe})
        except ValueError:
            continue
        fields = sorted(vars(changed).items(), key=lambda kv: kv[0] != name.lower()[10:])
        for key, value in fields:
            default = getattr(baseline, key)
            if value != default:
                if key == "retry":  # the nested backoff policy
                    inner = [k for k, v in vars(value).items() if v != getattr(default, k)]
                    return f"retry.{inner[0]}", getattr(default, inner[0])
                return key, default
    return "", None


def _shown(value: Any) -> str:
    if value in (None, "", ()):
        return "-"
    return f"`{str(value).replace(str(ROOT), '.')}`"


def settings_page() -> str:
    """Every variable, found by reading ``Settings.from_env`` itself, with its default."""
    baseline = Settings.from_env({})
    rows = []
    for name in settings_variables():
        key, default = _field_of(name, baseline)
        meaning, shown = VARIABLES.get(name.removeprefix(ENV_PREFIX), ("", ""))
        rows.append(
            (f"`{name}`", meaning or key.replace("_", " "), f"`{key}`", shown or _shown(default))
        )
    return (
        "# Configuration\n\nEvery variable the worker, the CLI and the API read, listed by "
        "reading `Settings.from_env` itself (`worker/settings.py`, the only reader of the "
        "environment), with the `Settings` field each one sets.\n\n"
        + table(["variable", "meaning", "field", "default"], rows)
    )


# -- the command line -----------------------------------------------------------------------


def _commands(group: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    """Every leaf command under ``group`` (asked through click, so lazy groups load theirs)."""
    import click

    ctx = click.Context(group, info_name=" ".join(path))
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or getattr(command, "hidden", False):
            continue
        if hasattr(command, "list_commands"):
            yield from _commands(command, [*path, name])
        else:
            yield [*path, name], command


def cli_page() -> str:
    """Every ``plugin-db`` command with its arguments and options, generated from typer."""
    import click
    import typer.main

    from worker.cli import app

    group = typer.main.get_command(app)
    out = ["# Command line\n", "Generated from the typer application `worker.cli:app`.\n"]
    for path, command in _commands(group, ["plugin-db"]):
        ctx = click.Context(command, info_name=" ".join(path))
        out.append(f"## `{' '.join(path[1:])}`\n")
        out.append(f"```\n{command.get_usage(ctx)}\n```\n")
        out.append((command.help or "").strip().split("\n\n")[0] + "\n")
        rows = []
        for param in command.params:
            names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
            if param.param_type_name == "argument":
                names = f"`{(param.name or '').upper()}`"
            default = param.default if param.default not in (None, False, ()) else ""
            rows.append((names, getattr(param, "help", "") or "", f"{default}"))
        if rows:
            out.append(table(["argument or option", "meaning", "default"], rows))
    return "\n".join(out)


# -- the HTTP API ---------------------------------------------------------------------------


def openapi() -> dict[str, Any] | None:
    """The API's OpenAPI document, or None when this version has no HTTP API."""
    try:
        from worker.api.app import create_app  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return dict(create_app().openapi())


def api_page() -> str:
    """Every route of ``/openapi.json``: method, path, summary, scopes, answers."""
    document = openapi()
    if document is None:
        return "# HTTP API\n\nThis version serves no HTTP API: use the Celery tasks.\n"
    rows = []
    for path, methods in sorted(document.get("paths", {}).items()):
        for method, op in methods.items():
            answers = ", ".join(sorted(op.get("responses", {})))
            what = " ".join((op.get("description") or op.get("summary", "")).split())
            auth = "bearer token" if op.get("security") else "none"
            rows.append((f"`{method.upper()}`", f"`{path}`", what, auth, answers))
    return (
        "# HTTP API\n\nRendered from the application's `/openapi.json` "
        f"(OpenAPI {document.get('openapi')}, `{document['info']['title']}` "
        f"{document['info'].get('version', '')}); `plugin-db api` serves it, with the "
        "interactive version at `/docs`.\n\n"
        + table(["method", "path", "what it does", "auth", "answers"], rows)
    )


# -- examples -------------------------------------------------------------------------------


def examples_page() -> str:
    """Each plugin folder under ``examples/``: what it shows, its storage, tables and enums."""
    out = [
        "# Examples\n",
        "Every folder below is a real plugin under `examples/`; the test suite "
        "(`tests/examples/`) provisions and migrates each one, and registers its declarative "
        "schema, through a real worker.\n",
    ]
    for manifest_file in sorted((ROOT / "examples").glob("*/plugin.json")):
        folder = manifest_file.parent
        manifest = json.loads(manifest_file.read_text())
        if manifest["id"] != folder.name:  # a platform example's sample, not a plugin folder
            continue
        database = manifest["sovereign"]["database"]
        out.append(f"## {manifest['id']}\n")
        if manifest.get("description"):
            out.append(manifest["description"] + "\n")
        facts = [("mode", f"`{database.get('mode', 'shared')}`")]
        if database.get("dependencies"):
            facts.append(("depends on", ", ".join(f"`{d}`" for d in database["dependencies"])))
        migrations = sorted(p.name for p in (folder / "migrations").glob("*.sql"))
        if migrations:
            facts.append(("migrations", ", ".join(f"`{m}`" for m in migrations)))
        if database.get("declarativeSchema"):
            doc = json.loads((folder / database["declarativeSchema"]).read_text())
            facts.append(("tables", ", ".join(f"`{t['name']}`" for t in doc["tables"])))
            if doc.get("enums"):
                facts.append(("enums", ", ".join(f"`{e['name']}`" for e in doc["enums"])))
            rels = [
                f"`{r['source']}.{r['sourceField']}` → `{r['target']}`"
                for r in doc.get("relationships", [])
            ]
            if rels:
                facts.append(("relationships", ", ".join(rels)))
        out.append(table(["", f"`examples/{folder.name}/`"], facts))
    return "\n".join(out)


def pages() -> dict[str, str]:
    """Generated pages by path in the site."""
    from tools import docgen

    return {
        "concepts/state-machines.md": docgen.states_page(),
        "plugin-authors/manifest.md": docgen.manifest_page(),
        "plugin-authors/declarative-schema-reference.md": docgen.declarative_page(),
        "operations/configuration.md": settings_page(),
        "operations/metrics.md": docgen.metrics_page(),
        "reference/cli.md": cli_page(),
        "reference/api.md": api_page(),
        "reference/tracking-tables.md": docgen.tables_page(),
        "examples.md": examples_page(),
    }
