"""State machines, settings, request validation, redaction and secrets."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from structlog.testing import capture_logs

from worker.errors import InvalidTransition, PermanentError, RequestRejected
from worker.lifecycle.requests import MigrateRequest, parse_request, request_id_of
from worker.logging import (
    get_logger,
    redact,
    redact_text,
    redaction_processor,
    register_secret,
)
from worker.secrets import SecretBox, generate_password
from worker.settings import RetryPolicy, Settings
from worker.states import DsStatus, Kind, OpState, check_ds, check_op


def test_transition_tables_allow_the_lifecycle_and_refuse_the_rest() -> None:
    """Valid moves return the target; invalid ones raise InvalidTransition."""
    assert check_op(OpState.PENDING, OpState.RUNNING) is OpState.RUNNING
    assert check_ds(None, DsStatus.PROVISIONING) is DsStatus.PROVISIONING
    assert check_ds(DsStatus.ARCHIVED, DsStatus.READY) is DsStatus.READY
    with pytest.raises(InvalidTransition, match="succeeded to running"):
        check_op(OpState.SUCCEEDED, OpState.RUNNING)
    with pytest.raises(InvalidTransition, match="archived to provisioning"):
        check_ds(DsStatus.ARCHIVED, DsStatus.PROVISIONING)
    with pytest.raises(InvalidTransition, match="absent to ready"):
        check_ds(None, DsStatus.READY)


def test_task_names_are_the_contract() -> None:
    """Every kind maps to its public task name."""
    assert {k.task_name for k in Kind} == {
        "plugin_db.provision",
        "plugin_db.migrate",
        "plugin_db.rotate_credentials",
        "plugin_db.teardown",
        "plugin_db.restore",
        "plugin_db.register_schema",
        "plugin_db.unregister_schema",
        "plugin_db.relocate",
        "plugin_db.retire_credentials",
        "plugin_db.restore_snapshot",
        "plugin_db.snapshot",
    }


def test_settings_from_env_and_the_visibility_guard(tmp_path: object) -> None:
    """Environment variables map to settings; a visibility timeout under the backoff is refused."""
    settings = Settings.from_env(
        {
            "PLUGIN_DB_DATA_DIR": "/tmp/x",
            "PLUGIN_DB_SECRET_KEY": "k1,k2",
            "PLUGIN_DB_LEASE_SECONDS": "7",
        }
    )
    assert settings.database_url == "sqlite:////tmp/x/tracking.db"
    assert settings.secret_keys == ("k1", "k2") and settings.lease_seconds == 7.0
    with pytest.raises(ValueError, match="VISIBILITY_TIMEOUT"):
        Settings.from_env({"PLUGIN_DB_VISIBILITY_TIMEOUT": "100", "PLUGIN_DB_BACKOFF_MAX": "60"})


def test_backoff_grows_exponentially_is_capped_and_jittered() -> None:
    """countdown = min(max, base * 2**n) * jitter."""
    policy = RetryPolicy(max_retries=5, backoff_base=1.0, backoff_max=10.0)
    assert policy.countdown(0, 1.0) == 1.0 and policy.countdown(3, 1.0) == 8.0
    assert policy.countdown(10, 1.0) == 10.0 and policy.countdown(3, 0.5) == 4.0


def test_requests_forbid_unknown_fields_and_wrong_types() -> None:
    """Request validation names each bad field."""
    request = parse_request(Kind.MIGRATE, {"plugin_id": "notes", "target": "002", "dry_run": True})
    assert isinstance(request, MigrateRequest) and request.dry_run
    with pytest.raises(RequestRejected) as info:
        parse_request(
            Kind.MIGRATE, {"plugin_id": "notes", "target": "../x", "dry_run": "yes", "x": 1}
        )
    text = str(info.value)
    assert "target" in text and "dry_run" in text and "x: unknown field" in text
    with pytest.raises(RequestRejected, match="exactly one positional argument"):
        parse_request(Kind.ROTATE, {"plugin_id": "notes"}, ("extra",))


def test_request_id_falls_back_to_the_task_id() -> None:
    """A missing or unusable request_id is replaced by the Celery task id."""
    assert request_id_of({"request_id": "abc"}, "task") == "abc"
    assert request_id_of({"request_id": 5}, "task") == "task"
    assert request_id_of("not a dict", "task") == "task"


def test_redaction_masks_keys_urls_and_registered_secrets() -> None:
    """Passwords never leave through a log line or audit detail."""
    secret = generate_password()
    data = {
        "password": "x",
        "url": "postgresql://u:hunter2@h/db",
        "note": f"leaked {secret}",
        "nested": [{"api_key": "k"}],
    }
    clean = redact(data)
    assert clean["password"] == "***" and clean["url"] == "postgresql://u:***@h/db"
    assert secret not in clean["note"] and clean["nested"][0]["api_key"] == "***"


def test_log_lines_pass_through_the_redaction_processor() -> None:
    """structlog events are redacted before rendering."""
    register_secret("s3cr3t-value-123")
    with capture_logs(processors=[redaction_processor]) as logs:
        get_logger("t").error("connecting", detail="pw is s3cr3t-value-123")
    assert logs[0]["event"] == "connecting" and "s3cr3t" not in logs[0]["detail"]


def test_registered_secrets_of_every_length_are_masked_among_thousands() -> None:
    """Each registered secret is masked wherever it appears, whatever its length, with many
    others registered (overlapping ones as one mask each)."""
    for i in range(2000):
        register_secret(f"filler-secret-{i:05d}")
    short, long_ = "k9-Xq2", generate_password()
    register_secret(short)
    text = f"u={short}; dsn=postgresql://app:{long_}@db/x; again {long_}{short}"
    masked = redact_text(text)
    assert short not in masked and long_ not in masked
    assert masked == "u=***; dsn=postgresql://app:***@db/x; again ******"
    assert redact_text("nothing secret here") == "nothing secret here"


def test_secret_box_round_trip_and_key_rotation() -> None:
    """Payloads sealed under an old key open with [new, old] and re-seal under new."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = SecretBox((old,)).seal({"slots": {"a": "pw-123456"}, "active": "a"})
    both = SecretBox((new, old))
    assert both.open(token)["slots"]["a"] == "pw-123456"
    rotated = both.rotate(token)
    assert SecretBox((new,)).open(rotated)["active"] == "a"
    with pytest.raises(PermanentError, match="cannot be decrypted"):
        SecretBox((new,)).open(token)
    with pytest.raises(PermanentError, match="Fernet keys"):
        SecretBox(("not-a-key",))
