"""What a running step sees: the operation, its plugin, provider and tracking access."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from providers.base import Login, PluginSpec, Provider
from worker import secrets
from worker.lifecycle.requests import Request
from worker.lifecycle.store import Claim, OperationStore
from worker.manifest import Manifest
from worker.secrets import SecretBox
from worker.settings import Settings
from worker.tracking.models import LifecycleOperation, PluginDatasource


def spec_for(manifest: Manifest) -> PluginSpec:
    """The provider's view of a plugin."""
    db = manifest.database
    return PluginSpec(
        plugin_id=manifest.id,
        storage_mb=db.limits.storage_mb,
        connections=db.limits.connections,
        schema=db.schema_name,
        feature_flag=db.feature_flag,
        statement_timeout_ms=db.limits.statement_timeout_ms,
        idle_in_transaction_timeout_ms=db.limits.idle_in_transaction_timeout_ms,
    )


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
    result: dict[str, Any] = field(default_factory=dict)
    _secret: dict[str, dict[str, Any] | None] = field(default_factory=dict, repr=False)

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

    def secret(self) -> dict[str, Any] | None:
        """The plugin's decrypted credential payload, if it has one (read once per run).

        Steps that change credentials update this same dict before storing it, so later
        steps of the run see the new credentials.
        """
        if "payload" not in self._secret:
            with self.store.sessions() as session:
                ds = self.datasource(session)
                ref = ds.secrets_ref if ds else None
                self._secret["payload"] = secrets.load(session, self.box, ref)
        return self._secret["payload"]

    def remember_secret(self, payload: dict[str, Any]) -> None:
        """Make ``payload`` the credentials later steps of this run use."""
        self._secret["payload"] = payload

    def login(self) -> Login | None:
        """The plugin's active login (None for providers without credentials)."""
        payload = self.secret()
        if not payload or not self.provider.issues_credentials:
            return None
        active = payload["active"]
        username = self.provider.describe(self.spec, active).username or ""
        return Login(username=username, password=payload["slots"][active])
