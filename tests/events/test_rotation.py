"""Rotation retires the old login: on ack, once its sessions end, or when the grace period ends."""

from __future__ import annotations

import stat
import uuid
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from providers.base import Login
from tests.events.conftest import run_cli
from tests.events.test_webhooks import NOTES
from tests.integration.test_conformance import provider_for, secret_payload
from tests.support.stack import Stack, write_plugin
from worker.tracking.models import CredentialRetirement

MODES = ["exclusive-postgres", "exclusive-mysql"]


def can_log_in(stack: Stack, plugin_id: str, login: Login) -> bool:
    provider, spec = provider_for(stack, plugin_id)
    try:
        with closing(provider.connect(spec, login)) as conn:
            cur = conn.cursor()
            cur.execute("SELECT 1")
            return bool(cur.fetchall())
    except Exception:
        return False


def logins(stack: Stack, plugin_id: str) -> dict[str, Login]:
    """Slot -> login with its stored password."""
    provider, spec = provider_for(stack, plugin_id)
    payload = secret_payload(stack, plugin_id) or {}
    return {
        slot: Login(provider.describe(spec, slot).username or "", password)
        for slot, password in payload["slots"].items()
    }


def generation(stack: Stack, plugin_id: str) -> int:
    ds = stack.datasource(plugin_id)
    value = getattr(ds, "generation", None)
    return value if isinstance(value, int) else 2


def retirements(stack: Stack, plugin_id: str) -> list[CredentialRetirement]:
    with stack.sessions() as session:
        return list(
            session.scalars(
                select(CredentialRetirement)
                .where(CredentialRetirement.plugin_id == plugin_id)
                .order_by(CredentialRetirement.id)
            )
        )


def rotate_with_open_session(
    stack: Stack, mode: str, grace: float
) -> tuple[str, Login, Login, Any]:
    """Provision, open a session as the first login, rotate; returns (id, old, new, session)."""
    plugin_id = f"rt-{mode[10:12]}-{uuid.uuid4().hex[:6]}"
    rotation = {"intervalDays": 30, "graceMinutes": grace}
    write_plugin(
        stack.plugins_root, plugin_id, mode, NOTES, limits={"connections": 5}, rotation=rotation
    )
    assert stack.run("plugin_db.provision", {"plugin_id": plugin_id}, 90).state == "succeeded"
    old = logins(stack, plugin_id)["a"]
    provider, spec = provider_for(stack, plugin_id)
    session = provider.connect(spec, old)
    rotated = stack.run("plugin_db.rotate_credentials", {"plugin_id": plugin_id}, 90)
    assert rotated.state == "succeeded", rotated.error
    new = logins(stack, plugin_id)["b"]
    return plugin_id, old, new, session


def still_works(session: Any) -> bool:
    try:
        cur = session.cursor()
        cur.execute("SELECT 1")
        return bool(cur.fetchall())
    except Exception:
        return False


def assert_retired(stack: Stack, plugin_id: str, old: Login, new: Login, trigger: str) -> None:
    stack.wait_until(lambda: not can_log_in(stack, plugin_id, old), what="old login refused")
    assert can_log_in(stack, plugin_id, new)
    stack.wait_until(
        lambda: [r.state for r in retirements(stack, plugin_id)] == ["retired"], what="recorded"
    )
    assert retirements(stack, plugin_id)[0].trigger == trigger
    events = [e.event for e in stack.audit(plugin_id)]
    assert "credentials_retired" in events


