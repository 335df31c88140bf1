"""RFC 9457 problem documents: every error answer, naming the field and what to fix."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from worker.errors import (
    Conflict,
    Forbidden,
    NotFound,
    NotReady,
    RequestRejected,
    TransientError,
    Unauthenticated,
)
from worker.logging import get_logger, redact_text

MEDIA_TYPE = "application/problem+json"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="plugin-db"'}
STATUS: dict[type[RequestRejected], int] = {
    NotFound: 404,
    Conflict: 409,
    Unauthenticated: 401,
    Forbidden: 403,
}
"""Statuses of the refusals that are not 422 (the first matching class wins)."""
log = get_logger("api")


class FieldProblem(BaseModel):
    """One bad field and what to do about it."""

    field: str | None = None
    detail: str


class ProblemDoc(BaseModel):
    """``application/problem+json`` (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[FieldProblem] = []


def problem_response(
    status: int,
    title: str,
    errors: list[FieldProblem],
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The response for ``errors`` (the first names ``detail`` and ``field``)."""
    first = errors[0] if errors else FieldProblem(detail=title)
    doc = ProblemDoc(
        title=title, status=status, detail=first.detail, field=first.field, errors=errors
    )
    body = doc.model_dump(mode="json")
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _split(problem: str) -> FieldProblem:
    """``"field: what to fix"`` as a FieldProblem (redacted)."""
    field, sep, detail = redact_text(problem).partition(": ")
    return FieldProblem(field=field, detail=detail) if sep else FieldProblem(detail=field)


def _status_of(exc: RequestRejected) -> int:
    return next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 422)


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "path", "query", "header")]
    return ".".join(parts) or str(loc[0] if loc else "request")


def allowed(app: FastAPI, path: str) -> list[str]:
    """The methods the app's routes accept on ``path``."""
    routes = app.state.routes
    return sorted({m for r in routes if r.path_regex.match(path) for m in r.methods})


def install(app: FastAPI) -> None:
    """Answer every error with a problem document; nothing else leaves as HTML or text."""

    @app.exception_handler(RequestRejected)
    async def _rejected(_: Request, exc: RequestRejected) -> JSONResponse:
        message = redact_text(str(exc.args[0]) if exc.args else "invalid request")
        title = message.split(":", 1)[0]
        headers = CHALLENGE if isinstance(exc, Unauthenticated) else None
        errors = [_split(p) for p in exc.problems]
        return problem_response(_status_of(exc), title, errors, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldProblem(field=_loc(tuple(e.get("loc", ()))), detail=str(e.get("msg", "invalid")))
            for e in exc.errors()
        ]
        return problem_response(422, "invalid request", errors)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "see the API document"
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            headers["Allow"] = ", ".join(allowed(request.app, request.url.path))
        return problem_response(exc.status_code, detail, [FieldProblem(detail=detail)], headers)

    @app.exception_handler(TransientError)
    async def _unavailable(_: Request, exc: TransientError) -> JSONResponse:
        log.warning("api_unavailable", error=type(exc).__name__)
        if isinstance(exc, NotReady):
            return problem_response(503, "not ready", [_split(str(exc))])
        detail = "a backing service is unreachable; retry shortly"
        return problem_response(503, "unavailable", [FieldProblem(detail=detail)])

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        log.error("api_error", error=type(exc).__name__)
        detail = "the server failed; see its log"
        return problem_response(500, "internal error", [FieldProblem(detail=detail)])


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem answers (400, an unparsable request, always)."""
    schema = {"$ref": "#/components/schemas/ProblemDoc"}
    return {
        code: {"model": ProblemDoc, "content": {MEDIA_TYPE: {"schema": schema}}}
        for code in sorted({400, *codes})
    }
