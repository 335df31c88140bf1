"""The connection file sink: ``<PLUGIN_DB_CONNECTION_DIR>/<plugin_id>.env`` follows each plugin.

Written to a temporary file in the same folder (0600 from creation), then ``os.replace``d, so
a reader sees the old file or the new one, never half of one. The relay calls :func:`sync`
for every plugin it relays an event of, before it commits: a crash re-runs it.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.orm import Session

from worker.connection import active_password, connection_document
from worker.secrets import SecretBox
from worker.states import DsStatus
from worker.tracking.models import PluginDatasource

LIVE = frozenset({DsStatus.READY.value, DsStatus.MIGRATING.value, DsStatus.ROTATING.value})
GONE = frozenset({DsStatus.ARCHIVED.value, DsStatus.DELETED.value})


def env_path(folder: Path, plugin_id: str) -> Path:
    """Where a plugin's file lives."""
    return folder / f"{plugin_id}.env"


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
    if not ds.descriptor.get("url"):
        return
    document = connection_document(ds, active_password(session, box, ds))
    text = (
        f"PLUGIN_DATABASE_URL={document['url']}\n"
        f"PLUGIN_DATABASE_GENERATION={document['generation']}\n"
    )
    if path.exists() and path.read_text() == text and (path.stat().st_mode & 0o777) == 0o600:
        return
    write_atomic(path, text)
