"""``plugin-db migrations list|repair|baseline|verify`` and ``plugin-db migrate --all``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, NoReturn

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from providers.targets import Targets
from worker import audit
from worker.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    JsonOpt,
    console,
    emit,
    fail,
    out,
    sessions,
    settings,
)
from worker.errors import PluginDbError, RequestRejected
from worker.lifecycle.context import spec_for
from worker.migrations import admin, deps, fleet, gate, verify
from worker.states import TERMINAL, DsStatus, Kind
from worker.tracking.models import LifecycleOperation, PluginDatasource

migrations_app = typer.Typer(
    help="Migration history, drift repair, baseline and reversibility proofs of a plugin.",
    no_args_is_help=True,
)


def _fail(exc: PluginDbError, as_json: bool) -> NoReturn:
    fail(str(exc), EXIT_BAD_INPUT if isinstance(exc, RequestRejected) else EXIT_FAILED, as_json)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


@migrations_app.command("list")
def migrations_list(plugin_id: str, as_json: bool = JsonOpt) -> None:
    """Every version's state (files on disk + history) and the checksum of the set of files."""
    try:
        report = admin.report(settings(), sessions(), plugin_id)
    except PluginDbError as exc:
        _fail(exc, as_json)
    if as_json:
        emit(report.to_json(), True)
        return
    colour = {"completed": "green", "pending": "yellow", "rolled_back": "cyan"}
    rows = [
        [
            v.version,
            v.name,
            f"[{colour.get(v.state, 'red')}]{v.state}[/]",
            v.row.executed_at if v.row else None,
            v.row.execution_time_ms if v.row else None,
            v.row.error if v.row else None,
        ]
        for v in report.versions
    ]
    columns = ["version", "name", "state", "executed", "ms", "error"]
    out.print(_table(f"migrations {plugin_id}", columns, rows))
    out.print(f"set checksum: {report.set_checksum}")


@migrations_app.command("repair")
def migrations_repair(plugin_id: str, as_json: bool = JsonOpt) -> None:
    """Accept changed files of applied versions and mark failed versions pending again."""
    try:
        handle = admin.open_plugin(settings(), sessions(), plugin_id)
        result = admin.repair(handle)
    except PluginDbError as exc:
        _fail(exc, as_json)
    human = (
        f"repaired {plugin_id}: re-checksummed {', '.join(result['rechecksummed']) or 'none'}; "
        f"pending again {', '.join(result['reset_failed']) or 'none'}"
    )
    if result["missing_files"]:
        human += f"; history without a file: {', '.join(result['missing_files'])}"
    emit(result, as_json, human)


@migrations_app.command("baseline")
def migrations_baseline(plugin_id: str, version: str, as_json: bool = JsonOpt) -> None:
    """Adopt an existing schema at VERSION: record every version up to it without running it."""
    try:
        handle = admin.open_plugin(settings(), sessions(), plugin_id)
        result = admin.baseline(handle, version)
    except PluginDbError as exc:
        _fail(exc, as_json)
    adopted = ", ".join(result["adopted"]) or "nothing (already applied)"
    emit(result, as_json, f"baselined {plugin_id} at {version}: adopted {adopted}")


@migrations_app.command("verify")
def migrations_verify(plugin_id: str, as_json: bool = JsonOpt) -> None:
    """Prove the migrations reversible on a scratch database (UP, DOWN, UP); exit 1 if not."""
    config = settings()
    try:
        with sessions()() as session:
            ds = session.get(PluginDatasource, plugin_id)
        manifest = gate.plugin_manifest(config.plugins_root, plugin_id, ds)
        if manifest is None:
            raise RequestRejected("no manifest", [f"{plugin_id}: no plugin.json and none stored"])
        recorded = (ds.target or ds.provider) if ds is not None else None
        mode = manifest.database.mode.value
        provider = Targets.from_settings(config).provider_for(recorded, mode)
        files = gate.plugin_files(config.plugins_root, manifest)
        verdict = verify.verify(files, provider, provider.namespace(spec_for(manifest)))
    except PluginDbError as exc:
        _fail(exc, as_json)
    details = verdict.to_json()
    details["differences"] = details["differences"][:100]
    with sessions().begin() as session:
        audit.record(session, "migrations_verified", plugin_id=plugin_id, actor="cli", **details)
    lines = [f"  {d}" for d in verdict.differences]
    head = "[green]reversible[/green]" if verdict.ok else "[red]not reversible[/red]"
    emit(
        {"plugin_id": plugin_id, **verdict.to_json()},
        as_json,
        "\n".join([f"{plugin_id}: {head} ({len(verdict.versions)} versions)", *lines]),
    )
    if not verdict.ok:
        raise typer.Exit(EXIT_FAILED)


