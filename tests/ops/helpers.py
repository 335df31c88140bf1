"""Plugins, providers and doctor runs for the ops tests."""

from __future__ import annotations

import uuid
from typing import Any

from providers.base import Login, PluginSpec, Provider
from providers.registry import get_provider_class
from tests.support.stack import Stack, migration, write_plugin
from worker.lifecycle.context import spec_for
from worker.manifest import parse_manifest
from worker.naming import namespace
from worker.ops.doctor import Doctor, Report
from worker.ops.findings import Finding
from worker.secrets import SecretBox, load
from worker.settings import Settings

PREFIX = f"o{uuid.uuid4().hex[:5]}"
"""Every plugin id of the ops tests starts with this (and so every object name)."""
MODES = {
    "sq": "exclusive-sqlite",
    "pg": "exclusive-postgres",
    "my": "exclusive-mysql",
    "sh": "shared",
}


def new_id(tag: str) -> str:
    """A fresh plugin id: ``<PREFIX>-<tag>-<hex>``."""
    return f"{PREFIX}-{tag}-{uuid.uuid4().hex[:6]}"


def items_migration(plugin_id: str) -> dict[str, str]:
    """One portable migration creating ``<ns>_items``."""
    ns = namespace(plugin_id)
    return {
        "001-items.sql": migration(
            f"CREATE TABLE {ns}_items (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL);",
            f"DROP TABLE {ns}_items;",
            "001",
        )
    }


def add_plugin(stack: Stack, tag: str, **database: Any) -> str:
    """Write a plugin folder of mode ``MODES[tag]`` with one migration; returns its id."""
    plugin_id = new_id(tag)
    database.setdefault("limits", {"connections": 5, "storageMb": 64})
    write_plugin(stack.plugins_root, plugin_id, MODES[tag], items_migration(plugin_id), **database)
    return plugin_id


def provision(stack: Stack, *tags: str, **database: Any) -> list[str]:
    """Provision one plugin per tag through the worker (in parallel); returns their ids."""
    ids = [add_plugin(stack, tag, **database) for tag in tags]
    requests = [stack.send("plugin_db.provision", {"plugin_id": pid}) for pid in ids]
    for request_id in requests:
        op = stack.wait(request_id)
        assert op.state == "succeeded", op.error
    return ids


def purge(stack: Stack, *plugin_ids: str, snapshot: bool = True) -> None:
    """Purge plugins through the worker (in parallel)."""
    requests = [
        stack.send("plugin_db.teardown", {"plugin_id": pid, "purge": True, "snapshot": snapshot})
        for pid in plugin_ids
    ]
    for request_id in requests:
        op = stack.wait(request_id)
        assert op.state == "succeeded", op.error


def settings_of(stack: Stack) -> Settings:
    """The worker's settings."""
    return Settings.from_env(stack.env)


def provider_for(stack: Stack, plugin_id: str) -> tuple[Provider, PluginSpec]:
    """The plugin's provider and spec, built from the stored manifest."""
    ds = stack.datasource(plugin_id)
    assert ds is not None
    provider = get_provider_class(ds.provider).from_settings(settings_of(stack))
    return provider, spec_for(parse_manifest(ds.manifest))


def login_for(stack: Stack, plugin_id: str) -> Login | None:
    """The plugin's active login, decrypted as the worker would."""
    provider, spec = provider_for(stack, plugin_id)
    ds = stack.datasource(plugin_id)
    with stack.sessions() as session:
        ref = ds.secrets_ref if ds else None
        payload = load(session, SecretBox.from_settings(settings_of(stack)), ref)
    if payload is None:
        return None
    active = payload["active"]
    return Login(provider.describe(spec, active).username or "", payload["slots"][active])


def run_doctor(stack: Stack, plugin_id: str | None = None) -> Report:
    """A doctor run in-process against the stack."""
    return Doctor(settings_of(stack), stack.sessions).run(plugin_id)


def found(report: Report, check: str, plugin_id: str | None = None) -> list[Finding]:
    """Findings of ``check`` (for ``plugin_id`` when given)."""
    return [
        f
        for f in report.findings
        if f.check == check and (plugin_id is None or f.plugin_id == plugin_id)
    ]


def problems_of(report: Report, plugin_id: str) -> list[Finding]:
    """The warnings and errors about one plugin."""
    return [f for f in report.problems if f.plugin_id == plugin_id]