@pytest.mark.parametrize("mode", MODES)
def test_ack_retires_the_old_login(
    make_stack: Any, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    stack = make_stack()
    stack.start_worker()
    plugin_id, old, new, session = rotate_with_open_session(stack, mode, 60)
    with closing(session):
        assert can_log_in(stack, plugin_id, old) and can_log_in(stack, plugin_id, new)
        assert still_works(session)
        env_file = Path(stack.env["PLUGIN_DB_CONNECTION_DIR"]) / f"{plugin_id}.env"
        stack.wait_until(lambda: new.username in env_file.read_text(), what="new URL in .env")
        text = env_file.read_text()
        assert f"{new.username}:" in text and new.password in text and old.password not in text
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert [r.state for r in retirements(stack, plugin_id)] == ["pending"]

        gen = str(generation(stack, plugin_id))
        result = run_cli(stack, monkeypatch, "connection", "ack", plugin_id, gen, "--json")
        assert result.exit_code == 0, result.output
        assert_retired(stack, plugin_id, old, new, "ack")
    assert (
        stack.run("plugin_db.teardown", {"plugin_id": plugin_id, "purge": True}).state
        == "succeeded"
    )


@pytest.mark.parametrize("mode", MODES)
def test_no_session_left_retires_the_old_login(make_stack: Any, mode: str) -> None:
    stack = make_stack()
    stack.start_worker()
    plugin_id, old, new, session = rotate_with_open_session(stack, mode, 60)
    with closing(session):
        assert can_log_in(stack, plugin_id, old) and still_works(session)
    assert_retired(stack, plugin_id, old, new, "sessions")
    # archive and restore re-enable the logins: the retired one stays retired
    for task in ("plugin_db.teardown", "plugin_db.restore"):
        assert stack.run(task, {"plugin_id": plugin_id}, 90).state == "succeeded"
    assert can_log_in(stack, plugin_id, new) and not can_log_in(stack, plugin_id, old)
    purged = stack.run("plugin_db.teardown", {"plugin_id": plugin_id, "purge": True})
    assert purged.state == "succeeded"


@pytest.mark.parametrize("mode", MODES)
def test_the_grace_period_retires_the_old_login(make_stack: Any, mode: str) -> None:
    stack = make_stack()
    stack.start_worker()
    plugin_id, old, new, session = rotate_with_open_session(stack, mode, 0.05)  # 3 seconds
    with closing(session):
        assert_retired(stack, plugin_id, old, new, "grace")
        stack.wait_until(lambda: not still_works(session), what="old session ended")
    assert (
        stack.run("plugin_db.teardown", {"plugin_id": plugin_id, "purge": True}).state
        == "succeeded"
    )


def test_a_second_rotation_retires_the_first_one_first(make_stack: Any) -> None:
    stack = make_stack(PLUGIN_DB_RETIRE_CHECK_SECONDS="3600")
    stack.start_worker()
    plugin_id, old, new, session = rotate_with_open_session(stack, "exclusive-postgres", 60)
    with closing(session):
        again = stack.run("plugin_db.rotate_credentials", {"plugin_id": plugin_id}, 90)
        assert again.state == "succeeded", again.error
        assert again.steps[0]["name"] == "retire_previous"
        newest = logins(stack, plugin_id)["a"]
        assert newest.password != old.password
        assert not can_log_in(stack, plugin_id, old)
        assert can_log_in(stack, plugin_id, newest) and can_log_in(stack, plugin_id, new)
        assert [(r.slot, r.state, r.trigger) for r in retirements(stack, plugin_id)] == [
            ("a", "retired", "rotation"),
            ("b", "pending", None),
        ]
    with suppress(Exception):
        stack.run("plugin_db.teardown", {"plugin_id": plugin_id, "purge": True})


def test_doctor_reports_a_login_waiting_past_its_grace_period(
    make_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack()
    stack.start_worker(beat=False)  # nothing retires it
    plugin_id, old, _new, session = rotate_with_open_session(stack, "exclusive-postgres", 0.01)
    with closing(session):
        stack.wait_until(
            lambda: (
                "rotation_waiting"
                in run_cli(stack, monkeypatch, "doctor", "--plugin", plugin_id, "--json").output
            ),
            what="doctor finding",
        )
        report = run_cli(stack, monkeypatch, "doctor", "--plugin", plugin_id, "--json")
        assert report.exit_code == 1 and old.username in report.output
    purged = stack.run("plugin_db.teardown", {"plugin_id": plugin_id, "purge": True})
    assert purged.state == "succeeded"
    assert [r.state for r in retirements(stack, plugin_id)] == ["dropped"]
