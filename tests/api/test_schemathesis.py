"""Schemathesis against /openapi.json: every route, positive and negative data, an admin token.

Checks: no server error, every response (status, content type, headers, body) as documented,
negative data refused. Schema-valid data may still be refused (a manifest that does not follow
the contract, a plugin that was never provisioned): that check is left out.
The app is built at import (schemathesis reads its schema at collection); a fixture points
it at the test stack before any case runs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support.api import Api
from worker.api.app import create_app
from worker.api.context import ApiContext
from worker.settings import Settings

APP = create_app(Settings(database_url="sqlite://"))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=25, deterministic=True
)


@pytest.fixture(scope="module")
def admin(api: Api) -> Iterator[dict[str, str]]:
    """An admin token, with the app serving the test stack."""
    placeholder = APP.state.ctx
    APP.state.ctx = ApiContext(Settings.from_env(api.stack.env), placeholder.extras)
    yield {"Authorization": f"Bearer {api.token('admin')}"}
    APP.state.ctx = placeholder


@schema.parametrize()
def test_every_route_answers_as_documented(case: schemathesis.Case, admin: dict[str, str]) -> None:
    """Zero 5xx; responses match their documented schema (problem documents included)."""
    case.call_and_validate(headers=admin, excluded_checks=[positive_data_acceptance])
