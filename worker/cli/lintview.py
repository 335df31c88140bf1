"""Human rendering of linter findings (``migrations lint`` and ``migrate --dry-run``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.markup import escape

_COLOUR = {"destructive": "red", "locking": "yellow", "non_transactional": "magenta"}


def findings_lines(findings: Sequence[Mapping[str, Any]], indent: str = "      ") -> list[str]:
    """One line per finding, then its suggested safe form."""
    lines = []
    for f in findings:
        colour = _COLOUR.get(str(f["kind"]), "white")
        label = f"[{colour}]{f['kind']}[/{colour}] {f['rule']}"
        lines.append(f"{indent}{label}: {escape(str(f['message']))}")
        if f.get("suggestion"):
            lines.append(f"{indent}  safe form: {escape(str(f['suggestion']))}")
    return lines


def statements_lines(statements: Sequence[str], findings: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each statement (numbered) followed by its findings."""
    lines = []
    for i, sql in enumerate(statements):
        lines.append(f"    {i + 1:>3}. {escape(' '.join(sql.split()))}")
        lines += findings_lines([f for f in findings if f.get("index") == i])
    return lines


def dry_run_lines(result: Mapping[str, Any]) -> list[str]:
    """A dry run's pending files: direction, version, statements and their findings."""
    lines = []
    for item in result.get("sql") or []:
        lines.append(f"  [bold]{item['direction']} {item['version']}[/bold]")
        lines += statements_lines(item.get("statements") or [], item.get("findings") or [])
    return lines
