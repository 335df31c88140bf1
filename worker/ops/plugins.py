"""Per-plugin checks: storage state against the catalog, health as the plugin, limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from providers.base import Health, Login, PluginSpec, Provider, StorageState
from worker.errors import PluginDbError
from worker.manifest import Manifest
from worker.ops.findings import Check, Finding, error, human_size, ok, plural, warning
from worker.states import DsStatus

PluginDatasource = Any
"""A ``plugin_datasources`` row (ORM or plain): the checks read its attributes."""

NEAR_LIMIT = 0.9
"""Share of ``limits.storageMb`` above which the doctor warns."""
LIVE = frozenset({DsStatus.READY, DsStatus.MIGRATING, DsStatus.ROTATING})


@dataclass(frozen=True)
class Target:
    """One datasource with everything needed to look at it as its plugin would."""

    ds: PluginDatasource
    manifest: Manifest
    spec: PluginSpec
    provider: Provider
    login: Login | None
    plugin_dir: Path

    @property
    def plugin_id(self) -> str:
        """The plugin's id."""
        return str(self.ds.plugin_id)


@dataclass
class Outcome:
    """What the checks of one plugin found (and the numbers the audit event needs)."""

    findings: list[Finding]
    size_bytes: int | None = None
    limit_bytes: int | None = None

    @property
    def over_limit(self) -> bool:
        """Whether the plugin uses more than ``limits.storageMb``."""
        return any(f.check == Check.STORAGE_LIMIT and f.severity == "error" for f in self.findings)


def catalog(ds: PluginDatasource, state: StorageState) -> list[Finding]:
    """The datasource's status against what the provider finds in its backend."""
    pid, status = ds.plugin_id, DsStatus(ds.status)
    purge = f"plugin-db teardown {pid} --purge"
    if status in LIVE and state is StorageState.ABSENT:
        return [
            error(
                pid,
                Check.STORAGE_MISSING,
                f"status {status.value} but its storage is gone (dropped or deleted outside "
                "plugin-db); the plugin cannot reach its data",
                f"restore the storage from a backup, or `{purge}` then "
                f"`plugin-db provision <folder of {pid}>` to start empty",
            )
        ]
    if status in LIVE and state is StorageState.ARCHIVED:
        return [
            error(
                pid,
                Check.CATALOG_DRIFT,
                f"status {status.value} but the storage is archived (logins disabled)",
                f"`plugin-db restore {pid}` to bring it back",
            )
        ]
    if status is DsStatus.ARCHIVED and state is StorageState.ACTIVE:
        return [
            error(
                pid,
                Check.CATALOG_DRIFT,
                "status archived but the storage is active and reachable",
                f"`plugin-db teardown {pid}` to archive it again, or `plugin-db restore {pid}` "
                "if it should be live",
            )
        ]
    if status is DsStatus.ARCHIVED and state is StorageState.ABSENT:
        return [
            error(
                pid,
                Check.STORAGE_MISSING,
                "status archived but the archived storage is gone; restore is impossible",
                f"`{purge}` to record that it is gone",
            )
        ]
    return []


def _connection_limit(value: int | None) -> int | None:
    """None for "no limit" however the backend spells it (NULL, -1, 0)."""
    return None if value is None or value <= 0 else value


def health(target: Target, found: Health) -> Outcome:
    """Findings from a health check made with the plugin's own login."""
    pid, details = target.plugin_id, dict(found.details)
    if details.get("login_refused") and target.provider.issues_credentials:
        who = target.login.username if target.login else "its login"
        return Outcome(
            [
                error(
                    pid,
                    Check.LOGIN_REFUSED,
                    f"the server refuses {who}: {details['error']}; the plugin cannot log in",
                    f"`plugin-db rotate {pid}` sets and proves a fresh password; if an "
                    "anonymous account shadows the login (see anonymous_accounts), drop it or "
                    f"`plugin-db provision <folder of {pid}>` to create the login for its host",
                )
            ]
        )
    if "error" in details:
        who = target.login.username if target.login else "the plugin"
        fix = (
            f"check the server is up, then `plugin-db rotate {pid}` to issue a fresh login"
            if target.provider.issues_credentials
            else f"check the storage (`plugin-db info {pid}` shows where it is)"
        )
        return Outcome(
            [error(pid, Check.CONNECT, f"cannot connect as {who}: {details['error']}", fix)]
        )
    out = Outcome([], found.size_bytes)
    verdict = details.get("quick_check")
    if verdict not in (None, "ok"):
        out.findings.append(
            error(
                pid,
                Check.INTEGRITY,
                f"PRAGMA quick_check: {verdict}",
                f"restore the file from a backup (`plugin-db info {pid}` shows its path)",
            )
        )
    mode = details.get("mode")
    if mode is not None and mode != oct(0o600):
        path = target.ds.descriptor.get("objects", {}).get("file", "<file>")
        out.findings.append(
            error(
                pid,
                Check.FILE_MODE,
                f"database file mode is {mode}, not 0o600: other local users can read it",
                f"chmod 600 {path}",
            )
        )
    out.findings += _size(target, found, out)
    out.findings += _limit(target, found)
    if not found.ok and not out.findings:
        shown = ", ".join(f"{k}={v}" for k, v in details.items())
        out.findings.append(
            warning(
                pid,
                Check.HEALTH,
                f"the provider reports it unhealthy ({shown})",
                f"`plugin-db info {pid}`; re-provisioning (`plugin-db provision <folder>`) "
                "restores grants and settings",
            )
        )
    return out


