"""The tracking database's Alembic head, for checks that must not load Alembic.

The command line checks a tracking database's revision against it before it records a
request; ``tests/unit/test_tracking_head.py`` keeps it equal to the head of
``worker/alembic/versions``.
"""

from __future__ import annotations

HEAD = "0012"
