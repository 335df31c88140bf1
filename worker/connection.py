"""The connection document a plugin's runtime receives (API and ``plugin-db connection``).

Per-driver knowledge (``?schema=`` for PostgreSQL, ``file:`` for SQLite) lives in each
provider's :meth:`~providers.base.Provider.runtime_connection`; this module only decrypts the
active password and assembles the document.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy.orm import Session

from providers.registry import get_provider_class
from worker import secrets
from worker.errors import Conflict, NotFound
from worker.secrets import SecretBox
from worker.states import DsStatus
from worker.tracking.models import PluginDatasource

CONNECTABLE = frozenset({DsStatus.READY, DsStatus.MIGRATING, DsStatus.ROTATING})
"""Statuses in which the storage exists and the active login works."""


def connection_document(ds: PluginDatasource, password: str | None) -> dict[str, Any]:
    """``{plugin_id, url, env, provider, schema, database, username, generation}``."""
    conn = get_provider_class(ds.provider).runtime_connection(ds.descriptor, password)
    return {
        "plugin_id": ds.plugin_id,
        "url": conn.url,
        "env": {"PLUGIN_DATABASE_URL": conn.url},
        "provider": ds.provider,
        "schema": conn.schema,
        "database": conn.database,
        "username": conn.username,
        "generation": ds.generation,
    }


def active_password(session: Session, box: SecretBox, ds: PluginDatasource) -> str | None:
    """The active login's password, decrypted (None for drivers without logins)."""
    creds = secrets.load_credentials(session, box, ds.secrets_ref)
    return creds.passwords.get(creds.in_use) if creds else None


def read_connection(session: Session, box: SecretBox, plugin_id: str) -> dict[str, Any]:
    """The connection document of a plugin whose storage is usable; NotFound / Conflict else."""
    ds = session.get(PluginDatasource, plugin_id)
    if ds is None or ds.status == DsStatus.DELETED:
        raise NotFound("no such plugin", [f"pluginId: {plugin_id} is not provisioned"])
    if ds.status not in CONNECTABLE or not ds.descriptor.get("url"):
        raise Conflict(
            "storage not usable",
            [f"pluginId: {plugin_id} is {ds.status}; its connection is served once it is ready"],
        )
    return connection_document(ds, active_password(session, box, ds))


def etag(document: dict[str, Any]) -> str:
    """A strong validator that changes with the URL and the generation (no secret in it)."""
    seed = f"{document['plugin_id']}\0{document['generation']}\0{document['url']}"
    return '"' + hashlib.sha256(seed.encode()).hexdigest()[:32] + '"'
