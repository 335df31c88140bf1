"""Where snapshot files live: a small interface, and the local folder implementation.

An object store would implement the same four methods (multipart upload behind ``writer``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from worker.errors import SnapshotError


class SnapshotStore(Protocol):
    """Stores snapshot files by key (``<plugin id>/<snapshot id>.snap``)."""

    def writer(self, key: str) -> AbstractContextManager[BinaryIO]: ...

    def reader(self, key: str) -> BinaryIO: ...

    def delete(self, key: str) -> None: ...

    def location(self, key: str) -> str: ...


class LocalStore:
    """A folder (``PLUGIN_DB_SNAPSHOT_DIR``); files 0600, folders 0700, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise SnapshotError(f"snapshot key {key!r} leaves the store")
        return path

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        """A file that appears under ``key`` only if the block completes."""
        path = self._path(key)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.part")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb", buffering=1024 * 1024) as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(draft, path)
        finally:
            draft.unlink(missing_ok=True)

    def reader(self, key: str) -> BinaryIO:
        """The stored file, opened for reading."""
        try:
            return self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise SnapshotError(f"snapshot file {self.location(key)} is missing") from exc

    def delete(self, key: str) -> None:
        """Remove the file; no effect if it is gone."""
        self._path(key).unlink(missing_ok=True)

    def location(self, key: str) -> str:
        """Where the file is, for people (``file://`` path)."""
        return f"file://{self._path(key)}"
