"""What the migrate step checks before it connects: the fast path and the dependencies.

* Fast path: after a successful migrate to the latest version the step stores the checksum
  of the plugin's whole set of files in ``plugin_datasources.descriptor["files_checksum"]``.
  A plain migrate (no target, no force) whose files still have that checksum is skipped as
  "up to date" after one primary-key read, without connecting to the plugin's database. Every
  path that can change what is applied forgets the checksum first (a migrate that does real
  work, repair, baseline); a descriptor rewritten by provision or rotation loses it too,
  which only costs one slow (correct) run.
* Dependencies: before applying anything, every transitive dependency (``core`` excepted)
  must exist, be provisioned and have no pending migrations. A dependency being migrated
  right now makes the step wait (DependencyBusy, retried); otherwise the step is refused
  naming the chain, and ``plugin-db migrate --all`` migrates a fleet in dependency order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.errors import DependencyBusy, DependencyError, ManifestError, RequestRejected
from worker.manifest import Manifest, find_manifest
from worker.migrations import status
from worker.migrations.deps import chain, resolve
from worker.migrations.files import (
    FILES_CHECKSUM,
    MigrationFile,
    checksum_in,
    folder_checksum,
    load_dir,
    set_checksum,
)
from worker.migrations.reads import reading
from worker.naming import check_plugin_id
from worker.port import Change, PluginPort, migrations_dir
from worker.states import UNFINISHED, DsStatus, Kind
from worker.tracking.models import LifecycleOperation, PluginDatasource, PluginMigration


def stored_checksum(port: PluginPort) -> str | None:
    """The set checksum stored by the last successful migrate (one primary-key read)."""
    query = select(PluginDatasource.descriptor).where(PluginDatasource.plugin_id == port.plugin_id)
    with reading(port.sessions)() as session:
        descriptor = session.scalar(query)
    return checksum_in(descriptor)


def up_to_date(files: Sequence[MigrationFile], stored: str | None) -> bool:
    """Whether the fast path applies: a plain migrate whose files match the stored checksum."""
    return stored is not None and stored == set_checksum(list(files))


def forgetting(port: PluginPort) -> Change:
    """The change that drops the stored checksum, to commit before work that changes what is
    applied (the migrate engine commits it with its first tracking write)."""
    return lambda session: forget_in(session, port.plugin_id)


def forget_in(session: Session, plugin_id: str) -> None:
    """:func:`forget` inside a caller's transaction (the CLI's repair and baseline)."""
    ds = session.get(PluginDatasource, plugin_id)
    if ds is not None and FILES_CHECKSUM in ds.descriptor:
        ds.descriptor = {k: v for k, v in ds.descriptor.items() if k != FILES_CHECKSUM}


def remember(port: PluginPort, files: Sequence[MigrationFile]) -> Callable[[Session], None]:
    """The step's ``apply``: store the set checksum of ``files`` on the datasource."""
    checksum = set_checksum(list(files))

    def apply(session: Session) -> None:
        ds = session.get(PluginDatasource, port.plugin_id)
        if ds is not None:
            ds.descriptor = {**ds.descriptor, FILES_CHECKSUM: checksum}

    return apply


def all_of(changes: Sequence[Change]) -> Change | None:
    """One change that makes ``changes`` in order (None when there are none)."""
    if not changes:
        return None

    def apply(session: Session) -> None:
        for change in changes:
            change(session)

    return apply


def plugin_manifest(root: Path, plugin_id: str, ds: PluginDatasource | None) -> Manifest | None:
    """A plugin's manifest: its folder's plugin.json, else the stored one, else None."""
    return find_manifest(root / check_plugin_id(plugin_id), ds.manifest if ds else None)


def plugin_files(root: Path, manifest: Manifest) -> list[MigrationFile]:
    """A plugin's migration files, read from its folder under ``root``."""
    folder = root / manifest.id
    return load_dir(migrations_dir(folder, manifest), folder)


def files_checksum(root: Path, manifest: Manifest) -> str:
    """The set checksum of a plugin's files under ``root`` (read, not parsed, when it can)."""
    folder = root / manifest.id
    quick = folder_checksum(migrations_dir(folder, manifest), folder)
    return quick if quick is not None else set_checksum(plugin_files(root, manifest))


def pending_of(session: Session, root: Path, manifest: Manifest, ds: PluginDatasource) -> list[str]:
    """Versions of a provisioned plugin that a plain migrate would still run."""
    files = plugin_files(root, manifest)
    if ds.descriptor.get(FILES_CHECKSUM) == set_checksum(files):
        return []
    rows = session.scalars(select(PluginMigration).where(PluginMigration.plugin_id == ds.plugin_id))
    tracked = [status.TrackedRow(r.migration_version, r.status, r.checksum) for r in rows]
    return status.compute(files, tracked).in_state(*status.NOT_APPLIED)


def check_dependencies(port: PluginPort) -> None:
    """Refuse (naming the chain) unless every dependency is provisioned and up to date."""
    if not [d for d in port.manifest.database.dependencies if d != "core"]:
        return
    root = port.plugins_root or port.plugin_dir.parent
    with port.sessions() as session:
        manifests: dict[str, Manifest | None] = {port.plugin_id: port.manifest}

        def deps_of(plugin_id: str) -> list[str] | None:
            if plugin_id not in manifests:
                try:
                    ds = session.get(PluginDatasource, plugin_id)
                    manifests[plugin_id] = plugin_manifest(root, plugin_id, ds)
                except RequestRejected as exc:
                    raise DependencyError(f"dependency {plugin_id}: {exc}") from exc
            found = manifests[plugin_id]
            return None if found is None else list(found.database.dependencies)

        for dep, path in resolve(port.plugin_id, deps_of):
            _check_one(session, port, root, dep=dep, path=path, manifest=manifests[dep])


def _check_one(
    session: Session,
    port: PluginPort,
    root: Path,
    *,
    dep: str,
    path: list[str],
    manifest: Manifest | None,
) -> None:
    ds = session.get(PluginDatasource, dep)
    if manifest is None or ds is None or ds.status in (DsStatus.DELETED, DsStatus.ARCHIVED):
        shown = ds.status if ds is not None else "never provisioned"
        raise DependencyError(
            f"cannot migrate {port.plugin_id}: dependency {dep} is not provisioned ({shown}); "
            f"chain {chain(path)}: provision {dep} first"
        )
    try:
        pending = pending_of(session, root, manifest, ds)
    except (ManifestError, RequestRejected) as exc:
        raise DependencyError(f"dependency {dep} (chain {chain(path)}): {exc}") from exc
    if not pending:
        return
    busy = session.scalars(
        select(LifecycleOperation.id).where(
            LifecycleOperation.plugin_id == dep,
            LifecycleOperation.kind.in_((Kind.MIGRATE.value, Kind.PROVISION.value)),
            LifecycleOperation.state.in_(UNFINISHED),
        )
    ).first()
    if busy is not None:
        raise DependencyBusy(
            f"dependency {dep} of {port.plugin_id} is being migrated (operation {busy}); waiting"
        )
    raise DependencyError(
        f"cannot migrate {port.plugin_id}: dependency {dep} has pending migrations "
        f"({', '.join(pending)}); chain {chain(path)}: run `plugin-db migrate {dep}` first, "
        "or `plugin-db migrate --all` to migrate every plugin in dependency order"
    )