# -- fleet migrate ---------------------------------------------------------------------------


def _fleet_graph() -> tuple[dict[str, list[str]], dict[str, str], set[str]]:
    """Dependencies of every ready plugin, the plugins whose manifest cannot be read, and the
    plugins already up to date (their files match the checksum of their last migrate)."""
    config = settings()
    with sessions()() as session:
        ready = list(
            session.scalars(
                select(PluginDatasource).where(PluginDatasource.status == DsStatus.READY.value)
            )
        )
    graph, broken, current = {}, {}, set()
    for ds in ready:
        try:
            manifest = gate.plugin_manifest(config.plugins_root, ds.plugin_id, ds)
            stored = ds.descriptor.get(gate.FILES_CHECKSUM)
            root = config.plugins_root
            if manifest and stored and stored == gate.files_checksum(root, manifest):
                current.add(ds.plugin_id)
        except RequestRejected as exc:
            broken[ds.plugin_id] = str(exc)
            continue
        found = manifest.database.dependencies if manifest is not None else []
        graph[ds.plugin_id] = deps.direct(found)
    return graph, broken, current


def _poll(request_ids: list[str]) -> Mapping[str, fleet.Outcome]:
    with sessions()() as session:
        rows = session.execute(
            select(
                LifecycleOperation.request_id,
                LifecycleOperation.state,
                LifecycleOperation.id,
                LifecycleOperation.error,
            ).where(
                LifecycleOperation.request_id.in_(request_ids),
                LifecycleOperation.state.in_([s.value for s in TERMINAL]),
            )
        ).all()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def migrate_all(parallel: int, wait: bool, as_json: bool, dry_run: bool, force: bool) -> None:
    """Enqueue one migrate per ready plugin in dependency order, at most ``parallel`` at once.

    The command schedules: a plugin is enqueued when its dependencies have succeeded. With
    ``--wait`` it also waits for the last operations and exits 1 if any failed or was refused.
    """
    from worker.celery_app import create_app
    from worker.lifecycle.service import LifecycleService
    from worker.lifecycle.submit import accept_and_send

    if parallel < 1:
        fail("--parallel must be at least 1", EXIT_BAD_INPUT, as_json)
    graph, refused, current = _fleet_graph()
    order, cyclic = deps.fleet_order(graph, "is not a ready plugin")
    refused |= cyclic
    current -= set(refused)
    if not (dry_run or force):  # up to date: one indexed read each, nothing to enqueue
        order = [p for p in order if p not in current]
        graph = {p: [d for d in needs if d not in current] for p, needs in graph.items()}
    app, service = create_app(settings()), LifecycleService(settings())
    batch = uuid.uuid4().hex[:8]

    def submit(plugin_id: str) -> str:
        request = {
            "plugin_id": plugin_id,
            "request_id": f"cli-all-{batch}-{plugin_id}",
            "requested_by": "cli",
            "dry_run": dry_run,
            "force": force,
        }
        accept_and_send(service, app, Kind.MIGRATE, request)  # recorded before it is sent
        return str(request["request_id"])

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, disable=as_json) as progress:
        bar = progress.add_task("migrate --all", total=len(order))

        def on_change(item: fleet.Item) -> None:
            if item.state in fleet.TERMINAL:
                progress.advance(bar)
            progress.update(bar, description=f"{item.plugin_id}: {item.state}")

        runner = fleet.Fleet(order, graph, parallel, submit, _poll, on_change)
        items = runner.run(wait=wait)
    if not as_json:
        for plugin_id, why in sorted(refused.items()):
            console.print(f"[red]refused[/red] {plugin_id}: {why}")
    bad = [i for i in items if i.state not in ("succeeded", "enqueued")]
    counts: dict[str, int] = (
        {"up-to-date": len(current)} if current and not (dry_run or force) else {}
    )
    for item in items:
        counts[item.state] = counts.get(item.state, 0) + 1
    lines = [f"  {i.plugin_id:<40} {i.state:<10} {i.error or ''}" for i in bad]
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no ready plugin"
    emit(
        {
            "order": order,
            "refused": refused,
            "counts": counts,
            "plugins": [i.to_json() for i in items],
        },
        as_json,
        "\n".join([*lines, f"migrate --all: {summary}; {len(refused)} refused"]),
    )
    if refused or bad:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    """Attach ``plugin-db migrations ...``."""
    app.add_typer(migrations_app, name="migrations")
