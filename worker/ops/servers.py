"""Server misconfigurations: what each configured driver finds, and PUBLIC on the tracking db."""

from __future__ import annotations

from collections.abc import Callable

from providers.checks import ServerChecks, ServerIssue, tracking_issues
from providers.targets import Targets
from worker.logging import redact_text
from worker.ops.findings import Check, Finding, Severity, error
from worker.settings import Settings


def _driver(targets: Targets, name: str) -> Callable[[], list[ServerIssue]]:
    """The server checks of target ``name``'s driver (none if it has no such checks)."""

    def run() -> list[ServerIssue]:
        provider = targets.provider(name)
        return provider.server_issues() if isinstance(provider, ServerChecks) else []

    return run


def server_findings(settings: Settings, targets: Targets | None = None) -> list[Finding]:
    """One finding per misconfiguration of the configured servers; each states the fix."""
    targets = targets or Targets.from_settings(settings)
    checks = [(name, _driver(targets, name)) for name in targets.targets]
    checks.append(("tracking", lambda: tracking_issues(settings.database_url)))
    findings: list[Finding] = []
    for what, run in checks:
        try:
            issues = run()
        except Exception as exc:  # a driver error must not stop the doctor: it is a finding
            findings.append(_unchecked(what, exc))
            continue
        findings += [Finding(None, Severity(i.severity), i.check, i.message, i.fix) for i in issues]
    return findings


def _unchecked(what: str, exc: BaseException) -> Finding:
    """The server could not be checked."""
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return error(
        None,
        Check.PROVIDER,
        f"cannot check the {what} server's configuration: {redact_text(reason)}",
        "check that the server is reachable with the URL in the settings",
    )
