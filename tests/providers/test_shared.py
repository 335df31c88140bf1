"""SharedProvider on all three backends: a SQLite file, the PG and the MariaDB ``shared`` DBs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from providers.base import PluginSpec, StorageState
from providers.registry import get_provider_class
from providers.shared import ARCHIVE_PREFIX, SharedProvider, SharedSQLite
from tests.support.services import service_url
from worker.errors import MigrationFileError, ProviderError
from worker.settings import Settings
from worker.sqlguard import check_statements

CORE = "sht_core_layers"  # stands in for a platform table the plugins reference


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def provider(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SharedProvider]:
    urls = {
        "sqlite": lambda: f"sqlite:///{tmp_path / 'shared.db'}",
        "postgres": lambda: service_url("PG_SHARED_URL"),
        "mysql": lambda: service_url("MYSQL_SHARED_URL"),
    }
    settings = Settings(data_dir=tmp_path).with_overrides(shared_url=urls[request.param]())
    shared = get_provider_class("shared").from_settings(settings)
    assert isinstance(shared, SharedProvider)
    run(shared, f"DROP TABLE IF EXISTS {CORE}")
    run(shared, f"CREATE TABLE {CORE} (id VARCHAR(64) PRIMARY KEY)")
    yield shared
    run(shared, f"DROP TABLE IF EXISTS {CORE}")


@pytest.fixture
def plugin(provider: SharedProvider) -> Iterator[Callable[..., PluginSpec]]:
    """Factory of plugin specs that are purged before and after the test."""
    made: list[PluginSpec] = []

    def make(plugin_id: str, **kwargs: Any) -> PluginSpec:
        spec = PluginSpec(plugin_id, **kwargs)
        provider.purge(spec)
        made.append(spec)
        return spec

    yield make
    for spec in reversed(made):
        provider.purge(spec)


def run(provider: SharedProvider, sql: str, *params: object) -> list[Any]:
    """Execute on a fresh connection from ``provider.connect``; rows if any."""
    conn = provider.connect(PluginSpec("sht-any"), None)
    try:
        cur = conn.cursor()
        placeholder = "?" if provider.paramstyle == "qmark" else "%s"
        cur.execute(sql.replace("?", placeholder), params)
        return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


def tables(provider: SharedProvider, prefix: str) -> set[str]:
    conn = provider.connect(PluginSpec("sht-any"), None)
    try:
        return {n for n in provider._objects(conn.cursor()) if n.startswith(prefix)}
    finally:
        conn.close()


def make_tables(provider: SharedProvider, ns: str) -> None:
    """A few plugin tables with an FK to the core table, one name near the identifier limit."""
    run(
        provider,
        f"CREATE TABLE {ns}_data (id VARCHAR(64) PRIMARY KEY,"
        f" layer_id VARCHAR(64) REFERENCES {CORE}(id) ON DELETE CASCADE, note VARCHAR(20))",
    )
    run(provider, f"CREATE INDEX idx_{ns}_data_layer ON {ns}_data (layer_id)")
    run(provider, f"CREATE TABLE {ns}_{'x' * (60 - len(ns))} (id INTEGER)")
    run(provider, f"INSERT INTO {ns}_data (id, note) VALUES ('r1', 'kept')")
    run(
        provider,
        f"CREATE TABLE {ns}_zchild (id INTEGER PRIMARY KEY, data_id VARCHAR(64),"
        f" FOREIGN KEY (data_id) REFERENCES {ns}_data(id))",
    )
    run(provider, f"INSERT INTO {ns}_zchild (id, data_id) VALUES (1, 'r1')")


def test_defaults_to_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    shared = SharedProvider.from_settings(Settings(data_dir=tmp_path))
    assert isinstance(shared, SharedSQLite)
    shared.provision(PluginSpec("sht-default"), None)
    assert (tmp_path / "shared.db").exists()


def test_contract_attributes(provider: SharedProvider) -> None:
    spec = PluginSpec("sht-attr")
    assert provider.name == "shared"
    assert provider.dialect in {"sqlite", "postgres", "mysql"}
    assert not provider.issues_credentials
    assert provider.history_table_name(spec) == "sht_attr_plugin_db_history"
    assert provider.namespace(spec).table_prefix == "sht_attr_"
    assert provider.namespace(spec).containers == frozenset()
    with pytest.raises(NotImplementedError, match="no per-plugin credentials"):
        provider.rotate(spec, "b", "pw")
    assert "admin-pw" not in provider.describe(spec).url


def test_provision_is_idempotent(
    provider: SharedProvider, plugin: Callable[..., PluginSpec]
) -> None:
    spec, custom = plugin("sht-idem"), plugin("sht-flag", feature_flag="ff-custom-sht-flag")
    assert provider.state(spec) is StorageState.ABSENT
    for _ in range(2):
        provider.provision(spec, None)
        provider.provision(custom, None)
    assert provider.state(spec) is StorageState.ACTIVE
    rows = run(
        provider, "SELECT prefix, state FROM plugin_namespaces WHERE plugin_id = ?", "sht-idem"
    )
    assert rows == [("sht_idem_", "active")]
    flags = run(
        provider,
        "SELECT id, enabled_by_default, category FROM feature_flags WHERE id IN (?, ?)",
        "ff-plugin-sht-idem-enabled",
        "ff-custom-sht-flag",
    )
    assert sorted((i, bool(e), c) for i, e, c in flags) == [
        ("ff-custom-sht-flag", False, "plugin"),
        ("ff-plugin-sht-idem-enabled", False, "plugin"),
    ]


def test_connect_is_autocommit_with_the_declared_paramstyle(
    provider: SharedProvider, plugin: Callable[..., PluginSpec]
) -> None:
    spec = plugin("sht-conn")
    provider.provision(spec, None)
    make_tables(provider, "sht_conn")
    conn = provider.connect(spec, None)
    try:
        cur = conn.cursor()
        mark = "?" if provider.paramstyle == "qmark" else "%s"
        cur.execute(f"INSERT INTO sht_conn_data (id) VALUES ({mark})", ("r2",))
    finally:
        conn.close()
    assert run(provider, "SELECT COUNT(*) FROM sht_conn_data")[0][0] == 2
    health = provider.health(spec, None)
    assert health.ok
    assert health.details["objects"] == 3


def test_archive_and_restore_are_exact(
    provider: SharedProvider, plugin: Callable[..., PluginSpec]
) -> None:
    spec = plugin("sht-arch")
    provider.provision(spec, None)
    make_tables(provider, "sht_arch")
    run(provider, "CREATE VIEW sht_arch_v AS SELECT id FROM sht_arch_data")
    before = tables(provider, "sht_arch_")
    assert len(before) == 4
    provider.archive(spec)
    provider.archive(spec)
    assert provider.state(spec) is StorageState.ARCHIVED
    kept_views = {"sht_arch_v"} if provider.dialect == "sqlite" else set()  # cannot be renamed
    assert tables(provider, "sht_arch_") == kept_views
    archived = tables(provider, f"{ARCHIVE_PREFIX}sht_arch_")
    assert len(archived) == 4 - len(kept_views)
    assert not provider.health(spec, None).ok
    provider.restore(spec)
    provider.restore(spec)
    assert provider.state(spec) is StorageState.ACTIVE
    assert tables(provider, "sht_arch_") == before
    assert tables(provider, f"{ARCHIVE_PREFIX}sht_arch_") == set()
    assert run(provider, "SELECT note FROM sht_arch_data WHERE id = 'r1'") == [("kept",)]
    assert run(provider, "SELECT COUNT(*) FROM sht_arch_v")[0][0] == 1


def test_prefix_overlap_resolves_to_the_longest_prefix(
    provider: SharedProvider, plugin: Callable[..., PluginSpec]
) -> None:
    short, long_ = plugin("sht-ab"), plugin("sht-ab-c")
    provider.provision(short, None)
    provider.provision(long_, None)
    run(provider, "CREATE TABLE sht_ab_data (id INTEGER)")
    run(provider, "CREATE TABLE sht_ab_c_data (id INTEGER)")
    run(provider, "INSERT INTO sht_ab_c_data (id) VALUES (7)")

    owner_of = provider.ownership()
    assert owner_of("sht_ab_c_data") == "sht-ab-c"
    assert owner_of("sht_ab_data") == "sht-ab"
    ns = provider.namespace(short)
    stmt = "INSERT INTO sht_ab_c_data (id) VALUES (1)"
    with pytest.raises(MigrationFileError, match="sht-ab-c"):
        check_statements([stmt], provider.dialect, ns, force=False, owner_of=owner_of)

    provider.archive(short)
    assert tables(provider, "sht_ab_") == {"sht_ab_c_data"}
    provider.restore(short)
    provider.purge(short)
    assert tables(provider, "sht_ab_") == {"sht_ab_c_data"}
    assert provider.state(long_) is StorageState.ACTIVE
    assert run(provider, "SELECT id FROM sht_ab_c_data") == [(7,)]
    flag = run(
        provider, "SELECT COUNT(*) FROM feature_flags WHERE id = 'ff-plugin-sht-ab-c-enabled'"
    )
    assert flag[0][0] == 1


def test_purge_drops_exactly_the_plugins_objects(
    provider: SharedProvider, plugin: Callable[..., PluginSpec]
) -> None:
    live, archived = plugin("sht-purge"), plugin("sht-gone")
    for spec in (live, archived):
        provider.provision(spec, None)
        make_tables(provider, spec.namespace)
    run(provider, f"INSERT INTO {CORE} (id) VALUES ('l1')")
    provider.archive(archived)
    for spec in (live, archived):
        provider.purge(spec)
        provider.purge(spec)
        assert provider.state(spec) is StorageState.ABSENT
    assert tables(provider, "sht_purge_") == set()
    assert tables(provider, f"{ARCHIVE_PREFIX}sht_") == set()
    assert run(provider, f"SELECT id FROM {CORE}") == [("l1",)]
    leftovers = run(
        provider,
        "SELECT COUNT(*) FROM feature_flags WHERE id IN (?, ?)",
        "ff-plugin-sht-purge-enabled",
        "ff-plugin-sht-gone-enabled",
    )
    assert leftovers[0][0] == 0
    rows = run(provider, "SELECT COUNT(*) FROM plugin_archived_tables WHERE plugin_id = 'sht-gone'")
    assert rows[0][0] == 0


@pytest.mark.parametrize("plugin_id", ["plugin", "feature"])
def test_ids_that_would_own_platform_tables_are_refused(
    provider: SharedProvider, plugin_id: str
) -> None:
    with pytest.raises(ProviderError, match="platform tables"):
        provider.provision(PluginSpec(plugin_id), None)
