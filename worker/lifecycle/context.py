"""What a running step sees: the operation, its plugin, provider and tracking access."""

from __future__ import annotations

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

    def write(self, change: Change) -> None:
        """Commit ``change`` now, unless another worker overtook the operation."""
        with self.store.fenced(self.claim) as session:
            change(session)


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
        """The plugin's tracking row, in ``session``."""
        return session.get(PluginDatasource, self.plugin_id)

    def credentials(self) -> Credentials | None:
        """The plugin's decrypted credentials, if it has any (read once per run).

        Steps that change credentials update this same value before storing it, so later
        steps of the run see the new credentials.
        """
        if "value" not in self._credentials and not self.provider.issues_credentials:
            self._credentials["value"] = None  # such a driver never stores any: no read
        if "value" not in self._credentials:
            with self.store.sessions() as session:
                ds = self.datasource(session)
                ref = ds.secrets_ref if ds else None
                self._credentials["value"] = secrets.load_credentials(session, self.box, ref)
        return self._credentials["value"]

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
            journal=FencedJournal(self.store, self.claim),
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
