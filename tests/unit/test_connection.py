"""The connection document: each provider's URL form, the password percent-encoded."""

from __future__ import annotations

from urllib.parse import unquote

from sqlalchemy.engine import make_url

from worker.connection import connection_document, etag
from worker.tracking.models import PluginDatasource

HOSTILE = "p@ss:w/rd?#%&=+ é"


def datasource(provider: str, url: str, **objects: str) -> PluginDatasource:
    return PluginDatasource(
        plugin_id="notes",
        provider=provider,
        descriptor={"url": url, "objects": objects},
        generation=3,
    )


def test_postgres_url_carries_schema_and_an_encoded_password() -> None:
    ds = datasource("postgresql", "postgresql://notes_a@db.example:5432/plugins", schema="notes")
    doc = connection_document(ds, HOSTILE)
    url = make_url(doc["url"])
    assert doc["url"].startswith("postgresql://notes_a:") and HOSTILE not in doc["url"]
    assert url.password == HOSTILE and url.query == {"schema": "notes"}
    assert (doc["schema"], doc["database"], doc["username"]) == ("notes", "plugins", "notes_a")
    assert doc["env"] == {"PLUGIN_DATABASE_URL": doc["url"]} and doc["generation"] == 3


def test_mysql_url_and_sqlite_file_url() -> None:
    my = connection_document(
        datasource("mysql", "mysql://pl_notes_a@127.0.0.1:3306/pl_notes", database="pl_notes"),
        HOSTILE,
    )
    assert make_url(my["url"]).password == HOSTILE and my["url"].startswith("mysql://pl_notes_a:")
    assert my["database"] == "pl_notes" and my["schema"] is None
    lite = connection_document(
        datasource(
            "sqlite",
            "sqlite:////var/data/my plugins/notes.db",
            file="/var/data/my plugins/notes.db",
        ),
        None,
    )
    assert lite["url"] == "file:/var/data/my%20plugins/notes.db"
    assert unquote(lite["url"].removeprefix("file:")) == "/var/data/my plugins/notes.db"


def test_etag_changes_with_generation_and_hides_the_password() -> None:
    ds = datasource("postgresql", "postgresql://a@h:5432/d", schema="s")
    first = connection_document(ds, "secret-one")
    ds.generation = 4
    second = connection_document(ds, "secret-one")
    assert etag(first) != etag(second) and "secret" not in etag(first)
