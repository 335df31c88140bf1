"""PostgresProvider against PostgreSQL 15 and 18, each as superuser and as a managed-like admin.

The managed-like admin is ``CREATEROLE CREATEDB``, no superuser, and does not own ``public``.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from providers.base import Login, PluginSpec, StorageState
from providers.postgres import PgNames, PostgresProvider
from tests.support.services import service_url
from worker.errors import ProviderError, ProviderUnavailable
from worker.settings import Settings

pytestmark = pytest.mark.postgres

ADMINS = {
    "su": "PG_ADMIN_URL",
    "ns": "PG_NONSUPER_ADMIN_URL",
    "s18": "PG18_ADMIN_URL",
    "n18": "PG18_NONSUPER_ADMIN_URL",
}


@dataclass
class Admin:
    """One admin setup: its tag (kept in plugin ids), URL and provider."""

    tag: str
    url: str
    provider: PostgresProvider

    def query(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of ``query`` run as the admin."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(query, params or None)
            return cur.fetchall() if cur.description else []

    def as_superuser(self, query: str) -> None:
        """Run ``query`` in the admin's database as the cluster's superuser (the platform)."""
        superuser = re.search(r"//([^@]*)@", service_url("PG_URL"))
        assert superuser is not None
        url = re.sub(r"//[^@]*@", f"//{superuser.group(1)}@", self.url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(query)


def password() -> str:
    """A fresh random password."""
    return secrets.token_urlsafe(18)


@pytest.fixture(params=sorted(ADMINS))
def admin(request: pytest.FixtureRequest) -> Admin:
    """Each test runs with both admins of both servers."""
    url = service_url(ADMINS[request.param])
    return Admin(request.param, url, PostgresProvider(url))


@pytest.fixture
def make(admin: Admin) -> Iterator[Callable[..., PluginSpec]]:
    """Build ``pgt-<tag>-<name>`` specs, purged before use and after the test."""
    made: list[PluginSpec] = []

    def build(name: str, **fields: Any) -> PluginSpec:
        spec = PluginSpec(f"pgt-{admin.tag}-{name}", **fields)
        admin.provider.purge(spec)
        made.append(spec)
        return spec

    yield build
    for spec in made:
        admin.provider.purge(spec)


def login(
    provider: PostgresProvider, spec: PluginSpec, slot: str, pw: str
) -> psycopg.Connection[Any]:
    """A connection as the plugin's ``slot`` login."""
    return provider.connect(spec, Login(PgNames.of(spec).login(slot), pw))


def plugin_objects(admin: Admin, spec: PluginSpec) -> tuple[list[Any], list[Any]]:
    """Schemas and roles of ``spec`` present in the catalog."""
    n = PgNames.of(spec)
    schemas = admin.query(
        "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", [n.schema, n.archived]
    )
    roles = admin.query(
        "SELECT rolname, rolcanlogin, rolconnlimit, rolconfig FROM pg_roles "
        "WHERE rolname = ANY(%s) ORDER BY rolname",
        list(n.roles),
    )
    return schemas, roles


def test_provision_is_idempotent_and_only_slot_a_logs_in(admin: Admin, make: Any) -> None:
    spec, pw = make("idem", connections=3), password()
    first = admin.provider.provision(spec, pw)
    assert admin.provider.provision(spec, pw) == first
    n = PgNames.of(spec)
    schemas, roles = plugin_objects(admin, spec)
    assert schemas == [(n.schema,)]
    assert [(r[0], r[1], r[2]) for r in roles] == [
        (n.login_a, True, 3),
        (n.login_b, True, 3),
        (n.owner, False, -1),
    ]
    assert set(roles[0][3]) == {f"role={n.owner}", f"search_path={n.schema}"}
    port = admin.provider.port
    assert first.url == f"postgresql://{n.login_a}@127.0.0.1:{port}/{admin.provider.dbname}"
    assert pw not in str(first.to_json())
    assert first.objects["owner_role"] == n.owner
    assert admin.provider.state(spec) is StorageState.ACTIVE
    with login(admin.provider, spec, "a", pw) as conn:
        row = conn.execute("SELECT session_user, current_user, current_schema()").fetchone()
    assert row == (n.login_a, n.owner, n.schema)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(admin.url, user=n.login_b, password=pw)
    with pytest.raises(ProviderError, match="password authentication failed"):
        login(admin.provider, spec, "b", pw)


