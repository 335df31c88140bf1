"""The ledger's SQL: its table, its writes compiled once per process, and their literal form.

A write is a shape (insert, update of some columns, delete) and its values; each shape is
compiled with bind parameters once per ledger table name and driver (a worker migrates many
plugins whose ledgers share a name), for the driver's DB-API connections.
:meth:`LedgerSql.literal` inlines the values, for a driver that runs a file and its ledger
row as one script (:attr:`providers.base.Provider.runs_scripts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from worker.tracking.models import utcnow


@cache
def _dialect(scheme: str) -> sa.engine.Dialect:
    """The SQLAlchemy dialect that compiles ledger statements for a driver's connections."""
    return sa.create_engine(scheme).dialect


@lru_cache(maxsize=1024)
def _history(name: str) -> sa.TableClause:
    text, number = ("version", "checksum", "applied_at"), ("statements_done", "complete")
    columns = [sa.column(c, sa.String()) for c in text] + [
        sa.column(c, sa.Integer()) for c in number
    ]
    return sa.table(name, *columns)


_COMPILED: dict[tuple[str, str, tuple[str, ...]], SQLCompiler] = {}
"""Compiled writes by (table, scheme, shape); a compiled statement is immutable."""
_COMPILED_MAX = 4096


@dataclass(frozen=True)
class Write:
    """A ledger write: its statement's shape (compiled once) and its values."""

    shape: tuple[str, ...]
    params: dict[str, Any]


class LedgerSql:
    """The ledger table's writes for one driver."""

    def __init__(self, table: str, scheme: str) -> None:
        self.table, self.scheme = table, scheme
        self.history = _history(table)
        self.dialect = _dialect(scheme)

    def where(self, version: str) -> sa.ColumnElement[bool]:
        """Rows of ``version``."""
        return self.history.c.version == version

    def insert(self, version: str, checksum: str, done: int, complete: int = 1) -> Write:
        row = {"version": version, "checksum": checksum, "statements_done": done}
        applied = {"complete": complete, "applied_at": utcnow().isoformat()}
        return Write(("insert",), {**row, **applied})

    def update(self, version: str, **values: Any) -> Write:
        return Write(("update", *sorted(values)), {"where_version": version, **values})

    def delete(self, version: str) -> Write:
        return Write(("delete",), {"where_version": version})

    def entries(self) -> Write:
        """Read every row (version, checksum, statements_done, complete)."""
        return Write(("entries",), {})

    def compiled(self, shape: tuple[str, ...]) -> SQLCompiler:
        """The write's statement with bind parameters, compiled once per table and driver."""
        key = (self.table, self.scheme, shape)
        found = _COMPILED.get(key)
        if found is None:
            found = self._compile(shape)
            if len(_COMPILED) >= _COMPILED_MAX:  # table names are bounded in practice
                _COMPILED.clear()
            _COMPILED[key] = found
        return found

    def _compile(self, shape: tuple[str, ...]) -> SQLCompiler:
        where = self.history.c.version == sa.bindparam("where_version", type_=sa.String())
        kind, columns = shape[0], shape[1:]
        statement: ClauseElement
        if kind == "insert":
            statement = sa.insert(self.history).values(
                {c.name: sa.bindparam(c.name, type_=c.type) for c in self.history.c}
            )
        elif kind == "update":
            binds = {c: sa.bindparam(c, type_=self.history.c[c].type) for c in columns}
            statement = sa.update(self.history).where(where).values(binds)
        elif kind == "entries":
            h = self.history.c
            query = sa.select(h.version, h.checksum, h.statements_done, h.complete)
            statement = query.select_from(self.history)
        else:
            statement = sa.delete(self.history).where(where)
        return statement.compile(dialect=self.dialect)

    def literal(self, write: Write) -> str:
        """A ledger write with its values inlined, each rendered by SQLAlchemy's literal
        processor of the column's type (the values are digits, hex checksums, timestamps)."""
        compiled = self.compiled(write.shape)
        values = {}
        for name, value in write.params.items():
            render = compiled.binds[name].type.literal_processor(self.dialect)
            values[name] = render(value) if render is not None else str(value)
        text = str(compiled.string)
        if compiled.positional:
            marker = "?" if self.dialect.paramstyle == "qmark" else "%s"
            pieces = text.split(marker)
            order = [values[k] for k in compiled.positiontup or ()]
            return "".join(p + v for p, v in zip(pieces, [*order, ""], strict=True))
        if self.dialect.paramstyle == "pyformat":
            return text % values
        for name, value in values.items():  # named (":name")
            text = text.replace(f":{name}", value)
        return text
