"""What a running step sees: the operation, its plugin, provider and tracking access."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from providers.base import Login, PluginSpec, Provider
from providers.targets import Targets
from worker import secrets
from worker.credentials import Credentials
from worker.lifecycle.lease import Claim
from worker.lifecycle.requests import Request
from worker.lifecycle.store import OperationStore
from worker.manifest import Manifest
from worker.port import Change, PluginPort, spec_for
from worker.secrets import SecretBox
from worker.settings import Settings
from worker.tracking.models import LifecycleOperation, PluginDatasource

__all__ = ["FencedJournal", "StepContext", "spec_for"]


@dataclass(frozen=True)
class FencedJournal:
    """The lifecycle's journal: each change commits fenced by the operation's lease."""

    store: OperationStore
    claim: Claim
    written: Callable[[], None] = lambda: None
    """Called before each change (the run's carried datasource row may no longer hold)."""

    def write(self, change: Change) -> None:
        """Commit ``change`` now, unless another worker overtook the operation."""
        self.written()
        with self.store.fenced(self.claim) as session:
            change(session)


UNREAD: Any = object()
"""A run's datasource row before it is known (:meth:`StepContext.datasource` reads it)."""


@dataclass
class StepContext:
    """Everything a step needs; built once per run of an operation."""

    op: LifecycleOperation
    claim: Claim
    store: OperationStore
    request: Request
    manifest: Manifest
    provider: Provider
    settings: Settings
    box: SecretBox
    plugin_dir: Path
    target: str = ""
    """The name of the target the plugin lives on (providers.targets)."""
    targets: Targets | None = None
    """Every configured target (relocation reaches a second one)."""
    result: dict[str, Any] = field(default_factory=dict)
    row: PluginDatasource | None = field(default=UNREAD, repr=False)
    """The plugin's datasource as this run last committed or read it under its lease (None:
    there is none), else UNREAD; see :meth:`hold`."""
    created: PluginDatasource | None = field(default=None, repr=False)
    """The row a step created in its transaction (none was held)."""
    _credentials: dict[str, Credentials | None] = field(default_factory=dict, repr=False)

    @property
    def plugin_id(self) -> str:
        """The operation's plugin."""
        return self.op.plugin_id

    @property
    def spec(self) -> PluginSpec:
        """The provider's view of the plugin."""
        return spec_for(self.manifest)

    @property
    def actor(self) -> str | None:
        """Who asked for the operation."""
        return self.op.requested_by

    def datasource(self, session: Session) -> PluginDatasource | None:
        """The plugin's tracking row, in ``session`` (see :meth:`hold`)."""
        if self.row is None and self.created is None:
            return None  # the run knows there is none: no SELECT
        return session.get(PluginDatasource, self.plugin_id)

    def hold(self, session: Session) -> PluginDatasource | None:
        """The plugin's row, attached to the step's transaction ``session`` for its length.

        While the run holds the operation's lease nothing else writes this row, so it is
        read once: each later step's transaction starts from the row as the run last
        committed it (``row``), with no SELECT. Whatever reads the row in ``session`` gets
        this same object, so what the step changes is what is carried to the next one.
        """
        self.created = None
        if self.row is UNREAD:
            return session.get(PluginDatasource, self.plugin_id)
        return None if self.row is None else session.merge(self.row, load=False)

    def forget_row(self) -> None:
        """The row was (or may have been) written outside the run's step transactions."""
        self.row = UNREAD

    def credentials(self) -> Credentials | None:
        """The plugin's decrypted credentials, if it has any (read once per run).

        Steps that change credentials update this same value before storing it, so later
        steps of the run see the new credentials.
        """
        if "value" not in self._credentials and not self.provider.issues_credentials:
            self._credentials["value"] = None  # such a driver never stores any: no read
        if "value" not in self._credentials:
            self._credentials["value"] = self._load_credentials()
        return self._credentials["value"]

    def _load_credentials(self) -> Credentials | None:
        """The stored credentials: the secret the row the run carries refers to (no read for
        a row without one), else the secret of the row read now."""
        if self.row is not UNREAD and (self.row is None or self.row.secrets_ref is None):
            return None
        with self.store.sessions() as session:
            ds = self.row if self.row is not UNREAD else self.datasource(session)
            ref = ds.secrets_ref if ds else None
            return secrets.load_credentials(session, self.box, ref)

    def remember_credentials(self, credentials: Credentials) -> None:
        """Make ``credentials`` the ones later steps of this run use."""
        self._credentials["value"] = credentials

    def port(self) -> PluginPort:
        """The engines' view of this run: the plugin, its driver and a fenced journal."""
        return PluginPort(
            manifest=self.manifest,
            provider=self.provider,
            plugin_dir=self.plugin_dir,
            sessions=self.store.sessions,
            journal=FencedJournal(self.store, self.claim, self.forget_row),
            credentials=self.credentials,
            lock_wait=self.settings.lock_wait_seconds,
            large_table_mb=self.settings.large_table_mb,
            plugins_root=self.settings.plugins_root,
            operation_id=self.op.id,
            actor=self.actor,
        )

    def login(self) -> Login | None:
        """The plugin's login in use (None for providers without credentials)."""
        return self.provider.login_for(self.spec, self.credentials())