def _size(target: Target, found: Health, out: Outcome) -> list[Finding]:
    pid, quota_mb = target.plugin_id, target.spec.storage_mb
    if found.size_bytes is None or not quota_mb:
        return []
    out.limit_bytes = quota = quota_mb * 1024 * 1024
    used = f"uses {human_size(found.size_bytes)} of its {quota_mb} MiB limit"
    share = found.size_bytes / quota
    raise_it = (
        "raise sovereign.database.limits.storageMb in plugin.json and re-provision "
        f"(`plugin-db provision <folder of {pid}>`)"
    )
    if share > 1:
        return [
            error(
                pid,
                Check.STORAGE_LIMIT,
                f"{used} ({share:.0%}): writes fail or will fail",
                f"delete data as the plugin, or {raise_it}",
            )
        ]
    if share >= NEAR_LIMIT:
        return [warning(pid, Check.STORAGE_LIMIT, f"{used} ({share:.0%})", raise_it)]
    return []


def _shown(limit: int | None) -> str:
    return "unlimited" if limit is None else str(limit)


def _limit(target: Target, found: Health) -> list[Finding]:
    if not target.provider.issues_credentials:
        return []
    declared, actual = target.spec.connections, _connection_limit(found.connection_limit)
    if declared == actual:
        return []
    return [
        warning(
            target.plugin_id,
            Check.CONNECTION_LIMIT,
            f"login connection limit is {_shown(actual)}, the manifest declares {_shown(declared)} "
            "(changed outside plugin-db)",
            f"`plugin-db provision <folder of {target.plugin_id}>` resets it (idempotent)",
        )
    ]


def check(target: Target) -> Outcome:
    """Every storage check of one datasource (migrations are checked elsewhere)."""
    pid, status = target.plugin_id, DsStatus(target.ds.status)
    if status is DsStatus.PROVISIONING:
        return Outcome([ok(pid, Check.HEALTH, "being provisioned")])
    try:
        state = target.provider.state(target.spec)
    except PluginDbError as exc:
        return Outcome(
            [
                error(
                    pid,
                    Check.CONNECT,
                    f"cannot inspect its storage: {exc}",
                    f"check that the {target.provider.name} server is reachable with the "
                    "admin URL in the settings",
                )
            ]
        )
    findings = catalog(target.ds, state)
    if status is DsStatus.FAILED:
        findings.append(
            warning(
                pid,
                Check.DATASOURCE_FAILED,
                f"status failed (storage {state.value}): its last operation failed",
                f"`plugin-db ops --plugin {pid}` then `plugin-db retry OP_ID`, or "
                f"`plugin-db teardown {pid} --purge`",
            )
        )
    if findings or status not in LIVE:
        return Outcome(findings)
    return health(target, target.provider.health(target.spec, target.login))


def describe_ok(target: Target, out: Outcome, extra: dict[str, Any]) -> Finding:
    """The one ``ok`` line of a plugin with no problem."""
    parts = [target.ds.status, target.provider.name]
    if out.size_bytes is not None:
        limit = f" of {target.spec.storage_mb} MiB" if target.spec.storage_mb else ""
        parts.append(f"{human_size(out.size_bytes)}{limit}")
    if target.spec.connections and target.provider.issues_credentials:
        parts.append(f"{target.spec.connections} connections")
    if extra.get("migrations"):
        parts.append(f"{plural(extra['migrations'], 'migration')} applied")
    return ok(target.plugin_id, Check.HEALTH, ", ".join(parts))
