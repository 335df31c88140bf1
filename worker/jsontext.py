"""Checks of untrusted decoded JSON before it is validated or stored: depth and storable text."""

from __future__ import annotations

from typing import Any

from worker.redaction import storable

UNSTORABLE = "contains NUL or an unpaired surrogate; send valid UTF-8 text"


def depth(value: object, limit: int) -> int:
    """Nesting depth of ``value`` (dicts, lists, tuples), without recursion; the count stops
    once it exceeds ``limit``."""
    stack: list[tuple[object, int]] = [(value, 1)]
    deepest = 0
    while stack and deepest <= limit:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((child, level + 1) for child in item)
    return deepest


def unstorable_text(value: Any, where: str) -> str | None:
    """Path of the first key or string in ``value`` holding NUL or an unpaired surrogate.

    JSON can carry both (``"\\u0000"``, ``"\\ud800"``); PostgreSQL refuses them in text and
    JSON columns and neither is valid UTF-8, so such input is refused before it is stored.
    """
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{_printable(key)}"
                if isinstance(key, str) and _bad_text(key):
                    return child_path
                stack.append((child, child_path))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))
        elif isinstance(item, str) and _bad_text(item):
            return path
    return None


def _bad_text(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _printable(key: object) -> str:
    return storable(key if isinstance(key, str) else repr(key))
