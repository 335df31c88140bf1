"""Relocation steps: move a plugin's storage and data to another target or mode.

Each step is idempotent; the relocation's destination, its credentials' reference and its
progress live in ``plugin_relocations``, so a resumed run continues where a killed one
stopped. Until the switch the source stays the plugin's storage: a failure makes it writable
again and removes the destination (:func:`abort`). After the switch the source is archived,
restorable for the archive retention period.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from providers.base import Provider
from providers.targets import Target, Targets
from worker import placement, secrets
from worker.credentials import SLOTS, Credentials
from worker.errors import ProviderError, RequestRejected
from worker.lifecycle.context import StepContext
from worker.lifecycle.requests import RelocateRequest
from worker.manifest import Manifest
from worker.relocation.copy import copy_tables, verify
from worker.relocation.schema import Side
from worker.tracking.models import PluginRelocation, utcnow

SWITCHED = "switched"


@dataclass(frozen=True)
class Ends:
    """Both ends of a relocation: (target, mode, driver) of the source and destination."""

    source: tuple[str, str, Provider]
    dest: tuple[str, str, Provider]


def destination_pool(
    targets: Targets,
    request: RelocateRequest,
    manifest: Manifest,
    current: str,
    states: Mapping[str, str] | None = None,
) -> tuple[str, list[Target]]:
    """(mode, candidate targets) of the move ``request`` asks for; refuses a no-op."""
    mode = request.mode.value if request.mode else manifest.database.mode.value
    if request.target is not None:
        pool = [targets.choose(mode, request.target)]
    else:
        labels = manifest.database.placement.labels
        pool = placement.candidates(targets, mode, labels, exclude=[current], states=states)
    if [t.name for t in pool] == [current]:
        raise RequestRejected(
            "nothing to move", [f"target: {request.plugin_id} lives on {current} in mode {mode}"]
        )
    return mode, pool


def row_of(session: Session, op_id: int) -> PluginRelocation | None:
    """The relocation record of operation ``op_id``."""
    return session.scalars(
        select(PluginRelocation).where(PluginRelocation.operation_id == op_id)
    ).first()


def _ends(ctx: StepContext, targets: Targets) -> tuple[Ends, PluginRelocation]:
    with ctx.store.sessions() as session:
        row = row_of(session, ctx.op.id)
    if row is None:
        raise ProviderError(f"relocation of operation {ctx.op.id} has no record")
    ends = Ends(
        (row.source_target, row.source_mode, targets.provider(row.source_target)),
        (row.dest_target, row.dest_mode, targets.provider(row.dest_target)),
    )
    return ends, row


def _credentials(ctx: StepContext, row: PluginRelocation) -> Credentials | None:
    ref = row.detail.get("dest_secrets_ref")
    with ctx.store.sessions() as session:
        return secrets.load_credentials(session, ctx.box, ref) if ref else None


class Relocation:
    """The relocation steps of one run, bound to the service's targets."""

    def __init__(self, targets: Targets) -> None:
        self.targets = targets

    def reserve_destination(self, ctx: StepContext) -> dict[str, Any]:
        """Choose and reserve the destination, record it with fresh destination credentials."""
        with ctx.store.sessions() as session:
            existing = row_of(session, ctx.op.id)
        if existing is not None:
            return {"target": existing.dest_target, "mode": existing.dest_mode}
        request = ctx.request
        assert isinstance(request, RelocateRequest)
        with ctx.store.sessions() as session:
            states = placement.state_overrides(session)
        mode, pool = destination_pool(self.targets, request, ctx.manifest, ctx.target, states)
        need = placement.need_of(ctx.manifest)
        dest = placement.place(ctx.store.sessions, pool, ctx.plugin_id, need, replace=False)
        creds = Credentials()
        creds.issue(SLOTS[0], secrets.generate_password())
        with ctx.store.sessions() as session, session.begin():
            ref = secrets.store_credentials(session, ctx.box, ctx.plugin_id, None, creds)
            session.add(
                PluginRelocation(
                    plugin_id=ctx.plugin_id,
                    operation_id=ctx.op.id,
                    source_target=ctx.target,
                    source_mode=ctx.manifest.database.mode.value,
                    dest_target=dest,
                    dest_mode=mode,
                    state="running",
                    detail={"dest_secrets_ref": ref},
                )
            )
        return {"target": dest, "mode": mode}

    def provision_destination(self, ctx: StepContext) -> dict[str, Any]:
        """Create the destination storage and its login (idempotent)."""
        ends, row = _ends(ctx, self.targets)
        creds = _credentials(ctx, row)
        driver = ends.dest[2]
        password = creds.password if creds and driver.issues_credentials else None
        driver.provision(ctx.spec, password)
        return {"url": driver.describe(ctx.spec).url}

    def snapshot_source(self, ctx: StepContext) -> tuple[str, dict[str, Any]]:
        """(status, detail): a snapshot of the source (reason ``before_relocate``), the way
        back whatever happens to the move; skipped where its driver takes none."""
        from worker.snapshots.policy import take_for

        source = self.targets.provider(_ends(ctx, self.targets)[1].source_target)
        if source.snapshot_format is None:
            return "skipped", {"reason": f"{source.name} storage cannot be snapshotted"}
        return "done", {"snapshot_id": take_for(ctx, "before_relocate")}

    def freeze_source(self, ctx: StepContext) -> dict[str, Any]:
        """The source's logins become read-only (where its driver can), timed from here."""
        ends, _ = _ends(ctx, self.targets)
        at = utcnow().isoformat()
        try:
            ends.source[2].set_read_only(ctx.spec, True)
        except NotImplementedError:
            return {"frozen": False, "reason": f"{ends.source[2].name} has no read-only logins"}
        return {"frozen": True, "at": at}

    def sides(self, ctx: StepContext) -> tuple[Side, Side, Ends, dict[str, str]]:
        """(source, destination) sides as the plugin, the ends, and table renames."""
        ends, row = _ends(ctx, self.targets)
        src, dst = ends.source[2], ends.dest[2]
        source = Side(
            src.plugin_engine(ctx.spec, ctx.login()),
            src.reflection_schema(ctx.spec),
            src.namespace(ctx.spec).table_prefix,
        )
        login = dst.login_for(ctx.spec, _credentials(ctx, row))
        dest = Side(dst.plugin_engine(ctx.spec, login), dst.reflection_schema(ctx.spec))
        return source, dest, ends, renames(ctx, src, dst, source)

    def copy_data(self, ctx: StepContext) -> dict[str, Any]:
        """Schema and rows: the engine's own dump and restore where the destination driver
        has one for the source's (:meth:`~providers.bulk.BulkLoad.copy_native`), else the
        translated schema and every row in foreign-key order."""
        ends, _ = _ends(ctx, self.targets)
        started = time.perf_counter()
        native = ends.dest[2].copy_native(ctx.spec, ends.source[2])
        if native is not None:
            seconds = round(time.perf_counter() - started, 3)
            return {"rows": native, "seconds": seconds, "method": "native"}
        source, dest, ends, rename = self.sides(ctx)
        try:
            report = copy_tables(source, dest, (ends.source[2], ends.dest[2]), rename)
        finally:
            source.engine.dispose()
            dest.engine.dispose()
        return {"rows": report.rows, "seconds": round(report.seconds, 3), "method": "rows"}

    def verify(self, ctx: StepContext) -> dict[str, Any]:
        """Row counts and checksums of ordered rows equal on both sides, or the move stops."""
        source, dest, ends, rename = self.sides(ctx)
        try:
            report = verify(source, dest, (ends.source[2], ends.dest[2]), rename)
        finally:
            source.engine.dispose()
            dest.engine.dispose()
        if not report.equal:
            differ = sorted(k for k in report.source if report.source[k] != report.dest.get(k))
            raise ProviderError(f"relocation copy differs from the source in tables {differ}")
        return {"tables": len(report.source), "checksums": report.source}

    def switch(self, ctx: StepContext) -> tuple[dict[str, Any], Any]:
        """The datasource points at the destination: new target, mode, login and generation."""
        ends, row = _ends(ctx, self.targets)
        target, mode, driver = ends.dest
        descriptor = driver.describe(ctx.spec).to_json()
        ref = row.detail.get("dest_secrets_ref") if driver.issues_credentials else None

        def apply(session: Session) -> None:
            ds = ctx.datasource(session)
            live = row_of(session, ctx.op.id)
            assert ds is not None and live is not None
            if live.state == SWITCHED:
                return
            manifest = dict(ds.manifest)
            database = dict(manifest.get("sovereign", {}).get("database", {}))
            database["mode"] = mode
            database.pop("provider", None)
            manifest["sovereign"] = {**manifest.get("sovereign", {}), "database": database}
            old_ref = ds.secrets_ref
            ds.target, ds.mode, ds.provider = target, mode, driver.name
            ds.manifest, ds.descriptor, ds.secrets_ref = manifest, descriptor, ref
            ds.bump_generation()
            live.state = SWITCHED
            live.detail = {**live.detail, "source_secrets_ref": old_ref}
            placement.release(session, ctx.plugin_id, row.source_target)

        frozen = frozen_seconds(ctx.op.steps)
        detail = {"target": target, "mode": mode, "url": descriptor["url"]}
        return {**detail, "frozen_seconds": frozen}, apply

    def archive_source(self, ctx: StepContext) -> tuple[dict[str, Any], Any]:
        """The source, writable again, archived: restorable until the retention ends."""
        ends, _ = _ends(ctx, self.targets)
        driver = ends.source[2]
        driver.archive(ctx.spec)  # first: no login reaches the source once it is writable
        with contextlib.suppress(NotImplementedError):
            driver.set_read_only(ctx.spec, False)
        until = utcnow() + retention(ctx)

        def apply(session: Session) -> None:
            live = row_of(session, ctx.op.id)
            assert live is not None
            live.state, live.purge_after = "archived", until
            started = (ctx.op.steps or [{}])[0].get("finished_at")
            times = {"started": started, "finished": utcnow().isoformat()}
            live.detail = {**live.detail, **times, "frozen_seconds": frozen_seconds(ctx.op.steps)}

        return {"archived": driver.describe(ctx.spec).url, "purge_after": until.isoformat()}, apply


