"""The migration engine's tracking reads, in read transactions.

On SQLite tracking every session of ``sessions`` begins IMMEDIATE (it takes the write lock
at once, for the transactions that write); a read of the engine's (statuses, the stored
checksum, stored analyses) needs none: it begins deferred and, in WAL mode, never waits for
a writer nor makes one wait. Other databases are unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from worker.tracking.db import read_sessions

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

_READERS: WeakKeyDictionary[sessionmaker[Session], sessionmaker[Session]] = WeakKeyDictionary()


def reading(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Read-only sessions on the same engine as ``sessions`` (made once per sessionmaker)."""
    found = _READERS.get(sessions)
    if found is None:
        found = _READERS[sessions] = read_sessions(sessions)
    return found
