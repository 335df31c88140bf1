"""Migration files in the format of seeds/002: a header, an UP part and a DOWN part.

File names carry the version: ``001-add-new-column.sql`` or
``20250129_143000_create_hamid_cart_table.sql``. Versions sort by their version string.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from worker.errors import MigrationFileError

MAX_FILE_BYTES = 1024 * 1024
MAX_FILES = 10_000
_NAME_RE = re.compile(r"^(?P<version>\d+(?:_\d+)?)[-_](?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)\.sql$")
_UP_RE = re.compile(r"^--\s*UP\b.*$", re.I | re.M)
_DOWN_RE = re.compile(r"^--\s*DOWN\b.*$", re.I | re.M)
_HEADER_RE = re.compile(
    r"^--\s*(MIGRATION|Version|Description|Plugin)\s*:\s*(.*?)\s*$", re.I | re.M
)
_RULE_RE = re.compile(r"^--\s*=+\s*$", re.M)


@dataclass(frozen=True)
class MigrationFile:
    """One parsed migration file."""

    version: str
    name: str
    description: str | None
    up_sql: str
    down_sql: str
    checksum: str
    filename: str


def normalize(text: str) -> str:
    """Content as checksummed: no BOM, LF line endings, no trailing white space at the end."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").rstrip() + "\n"


def checksum(text: str) -> str:
    """SHA-256 of the normalized content (line endings and a BOM do not change it)."""
    return hashlib.sha256(normalize(text).encode()).hexdigest()


def set_checksum(files: list[MigrationFile]) -> str:
    """One checksum over a plugin's whole set of files (versions and their checksums)."""
    joined = "\n".join(f"{f.version}:{f.checksum}" for f in files)
    return hashlib.sha256(joined.encode()).hexdigest()


FILES_CHECKSUM = "files_checksum"
"""The key of ``plugin_datasources.descriptor`` under which a successful migrate to the latest
version stores :func:`set_checksum` of the plugin's files (see ``worker.migrations.gate``)."""


def checksum_in(descriptor: object) -> str | None:
    """The set checksum a datasource's descriptor holds, if any."""
    value = descriptor.get(FILES_CHECKSUM) if isinstance(descriptor, dict) else None
    return value if isinstance(value, str) else None


Scanned = dict[str, tuple[str, str]]
"""Migration files by version: (file name, checksum), as :func:`scan` reads them."""


def scan(folder: Path, root: Path) -> Scanned | None:
    """Each file's version -> (file name, checksum), read without parsing, or None when the
    folder needs :func:`load_dir`'s full checks (a name, size, encoding or version it would
    question). Only a folder whose :func:`scanned_checksum` equals a checksum stored after a
    successful run is known to parse as it did then."""
    inside = os.path.realpath(folder)
    if not Path(inside).is_relative_to(os.path.realpath(root)):
        return None
    try:
        entries = [e for e in os.scandir(inside) if e.name.endswith(".sql")]
    except (FileNotFoundError, NotADirectoryError):
        return {}
    if len(entries) > MAX_FILES:
        return None
    found: Scanned = {}
    for entry in entries:
        match = _NAME_RE.match(entry.name)
        if match is None or entry.is_symlink() or match["version"] in found:
            return None
        text = _text(Path(entry.path))
        if text is None:
            return None
        found[match["version"]] = (entry.name, checksum(text))
    return found


def scanned_checksum(found: Scanned) -> str:
    """:func:`set_checksum` of what :func:`scan` found."""
    joined = "\n".join(f"{v}:{found[v][1]}" for v in sorted(found))
    return hashlib.sha256(joined.encode()).hexdigest()


def folder_checksum(folder: Path, root: Path) -> str | None:
    """:func:`set_checksum` of the folder's files without parsing them, or None when the
    folder needs :func:`load_dir`'s full checks."""
    found = scan(folder, root)
    return None if found is None else scanned_checksum(found)


