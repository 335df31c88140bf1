"""Driver conformance: every registered driver keeps the provider contract.

Parametrized over each driver, built from a target as the worker builds it: the in-memory
stub, SQLite files, shared mode on SQLite, PostgreSQL and MariaDB servers (and the example
third-party driver, installed by the bootstrap). A third-party author runs this module
against a new driver by adding one target to ``TARGETS``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import psycopg
import pymysql
import pytest
import sqlalchemy as sa

from providers.base import PluginSpec, Provider, StorageState
from providers.errormap import PSYCOPG_RULES, PYMYSQL_RULES, ErrorMap
from providers.registry import available
from providers.targets import Target, Targets
from tests.support.services import service_url
from worker.credentials import Credentials
from worker.errors import LockTimeout, ProviderError, ProviderUnavailable
from worker.settings import Settings

TARGETS: dict[str, Callable[[Path], Target]] = {
    "memory": lambda tmp: Target("mem", "memory"),
    "sqlite": lambda tmp: Target("files", "sqlite", str(tmp)),
    "shared": lambda tmp: Target("shared", "shared", f"sqlite:///{tmp / 'shared.db'}"),
    "example-sqlite": lambda tmp: Target("example", "example-sqlite", str(tmp / "example")),
    "postgresql": lambda tmp: Target("pg", "postgresql", service_url("PG_ADMIN_URL")),
    "mysql": lambda tmp: Target("maria", "mysql", service_url("MYSQL_ADMIN_URL")),
}
MARKS = {"postgresql": [pytest.mark.postgres], "mysql": [pytest.mark.mysql]}


@pytest.fixture(params=[pytest.param(n, marks=MARKS.get(n, [])) for n in TARGETS])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Provider]:
    """The driver of one target, built through the registry and the targets catalog."""
    name = request.param
    if name not in available():
        pytest.fail(f"driver {name!r} is not registered; run scripts/bootstrap.sh")
    target = TARGETS[name](tmp_path)
    provider = Targets({target.name: target}, Settings(data_dir=tmp_path)).provider(target.name)
    yield provider
    provider.close()


@pytest.fixture
def spec(driver: Provider) -> Iterator[PluginSpec]:
    """A fresh plugin, purged afterwards."""
    found = PluginSpec(plugin_id=f"ct-{uuid.uuid4().hex[:8]}")
    yield found
    driver.purge(found)


def _provisioned(driver: Provider, spec: PluginSpec) -> Credentials | None:
    password = f"pw-{uuid.uuid4().hex}" if driver.issues_credentials else None
    driver.provision(spec, password)
    driver.provision(spec, password)  # idempotent: a retry after a crash converges
    return Credentials({"a": password}) if password else None


def test_a_driver_declares_its_modes_and_capabilities(driver: Provider) -> None:
    assert driver.modes, "a driver serves at least one mode"
    assert driver.dialect and isinstance(driver.transactional_ddl, bool)


def test_rotation_issues_the_other_slot_where_supported(driver: Provider, spec: PluginSpec) -> None:
    creds = _provisioned(driver, spec)
    if not driver.supports_rotation or creds is None:
        pytest.skip(f"{driver.name}: {driver.unsupported.get('rotate', 'no rotation')}")
    creds.issue("b", f"pw-{uuid.uuid4().hex}")
    creds.switch_to("b")
    driver.rotate(spec, "b", creds.password)
    login = driver.login_for(spec, creds)
    assert login is not None and login.username == driver.describe(spec, "b").username
    with closing(driver.connect(spec, login)):
        pass


def test_the_lifecycle_of_storage_is_idempotent(driver: Provider, spec: PluginSpec) -> None:
    assert driver.state(spec) is StorageState.ABSENT
    creds = _provisioned(driver, spec)
    assert driver.state(spec) is StorageState.ACTIVE
    descriptor = driver.describe(spec)
    assert descriptor.provider == driver.name
    if creds is not None:
        assert creds.password not in str(descriptor.to_json())
    for _ in range(2):
        driver.archive(spec)
        assert driver.state(spec) is StorageState.ARCHIVED
    for _ in range(2):
        driver.restore(spec)
        assert driver.state(spec) is StorageState.ACTIVE
    for _ in range(2):
        driver.purge(spec)
        assert driver.state(spec) is StorageState.ABSENT


def test_the_plugin_connects_as_itself_and_keeps_its_data(
    driver: Provider, spec: PluginSpec
) -> None:
    login = driver.login_for(spec, _provisioned(driver, spec))
    assert (login is None) == (not driver.issues_credentials)
    table = f"{driver.namespace(spec).table_prefix or ''}items"
    with closing(driver.connect(spec, login)) as conn:
        cursor = conn.cursor()
        cursor.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
        cursor.execute(f"INSERT INTO {table} (id) VALUES (7)")
    engine = driver.plugin_engine(spec, login)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT id FROM {table}")).scalar() == 7
    finally:
        engine.dispose()


def test_the_migration_lock_excludes_a_second_holder(driver: Provider, spec: PluginSpec) -> None:
    if type(driver).migration_lock is Provider.migration_lock:
        pytest.skip(f"{driver.name} serializes writers itself (no migration lock)")
    login = driver.login_for(spec, _provisioned(driver, spec))
    with (
        closing(driver.connect(spec, login)) as first,
        closing(driver.connect(spec, login)) as second,
    ):
        with (
            driver.migration_lock(spec, first, 1.0),
            pytest.raises(LockTimeout),
            driver.migration_lock(spec, second, 0.2),
        ):
            pass
        with driver.migration_lock(spec, second, 1.0):
            pass


def test_the_scratch_database_is_usable_and_removed(driver: Provider) -> None:
    try:
        scratch = driver.scratch_database()
        engine, schema, container = scratch.__enter__()
    except ProviderError:
        pytest.skip(f"{driver.name} offers no scratch database")
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE scratch_probe (id INTEGER PRIMARY KEY)"))
        assert "scratch_probe" in sa.inspect(engine).get_table_names(schema=schema)
        assert container
    finally:
        scratch.__exit__(None, None, None)


def test_the_admin_engine_reaches_the_server_where_there_is_one(driver: Provider) -> None:
    try:
        engine = driver.admin_engine()
    except ProviderError:
        pytest.skip(f"{driver.name} has no admin connection")
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_untracked_storage_is_an_orphan_and_tracked_storage_is_not(
    driver: Provider, spec: PluginSpec
) -> None:
    _provisioned(driver, spec)
    tracked = driver.find_orphans([spec])
    untracked = driver.find_orphans([])
    assert all(spec.plugin_id not in o.what for o in tracked)
    assert len(untracked) >= len(tracked)
    assert all(o.remedy for o in untracked)


def test_each_client_library_error_is_mapped_once_and_masks_secrets() -> None:
    pg = ErrorMap(PSYCOPG_RULES)
    refused = psycopg.OperationalError("connection refused, password s3cret")
    mapped = pg.translate(refused, "connect", "s3cret")
    assert isinstance(mapped, ProviderUnavailable) and "s3cret" not in str(mapped)
    auth = psycopg.OperationalError('password authentication failed for user "x"')
    assert type(pg.translate(auth, "connect")) is ProviderError
    my = ErrorMap(PYMYSQL_RULES)
    assert isinstance(
        my.translate(pymysql.err.OperationalError(2003, "down"), ""), ProviderUnavailable
    )
    assert type(my.translate(pymysql.err.OperationalError(1045, "denied"), "")) is ProviderError
    with pytest.raises(ProviderUnavailable), my.translated("x"):
        raise pymysql.err.OperationalError(2013, "lost")


@pytest.mark.postgres
def test_an_unreachable_server_is_unavailable_not_refused(tmp_path: Path) -> None:
    target = Target("gone", "postgresql", "postgresql://u:pw@127.0.0.1:1/plugins")
    provider = Targets({"gone": target}, Settings(data_dir=tmp_path)).provider("gone")
    with pytest.raises(ProviderUnavailable):
        provider.state(PluginSpec(plugin_id="ct-gone"))
