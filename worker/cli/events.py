"""``plugin-db webhooks ...``, ``plugin-db events`` and ``plugin-db connection ack`` (its logic)."""

from __future__ import annotations

import json
import time
from typing import Any

import typer

from worker.cli.common import EXIT_FAILED, JsonOpt, emit, fail, out, sessions, settings
from worker.errors import PluginDbError, RequestRejected
from worker.events import stream
from worker.secrets import SecretBox
from worker.webhooks import endpoints

webhooks_app = typer.Typer(help="Webhook endpoints (Standard Webhooks).", no_args_is_help=True)
ACTOR = "cli"


def _box() -> SecretBox:
    return SecretBox.from_settings(settings())


@webhooks_app.command("add")
def add(
    url: str,
    event: list[str] = typer.Option([], "--event", help="Event type (repeat; default: all)."),
    as_json: bool = JsonOpt,
) -> None:
    """Register URL; prints its id and signing secret (shown only this once)."""
    try:
        created = endpoints.add(sessions(), settings(), _box(), url, events=event, actor=ACTOR)
    except RequestRejected as exc:
        fail(str(exc), as_json=as_json)
    emit(
        created,
        as_json,
        f"endpoint {created['id']}\nsecret   {created['secret']}  (shown once: store it now)",
    )


@webhooks_app.command("list")
def list_endpoints(as_json: bool = JsonOpt) -> None:
    """Every endpoint (never its secret)."""
    rows = endpoints.list_all(sessions())
    lines = [
        f"{r['id']}  {'enabled ' if r['enabled'] else 'DISABLED'}  {r['url']}  "
        f"events={','.join(r['events']) or '*'}  pending={r['pending_deliveries']}"
        for r in rows
    ]
    emit(rows, as_json, "\n".join(lines) or "no webhook endpoints")


@webhooks_app.command("remove")
def remove(endpoint_id: str, as_json: bool = JsonOpt) -> None:
    """Delete an endpoint and its undelivered events."""
    try:
        endpoints.remove(sessions(), endpoint_id, ACTOR)
    except RequestRejected as exc:
        fail(str(exc), as_json=as_json)
    emit({"id": endpoint_id, "removed": True}, as_json, f"removed {endpoint_id}")


@webhooks_app.command("enable")
def enable(endpoint_id: str, as_json: bool = JsonOpt) -> None:
    """Re-enable an endpoint disabled after repeated failures."""
    try:
        endpoints.enable(sessions(), endpoint_id, ACTOR)
    except RequestRejected as exc:
        fail(str(exc), as_json=as_json)
    emit({"id": endpoint_id, "enabled": True}, as_json, f"enabled {endpoint_id}")


@webhooks_app.command("test")
def test(endpoint_id: str, as_json: bool = JsonOpt) -> None:
    """POST a signed ``webhook.test`` message now; exit 1 unless it answers 2xx."""
    try:
        sent = endpoints.test(sessions(), settings(), _box(), endpoint_id, ACTOR)
    except RequestRejected as exc:
        fail(str(exc), as_json=as_json)
    data = {"id": endpoint_id, "ok": sent.ok, "status_code": sent.status_code, "error": sent.error}
    emit(data, as_json, f"{endpoint_id}: {sent.status_code or '-'} {sent.error or 'ok'}")
    if not sent.ok:
        raise typer.Exit(EXIT_FAILED)


def events(
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new events."),
    plugin: str | None = typer.Option(None, "--plugin", help="Only this plugin's events."),
    type_: list[str] = typer.Option([], "--type", help="Only these types (repeat)."),
    after: int = typer.Option(0, "--after", help="Start after this stream position."),
    as_json: bool = JsonOpt,
) -> None:
    """The event stream (one JSON object per line with --json), oldest first."""
    position = after
    while True:
        batch = stream.after(sessions(), position, plugin_id=plugin, types=type_)
        for position, event in batch:
            _print(position, event, as_json)
        if not follow:
            return
        if not batch:
            time.sleep(0.5)


def _print(position: int, event: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"position": position, **event}, default=str), flush=True)
        return
    gen = f" gen={event['generation']}" if event["generation"] is not None else ""
    op = f" op={event['operation_id']}" if event["operation_id"] is not None else ""
    out.print(
        f"{position:>6} {event['timestamp']} {event['type']:<22} {event['plugin_id']}{op}{gen}"
    )


def ack(plugin_id: str, generation: int, as_json: bool = JsonOpt) -> None:
    """The platform now uses GENERATION: the login it replaced is retired."""
    from worker.celery_app import create_producer
    from worker.cli.producer import writable
    from worker.rotation.triggers import acknowledge

    writable(as_json)
    try:
        result = acknowledge(sessions(), plugin_id, generation, ACTOR)
    except PluginDbError as exc:
        fail(str(exc), as_json=as_json)
    app = create_producer(settings())
    for request in result["requests"]:
        app.send_task("plugin_db.retire_credentials", args=[request])
    retiring = [r["retirement_id"] for r in result["requests"]]
    emit(
        {"plugin_id": plugin_id, "generation": generation, "retiring": retiring},
        as_json,
        f"{plugin_id}: generation {generation} acknowledged; "
        + (f"retiring {len(retiring)} login(s)" if retiring else "no login waiting"),
    )


def register(app: typer.Typer) -> None:
    """Add these commands to ``plugin-db``."""
    app.add_typer(webhooks_app, name="webhooks")
    app.command("events")(events)
