"""Take, read, list and delete snapshots of one plugin's storage.

Taking one: a ``plugin_snapshots`` row is committed as ``taking``, the driver streams its dump
(:meth:`providers.base.Provider.dump`) through :class:`~worker.snapshots.sealed.SealingWriter`
into the store, and the row becomes ``ready`` with size, checksum and location. A failure marks
it ``failed`` and leaves no file. Reading one checks the stored checksum first, then every
frame's authentication tag, and says which check failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from providers.base import PluginSpec, Provider
from worker import audit
from worker.errors import PluginDbError, SnapshotError
from worker.secrets import SecretBox
from worker.settings import Settings
from worker.snapshots.sealed import HashingReader, SealingWriter, checksum_of, key_id, unseal
from worker.snapshots.store import LocalStore, SnapshotStore
from worker.tracking.models import PluginMigration, PluginSnapshot, utcnow

REASONS = ("before_migrate", "before_purge", "manual", "before_restore", "before_relocate")
READY, TAKING, FAILED, DELETED = "ready", "taking", "failed", "deleted"


@dataclass(frozen=True)
class Target:
    """The plugin a snapshot is of."""

    plugin_id: str
    provider: Provider
    spec: PluginSpec
    keep_days: int = 30


def key_of(snapshot_id: int, plugin_id: str) -> str:
    """The store key of a snapshot file."""
    return f"{plugin_id}/{snapshot_id:08d}.snap"


class Snapshots:
    """Snapshot operations over the tracking database and a store."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        store: SnapshotStore | None = None,
    ) -> None:
        self.settings, self.sessions = settings, sessions
        self.store = store or LocalStore(settings.snapshots_path)
        self.keys = SecretBox.from_settings(settings).keys

    def take(
        self,
        target: Target,
        reason: str,
        *,
        operation_id: int | None = None,
        actor: str | None = None,
    ) -> PluginSnapshot:
        """A new ``ready`` snapshot of ``target`` (SnapshotError if the driver has none)."""
        fmt = target.provider.snapshot_format
        if fmt is None or reason not in REASONS:
            raise SnapshotError(f"{target.provider.name} storage cannot be snapshotted")
        row = self._begin(target, reason, fmt, operation_id, actor)
        key = key_of(row.id, target.plugin_id)
        try:
            with self.store.writer(key) as raw:
                sink = SealingWriter(raw, self.keys[0])
                counts = target.provider.dump(target.spec, sink)
                sink.close()
        except (PluginDbError, OSError) as exc:
            self._finish(row.id, state=FAILED, error=str(exc))
            raise SnapshotError(f"snapshot of {target.plugin_id} failed: {exc}") from exc
        return self._finish(
            row.id,
            state=READY,
            size_bytes=sink.size,
            raw_bytes=sink.raw_bytes,
            checksum=sink.checksum,
            row_counts=counts,
        )

    def _begin(
        self, target: Target, reason: str, fmt: str, operation_id: int | None, actor: str | None
    ) -> PluginSnapshot:
        now = utcnow()
        with self.sessions.begin() as session:
            ledger = [
                {"version": m.migration_version, "checksum": m.checksum}
                for m in session.scalars(
                    select(PluginMigration)
                    .where(
                        PluginMigration.plugin_id == target.plugin_id,
                        PluginMigration.status == "completed",
                    )
                    .order_by(PluginMigration.migration_version)
                )
            ]
            row = PluginSnapshot(
                plugin_id=target.plugin_id,
                reason=reason,
                state=TAKING,
                provider=target.provider.name,
                format=fmt,
                operation_id=operation_id,
                ledger=ledger,
                location="",
                key_id=key_id(self.keys[0]).hex(),
                created_by=actor,
                created_at=now,
                expires_at=now + timedelta(days=target.keep_days),
            )
            session.add(row)
            session.flush()
            row.location = self.store.location(key_of(row.id, target.plugin_id))
            session.flush()
            session.expunge(row)
        return row

    def _finish(self, snapshot_id: int, **values: object) -> PluginSnapshot:
        with self.sessions.begin() as session:
            row = session.get(PluginSnapshot, snapshot_id)
            assert row is not None
            for name, value in values.items():
                setattr(row, name, value)
            event = "snapshot_taken" if row.state == READY else "snapshot_failed"
            audit.record(
                session,
                event,
                plugin_id=row.plugin_id,
                operation_id=row.operation_id,
                actor=row.created_by,
                snapshot_id=row.id,
                reason=row.reason,
                size_bytes=row.size_bytes,
                error=row.error,
            )
            session.flush()
            session.expunge(row)
        return row

    def get(self, plugin_id: str, snapshot_id: int) -> PluginSnapshot:
        """A ``ready`` snapshot of ``plugin_id``, or SnapshotError naming what is wrong."""
        with self.sessions() as session:
            row = session.get(PluginSnapshot, snapshot_id)
        if row is None or row.plugin_id != plugin_id:
            raise SnapshotError(f"{plugin_id} has no snapshot {snapshot_id}")
        if row.state != READY:
            raise SnapshotError(f"snapshot {snapshot_id} is {row.state}, not ready")
        return row

    def listing(self, plugin_id: str) -> list[PluginSnapshot]:
        """Every snapshot row of ``plugin_id``, newest first."""
        with self.sessions() as session:
            query = select(PluginSnapshot).where(PluginSnapshot.plugin_id == plugin_id)
            return list(session.scalars(query.order_by(PluginSnapshot.id.desc())))

    def verify(self, row: PluginSnapshot) -> None:
        """Refuse a file whose checksum differs from the one recorded when it was taken."""
        with self.store.reader(key_of(row.id, row.plugin_id)) as raw:
            self._compare(row, checksum_of(raw))

    def _compare(self, row: PluginSnapshot, found: str) -> None:
        if found != row.checksum:
            raise SnapshotError(
                f"snapshot {row.id} fails its checksum (recorded {str(row.checksum)[:12]}..., "
                f"file {found[:12]}...): the file was altered or corrupted; refused"
            )

    def read(self, row: PluginSnapshot) -> Iterator[bytes]:
        """The snapshot's plaintext in chunks, in one pass: every frame is authenticated as it
        is read, and the file's checksum is compared at the end (before the last chunk is
        handed out). A failure says which check failed, the checksum first."""
        with self.store.reader(key_of(row.id, row.plugin_id)) as raw:
            hashing = HashingReader(raw)
            try:
                pending = None
                for chunk in unseal(hashing, self.keys):
                    if pending is not None:
                        yield pending
                    pending = chunk
            except SnapshotError:
                self._compare(row, hashing.finish())
                raise
            self._compare(row, hashing.finish())
            if pending is not None:
                yield pending

    def delete(self, row: PluginSnapshot, actor: str | None = None) -> None:
        """Remove the file, then mark the row ``deleted`` (audited)."""
        self.store.delete(key_of(row.id, row.plugin_id))
        with self.sessions.begin() as session:
            live = session.get(PluginSnapshot, row.id)
            if live is not None and live.state != DELETED:
                live.state = DELETED
                audit.record(
                    session,
                    "snapshot_deleted",
                    plugin_id=row.plugin_id,
                    actor=actor,
                    snapshot_id=row.id,
                )
