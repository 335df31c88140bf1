"""Reaching a provisioned plugin from a test: its driver, stored credentials, a query."""

from __future__ import annotations

from contextlib import closing
from typing import Any

from providers.base import Login, Provider
from providers.targets import Targets
from tests.support.stack import Stack
from worker.credentials import Credentials
from worker.lifecycle.context import spec_for
from worker.manifest import parse_manifest
from worker.secrets import SecretBox, load
from worker.settings import Settings


def provider_for(stack: Stack, plugin_id: str) -> tuple[Provider, Any]:
    """The case's provider, built in the test process from the worker's settings."""
    settings = Settings.from_env(stack.env)
    ds = stack.datasource(plugin_id)
    assert ds is not None
    provider = Targets.from_settings(settings).provider(ds.target or ds.provider)
    return provider, spec_for(parse_manifest(ds.manifest))


def secret_payload(stack: Stack, plugin_id: str) -> dict[str, Any] | None:
    box = SecretBox.from_settings(Settings.from_env(stack.env))
    ds = stack.datasource(plugin_id)
    with stack.sessions() as session:
        return load(session, box, ds.secrets_ref if ds else None)


def login_for(stack: Stack, provider: Provider, spec: Any, plugin_id: str) -> Login | None:
    return provider.login_for(spec, Credentials.from_payload(secret_payload(stack, plugin_id)))


def query(provider: Provider, spec: Any, login: Login | None, sql: str) -> list[tuple[Any, ...]]:
    with closing(provider.connect(spec, login)) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall()) if cursor.description else []
