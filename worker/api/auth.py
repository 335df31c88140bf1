"""Bearer tokens and scopes: 401 without a valid token, 403 without the route's scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from worker.api.context import ApiContext, api_context
from worker.api.problems import Problem
from worker.tokens import SCOPES, verify

bearer = HTTPBearer(auto_error=False, description="A token from `plugin-db tokens create`.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="plugin-db"'}


def require_scope(scope: str) -> Callable[..., str]:
    """A dependency that checks the bearer token for ``scope`` and returns the token's name."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def check(credentials: Credentials, ctx: Annotated[ApiContext, Depends(api_context)]) -> str:
        if credentials is None or not credentials.credentials:
            raise Problem(
                401, "unauthorized", "send Authorization: Bearer <token>", headers=CHALLENGE
            )
        with ctx.sessions() as session:
            principal = verify(session, credentials.credentials)
        if principal is None:
            raise Problem(
                401,
                "unauthorized",
                "the token is unknown or revoked; create one with `plugin-db tokens create`",
                headers=CHALLENGE,
            )
        if not principal.allows(scope):
            raise Problem(
                403, "forbidden", f"the token {principal.name!r} lacks the scope {scope!r}"
            )
        return principal.name

    check.scope = scope  # type: ignore[attr-defined]  # read by the auth matrix and docs
    return check
