"""A plugin's own migration runner (``sovereign.database.migrations.entryPoint``).

Run only when ``settings.enable_entry_points`` is true (``PLUGIN_DB_ENABLE_ENTRY_POINTS=1``),
after the SQL migrations, on every migrate and provision (it is not covered by the fast
path: the runner must be idempotent):

* ``.py`` files run as ``[sys.executable, "-u", path]`` (unbuffered, so stdout and stderr stay
  in order in the captured output); anything else must have its executable bit;
* the working directory is the plugin's folder; the environment holds only ``PATH`` and
  ``PLUGIN_DATABASE_URL`` (with the password of the active login for providers that issue
  credentials; shared mode's URL carries no password: the platform's own is never handed out);
* it is killed (with its process group) after :data:`TIMEOUT_SECONDS`;
* stdout and stderr, redacted and truncated to :data:`OUTPUT_LIMIT` characters (the end is
  kept), go to the audit trail as event ``migration_entry_point``; a non-zero exit status or a
  timeout fails the operation.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from worker import audit
from worker.credentials import SLOTS
from worker.errors import EntryPointFailed
from worker.logging import redact_text
from worker.port import PluginPort

TIMEOUT_SECONDS = 60.0
OUTPUT_LIMIT = 10_000
_READ_LIMIT = 8 * OUTPUT_LIMIT


def script_path(plugin_dir: Path, relative: str) -> Path:
    """The entry point's file, confined to the plugin folder."""
    path = (plugin_dir / relative).resolve()
    if not path.is_relative_to(plugin_dir.resolve()):
        raise EntryPointFailed(f"entry point {relative}: leaves the plugin folder")
    if not path.is_file():
        raise EntryPointFailed(f"entry point {relative}: no such file in {plugin_dir}")
    return path


def command_for(path: Path) -> list[str]:
    """How to run the entry point: Python files with this interpreter, others directly."""
    if path.suffix == ".py":
        return [sys.executable, "-u", str(path)]
    if not os.access(path, os.X_OK):
        raise EntryPointFailed(
            f"entry point {path.name}: is not executable (chmod +x it, or use a .py file)"
        )
    return [str(path)]


def database_url(port: PluginPort) -> tuple[str, str | None]:
    """``PLUGIN_DATABASE_URL`` for the plugin's active login, and the password it carries."""
    creds = port.credentials() if port.provider.issues_credentials else None
    url = port.provider.describe(port.spec, creds.in_use if creds else SLOTS[0]).url
    login = port.login()
    if login is None or "://" not in url:
        return url, None
    scheme, rest = url.split("://", 1)
    user, _, host = rest.partition("@")
    return f"{scheme}://{user}:{quote(login.password, safe='')}@{host}", login.password


def _tail(handle: IO[bytes]) -> tuple[str, int]:
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, size - _READ_LIMIT))
    return handle.read().decode("utf-8", errors="replace"), size


def clean_output(raw: str, size: int, secrets: tuple[str | None, ...]) -> str:
    """Redacted, then cut to the last :data:`OUTPUT_LIMIT` characters."""
    text = redact_text(raw)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    if len(text) > OUTPUT_LIMIT or size > len(raw.encode()):
        text = f"[output truncated to its last {OUTPUT_LIMIT} characters]\n" + text[-OUTPUT_LIMIT:]
    return text


def execute(
    command: list[str], cwd: Path, env: dict[str, str], timeout: float
) -> tuple[int | None, str, int]:
    """Run ``command``; returns (exit status or None on timeout, output tail, output bytes)."""
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        text, size = _tail(output)
    return code, text, size


def run(port: PluginPort) -> tuple[dict[str, Any], Callable[[Session], None]]:
    """Run the entry point; (step detail, audit writer), or raise EntryPointFailed (audited)."""
    relative = port.manifest.database.migrations.entry_point
    assert relative is not None
    command = command_for(script_path(port.plugin_dir, relative))
    url, password = database_url(port)
    env = {"PLUGIN_DATABASE_URL": url, "PATH": os.environ.get("PATH", os.defpath)}
    started = time.monotonic()
    code, raw, size = execute(command, port.plugin_dir, env, TIMEOUT_SECONDS)
    ms = round((time.monotonic() - started) * 1000, 1)
    output = clean_output(raw, size, (password,))
    detail: dict[str, Any] = {"entry_point": relative, "exit_code": code, "ms": ms}
    if code is None:
        detail["timed_out_after_s"] = TIMEOUT_SECONDS

    def record(session: Session) -> None:
        audit.record(
            session,
            "migration_entry_point",
            plugin_id=port.plugin_id,
            operation_id=port.operation_id,
            actor=port.actor,
            output=output,
            **detail,
        )

    if code == 0:
        return detail, record
    port.journal.write(record)
    why = f"timed out after {TIMEOUT_SECONDS:g}s" if code is None else f"exited with {code}"
    last = output.strip().splitlines()[-1:] or ["no output"]
    raise EntryPointFailed(f"entry point {relative} {why}: {last[0][:300]}")
