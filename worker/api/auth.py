"""Bearer tokens and scopes: 401 without a valid token, 403 without the route's scope."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from worker.api.context import ApiContext, api_context
from worker.errors import Forbidden, RequestRejected, Unauthenticated
from worker.tokens import SCOPES, Principal, verify

bearer = HTTPBearer(auto_error=False, description="A token from `plugin-db tokens create`.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _missing() -> Unauthenticated:
    return Unauthenticated("unauthorized", ["Authorization: send Bearer <token>"])


def _refused(principal: Principal | None, scope: str) -> RequestRejected | None:
    if principal is None:
        return Unauthenticated(
            "unauthorized",
            [
                "Authorization: the token is unknown or revoked; create one with "
                "`plugin-db tokens create`"
            ],
        )
    if not principal.allows(scope):
        return Forbidden(
            "forbidden", [f"scope: the token {principal.name!r} lacks the scope {scope!r}"]
        )
    return None


def require_scope(scope: str) -> Callable[..., str]:
    """A dependency that checks the bearer token for ``scope`` and returns the token's name."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def check(credentials: Credentials, ctx: Annotated[ApiContext, Depends(api_context)]) -> str:
        if credentials is None or not credentials.credentials:
            raise _missing()
        with ctx.sessions() as session:
            principal = verify(session, credentials.credentials)
        refused = _refused(principal, scope)
        if refused is not None:
            raise refused
        assert principal is not None
        return principal.name

    check.scope = scope  # type: ignore[attr-defined]  # read by the auth matrix and docs
    return check


Reader = Annotated[str, Depends(require_scope("plugins:read"))]
Writer = Annotated[str, Depends(require_scope("plugins:write"))]
"""Handler parameters: the token's name, once it holds ``plugins:read`` / ``plugins:write``."""

VERIFIED: dict[str, Principal] = {}
"""sha256 of a token -> its principal, for tokens this process has verified (no plaintext)."""
VERIFIED_MAX = 4096


@dataclass(frozen=True)
class Bearer:
    """A token already verified once; :meth:`confirm` re-checks it in the handler's transaction."""

    token: str
    scope: str
    principal: Principal

    def confirm(self, session: Session) -> str:
        """The token's name if it is still valid in ``session``'s transaction; 401/403 else.

        Revocation therefore takes effect at once: the handler's own read of the token row is
        what lets the request through, the cache only spares the separate lookup before it.
        """
        principal = verify(session, self.token)
        refused = _refused(principal, self.scope)
        if refused is not None:
            VERIFIED.pop(_digest(self.token), None)
            raise refused
        assert principal is not None
        return principal.name


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def require_scope_in_handler(scope: str) -> Callable[..., Awaitable[Bearer]]:
    """Like :func:`require_scope` for a handler that reads the tracking database in one
    transaction: a token seen before is not looked up here (no session, no thread hop), and
    the handler calls :meth:`Bearer.confirm` in its transaction. Unknown tokens are checked
    here, as by :func:`require_scope`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def check(
        credentials: Credentials, ctx: Annotated[ApiContext, Depends(api_context)]
    ) -> Bearer:
        if credentials is None or not credentials.credentials:
            raise _missing()
        token, key = credentials.credentials, _digest(credentials.credentials)
        principal = VERIFIED.get(key)
        if principal is None:
            principal = await run_in_threadpool(_lookup, ctx, token)
            refused = _refused(principal, scope)
            if refused is not None:
                raise refused
            assert principal is not None
            if len(VERIFIED) >= VERIFIED_MAX:
                VERIFIED.clear()
            VERIFIED[key] = principal
        refused = _refused(principal, scope)
        if refused is not None:
            raise refused
        return Bearer(token, scope, principal)

    check.scope = scope  # type: ignore[attr-defined]  # read by the auth matrix and docs
    return check


def _lookup(ctx: ApiContext, token: str) -> Principal | None:
    with ctx.sessions() as session:
        return verify(session, token)
