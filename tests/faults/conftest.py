"""The fault tests' fixtures live in tests/support/leak_stacks.py (shared with hostile tests)."""

from __future__ import annotations

from tests.support.leak_stacks import MakeStack

__all__ = ["MakeStack"]
