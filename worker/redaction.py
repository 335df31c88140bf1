"""Redaction of secrets from text and structures (no logging library: cheap to import).

:mod:`worker.logging` re-exports these; its structlog processor applies :func:`redact`.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

REDACTED = "***"
_SENSITIVE_KEY = re.compile(r"pass(word|wd)?|secret|token|credential|api_?key|private", re.I)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s]+)(?=@)", re.I)
_PLAIN = (int, float, type(None))
"""Values that hold no text (checked before the costlier Mapping check; bool is an int)."""
_known: dict[int, set[str]] = {}
"""Registered secrets by length: a text is checked with one set lookup per window, so the
cost of a log line does not grow with the number of passwords a worker has handled."""
_lock = threading.Lock()


_shortest = sys.maxsize
"""The length of the shortest registered secret: a shorter text holds none."""


def register_secret(value: str) -> None:
    """Mask ``value`` wherever it appears in later log lines and audit details."""
    global _shortest  # noqa: PLW0603 - process-wide, like the secrets themselves
    if len(value) >= 6:
        with _lock:
            _known.setdefault(len(value), set()).add(value)
            _shortest = min(_shortest, len(value))


def redact_text(text: str) -> str:
    """``text`` with URL passwords and every registered secret masked."""
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED, text)
    if len(text) < _shortest:
        return text
    with _lock:
        known = tuple(_known.items())
    found = {
        text[i : i + size]
        for size, secrets in known
        if size <= len(text)
        for i in range(len(text) - size + 1)
        if text[i : i + size] in secrets
    }
    for secret in sorted(found, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def storable(text: str) -> str:
    """``text`` with lone surrogates and NUL escaped: valid UTF-8 that any database stores."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def redact(value: Any) -> Any:
    """A deep copy of ``value`` with sensitive keys and secret-bearing strings masked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and _sensitive(k) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


@lru_cache(maxsize=4096)
def _sensitive(key: str) -> bool:
    """Whether a value under ``key`` is masked whatever it holds (keys repeat: cached)."""
    return _SENSITIVE_KEY.search(key) is not None
