"""structlog configuration (once per process) and the redaction processor."""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

REDACTED = "***"
_SENSITIVE_KEY = re.compile(r"pass(word|wd)?|secret|token|credential|api_?key|private", re.I)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s]+)(?=@)", re.I)
_known: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Mask ``value`` wherever it appears in later log lines and audit details."""
    if len(value) >= 6:
        with _lock:
            _known.add(value)


def redact_text(text: str) -> str:
    """``text`` with URL passwords and every registered secret masked."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED, text)
    with _lock:
        known = tuple(_known)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def storable(text: str) -> str:
    """``text`` with lone surrogates and NUL escaped: valid UTF-8 that any database stores."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def redact(value: Any) -> Any:
    """A deep copy of ``value`` with sensitive keys and secret-bearing strings masked."""
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and _SENSITIVE_KEY.search(k) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redaction_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: no password leaves the process through a log line."""
    return redact(event_dict)  # type: ignore[no-any-return]


_configured = False


def configure(*, json: bool = True, level: int = logging.INFO) -> None:
    """Configure structlog and stdlib logging once: JSON lines for workers, console for the CLI."""
    global _configured  # noqa: PLW0603 - process-wide, configured exactly once
    if _configured:
        return
    _configured = True
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redaction_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")


def get_logger(name: str) -> Any:
    """A structlog logger bound to a component name."""
    return structlog.get_logger(component=name)
