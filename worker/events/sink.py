"""The connection file sink: ``<PLUGIN_DB_CONNECTION_DIR>/<plugin_id>.env`` follows each plugin.

Written to a temporary file in the same folder (0600 from creation), then ``os.replace``d, so
a reader sees the old file or the new one, never half of one. The relay calls :func:`sync`
for every plugin it relays an event of, before it commits: a crash re-runs it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from sqlalchemy.orm import Session

from worker import secrets
from worker.secrets import SecretBox
from worker.states import DsStatus
from worker.tracking.models import PluginDatasource

LIVE = frozenset({DsStatus.READY.value, DsStatus.MIGRATING.value, DsStatus.ROTATING.value})
GONE = frozenset({DsStatus.ARCHIVED.value, DsStatus.DELETED.value})


def env_path(folder: Path, plugin_id: str) -> Path:
    """Where a plugin's file lives."""
    return folder / f"{plugin_id}.env"


def connection_url(ds: PluginDatasource, password: str | None) -> str | None:
    """The descriptor's URL with the password put back (and the schema, on PostgreSQL)."""
    url = ds.descriptor.get("url") if ds.descriptor else None
    if not isinstance(url, str) or not url:
        return None
    if url.startswith("sqlite:///"):
        return "file:" + url.removeprefix("sqlite://")
    parts = urlsplit(url)
    if password and parts.username:
        host = parts.netloc.rsplit("@", 1)[-1]
        parts = parts._replace(netloc=f"{parts.username}:{quote(password, safe='')}@{host}")
    schema = (ds.descriptor.get("objects") or {}).get("schema")
    if ds.provider == "postgresql" and schema and not parts.query:
        parts = parts._replace(query=f"schema={quote(str(schema), safe='')}")
    return urlunsplit(parts)


def _password(session: Session, box: SecretBox, ds: PluginDatasource) -> str | None:
    payload = secrets.load(session, box, ds.secrets_ref)
    if not payload:
        return None
    value = payload.get("slots", {}).get(payload.get("active"))
    return value if isinstance(value, str) else None


def write_atomic(path: Path, text: str) -> None:
    """``text`` to ``path`` through a 0600 temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(draft, path)
    finally:
        draft.unlink(missing_ok=True)


def sync(session: Session, box: SecretBox, folder: Path, plugin_id: str) -> None:
    """Make the plugin's file match its datasource: current URL when live, none when gone."""
    path = env_path(folder, plugin_id)
    ds = session.get(PluginDatasource, plugin_id)
    if ds is None or ds.status in GONE:
        path.unlink(missing_ok=True)
        return
    if ds.status not in LIVE:
        return
    url = connection_url(ds, _password(session, box, ds))
    if url is None:
        return
    gen = getattr(ds, "generation", None)
    text = f"PLUGIN_DATABASE_URL={url}\n"
    if gen is not None:
        text += f"PLUGIN_DATABASE_GENERATION={gen}\n"
    if path.exists() and path.read_text() == text and (path.stat().st_mode & 0o777) == 0o600:
        return
    write_atomic(path, text)
