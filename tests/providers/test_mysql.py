"""MySQLProvider against both test MariaDB servers (scripts/services.sh): tuned for tests, and
as a default install leaves it (anonymous accounts, name resolution on)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import pytest
from sqlalchemy.engine import make_url

from providers.base import Login, PluginSpec, StorageState
from providers.mysql import MySQLProvider, quote_ident
from tests.support.services import service_url
from worker.errors import ProviderError, ProviderUnavailable
from worker.settings import Settings

pytestmark = pytest.mark.mysql

ACCESS_DENIED = 1045
DB_DENIED = 1044
TABLE_DENIED = 1142
TOO_MANY_USER_CONNECTIONS = 1226


SERVERS = {"tuned": "MYSQL_ADMIN_URL", "default": "MYSQL_DEFAULT_ADMIN_URL"}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request: pytest.FixtureRequest) -> str:
    """The admin URL of each MariaDB server in turn."""
    return service_url(SERVERS[request.param])


@pytest.fixture(scope="module")
def provider(server: str) -> MySQLProvider:
    settings = Settings().with_overrides(mysql_admin_url=server)
    return MySQLProvider.from_settings(settings)


@pytest.fixture
def admin(server: str) -> Iterator[Any]:
    url = make_url(server)
    conn = pymysql.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, autocommit=True
    )
    with conn.cursor() as cur:
        yield cur
    conn.close()


@pytest.fixture
def plugin(provider: MySQLProvider) -> Iterator[Callable[..., PluginSpec]]:
    """Factory of plugin specs that are purged after the test."""
    made: list[PluginSpec] = []

    def make(plugin_id: str, **kwargs: Any) -> PluginSpec:
        spec = PluginSpec(plugin_id, **kwargs)
        provider.purge(spec)
        made.append(spec)
        return spec

    yield make
    for spec in made:
        provider.purge(spec)


def login(provider: MySQLProvider, spec: PluginSpec, slot: str, password: str) -> Login:
    return Login(provider.user(spec, slot), password)


def code_of(exc: BaseException) -> int:
    """The MySQL error code behind a translated provider error or a raw PyMySQL error."""
    cause = exc.__cause__ if isinstance(exc, ProviderError | ProviderUnavailable) else exc
    assert isinstance(cause, pymysql.err.MySQLError)
    return int(cause.args[0])


def scalar(conn: Any, sql: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_missing_admin_url_is_a_clear_error() -> None:
    with pytest.raises(ProviderError, match="PLUGIN_DB_MYSQL_ADMIN_URL"):
        MySQLProvider.from_settings(Settings())


def test_quote_ident_refuses_unsafe_names() -> None:
    assert quote_ident("plugin_ab_1") == "`plugin_ab_1`"
    for bad in ("a`b", "A", "a-b", "", "a b", "x;drop"):
        with pytest.raises(ProviderError):
            quote_ident(bad)


def test_provision_is_idempotent(
    provider: MySQLProvider, plugin: Callable[..., PluginSpec]
) -> None:
    spec = plugin("myt-idem", connections=5)
    assert provider.state(spec) is StorageState.ABSENT
    first = provider.provision(spec, "pw-1")
    assert provider.provision(spec, "pw-1") == first
    assert provider.state(spec) is StorageState.ACTIVE
    assert first.url == f"mysql://myt_idem_a@{provider.host}:{provider.port}/plugin_myt_idem"
    assert "pw-1" not in str(first.to_json())
    assert dict(first.objects) == {
        "database": "plugin_myt_idem",
        "login_a": "myt_idem_a",
        "login_b": "myt_idem_b",
    }
    assert provider.namespace(spec).containers == frozenset({"plugin_myt_idem"})
    with provider.connect(spec, login(provider, spec, "a", "pw-1")) as conn:
        assert scalar(conn, "SELECT DATABASE()") == "plugin_myt_idem"
        assert conn.get_autocommit()
    health = provider.health(spec, login(provider, spec, "a", "pw-1"))
    assert health.ok
    assert health.connection_limit == 5


def test_plugin_is_isolated(provider: MySQLProvider, plugin: Callable[..., PluginSpec]) -> None:
    a, b = plugin("myt-iso-a"), plugin("myt-iso-b")
    provider.provision(a, "pw-a")
    provider.provision(b, "pw-b")
    with provider.connect(b, login(provider, b, "a", "pw-b")) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE secrets (v TEXT)")
    with provider.connect(a, login(provider, a, "a", "pw-a")) as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        visible = {row[0] for row in cur.fetchall()}
        assert "plugin_myt_iso_a" in visible
        assert not visible & {"plugin_myt_iso_b", "shared", "mysql"}
        for sql, codes in (
            ("SELECT * FROM plugin_myt_iso_b.secrets", {TABLE_DENIED, DB_DENIED}),
            ("USE plugin_myt_iso_b", {DB_DENIED}),
            ("SELECT * FROM mysql.user", {TABLE_DENIED}),
            ("SELECT * FROM mysql.global_priv", {TABLE_DENIED}),
            ("CREATE DATABASE myt_iso_evil", {DB_DENIED}),
        ):
            with pytest.raises(pymysql.err.MySQLError) as info:
                cur.execute(sql)
            assert code_of(info.value) in codes, sql


def test_connection_limit_holds(provider: MySQLProvider, plugin: Callable[..., PluginSpec]) -> None:
    spec = plugin("myt-limit", connections=2)
    provider.provision(spec, "pw")
    creds = login(provider, spec, "a", "pw")
    first, second = provider.connect(spec, creds), provider.connect(spec, creds)
    try:
        with pytest.raises(ProviderError) as info:
            provider.connect(spec, creds)
        assert code_of(info.value) == TOO_MANY_USER_CONNECTIONS
    finally:
        first.close()
        second.close()


def test_rotation_keeps_the_previous_password(
    provider: MySQLProvider, plugin: Callable[..., PluginSpec]
) -> None:
    spec = plugin("myt-rot")
    provider.provision(spec, "pw-1")
    with pytest.raises(ProviderError):  # slot b is locked and has no password before rotation
        provider.connect(spec, login(provider, spec, "b", ""))
    held = provider.connect(spec, login(provider, spec, "a", "pw-1"))
    assert provider.rotate(spec, "b", "pw-2").username == "myt_rot_b"
    provider.connect(spec, login(provider, spec, "b", "pw-2")).close()
    provider.connect(spec, login(provider, spec, "a", "pw-1")).close()
    provider.rotate(spec, "a", "pw-3")
    provider.connect(spec, login(provider, spec, "a", "pw-3")).close()
    provider.connect(spec, login(provider, spec, "b", "pw-2")).close()
    with pytest.raises(ProviderError) as info:
        provider.connect(spec, login(provider, spec, "a", "pw-1"))
    assert code_of(info.value) == ACCESS_DENIED
    assert "pw-1" not in str(info.value)
    assert scalar(held, "SELECT 1") == 1, "an open session survives rotation"
    held.close()


def test_rotation_of_a_missing_plugin_fails_without_leaking(
    provider: MySQLProvider, plugin: Callable[..., PluginSpec]
) -> None:
    spec = plugin("myt-missing")
    with pytest.raises(ProviderError) as info:
        provider.rotate(spec, "b", "S3cret-never-shown")
    assert "S3cret-never-shown" not in str(info.value)


def test_archive_restore_purge(
    provider: MySQLProvider, plugin: Callable[..., PluginSpec], admin: Any
) -> None:
    spec = plugin("myt-life")
    provider.provision(spec, "pw")
    creds = login(provider, spec, "a", "pw")
    session = provider.connect(spec, creds)
    with session.cursor() as cur:
        cur.execute("CREATE TABLE notes (v VARCHAR(10))")
        cur.execute("INSERT INTO notes VALUES ('kept')")
    provider.archive(spec)
    provider.archive(spec)
    assert provider.state(spec) is StorageState.ARCHIVED
    with pytest.raises(ProviderError):
        provider.connect(spec, creds)
    with pytest.raises(pymysql.err.OperationalError):
        scalar(session, "SELECT 1")  # its session was ended
    admin.execute("SELECT v FROM plugin_myt_life.notes")
    assert admin.fetchall() == (("kept",),)
    assert not provider.health(spec, creds).ok

    provider.restore(spec)
    provider.restore(spec)
    assert provider.state(spec) is StorageState.ACTIVE
    with provider.connect(spec, creds) as conn:
        assert scalar(conn, "SELECT v FROM notes") == "kept"
    admin.execute(
        "SELECT JSON_VALUE(Priv, '$.account_locked') FROM mysql.global_priv WHERE User = %s",
        (provider.user(spec, "b"),),
    )
    assert admin.fetchone()[0] in ("1", "true"), "slot b stays locked until its first rotation"

    provider.purge(spec)
    provider.purge(spec)
    assert provider.state(spec) is StorageState.ABSENT
    admin.execute(
        "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
        ("plugin_myt_life",),
    )
    assert admin.fetchone()[0] == 0
    admin.execute("SELECT COUNT(*) FROM mysql.user WHERE User LIKE %s", ("myt\\_life\\_%",))
    assert admin.fetchone()[0] == 0


def test_long_plugin_id_gets_bounded_names(
    provider: MySQLProvider, plugin: Callable[..., PluginSpec]
) -> None:
    spec = plugin("myt-" + "x" * 30 + "-long1")
    assert len(spec.plugin_id) == 40
    user_a, user_b = provider.user(spec, "a"), provider.user(spec, "b")
    assert len(user_a) <= 32
    assert len(user_b) <= 32
    assert user_a != user_b
    assert user_a == provider.user(spec, "a"), "bounded names are stable"
    assert len(provider.database(spec)) <= 64
    provider.provision(spec, "pw")
    with provider.connect(spec, Login(user_a, "pw")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()").rpartition("@")[0] == user_a


def test_unreachable_server_is_transient() -> None:
    down = MySQLProvider("mysql://admin:pw@127.0.0.1:1/")
    with pytest.raises(ProviderUnavailable) as info:
        down.state(PluginSpec("myt-down"))
    assert "admin:pw" not in str(info.value)


def test_default_install_shadows_plain_logins_and_plugin_logins_still_work(
    provider: MySQLProvider, plugin: Callable[..., PluginSpec], admin: Any
) -> None:
    """Where anonymous accounts exist, 'user'@'%' is refused through 127.0.0.1; plugins are not."""
    admin.execute("SELECT Host FROM mysql.user WHERE User = ''")
    anonymous = sorted(host for (host,) in admin.fetchall())
    admin.execute("DROP USER IF EXISTS 'myt_plain'@'%'")
    admin.execute("CREATE USER 'myt_plain'@'%' IDENTIFIED BY 'pw-plain'")
    try:
        plain = MySQLProvider(f"mysql://myt_plain:pw-plain@{provider.host}:{provider.port}/")
        if "localhost" in anonymous:
            with pytest.raises(ProviderError, match="Access denied"):
                plain.state(PluginSpec("myt-none"))
        else:
            assert plain.state(PluginSpec("myt-none")) is StorageState.ABSENT
    finally:
        admin.execute("DROP USER 'myt_plain'@'%'")
    spec = plugin("myt-anon")
    provider.provision(spec, "pw-anon")
    admin.execute(
        "SELECT User, Host FROM mysql.user WHERE User LIKE %s ORDER BY User, Host", ("myt\\_anon%",)
    )
    hosts = ["%", *(h for h in anonymous if h != "%")]
    assert sorted(admin.fetchall()) == sorted(
        (user, host) for user in ("myt_anon_a", "myt_anon_b") for host in hosts
    )
    with provider.connect(spec, login(provider, spec, "a", "pw-anon")) as conn:
        assert scalar(conn, "SELECT USER()").startswith("myt_anon_a@")
    provider.rotate(spec, "b", "pw-b")
    provider.connect(spec, login(provider, spec, "b", "pw-b")).close()
    provider.archive(spec)
    with pytest.raises(ProviderError):
        provider.connect(spec, login(provider, spec, "b", "pw-b"))
    provider.restore(spec)
    provider.connect(spec, login(provider, spec, "b", "pw-b")).close()
    provider.purge(spec)
    admin.execute("SELECT COUNT(*) FROM mysql.user WHERE User LIKE %s", ("myt\\_anon%",))
    assert admin.fetchone()[0] == 0


class _PercentOnly(MySQLProvider):
    """The provider without the host rule: every login as 'user'@'%' only."""

    @staticmethod
    def hosts(cur: Any) -> list[str]:
        return ["%"]


def test_provision_ends_with_a_login_proof() -> None:
    """On a default install, a '%'-only login cannot log in: provisioning says so, never ready."""
    spec, provider = PluginSpec("myt-proof"), _PercentOnly(service_url("MYSQL_DEFAULT_ADMIN_URL"))
    provider.purge(spec)
    try:
        with pytest.raises(ProviderError, match=r"DROP USER ''@'localhost'") as info:
            provider.provision(spec, "pw-proof-secret")
        assert "could not log in" in str(info.value)
        assert "pw-proof-secret" not in str(info.value)
        fixed = MySQLProvider(service_url("MYSQL_DEFAULT_ADMIN_URL"))
        fixed.provision(spec, "pw-proof-secret")  # the host rule repairs it on re-provisioning
        fixed.connect(spec, Login("myt_proof_a", "pw-proof-secret")).close()
    finally:
        provider.purge(spec)


def test_connections_share_one_tls_context(
    provider: MySQLProvider, plugin: Callable[..., PluginSpec]
) -> None:
    """Plugin and admin-engine connections keep PyMySQL's TLS preference but build its
    context once, not per connect."""
    spec = plugin("myt-tls")
    provider.provision(spec, "pw-tls")
    first = provider.connect(spec, login(provider, spec, "a", "pw-tls"))
    second = provider.connect(spec, login(provider, spec, "a", "pw-tls"))
    try:
        assert first.ssl and second.ssl  # TLS preferred, as PyMySQL's default
        assert first.ctx is second.ctx
        with second.cursor() as cur:
            cur.execute("SELECT DATABASE()")
            assert cur.fetchone()[0] == provider.database(spec)
        engine = provider.admin_engine()
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection.ctx is first.ctx  # type: ignore[union-attr]
        engine.dispose()
    finally:
        first.close()
        second.close()
