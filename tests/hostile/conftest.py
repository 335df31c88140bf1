"""Hostile-input tests share the fault tests' private Redis and leak-checking stacks."""

from __future__ import annotations

from tests.faults.conftest import make_stack, private_redis, redis_dbs

__all__ = ["make_stack", "private_redis", "redis_dbs"]
