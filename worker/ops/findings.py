"""What the doctor reports: one :class:`Finding` per check that has something to say."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How bad a finding is; ``warning`` and ``error`` make ``plugin-db doctor`` exit 1."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


class Check(StrEnum):
    """The doctor's check names (stable: scripts and tests match on them)."""

    HEALTH = "health"
    CONNECT = "connect"
    INTEGRITY = "integrity"
    STORAGE_LIMIT = "storage_limit"
    CONNECTION_LIMIT = "connection_limit"
    CATALOG_DRIFT = "catalog_drift"
    FILE_MODE = "file_mode"
    STORAGE_MISSING = "storage_missing"
    DATASOURCE_FAILED = "datasource_failed"
    MIGRATION_DRIFT = "migration_drift"
    MIGRATION_PENDING = "migration_pending"
    ORPHAN_STORAGE = "orphan_storage"
    STUCK_OPERATION = "stuck_operation"
    FAILED_OPERATION = "failed_operation"
    PROVIDER = "provider"
    LOGIN_REFUSED = "login_refused"
    ANONYMOUS_ACCOUNTS = "anonymous_accounts"
    PUBLIC_PRIVILEGES = "public_privileges"
    PASSWORD_ENCRYPTION = "password_encryption"  # noqa: S105 - a check name
    TARGET_CAPACITY = "target_capacity"


@dataclass(frozen=True)
class Finding:
    """One observation: which plugin (None for an object no plugin owns), how bad, what to do."""

    plugin_id: str | None
    severity: Severity
    check: str
    message: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {
            "plugin_id": self.plugin_id,
            "severity": self.severity.value,
            "check": self.check,
            "message": self.message,
            "fix": self.fix,
        }


def ok(plugin_id: str | None, check: str, message: str) -> Finding:
    """A check that passed."""
    return Finding(plugin_id, Severity.OK, check, message)


def warning(plugin_id: str | None, check: str, message: str, fix: str) -> Finding:
    """Something to look at; nothing is broken yet."""
    return Finding(plugin_id, Severity.WARNING, check, message, fix)


def error(plugin_id: str | None, check: str, message: str, fix: str) -> Finding:
    """Something is broken or about to break."""
    return Finding(plugin_id, Severity.ERROR, check, message, fix)


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    """Findings per severity (every severity present, zero when none)."""
    seen = Counter(f.severity for f in findings)
    return {s.value: seen.get(s, 0) for s in Severity}


def problems(findings: Iterable[Finding]) -> list[Finding]:
    """The warnings and errors."""
    return [f for f in findings if f.severity is not Severity.OK]


def plural(count: int, noun: str) -> str:
    """``1 warning``, ``2 warnings``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def summary_line(findings: list[Finding], plugins: Sequence[str]) -> str:
    """``checked 4 plugins: 3 healthy, 1 warning, 0 errors`` style summary."""
    n = counts(findings)
    troubled = {f.plugin_id for f in problems(findings)}
    healthy = sum(plugin not in troubled for plugin in plugins)
    return (
        f"checked {plural(len(plugins), 'plugin')}: {healthy} healthy, "
        f"{plural(n['warning'], 'warning')}, {plural(n['error'], 'error')}"
    )


def human_size(size: int | None) -> str:
    """Bytes as B/KiB/MiB/GiB."""
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
