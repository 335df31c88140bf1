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


@runtime_checkable
class TrackingChecks(Protocol):
    """A driver that can check a tracking database kept on its kind of server."""

    @classmethod
    def tracking_issues(cls, database_url: str) -> list[ServerIssue]:
        """Misconfigurations of the tracking database at ``database_url``; empty when all is
        well or when that database is not on this driver's kind of server."""
        ...


def tracking_issues(database_url: str) -> list[ServerIssue]:
    """What the registered drivers find wrong with the tracking database (each checks its own
    kind of server, so the caller never asks which one it is)."""
    from providers.registry import available, get_provider_class

    found: list[ServerIssue] = []
    for name in available():
        driver = get_provider_class(name)
        if isinstance(driver, TrackingChecks):
            found += driver.tracking_issues(database_url)
    return found
