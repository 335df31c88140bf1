"""Property: hostile input is accepted or rejected with a RequestRejected naming a field.

Every public parser (manifests, plugin.json bytes, plugin ids, lifecycle requests, migration
files, declarative schema documents) either returns or raises a ``RequestRejected`` subclass
whose problems each read ``field: what to fix``; never another exception type. (That such
messages are stored safely, lone surrogates and NUL included, is checked through the worker
in ``test_corpus.py``.)
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.strategies import (
    MANIFESTS,
    MIGRATION_NAMES,
    MIGRATION_TEXT,
    PLUGIN_IDS,
    manifest_bytes,
    payloads,
    schema_documents,
)
from worker.errors import RequestRejected
from worker.lifecycle.requests import parse_request, request_id_of
from worker.manifest import load_manifest_bytes, parse_manifest
from worker.migrations.files import parse as parse_migration
from worker.naming import check_plugin_id
from worker.schema import validate_document
from worker.states import Kind

FAST = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def assert_rejection(exc: RequestRejected) -> None:
    """A rejection names a field for every problem and is storable text."""
    message = str(exc)
    assert message.strip(), "empty rejection message"
    assert exc.problems, "a rejection without problems"
    for problem in exc.problems:
        assert isinstance(problem, str)
        field, sep, what = problem.partition(": ")
        # the field may be an odd JSON key (" "), but it is named
        assert sep and field and what.strip(), f"problem names no field: {problem!r}"


def outcome(call: Any, *args: Any) -> object:
    try:
        return call(*args)
    except RequestRejected as exc:
        assert_rejection(exc)
        return exc


@settings(FAST, max_examples=1500)
@given(data=MANIFESTS)
def test_parse_manifest(data: Any) -> None:
    result = outcome(parse_manifest, data)
    if not isinstance(result, RequestRejected):
        assert result.id == data["id"]  # type: ignore[attr-defined]


@settings(FAST, max_examples=700)
@given(raw=manifest_bytes())
def test_load_manifest_bytes(raw: bytes) -> None:
    outcome(load_manifest_bytes, raw)


@settings(FAST, max_examples=2000)
@given(value=PLUGIN_IDS)
def test_check_plugin_id(value: Any) -> None:
    result = outcome(check_plugin_id, value)
    if not isinstance(result, RequestRejected):
        assert isinstance(result, str) and result.isascii() and len(result) <= 40


@settings(FAST, max_examples=1500)
@given(kind=st.sampled_from(list(Kind)), payload=payloads(), extra=st.sampled_from([(), ("x",)]))
def test_parse_request(kind: Kind, payload: Any, extra: tuple[Any, ...]) -> None:
    outcome(parse_request, kind, payload, extra)
    key = request_id_of(payload, "fallback")
    assert isinstance(key, str) and key and len(key) <= 200


@settings(FAST, max_examples=1000)
@given(filename=MIGRATION_NAMES, text=MIGRATION_TEXT)
def test_parse_migration_file(filename: str, text: str) -> None:
    outcome(parse_migration, filename, text)


@settings(FAST, max_examples=400)
@given(document=schema_documents(), plugin_id=st.sampled_from([None, "acme", "x1", "zeta"]))
def test_validate_schema_document(document: Any, plugin_id: str | None) -> None:
    outcome(validate_document, document, plugin_id)
