"""HTTP API tokens: created once, stored as a SHA-256 only, compared in constant time.

A token reads ``pdb_<key id>_<secret>``; the key id finds the row, the hash of the whole token
is compared with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker import audit
from worker.errors import Conflict, NotFound, RequestRejected
from worker.logging import register_secret
from worker.tracking.models import ApiToken, utcnow

SCOPES = ("plugins:read", "plugins:write", "connections:read", "admin")
ADMIN = "admin"
PREFIX = "pdb"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
_DUMMY_HASH = hashlib.sha256(b"no such token").hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for: its name (the audit actor) and scopes."""

    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        """``admin`` implies every scope."""
        return scope in self.scopes or ADMIN in self.scopes


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_scopes(scopes: list[str]) -> list[str]:
    """Known scopes, deduplicated in canonical order; RequestRejected otherwise."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise RequestRejected(
            "invalid scopes", [f"scope: {', '.join(unknown) or 'none'}; use {', '.join(SCOPES)}"]
        )
    return [s for s in SCOPES if s in scopes]


def create(sessions: sessionmaker[Session], name: str, scopes: list[str]) -> str:
    """Create token ``name`` (or re-issue a revoked one) and return its secret, shown once."""
    if not _NAME.match(name):
        raise RequestRejected("invalid name", ["name: 1-100 letters, digits, '.', '_', '@', '-'"])
    wanted = check_scopes(scopes)
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    token = f"{PREFIX}_{key_id}_{secret}"
    register_secret(token)
    with sessions.begin() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.name == name)).first()
        if row is not None and row.revoked_at is None:
            raise Conflict("token exists", [f"name: {name} is in use; revoke it first"])
        if row is None:
            row = ApiToken(name=name)
            session.add(row)
        row.key_id, row.token_hash, row.scopes = key_id, _hash(token), wanted
        row.created_at, row.revoked_at = utcnow(), None
        audit.record(
            session, "token_created", plugin_id=None, actor="cli", name=name, scopes=wanted
        )
    return token


def listing(sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    """Every token's name, scopes and dates (never a hash)."""
    with sessions() as session:
        rows = list(session.scalars(select(ApiToken).order_by(ApiToken.name)))
    return [
        {"name": r.name, "scopes": r.scopes, "created_at": r.created_at, "revoked_at": r.revoked_at}
        for r in rows
    ]


def revoke(sessions: sessionmaker[Session], name: str) -> None:
    """Revoke token ``name`` at once (its next request gets 401)."""
    with sessions.begin() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.name == name)).first()
        if row is None or row.revoked_at is not None:
            raise NotFound("no such token", [f"name: no active token named {name}"])
        row.revoked_at = utcnow()
        audit.record(session, "token_revoked", plugin_id=None, actor="cli", name=name)


def verify(session: Session, token: str) -> Principal | None:
    """The principal of a valid, unrevoked token; None otherwise (constant-time compare)."""
    parts = token.split("_", 2)
    key_id = parts[1] if len(parts) == 3 and parts[0] == PREFIX and len(parts[1]) == 16 else ""
    columns = select(ApiToken.name, ApiToken.scopes, ApiToken.token_hash)
    row = (
        session.execute(
            columns.where(ApiToken.key_id == key_id, ApiToken.revoked_at.is_(None))
        ).first()
        if key_id
        else None
    )
    stored = row.token_hash if row is not None else _DUMMY_HASH
    if not hmac.compare_digest(stored, _hash(token)) or row is None:
        return None
    return Principal(row.name, frozenset(row.scopes))
