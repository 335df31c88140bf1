"""Messages that are not the contract's shape, LPUSHed raw onto the queue by a foreign producer.

Each is refused, acknowledged and recorded as an audit event (``message_rejected`` for what
is not a task message of the contract, ``request_rejected`` for a task message whose request
is invalid), and the worker goes on consuming: a valid request afterwards succeeds.
"""

from __future__ import annotations

import json
import pickle
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.faults.support import RedisServer, protocol2_body, push_raw, raw_message
from tests.hostile.conftest import pg_tracked_stack
from tests.support.stack import Stack, write_plugin
from worker.tracking.models import AuditEvent

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def messages(
    private_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("messages")
    with pg_tracked_stack(f"{private_redis.url}/14", workdir) as stack:
        yield stack


def rejected_messages(stack: Stack) -> list[AuditEvent]:
    return [e for e in stack.audit() if e.event == "message_rejected"]


def _deep(levels: int) -> Any:
    value: Any = {"plugin_id": "deep-one"}
    for _ in range(levels):
        value = {"x": [value]}
    return value


EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
REQUEST = {"plugin_id": "never-made"}

NOT_TASK_MESSAGES: dict[str, dict[str, Any]] = {
    "pickle-payload": {
        "body": pickle.dumps(((REQUEST,), {}, EMBED)),
        "content_type": "application/x-python-serialize",
        "reason": "invalid task message",
    },
    "yaml-payload": {
        "body": yaml.safe_dump([[REQUEST], {}, EMBED]).encode(),
        "content_type": "application/x-yaml",
        "reason": "invalid task message",
    },
    "non-json-body": {"body": b"{plugin_id: nope", "reason": "undecodable body"},
    "binary-body": {"body": b"\xff\xfe\x00garbage", "reason": "undecodable body"},
    "object-body": {"body": json.dumps(REQUEST).encode(), "reason": "[args, kwargs, embed]"},
    "number-body": {"body": b"5", "reason": "[args, kwargs, embed]"},
    "string-body": {"body": b'"provision it"', "reason": "[args, kwargs, embed]"},
    "short-array-body": {"body": json.dumps([[REQUEST], {}]).encode(), "reason": "[args"},
    "args-not-array": {"body": json.dumps([REQUEST, {}, EMBED]).encode(), "reason": "[args"},
    "deep-body": {"body": json.dumps([[_deep(400)], {}, EMBED]).encode(), "reason": "nested"},
    "deep-headers": {
        "body": protocol2_body(REQUEST),
        "headers_extra": {"x": _deep(200)},
        "reason": "nested",
    },
    "unknown-task": {
        "body": protocol2_body(REQUEST),
        "task": "plugin_db.drop_everything",
        "reason": "unknown task",
    },
    "no-task-header": {
        "body": json.dumps({"plugin_id": "x"}).encode(),
        "headers": {},
        "reason": "not a task message",
    },
}


@pytest.mark.parametrize("name", sorted(NOT_TASK_MESSAGES))
def test_a_message_that_is_not_a_contract_task_is_rejected_and_audited(
    messages: Stack, name: str
) -> None:
    spec = NOT_TASK_MESSAGES[name]
    task_id = str(uuid.uuid4())
    headers = spec.get("headers")
    if headers is None:
        headers = {
            "lang": "js",
            "task": spec.get("task", "plugin_db.provision"),
            "id": task_id,
            "root_id": task_id,
            "parent_id": None,
            "group": None,
            **spec.get("headers_extra", {}),
        }
    _, payload = raw_message(
        "plugin_db.provision",
        spec["body"],
        content_type=spec.get("content_type", "application/json"),
        task_id=task_id,
        headers=headers,
    )
    before = len(rejected_messages(messages))
    push_raw(messages, payload)
    messages.wait_until(
        lambda: len(rejected_messages(messages)) > before, timeout=30, what=f"{name} audited"
    )
    event = rejected_messages(messages)[-1]
    assert spec["reason"] in event.details["reason"], event.details
    if headers.get("id") == task_id:
        assert event.details["task_id"] == task_id
    assert event.plugin_id is None and event.operation_id is None
    assert messages.ops("never-made") == [] and messages.ops("deep-one") == []
    assert messages.datasource("never-made") is None
    assert messages.workers[0].poll() is None, "the worker died"


ENVELOPES = {
    "not-json": "this is not a message",
    "json-array": "[1, 2, 3]",
    "json-number": "42",
    "no-properties": json.dumps({"body": "e30=", "headers": {"task": "plugin_db.provision"}}),
    "no-delivery-info": json.dumps({"body": "e30=", "properties": {"delivery_tag": "t"}}),
    "bad-base64": json.dumps(
        {
            "body": "%%%",
            "content-type": "application/json",
            "headers": {"task": "plugin_db.provision", "id": "x"},
            "properties": {
                "delivery_tag": "t",
                "body_encoding": "base64",
                "delivery_info": {"exchange": "plugin-db", "routing_key": "plugin-db"},
            },
        }
    ),
    "deep-envelope": "[" * 20_000 + "]" * 20_000,
}


@pytest.mark.parametrize("name", sorted(ENVELOPES))
def test_garbage_on_the_queue_is_dropped_audited_and_does_not_end_the_worker(
    messages: Stack, name: str
) -> None:
    """Before the fix any of these, LPUSHed once, ended the worker ("Unrecoverable error")."""
    before = len(rejected_messages(messages))
    push_raw(messages, ENVELOPES[name])
    messages.wait_until(
        lambda: len(rejected_messages(messages)) > before, timeout=30, what=f"{name} audited"
    )
    assert messages.workers[0].poll() is None, "the worker died"


INVALID_REQUESTS: dict[str, tuple[list[Any], dict[str, Any], str]] = {
    "missing-plugin-id": ([{"requested_by": "platform"}], {}, "plugin_id: is required"),
    "extra-field": ([{"plugin_id": "ok-id", "drop": True}], {}, "drop: unknown field"),
    "no-argument": ([], {}, "request: must be a JSON object"),
    "two-arguments": ([{"plugin_id": "ok-id"}, {"plugin_id": "ok-id"}], {}, "args:"),
    "fields-as-keywords": ([], {"plugin_id": "ok-id"}, "args:"),
    "null-argument": ([None], {}, "request: must be a JSON object"),
    "array-argument": ([["ok-id"]], {}, "request: must be a JSON object"),
}


@pytest.mark.parametrize("name", sorted(INVALID_REQUESTS))
def test_a_task_message_with_an_invalid_request_is_a_rejected_operation(
    messages: Stack, name: str
) -> None:
    args, kwargs, needle = INVALID_REQUESTS[name]
    task_id = str(uuid.uuid4())
    body = json.dumps([args, kwargs, EMBED]).encode()
    _, payload = raw_message("plugin_db.provision", body, task_id=task_id)
    push_raw(messages, payload)
    op = messages.wait(task_id)  # no request_id: the task id is the idempotency key
    assert op.state == "rejected" and needle in (op.error or ""), op.error
    assert [e.event for e in messages.audit(operation_id=op.id)] == ["request_rejected"]


def test_the_worker_keeps_consuming_after_all_of_it(messages: Stack) -> None:
    plugin_id = f"m-{uuid.uuid4().hex[:8]}"
    write_plugin(messages.plugins_root, plugin_id, "exclusive-sqlite")
    assert messages.run("plugin_db.provision", {"plugin_id": plugin_id}).state == "succeeded"
    assert messages.workers[0].poll() is None
    logs = messages.logs()
    assert "Unrecoverable error" not in logs
    assert "raised unexpected" not in logs, "a malformed message reached a task"
