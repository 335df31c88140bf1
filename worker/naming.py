"""Plugin ids and every database object name (and file path) derived from them."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from worker.errors import ManifestError

PLUGIN_ID_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
RESERVED_IDS = frozenset(
    {
        "core",
        "platform",
        "public",
        "postgres",
        "mysql",
        "sys",
        "information_schema",
        "performance_schema",
        "template0",
        "template1",
    }
)
POSTGRES_IDENT_BYTES = 63  # NAMEDATALEN - 1
MYSQL_USER_CHARS = 32  # user names longer than this are refused by MySQL
MYSQL_IDENT_CHARS = 64


def check_plugin_id(value: object, field: str = "plugin_id") -> str:
    """Return ``value`` if it is a valid, unreserved plugin id; raise ManifestError otherwise."""
    if not isinstance(value, str):
        raise ManifestError("invalid plugin id", [f"{field}: must be a string"])
    if not PLUGIN_ID_RE.fullmatch(value):
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise ManifestError(
            "invalid plugin id",
            [
                f"{field}: {shown!r} is not a plugin id; use 1-40 characters, lower-case "
                "letters, digits and '-', starting with a letter (pattern ^[a-z][a-z0-9-]{0,39}$)"
            ],
        )
    if value in RESERVED_IDS or namespace(value).startswith("pg_"):
        raise ManifestError(
            "reserved plugin id",
            [f"{field}: {value!r} is reserved for the platform; choose another id"],
        )
    return value


def namespace(plugin_id: str) -> str:
    """The SQL-safe namespace of a plugin: its id with '-' replaced by '_'."""
    return plugin_id.replace("-", "_")


def bounded(name: str, limit: int) -> str:
    """``name`` if it fits in ``limit`` bytes, else a prefix plus a stable 8-hex hash suffix."""
    if len(name.encode()) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9]}_{digest}"


def resolved_child(folder: Path, name: str) -> Path:
    """``folder / name`` resolved, for an absolute, resolved ``folder``.

    A plain child that is no symbolic link, in a folder that is none, is its own resolved
    path: two ``lstat`` calls instead of one per component of the path. Anything else (a
    link, a name with separators) is resolved, for the caller to check where it leads.
    """
    path = folder / name
    plain = path.parent == folder and folder.is_absolute()
    if plain and not path.is_symlink() and not folder.is_symlink():
        return path
    return path.resolve()
