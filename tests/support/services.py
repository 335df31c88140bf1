"""Connection settings of the test servers started by ``scripts/services.sh``."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pytest

ENV_FILE = Path(os.environ.get("PLUGIN_DB_SERVICES_DIR", "/tmp/plugin-db-services")) / "env"


@cache
def _values() -> dict[str, str]:
    values: dict[str, str] = {}
    if ENV_FILE.exists():
        for line in ENV_FILE.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip()
    values.update({k: v for k, v in os.environ.items() if k.startswith("PLUGIN_DB_TEST_")})
    return values


def service_url(name: str) -> str:
    """The URL named ``PLUGIN_DB_TEST_<name>``; a missing server fails the test, never skips it."""
    key = f"PLUGIN_DB_TEST_{name}"
    value = _values().get(key)
    if not value:
        pytest.fail(f"{key} is not set: start the test servers with scripts/services.sh start")
    return value