def test_plugins_are_isolated(admin: Admin, make: Any) -> None:
    a, b, pw = make("iso-a", connections=2), make("iso-b"), password()
    admin.provider.provision(a, pw)
    admin.provider.provision(b, pw)
    nb, platform = PgNames.of(b), f"pgt_platform_{admin.tag}"
    ((public_owner,),) = admin.query(
        "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'"
    )
    with login(admin.provider, b, "a", pw) as conn:
        conn.execute("CREATE TABLE secrets (v text)")
        conn.execute("INSERT INTO secrets VALUES ('b-only')")
    admin.as_superuser(f"CREATE TABLE IF NOT EXISTS public.{platform} (v text)")
    try:
        with login(admin.provider, a, "a", pw) as conn:
            denied = errors.InsufficientPrivilege
            other = f"{nb.schema}.secrets"
            for stmt, message in [
                (f"SELECT * FROM {other}", f"permission denied for schema {nb.schema}"),
                (f"INSERT INTO {other} VALUES ('x')", f"permission denied for schema {nb.schema}"),
                ("CREATE TABLE public.mine (v int)", "permission denied for schema public"),
                (f"SELECT * FROM public.{platform}", f"permission denied for table {platform}"),
                (f"SET ROLE {nb.owner}", f'permission denied to set role "{nb.owner}"'),
                (f"SET ROLE {public_owner}", f'permission denied to set role "{public_owner}"'),
                ("SET ROLE postgres", 'permission denied to set role "postgres"'),
                ("CREATE TEMP TABLE t (v int)", "permission denied to create temporary tables"),
            ]:
                with pytest.raises(denied, match=re.escape(message)):
                    conn.execute(stmt)
            listed = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                [nb.schema],
            ).fetchall()
            assert listed == []
            with login(admin.provider, a, "a", pw):
                with pytest.raises(ProviderUnavailable, match="too many connections for role"):
                    login(admin.provider, a, "a", pw)
                with pytest.raises(psycopg.OperationalError, match="too many connections"):
                    psycopg.connect(admin.url, user=PgNames.of(a).login_a, password=pw)
    finally:
        admin.as_superuser(f"DROP TABLE public.{platform}")


def test_objects_belong_to_the_owner_role(admin: Admin, make: Any) -> None:
    spec, pw = make("own"), password()
    admin.provider.provision(spec, pw)
    n = PgNames.of(spec)
    with login(admin.provider, spec, "a", pw) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        conn.execute("SET ROLE NONE")  # the bare login has no rights of its own (NOINHERIT)
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied for schema"):
            conn.execute(f"CREATE TABLE {n.schema}.t2 (id int)")
    owners = admin.query("SELECT tableowner FROM pg_tables WHERE schemaname = %s", n.schema)
    assert owners == [(n.owner,)]
    health = admin.provider.health(spec, Login(n.login_a, pw))
    assert health.ok and health.connection_limit == -1
    assert health.size_bytes is not None and health.size_bytes > 0


def test_rotation_alternates_slots_without_downtime(
    admin: Admin, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="providers.postgres")
    spec, pw_a, pw_b, pw_a2 = make("rot"), password(), password(), password()
    provider, n = admin.provider, PgNames.of(spec)
    provider.provision(spec, pw_a)
    held = login(provider, spec, "a", pw_a)
    described = provider.rotate(spec, "b", pw_b)
    assert described.username == n.login_b and pw_b not in described.url
    for slot, pw in (("b", pw_b), ("a", pw_a)):
        with login(provider, spec, slot, pw) as conn:
            assert conn.execute("SELECT session_user").fetchone() == (n.login(slot),)
    provider.rotate(spec, "a", pw_a2)
    with pytest.raises(ProviderError, match="password authentication failed"):
        login(provider, spec, "a", pw_a)
    with login(provider, spec, "a", pw_a2), login(provider, spec, "b", pw_b):
        pass
    with held:
        assert held.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(ProviderError, match="unknown login slot"):
        provider.rotate(spec, "c", pw_a)
    assert f"ALTER ROLE \"{n.login_b}\" PASSWORD '***'" in caplog.text
    for secret in (pw_a, pw_b, pw_a2, "SCRAM-SHA-256$", "admin-pw"):
        assert secret not in caplog.text


def test_archive_restore_purge(admin: Admin, make: Any) -> None:
    spec, pw = make("life"), password()
    provider, n = admin.provider, PgNames.of(spec)
    provider.provision(spec, pw)
    with login(provider, spec, "a", pw) as conn:
        conn.execute("CREATE TABLE notes (v text); INSERT INTO notes VALUES ('kept')")
    session = login(provider, spec, "a", pw)
    provider.archive(spec)
    provider.archive(spec)
    assert provider.state(spec) is StorageState.ARCHIVED
    with pytest.raises(psycopg.OperationalError, match="terminat"):
        session.execute("SELECT 1")
    session.close()
    with pytest.raises(ProviderError, match="not permitted to log in"):
        login(provider, spec, "a", pw)
    with pytest.raises(ProviderError, match="not permitted to log in"):
        provider.rotate(spec, "b", password())  # the proof fails; slot a is left alone
    with pytest.raises(ProviderError, match="is archived; restore it instead"):
        provider.provision(spec, pw)
    archived = sql.Identifier(n.archived, "notes").as_string(None)
    assert admin.query(f"SELECT v FROM {archived}") == [("kept",)]
    provider.restore(spec)
    provider.restore(spec)
    assert provider.state(spec) is StorageState.ACTIVE
    with login(provider, spec, "a", pw) as conn:
        assert conn.execute("SELECT v FROM notes").fetchall() == [("kept",)]
    provider.archive(spec)
    provider.purge(spec)
    provider.purge(spec)
    assert plugin_objects(admin, spec) == ([], [])
    assert provider.state(spec) is StorageState.ABSENT