def _text(path: Path) -> str | None:
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _strip_rules(sql: str) -> str:
    return _RULE_RE.sub("", sql).strip()


def parse(filename: str, text: str) -> MigrationFile:
    """Parse one file; raise MigrationFileError naming the file and what to fix."""
    match = _NAME_RE.match(filename)
    if not match:
        raise MigrationFileError(
            "bad migration file name",
            [
                f"{filename}: name it VERSION-NAME.sql or YYYYMMDD_HHMMSS_NAME.sql "
                "(version digits first, e.g. 001-create-notes.sql)"
            ],
        )
    if "\x00" in text:
        raise MigrationFileError(
            "migration file holds a NUL character",
            [f"{filename}: remove the NUL (\\0) character; no database accepts it in SQL"],
        )
    body = normalize(text)
    headers = {k.lower(): v for k, v in _HEADER_RE.findall(body)}
    version = match["version"]
    if headers.get("version") and not headers["version"].startswith(version):
        raise MigrationFileError(
            "migration version mismatch",
            [f"{filename}: header says Version {headers['version']!r}, file name says {version!r}"],
        )
    up_start = _UP_RE.search(body)
    down = _DOWN_RE.search(body)
    up_from = up_start.end() if up_start else 0
    up_sql = _strip_rules(_HEADER_RE.sub("", body[up_from : down.start() if down else len(body)]))
    down_sql = _strip_rules(body[down.end() :]) if down else ""
    if not up_sql:
        raise MigrationFileError("empty migration", [f"{filename}: the UP part has no SQL"])
    return MigrationFile(
        version=version,
        name=headers.get("migration") or match["name"],
        description=headers.get("description") or None,
        up_sql=up_sql,
        down_sql=down_sql,
        checksum=checksum(text),
        filename=filename,
    )


_CACHED_BYTES = 64 * 1024


def _parsed(filename: str, text: str) -> MigrationFile:
    """:func:`parse`, remembered by name and text for files up to :data:`_CACHED_BYTES`
    (a request reads its files twice: when it is validated and when its step runs)."""
    return _parse_once(filename, text) if len(text) <= _CACHED_BYTES else parse(filename, text)


@lru_cache(maxsize=2048)
def _parse_once(filename: str, text: str) -> MigrationFile:
    return parse(filename, text)  # errors are not remembered: raised again each time


def _read(path: Path) -> str:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise MigrationFileError(
            "migration too large", [f"{path.name}: over {MAX_FILE_BYTES} bytes"]
        )
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise MigrationFileError("bad encoding", [f"{path.name}: is not valid UTF-8"]) from None


def load_dir(folder: Path, root: Path) -> list[MigrationFile]:
    """Every ``*.sql`` file in ``folder`` (which must stay inside ``root``), sorted by version.

    A symbolic link is followed only if it stays inside the folder.
    """
    inside = os.path.realpath(folder)
    if not Path(inside).is_relative_to(os.path.realpath(root)):
        raise MigrationFileError(
            "migrations folder outside the plugin", [f"{folder}: leaves {root}"]
        )
    try:
        entries = sorted(
            (e for e in os.scandir(inside) if e.name.endswith(".sql")), key=lambda e: e.name
        )
    except (FileNotFoundError, NotADirectoryError):
        return []
    if len(entries) > MAX_FILES:
        raise MigrationFileError("too many migrations", [f"{folder}: more than {MAX_FILES} files"])
    files = [
        _parsed(e.name, _read(Path(e.path)))
        for e in entries
        if not e.is_symlink() or Path(os.path.realpath(e.path)).is_relative_to(inside)
    ]
    seen: dict[str, str] = {}
    for f in files:
        if f.version in seen:
            raise MigrationFileError(
                "duplicate migration version",
                [f"{f.filename}: version {f.version} is also used by {seen[f.version]}"],
            )
        seen[f.version] = f.filename
    return sorted(files, key=lambda f: f.version)
