"""structlog configuration (once per process) and the redaction processor."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from worker.redaction import REDACTED, redact, redact_text, register_secret, storable

__all__ = ["REDACTED", "configure", "get_logger", "redact", "redact_text", "register_secret"]
__all__ += ["redaction_processor", "storable"]


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
