"""``plugin-db api``, ``plugin-db connection`` and ``plugin-db tokens``."""

from __future__ import annotations

import typer

from worker import audit, tokens
from worker.cli.common import EXIT_BAD_INPUT, JsonOpt, emit, fail, out, sessions, settings
from worker.connection import read_connection
from worker.errors import RequestRejected
from worker.secrets import SecretBox

ScopeOpt = typer.Option(..., "--scope", help=f"One of {', '.join(tokens.SCOPES)}.")
tokens_app = typer.Typer(help="HTTP API tokens (only a hash is stored).", no_args_is_help=True)


def connection(
    plugin_id: str,
    rest: list[str] | None = typer.Argument(None, metavar="[ID GENERATION]", show_default=False),
    as_json: bool = JsonOpt,
) -> None:
    """The plugin runtime's connection (URL with password, env, generation); audited.

    ``connection ack ID GENERATION``: the platform now uses GENERATION (the login it
    replaced is retired).
    """
    if plugin_id == "ack" and rest:  # `connection ack` alone is the plugin named "ack"
        from worker.cli.events import ack

        if len(rest or []) != 2 or not (rest or ["", ""])[1].isdigit():
            fail("usage: plugin-db connection ack ID GENERATION", EXIT_BAD_INPUT, as_json)
        ack((rest or [])[0], int((rest or [])[1]), as_json)
        return
    if rest:
        fail(f"unexpected arguments: {' '.join(rest)}", EXIT_BAD_INPUT, as_json)
    try:
        with sessions().begin() as session:
            document = read_connection(session, SecretBox.from_settings(settings()), plugin_id)
            audit.record(
                session,
                "connection_read",
                plugin_id=plugin_id,
                actor="cli",
                generation=document["generation"],
            )
    except RequestRejected as exc:
        fail(str(exc), EXIT_BAD_INPUT, as_json)
    emit(document, as_json, document["url"])


def api(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8080, "--port", help="TCP port."),
) -> None:
    """Serve the HTTP API (OpenAPI document at /openapi.json) with uvicorn.

    Like the worker, it does not start on a tracking database behind the code (exit 3): its
    requests would fail on the columns and tables that ``plugin-db db upgrade`` adds."""
    import uvicorn

    from worker.api.app import create_app
    from worker.errors import TrackingOutOfDate
    from worker.logging import configure
    from worker.tracking.db import make_engine, require_current

    engine = make_engine(settings().database_url)
    try:
        require_current(engine)
    except TrackingOutOfDate as exc:
        typer.echo(f"plugin-db: {exc}", err=True)
        raise typer.Exit(3) from None
    finally:
        engine.dispose()
    configure(json=settings().log_json)
    uvicorn.run(create_app(settings()), host=host, port=port, log_level="info")


@tokens_app.command("create")
def create(
    name: str,
    scope: list[str] = ScopeOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a token and print it once (store it: it cannot be shown again)."""
    try:
        token = tokens.create(sessions(), name, scope)
    except RequestRejected as exc:
        fail(str(exc), EXIT_BAD_INPUT, as_json)
    data = {"name": name, "token": token, "scopes": tokens.check_scopes(scope)}
    emit(data, as_json, token)


@tokens_app.command("list")
def listing(as_json: bool = JsonOpt) -> None:
    """Every token's name, scopes and dates (never the token)."""
    rows = tokens.listing(sessions())
    if as_json:
        emit(rows, True)
        return
    for row in rows:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        out.print(f"{row['name']:<24} {','.join(row['scopes']):<48} {state}")


@tokens_app.command("revoke")
def revoke(name: str, as_json: bool = JsonOpt) -> None:
    """Revoke a token: its next request gets 401."""
    try:
        tokens.revoke(sessions(), name)
    except RequestRejected as exc:
        fail(str(exc), EXIT_BAD_INPUT, as_json)
    emit({"name": name, "revoked": True}, as_json, f"revoked {name}")


def register(app: typer.Typer) -> None:
    """Attach the API commands; ``credentials`` is an alias of ``connection``."""
    app.command()(connection)
    app.command("credentials", help="Alias of `connection`.")(connection)
    app.command()(api)
    app.add_typer(tokens_app, name="tokens")
