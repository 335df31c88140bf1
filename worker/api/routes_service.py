"""Service routes: liveness, readiness (broker and tracking database) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from worker.api.context import Ctx
from worker.api.problems import responses
from worker.errors import NotReady
from worker.logging import get_logger

router = APIRouter(tags=["service"])
TEXT = CONTENT_TYPE_LATEST.split(";")[0]
log = get_logger("api")


class Health(BaseModel):
    """Liveness / readiness answer."""

    status: str
    checks: dict[str, str] = {}


@router.get("/healthz")
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


def _check(name: str, probe: object) -> str:
    try:
        probe()  # type: ignore[operator]
    except Exception as exc:  # any failure means "not ready"; the type is enough to act on
        log.warning("not_ready", check=name, error=type(exc).__name__)
        return f"unreachable ({type(exc).__name__})"
    return "ok"


@router.get("/readyz", responses=responses(503))
def readyz(ctx: Ctx) -> Health:
    """The broker and the tracking database are reachable."""

    def tracking() -> None:
        with ctx.sessions() as session:
            session.execute(text("SELECT 1"))

    def broker() -> None:
        with ctx.celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=2)

    checks = {"tracking": _check("tracking", tracking), "broker": _check("broker", broker)}
    failing = [name for name, state in checks.items() if state != "ok"]
    if failing:
        raise NotReady(f"{failing[0]}: unreachable: {', '.join(failing)}")
    return Health(status="ok", checks=checks)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}
    },
)
def metrics(ctx: Ctx) -> Response:
    """Prometheus exposition: the fleet (plugins, operations, storage, events) and requests by
    route template and status class (no ids, no secrets)."""
    return Response(generate_latest(ctx.extras["registry"]), media_type=CONTENT_TYPE_LATEST)
