"""Structural parsing of a schema document: pydantic errors become "path: what to fix"."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from worker.errors import SchemaDocumentError
from worker.jsontext import depth
from worker.schema.authoring import normalize, suggestion
from worker.schema.model import (
    ENUM_VALUE_PATTERN,
    NAME_PATTERN,
    PLUGIN_ID_PATTERN,
    VERSION_PATTERN,
    ExtensionDatabaseSchema,
)

MAX_DEPTH = 32
MAX_PROBLEMS = 200
_PATTERN_HINTS = {
    NAME_PATTERN: (
        "write PascalCase, camelCase or snake_case (letters, digits and '_', starting with a "
        "letter; 63 bytes at most once mapped to snake_case with the plugin prefix)"
    ),
    ENUM_VALUE_PATTERN: "use 1-63 letters, digits and '_', starting with a letter",
    PLUGIN_ID_PATTERN: "use 1-40 lower-case letters, digits and '-', starting with a letter",
    VERSION_PATTERN: "use 1-50 letters, digits, '.', '+', '_' or '-'",
}


def parse_document(data: object) -> ExtensionDatabaseSchema:
    """Structural validation only (types, keys, patterns, caps)."""
    if not isinstance(data, dict):
        raise SchemaDocumentError("invalid schema document", ["schema: must be a JSON object"])
    if depth(data, MAX_DEPTH) > MAX_DEPTH:
        raise SchemaDocumentError(
            "invalid schema document", [f"schema: nested deeper than {MAX_DEPTH} levels"]
        )
    try:
        return ExtensionDatabaseSchema.model_validate(normalize(data), strict=True)
    except ValidationError as exc:
        problems = [_describe(e) for e in exc.errors(include_url=False)]
        raise SchemaDocumentError("invalid schema document", capped(problems)) from None


def capped(problems: list[str]) -> list[str]:
    """At most MAX_PROBLEMS problems, plus a line counting the rest."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS], f"schema: {len(problems) - MAX_PROBLEMS} more problems"]


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "schema"


def _describe(error: Any) -> str:
    kind, ctx, shown = error["type"], error.get("ctx", {}), _shown(error.get("input"))
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        message = "unknown key; remove it or check its spelling (keys are camelCase)"
    elif kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        hint = _PATTERN_HINTS.get(pattern, f"match {pattern}")
        if pattern == NAME_PATTERN and isinstance(error.get("input"), str):
            hint += f"; e.g. {suggestion(error['input'])!r}"
        message = f"{shown} is not allowed; {hint}"
    elif kind == "literal_error":
        message = f"unknown value {shown}; use one of {ctx.get('expected')}"
    elif kind == "too_long" and "actual_length" in ctx:
        message = f"has {ctx['actual_length']} items; at most {ctx['max_length']} are allowed"
    return f"{_path(tuple(error['loc']))}: {message}"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
