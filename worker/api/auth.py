"""Bearer tokens and scopes: 401 without a valid token, 403 without the route's scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from worker.api.context import ApiContext, api_context
from worker.errors import Forbidden, Unauthenticated
from worker.tokens import SCOPES, verify

bearer = HTTPBearer(auto_error=False, description="A token from `plugin-db tokens create`.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def require_scope(scope: str) -> Callable[..., str]:
    """A dependency that checks the bearer token for ``scope`` and returns the token's name."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def check(credentials: Credentials, ctx: Annotated[ApiContext, Depends(api_context)]) -> str:
        if credentials is None or not credentials.credentials:
            raise Unauthenticated("unauthorized", ["Authorization: send Bearer <token>"])
        with ctx.sessions() as session:
            principal = verify(session, credentials.credentials)
        if principal is None:
            raise Unauthenticated(
                "unauthorized",
                [
                    "Authorization: the token is unknown or revoked; create one with "
                    "`plugin-db tokens create`"
                ],
            )
        if not principal.allows(scope):
            raise Forbidden(
                "forbidden", [f"scope: the token {principal.name!r} lacks the scope {scope!r}"]
            )
        return principal.name

    check.scope = scope  # type: ignore[attr-defined]  # read by the auth matrix and docs
    return check
