"""The light head constant follows the Alembic chain."""

from __future__ import annotations

from worker.tracking.db import head_revision
from worker.tracking_head import HEAD


def test_the_head_constant_is_alembics_head() -> None:
    """``worker.tracking_head.HEAD`` names the newest revision of the Alembic scripts."""
    assert head_revision() == HEAD
