"""Console sessions: a signed cookie naming the token's principal, and CSRF tokens bound to it.

The cookie never holds the API token: sign-in verifies the token once and stores the principal
(name, scopes), a random session id and an expiry, signed with HMAC-SHA256. The key is derived
from ``PLUGIN_DB_SECRET_KEY`` (so every API process accepts the same cookies), or random per
process without one. A form's CSRF token is an HMAC of the session id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from worker.settings import Settings
from worker.tokens import Principal

COOKIE = "plugin_db_console"
LIFETIME_SECONDS = 8 * 3600
_RANDOM_KEY = secrets.token_bytes(32)


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in operator."""

    principal: Principal
    sid: str
    expires: int


def session_key(settings: Settings) -> bytes:
    """The signing key: derived from the first secret key, else this process's random one."""
    if not settings.secret_keys:
        return _RANDOM_KEY
    return hashlib.sha256(
        b"plugin-db console session\0" + settings.secret_keys[0].encode()
    ).digest()


def _sign(key: bytes, payload: bytes) -> str:
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def issue(key: bytes, principal: Principal) -> str:
    """A cookie value for ``principal``."""
    body = {
        "name": principal.name,
        "scopes": sorted(principal.scopes),
        "sid": secrets.token_hex(16),
        "exp": int(time.time()) + LIFETIME_SECONDS,
    }
    payload = base64.urlsafe_b64encode(json.dumps(body).encode())
    return f"{payload.decode()}.{_sign(key, payload)}"


def read(key: bytes, value: str | None) -> ConsoleSession | None:
    """The session of a cookie value, or None (absent, forged, expired)."""
    if not value or "." not in value:
        return None
    payload, signature = value.rsplit(".", 1)
    if not hmac.compare_digest(_sign(key, payload.encode()), signature):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(payload.encode()))
        principal = Principal(str(body["name"]), frozenset(map(str, body["scopes"])))
        session = ConsoleSession(principal, str(body["sid"]), int(body["exp"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > time.time() else None


def csrf_token(key: bytes, session: ConsoleSession) -> str:
    """The CSRF token every form of this session carries."""
    return _sign(key, f"csrf\0{session.sid}".encode())


def csrf_ok(key: bytes, session: ConsoleSession, sent: str | None) -> bool:
    """Whether a submitted form's token is this session's."""
    return bool(sent) and hmac.compare_digest(csrf_token(key, session), sent or "")