def renames(ctx: StepContext, src: Provider, dst: Provider, source: Side) -> dict[str, str]:
    """Source → destination table names: the ledger's name, and a shared target's prefix."""
    found = {src.history_table_name(ctx.spec): dst.history_table_name(ctx.spec)}
    prefix = dst.namespace(ctx.spec).table_prefix
    if prefix:
        from worker.relocation.schema import reflect

        for name in reflect(source).tables:
            bare = name.rsplit(".", 1)[-1]
            if bare not in found and not bare.startswith(prefix):
                found[bare] = prefix + bare
    return {k: v for k, v in found.items() if k != v}


def frozen_seconds(steps: list[dict[str, Any]]) -> float | None:
    """Seconds from the source's write freeze to the switch (None: it was not frozen)."""
    found = {s["name"]: s for s in steps}
    freeze = found.get("freeze_source", {}).get("detail", {})
    if not freeze.get("frozen"):
        return None
    switched = found.get("switch_datasource", {}).get("finished_at")
    end = datetime.fromisoformat(switched) if switched else utcnow()
    return round((end - datetime.fromisoformat(freeze["at"])).total_seconds(), 3)


def retention(ctx: StepContext) -> timedelta:
    """How long the archived source is kept."""
    return timedelta(days=ctx.settings.archive_retention_days)