def test_long_names_are_bounded_hashed_and_quoted(admin: Admin, make: Any) -> None:
    pid = f"pgt-{admin.tag}-" + "x" * (40 - 4 - len(admin.tag) - 1)
    ns = pid.replace("-", "_")
    spec, pw = make(pid[4 + len(admin.tag) + 1 :], schema=(ns + "_s" * 20)[:63]), password()
    n = PgNames.of(spec)
    assert len(spec.plugin_id) == 40 and len(n.schema) == 63
    for name in (n.archived, *n.roles):
        assert len(name.encode()) <= 63 and re.search(r"_[0-9a-f]{8}$", name), name
    provider = admin.provider
    described = provider.provision(spec, pw)
    assert described.objects["login_a"] == n.login_a
    with login(provider, spec, "a", pw) as conn:
        conn.execute("CREATE TABLE t (v int)")
    provider.archive(spec)
    provider.restore(spec)
    provider.rotate(spec, "b", pw)
    provider.purge(spec)
    assert plugin_objects(admin, spec) == ([], [])


def test_a_schema_owned_by_someone_else_is_never_taken_or_dropped(admin: Admin, make: Any) -> None:
    spec = make("squat")
    n = PgNames.of(spec)
    admin.query(f"CREATE SCHEMA {n.schema}")
    try:
        refused = f"schema '{n.schema}' is owned by"
        with pytest.raises(ProviderError, match=refused):
            admin.provider.provision(spec, password())
        with pytest.raises(ProviderError, match=refused):
            admin.provider.purge(spec)
        assert admin.query("SELECT 1 FROM pg_namespace WHERE nspname = %s", n.schema) == [(1,)]
    finally:
        admin.query(f"DROP SCHEMA {n.schema}")


def test_concurrent_provisions_serialize(admin: Admin, make: Any) -> None:
    specs, pw = [make(f"conc-{i}") for i in range(4)], password()
    with ThreadPoolExecutor(len(specs)) as pool:
        results = list(pool.map(lambda s: admin.provider.provision(s, pw), specs))
    assert [r.username for r in results] == [PgNames.of(s).login_a for s in specs]


def test_settings_and_connection_errors() -> None:
    with pytest.raises(ProviderError, match="PLUGIN_DB_POSTGRES_ADMIN_URL"):
        PostgresProvider.from_settings(Settings())
    url = service_url("PG_NONSUPER_ADMIN_URL")
    provider = PostgresProvider.from_settings(
        Settings(postgres_admin_url=url.replace("postgresql://", "postgresql+psycopg://"))
    )
    assert provider.state(PluginSpec("pgt-none")) is StorageState.ABSENT
    wrong = PostgresProvider(url.replace("admin-pw", "not-the-pw"))
    with pytest.raises(ProviderError, match="password authentication failed") as caught:
        wrong.state(PluginSpec("pgt-none"))
    assert "not-the-pw" not in str(caught.value)
    down = PostgresProvider(re.sub(r":\d+/", ":1/", url))
    with pytest.raises(ProviderUnavailable, match="Connection refused") as refused:
        down.state(PluginSpec("pgt-none"))
    assert "admin-pw" not in str(refused.value)
    with pytest.raises(ProviderError, match="login of plugin"):
        provider.connect(PluginSpec("pgt-none"), Login("postgres", "x"))


def test_the_matrix_is_what_it_claims(admin: Admin) -> None:
    """Each cell runs the server version it names; the managed-like admin is no superuser,
    CREATEROLE CREATEDB, and does not own ``public``; the version is read once."""
    with admin.provider._admin() as conn, conn.cursor() as cur:
        server = admin.provider.server(cur)
        assert admin.provider.server(cur) is server
    assert server.version_num // 10000 == (18 if admin.tag.endswith("18") else 15)
    assert server.membership_options is (server.version_num >= 160000)
    ((superuser, createrole, createdb, owns_public),) = admin.query(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, pg_has_role(current_user, n.nspowner, "
        "'USAGE') FROM pg_roles, pg_namespace n WHERE rolname = current_user "
        "AND n.nspname = 'public'"
    )
    if admin.tag.startswith("n"):
        assert (superuser, createrole, createdb, owns_public) == (False, True, True, False)
    else:
        assert superuser
