"""``/console``: sign-in, the fleet, a plugin, targets, live operations, and retry."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from providers.targets import Targets
from worker.api.context import ApiContext, api_context
from worker.console import fleet, live, queries
from worker.console.session import (
    COOKIE,
    LIFETIME_SECONDS,
    ConsoleSession,
    csrf_ok,
    csrf_token,
    issue,
    read,
    session_key,
)
from worker.errors import PluginDbError, RetryRefused
from worker.events import stream
from worker.ops.retry import RESUME_TASK, reset
from worker.tokens import verify

router = APIRouter(prefix="/console", include_in_schema=False)
templates = Environment(
    loader=PackageLoader("worker.console", "templates"), autoescape=select_autoescape()
)
Ctx = Annotated[ApiContext, Depends(api_context)]
PluginId = Annotated[str, Path(alias="pluginId")]
OperationId = Annotated[int, Path(alias="operationId")]
READ, WRITE = "plugins:read", "plugins:write"


def human_size(value: int | None) -> str:
    """Bytes for people: B, KiB, MiB or GiB."""
    if value is None:
        return ""
    size, unit = float(value), "B"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            break
        size /= 1024
    return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"


templates.filters["size"] = human_size


def render(name: str, code: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**values), status_code=code)


def current(request: Request, ctx: ApiContext) -> ConsoleSession | None:
    session = read(session_key(ctx.settings), request.cookies.get(COOKIE))
    return session if session is not None and session.principal.allows(READ) else None


def page(request: Request, ctx: ApiContext, name: str, **values: Any) -> Response:
    """A console page for a signed-in operator, or a redirect to sign-in."""
    session = current(request, ctx)
    if session is None:
        target = quote(
            str(request.url.path) + ("?" + request.url.query if request.url.query else "")
        )
        return RedirectResponse(f"/console/login?next={target}", status_code=303)
    key = session_key(ctx.settings)
    return render(
        name,
        user=session.principal.name,
        can_write=session.principal.allows(WRITE),
        csrf=csrf_token(key, session),
        **values,
    )


async def form(request: Request) -> dict[str, str]:
    """An url-encoded form body, first value of each field."""
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, max_num_fields=20).items()}


def _next(value: str | None) -> str:
    return value if value and value.startswith("/console") and "//" not in value else "/console"


@router.get("/login")
def login_page(request: Request, next: str = "/console") -> Response:
    return render("login.html", next=_next(next), error=None)


@router.post("/login")
async def login(request: Request, ctx: Ctx) -> Response:
    fields = await form(request)
    with ctx.sessions() as session:
        principal = verify(session, fields.get("token", ""))
    if principal is None or not principal.allows(READ):
        error = "That token is unknown, revoked, or lacks the plugins:read scope."
        return render("login.html", code=401, next=_next(fields.get("next")), error=error)
    response = RedirectResponse(_next(fields.get("next")), status_code=303)
    response.set_cookie(
        COOKIE,
        issue(session_key(ctx.settings), principal),
        max_age=LIFETIME_SECONDS,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout(request: Request, ctx: Ctx) -> Response:
    session = current(request, ctx)
    if session is None or not csrf_ok(
        session_key(ctx.settings), session, (await form(request)).get("csrf")
    ):
        return render("error.html", code=403, message="The form's CSRF token is not valid.")
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


def fleet_query(  # noqa: PLR0917 - one query parameter per fleet column
    q: str = "",
    full: str = "",
    sort: str = "plugin",
    mode: str = "",
    target: str = "",
    status: str = "",
    connections: str = "",
    migration: str = "",
    drift: str = "",
    rotation: str = "",
) -> fleet.FleetQuery:
    """The fleet form's fields (declared, so that unknown parameters stay refused)."""
    choices = {
        "mode": mode,
        "target": target,
        "status": status,
        "connections": connections,
        "migration": migration,
        "drift": drift,
        "rotation": rotation,
    }
    return fleet.FleetQuery.from_params({"q": q, "full": full, "sort": sort, **choices})


@router.get("")
def fleet_page(
    request: Request, ctx: Ctx, query: Annotated[fleet.FleetQuery, Depends(fleet_query)]
) -> Response:
    with ctx.sessions() as session:
        found = fleet.fleet(session, ctx.settings.plugins_root, query)
        counts = queries.status_counts(session)
    return page(
        request,
        ctx,
        "fleet.html",
        **found,
        counts=counts,
        query=query,
        columns=fleet.LABELS,
        choices=fleet.CHOICES,
        urlencode=urlencode,
    )


@router.get("/plugins/{pluginId}")
def plugin(request: Request, ctx: Ctx, plugin_id: PluginId) -> Response:
    if current(request, ctx) is None:
        return page(request, ctx, "plugin.html")  # the sign-in redirect
    with ctx.sessions() as session:
        data = queries.plugin(session, plugin_id)
    if data is None:
        return render("error.html", code=404, message=f"No plugin {plugin_id}.")
    return page(request, ctx, "plugin.html", **data)


@router.get("/targets")
def targets(request: Request, ctx: Ctx) -> Response:
    try:
        configured = Targets.from_settings(ctx.settings)
    except PluginDbError as exc:
        return page(request, ctx, "targets.html", targets=[], problem=str(exc))
    with ctx.sessions() as session:
        rows = queries.targets(session, configured)
    return page(request, ctx, "targets.html", targets=rows, problem=None)


@router.get("/operations")
def operations(request: Request, ctx: Ctx, retried: int | None = None) -> Response:
    with ctx.sessions() as session:
        ops = queries.operations(session)
        events = live.recent(session)
    head = events[0]["position"] if events else 0
    return page(request, ctx, "operations.html", ops=ops, events=events, head=head, retried=retried)


@router.get("/operations/stream")
async def operations_stream(
    request: Request,
    ctx: Ctx,
    after: str | None = None,
    follow: bool = True,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> Response:
    """The live view: relayed events after ``Last-Event-ID`` (or ``after``, else the head)."""
    if current(request, ctx) is None:
        return Response(status_code=401)
    head = await run_in_threadpool(stream.head, ctx.sessions)

    def rows() -> str:
        with ctx.sessions() as session:
            return templates.get_template("_operations_rows.html").render(
                ops=queries.operations(session)
            )

    body = live.frames(
        ctx.sessions,
        live.start_position(last_event_id, after, head),
        rows,
        request.is_disconnected,
        follow,
    )
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


@router.post("/operations/{operationId}/retry")
async def retry(request: Request, ctx: Ctx, op_id: OperationId) -> Response:
    """Put a failed operation back to pending and resume it (plugins:write, CSRF-checked)."""
    session = current(request, ctx)
    if session is None:
        return RedirectResponse("/console/login", status_code=303)
    if not csrf_ok(session_key(ctx.settings), session, (await form(request)).get("csrf")):
        return render("error.html", code=403, message="The form's CSRF token is not valid.")
    if not session.principal.allows(WRITE):
        return render("error.html", code=403, message="Retrying needs the plugins:write scope.")
    try:
        op = reset(ctx.sessions, op_id, actor=session.principal.name)
    except RetryRefused as exc:
        return render("error.html", code=409, message=str(exc))
    ctx.celery.send_task(RESUME_TASK, args=[{"operation_id": op_id}])
    return RedirectResponse(f"/console/operations?retried={op.id}", status_code=303)
