"""Paths built from a plugin id stay inside their root, links included."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers.base import PluginSpec
from providers.sqlite import SQLiteProvider
from worker.errors import ManifestError, ProviderError
from worker.lifecycle.manifests import plugin_dir


def spec(plugin_id: str) -> PluginSpec:
    """The spec of ``plugin_id``."""
    return PluginSpec(plugin_id=plugin_id)


def test_plugin_dir_is_the_child_or_a_link_that_stays_inside(tmp_path: Path) -> None:
    """A plain folder is returned as is; a link is followed only while it stays in the root."""
    root = tmp_path.resolve() / "plugins"
    (root / "real").mkdir(parents=True)
    (root / "alias").symlink_to(root / "real")
    (root / "escape").symlink_to(tmp_path)
    assert plugin_dir(root, "plain") == root / "plain"
    assert plugin_dir(root, "alias") == root / "real"
    with pytest.raises(ManifestError, match="outside the plugins root"):
        plugin_dir(root, "escape")


def test_sqlite_file_that_is_a_link_elsewhere_is_refused(tmp_path: Path) -> None:
    """The plugin's file is its plain path, unless it is a link leading out of the folder."""
    provider = SQLiteProvider(tmp_path)
    provider.root.mkdir(parents=True)
    assert provider.path(spec("plain")) == provider.root / "plain.db"
    (provider.root / "linked.db").symlink_to(tmp_path / "elsewhere.db")
    with pytest.raises(ProviderError, match="would leave"):
        provider.path(spec("linked"))
