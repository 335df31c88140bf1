"""structlog configuration (once per process) and the redaction processor.

Loggers are made on first use: a call below the configured level is dropped without
importing structlog, so a short command that logs nothing (an enqueue on the command line)
does not pay for it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

from worker.redaction import REDACTED, redact, redact_text, register_secret, storable

__all__ = ["REDACTED", "configure", "get_logger", "redact", "redact_text", "register_secret"]
__all__ += ["redaction_processor", "storable"]

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
LEVELS |= {"warn": logging.WARNING, "error": logging.ERROR, "exception": logging.ERROR}
LEVELS |= {"critical": logging.CRITICAL, "fatal": logging.CRITICAL}
"""A logger's method -> its level (other methods, ``bind`` included, are never dropped)."""


def redaction_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: no password leaves the process through a log line."""
    return redact(event_dict)  # type: ignore[no-any-return]


_configured = False
_floor = logging.NOTSET
"""Calls below this level are dropped before structlog is imported (set by ``configure``)."""
_deferred: dict[str, Any] | None = None
"""``configure(lazy=True)``'s settings, applied by the first call that is not dropped."""


def configure(*, json: bool = True, level: int = logging.INFO, lazy: bool = False) -> None:
    """Configure structlog and stdlib logging once: JSON lines for workers, console for the CLI.

    ``lazy``: structlog is imported and configured by the first call at ``level`` or above.
    """
    global _configured, _floor, _deferred  # noqa: PLW0603 - process-wide, configured once
    if _configured:
        return
    _configured, _floor = True, level
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    if lazy:
        _deferred = {"json": json, "level": level}
    else:
        _configure_structlog(json, level)


def _configure_structlog(json: bool, level: int) -> None:
    import structlog

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


def _structlog_logger(name: str) -> Any:
    """structlog's logger for ``name`` (configuring structlog first if that was deferred)."""
    global _deferred
    import structlog

    if _deferred is not None:
        wanted, _deferred = _deferred, None
        _configure_structlog(**wanted)
    return structlog.get_logger(component=name)


def _dropped(*_args: Any, **_kwargs: Any) -> None:
    """A log call below the configured level."""


class _Logger:
    """A structlog logger bound to a component name, made on the first call it lets through."""

    __slots__ = ("_name", "_real")

    def __init__(self, name: str) -> None:
        self._name = name
        self._real: Any = None

    def __getattr__(self, method: str) -> Any:
        if LEVELS.get(method, logging.CRITICAL) < _floor:
            return _dropped
        if self._real is None:
            self._real = _structlog_logger(self._name)
        return getattr(self._real, method)


def get_logger(name: str) -> Any:
    """A structlog logger bound to a component name."""
    return _Logger(name)
