"""Server misconfigurations, each injected by hand into a real server, are found by ``doctor``.

Anonymous MySQL accounts, PUBLIC privileges (CREATE on ``public``, CONNECT to the tracking
database), ``password_encryption`` other than SCRAM, and a plugin login the server refuses.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import closing

import psycopg
import pytest

from providers.base import PluginSpec
from providers.postgres import PostgresProvider
from tests.ops.conftest import mysql_admin
from tests.ops.helpers import found, login_for, provision, purge, run_doctor
from tests.support.services import service_url
from tests.support.stack import Stack
from worker.errors import ProviderError
from worker.ops.findings import Check, Finding, Severity
from worker.ops.servers import server_findings
from worker.settings import Settings

CLUSTERS = ["PG", "PG18"]


def checks(findings: list[Finding], check: str) -> list[Finding]:
    """The findings of ``check``."""
    return [f for f in findings if f.check == check]


@pytest.fixture(params=CLUSTERS)
def plugins_db(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A throwaway plugins database made by the managed-like admin, ``public`` not its own;
    yields (superuser URL, admin URL) of it."""
    name = f"hard_{uuid.uuid4().hex[:8]}"
    admin = service_url(f"{request.param}_NONSUPER_ADMIN_URL")
    root = service_url(f"{request.param}_URL")
    with psycopg.connect(re.sub(r"/[^/]*$", "/postgres", admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    superuser = re.sub(r"/[^/]*$", f"/{name}", root)
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute("ALTER SCHEMA public OWNER TO postgres")
    try:
        yield superuser, re.sub(r"/[^/]*$", f"/{name}", admin)
    finally:
        with psycopg.connect(root, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            roles = conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'hard%'")
            for (role,) in roles.fetchall():
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_a_hardened_cluster_has_no_finding(plugins_db: tuple[str, str]) -> None:
    assert server_findings(Settings(postgres_admin_url=plugins_db[1])) == []


def test_public_create_on_public_is_found_and_refuses_provisioning(
    plugins_db: tuple[str, str],
) -> None:
    superuser, admin = plugins_db
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    (finding,) = checks(server_findings(Settings(postgres_admin_url=admin)), "public_privileges")
    assert finding.severity is Severity.ERROR and "PUBLIC can create in schema public" in (
        finding.message
    )
    assert finding.fix and "REVOKE CREATE ON SCHEMA public FROM PUBLIC" in finding.fix
    provider, spec = PostgresProvider(admin), PluginSpec("hard-refused")
    with pytest.raises(ProviderError, match="REVOKE CREATE ON SCHEMA public FROM PUBLIC"):
        provider.provision(spec, "pw-hard-1")
    provider.purge(spec)
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    assert server_findings(Settings(postgres_admin_url=admin)) == []


def test_password_encryption_other_than_scram_is_found(plugins_db: tuple[str, str]) -> None:
    superuser, admin = plugins_db
    name = admin.rsplit("/", 1)[1]
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE \"{name}\" SET password_encryption = 'md5'")
    (finding,) = server_findings(Settings(postgres_admin_url=admin))
    assert finding.check == Check.PASSWORD_ENCRYPTION and "'md5'" in finding.message
    assert finding.fix and "password_encryption = 'scram-sha-256'" in finding.fix


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_public_connect_to_the_tracking_database_is_found(cluster: str) -> None:
    root, name = service_url(f"{cluster}_URL"), f"track_{uuid.uuid4().hex[:8]}"
    tracking = Settings(
        database_url=re.sub(r"^postgresql:(.*)/[^/]*$", rf"postgresql+psycopg:\1/{name}", root)
    )
    with psycopg.connect(root, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        try:
            (finding,) = server_findings(tracking)
            assert finding.check == Check.PUBLIC_PRIVILEGES
            assert f"PUBLIC can connect to the tracking database {name!r}" in finding.message
            assert finding.fix and "REVOKE CONNECT, TEMPORARY ON DATABASE" in finding.fix
            conn.execute(f'REVOKE CONNECT, TEMPORARY ON DATABASE "{name}" FROM PUBLIC')
            assert server_findings(tracking) == []
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_anonymous_mysql_accounts_are_found() -> None:
    """A default install has them; one added by hand to a clean server is found too."""
    default = server_findings(Settings(mysql_admin_url=service_url("MYSQL_DEFAULT_ADMIN_URL")))
    (finding,) = checks(default, "anonymous_accounts")
    assert "''@'localhost'" in finding.message and finding.severity is Severity.ERROR
    assert finding.fix and "DROP USER ''@'localhost'" in finding.fix
    tuned = Settings(mysql_admin_url=service_url("MYSQL_ADMIN_URL"))
    assert server_findings(tuned) == []
    with closing(mysql_admin()) as conn, conn.cursor() as cur:
        cur.execute("CREATE USER ''@'hard.example'")
        try:
            (added,) = server_findings(tuned)
            assert added.check == Check.ANONYMOUS_ACCOUNTS and "''@'hard.example'" in added.message
        finally:
            cur.execute("DROP USER ''@'hard.example'")


def test_a_plugin_login_the_server_refuses_is_found(ops_stack: Stack) -> None:
    """Passwords changed behind plugin-db's back: the doctor says the plugin cannot log in."""
    pg, my = provision(ops_stack, "pg", "my")
    try:
        pg_login, my_login = login_for(ops_stack, pg), login_for(ops_stack, my)
        assert pg_login is not None and my_login is not None
        with psycopg.connect(ops_stack.env["PLUGIN_DB_POSTGRES_ADMIN_URL"], autocommit=True) as c:
            c.execute(f"ALTER ROLE \"{pg_login.username}\" PASSWORD 'changed-by-hand-1'")
        with closing(mysql_admin()) as conn, conn.cursor() as cur:
            cur.execute(f"ALTER USER `{my_login.username}`@'%' IDENTIFIED BY 'changed-by-hand-2'")
        for plugin_id in (pg, my):
            report = run_doctor(ops_stack, plugin_id)
            (refused,) = found(report, Check.LOGIN_REFUSED, plugin_id)
            assert refused.severity is Severity.ERROR and "cannot log in" in refused.message
            assert refused.fix and f"plugin-db rotate {plugin_id}" in refused.fix
            rotated = ops_stack.run("plugin_db.rotate_credentials", {"plugin_id": plugin_id})
            assert rotated.state == "succeeded", rotated.error
            assert not found(run_doctor(ops_stack, plugin_id), Check.LOGIN_REFUSED)
    finally:
        purge(ops_stack, pg, my)
