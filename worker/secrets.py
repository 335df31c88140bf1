"""Credentials at rest: Fernet-encrypted payloads in ``plugin_secrets`` (MultiFernet keys)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from worker.credentials import Credentials
from worker.errors import PermanentError
from worker.logging import register_secret
from worker.settings import Settings
from worker.tracking.direct import Direct
from worker.tracking.models import PluginSecret, new_uuid, utcnow

KEY_FILE = "secret.key"


def generate_password() -> str:
    """A fresh random password (URL-safe, 32 bytes of entropy), registered for redaction."""
    password = secrets.token_urlsafe(32)
    register_secret(password)
    return password


def _embedded_key(data_dir: Path) -> str:
    """The embedded default's key, created once (0600) under the data dir."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".{KEY_FILE}.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(Fernet.generate_key().decode())
        try:
            os.link(draft, path)  # atomic: concurrent processes agree on one key
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


@dataclass
class SecretBox:
    """Encrypts with the first key, decrypts with any (``PLUGIN_DB_SECRET_KEY=new,old``)."""

    keys: tuple[str, ...]
    _fernet: MultiFernet = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in self.keys])
        except (ValueError, TypeError) as exc:
            raise PermanentError(
                "PLUGIN_DB_SECRET_KEY must be comma-separated Fernet keys "
                "(make one with `plugin-db secret-key`)"
            ) from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """Keys from settings, or the embedded default's key file."""
        return cls(settings.secret_keys or (_embedded_key(settings.data_dir),))

    def seal(self, payload: dict[str, Any]) -> str:
        """Encrypt a JSON payload."""
        return self._fernet.encrypt(json.dumps(payload).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        """Decrypt a payload and register its passwords for redaction."""
        try:
            payload: dict[str, Any] = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise PermanentError(
                "stored credentials cannot be decrypted with the current keys"
            ) from exc
        for value in payload.get("slots", {}).values():
            register_secret(value)
        return payload

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` under the newest key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise PermanentError(
                "stored credentials cannot be decrypted with the current keys"
            ) from exc


_SECRETS = cast(Table, PluginSecret.__table__)
_INSERT = Direct(_SECRETS.insert())
_OVERWRITE = Direct(
    update(_SECRETS)
    .where(_SECRETS.c.id == bindparam("ref"))
    .values(ciphertext=bindparam("v_ciphertext"), updated_at=bindparam("v_now"))
)


def store(
    session: Session, box: SecretBox, plugin_id: str, ref: str | None, payload: dict[str, Any]
) -> str:
    """Write (or overwrite) a plugin's secret payload now, in ``session``'s transaction;
    returns its reference (a row referring to it may be written next)."""
    sealed, now, conn = box.seal(payload), utcnow(), session.connection()
    if ref and _OVERWRITE.run(conn, {"ref": ref, "v_ciphertext": sealed, "v_now": now}) == 1:
        return ref
    made = {"id": new_uuid(), "plugin_id": plugin_id, "ciphertext": sealed}
    _INSERT.run(conn, {**made, "created_at": now, "updated_at": now})
    return made["id"]


def load(session: Session, box: SecretBox, ref: str | None) -> dict[str, Any] | None:
    """A plugin's decrypted secret payload, or None."""
    row = session.get(PluginSecret, ref) if ref else None
    return box.open(row.ciphertext) if row else None


def rotate_all(session: Session, box: SecretBox) -> int:
    """Re-encrypt every stored secret under the newest key; returns how many.

    The rows are locked (``FOR UPDATE``) so that a credential rotation committing meanwhile
    waits instead of being overwritten with the re-encrypted older payload.
    """
    rows = session.scalars(select(PluginSecret).with_for_update()).all()
    for row in rows:
        row.ciphertext = box.rotate(row.ciphertext)
    return len(rows)


def load_credentials(session: Session, box: SecretBox, ref: str | None) -> Credentials | None:
    """A plugin's decrypted credentials, or None."""
    return Credentials.from_payload(load(session, box, ref))


def store_credentials(
    session: Session, box: SecretBox, plugin_id: str, ref: str | None, credentials: Credentials
) -> str:
    """Write (or overwrite) a plugin's credentials; returns the secret's reference."""
    return store(session, box, plugin_id, ref, credentials.to_payload())
