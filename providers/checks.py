"""Server misconfigurations a driver can find with its admin connection (for ``doctor``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

ANONYMOUS_ACCOUNTS = "anonymous_accounts"
PUBLIC_PRIVILEGES = "public_privileges"
PASSWORD_ENCRYPTION = "password_encryption"  # noqa: S105 - a check name


@dataclass(frozen=True)
class ServerIssue:
    """One misconfiguration of a server: its check name, severity, what is wrong, the fix."""

    check: str
    severity: str
    """``warning`` or ``error``."""
    message: str
    fix: str


@runtime_checkable
class ServerChecks(Protocol):
    """A driver that can inspect its server's configuration."""

    def server_issues(self) -> list[ServerIssue]:
        """Misconfigurations that weaken isolation or logins; empty when all is well."""
        ...
