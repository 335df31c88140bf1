"""The manifest a request works from, and the checks that need nothing else.

Defined once for the intake (:class:`~worker.lifecycle.intake.Intake`) and for a producer
that reads the tracking rows with the database driver alone (the command line's enqueue):
this module imports no SQLAlchemy. ``ds`` is the plugin's ``plugin_datasources`` row (an ORM
row or any object with the same attributes), ``pending`` reads the manifest of the plugin's
newest unfinished provision when it is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from worker.errors import ManifestError, RequestRejected
from worker.lifecycle.requests import Request
from worker.manifest import Manifest, find_manifest, parse_manifest, relocated_manifest
from worker.naming import check_plugin_id, resolved_child
from worker.states import DsStatus, Kind

MANIFEST_ONLY = frozenset(
    {Kind.TEARDOWN, Kind.ROTATE, Kind.RESTORE, Kind.UNREGISTER_SCHEMA}
    | {Kind.SNAPSHOT, Kind.RESTORE_SNAPSHOT, Kind.RETIRE}
)
"""Kinds whose every check before a side effect is :func:`manifest_for` (see ``Intake.check``)."""
Pending = Callable[[], Mapping[str, Any] | None]


def plugin_dir(root: Path, plugin_id: str) -> Path:
    """``<plugins root>/<plugin_id>``, confined to the root (which is resolved)."""
    folder = resolved_child(root, check_plugin_id(plugin_id))
    if not folder.is_relative_to(root):
        raise ManifestError("plugin folder outside the plugins root", [f"plugin_id: leaves {root}"])
    return folder


def manifest_for(
    kind: Kind, request: Request, folder: Path, ds: Any | None, pending: Pending
) -> Manifest:
    """The manifest to work from: the request's, the plugin folder's, or the stored one."""
    inline = getattr(request, "manifest", None)
    if kind is Kind.RELOCATE and ds is not None and ds.manifest:
        inline = ds.manifest  # the stored manifest carries the mode the plugin lives in
    stored = ds.manifest if ds is not None else None
    if inline is not None:
        manifest: Manifest | None = parse_manifest(inline)
    else:  # the folder's, the stored one, then the pending provision's (read if needed)
        manifest = find_manifest(folder, stored)
        if manifest is None and (found := pending()):
            manifest = parse_manifest(dict(found))
    if manifest is None:
        raise ManifestError(
            "no manifest",
            [f"manifest: not in the request and {folder / 'plugin.json'} does not exist"],
        )
    if manifest.id != request.plugin_id:
        raise ManifestError(
            "manifest mismatch",
            [f"manifest.id: {manifest.id!r} is not plugin_id {request.plugin_id!r}"],
        )
    live = ds is not None and ds.status != DsStatus.DELETED
    if kind is not Kind.PROVISION and not live and pending() is None:
        raise RequestRejected(
            "not provisioned",
            [f"plugin_id: {request.plugin_id} has no datasource; provision it first"],
        )
    if live and ds is not None and ds.mode != manifest.database.mode.value:
        return relocated_manifest(kind, manifest, ds.mode)
    return manifest
