"""Core DML on the driver's cursor: the hot path's writes without an execution context.

A step's transaction writes a handful of rows (its fence, its audit event, its outbox row, the
datasource's new status). Through ``Connection.execute`` each costs about 40 µs of SQLAlchemy
bookkeeping (execution context, result object, cache key) against a few µs of driver time on
SQLite. :class:`Direct` compiles its statement once per dialect and set of parameter names and
sends it on the driver's cursor of the caller's connection, inside the caller's transaction.
The SQL and the parameter values are SQLAlchemy's own: the compiler's text and the column
types' bind processors (JSON encoding, date-time formatting), so the rows written are the rows
``Connection.execute`` writes (tests/unit/test_direct.py compares them), and a driver error
is raised as ``Connection.execute`` raises it (an IntegrityError, an OperationalError for a
lost connection, which is then invalidated). Listeners of ``before_cursor_execute`` see every
statement sent this way.

Only plain INSERT, UPDATE and DELETE statements with scalar bound parameters qualify: an
expanding parameter (``IN``), a ``RETURNING`` clause or a generated primary key the caller
needs back take ``Connection.execute``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql.dml import Insert, UpdateBase

Params = Mapping[str, Any]


@dataclass(frozen=True)
class _Plan:
    """A statement compiled for one dialect and one set of parameter names."""

    sql: str
    defaults: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]
    order: tuple[str, ...] | None
    """Bind names in order for a positional paramstyle; None for a named one."""

    def args(self, params: Params) -> Any:
        values = {**self.defaults, **params}
        for name, process in self.processors.items():
            values[name] = process(values[name])
        return values if self.order is None else tuple(values[name] for name in self.order)


class Direct:
    """``statement`` run on the driver's cursor (see the module docstring)."""

    def __init__(self, statement: UpdateBase) -> None:
        self.statement = statement
        self._plans: dict[tuple[str, str, tuple[str, ...]], _Plan] = {}

    def run(self, conn: Connection, params: Params | Sequence[Params]) -> int:
        """Execute with ``params`` (a sequence: one execution per mapping) on ``conn``'s
        transaction; the driver's row count."""
        rows = [params] if isinstance(params, Mapping) else list(params)
        plan = self._plan(conn.dialect, tuple(rows[0]))
        args = [plan.args(row) for row in rows]
        many = len(args) > 1
        sent = args if many else args[0]
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            conn.dispatch.before_cursor_execute(conn, cursor, plan.sql, sent, None, many)
            if many:
                cursor.executemany(plan.sql, args)
            else:
                cursor.execute(plan.sql, sent)
            return int(cursor.rowcount)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, cursor, (plan.sql, sent), exc) from exc
        finally:
            cursor.close()

    def _plan(self, dialect: Dialect, keys: tuple[str, ...]) -> _Plan:
        key = (dialect.name, dialect.driver, keys)  # the driver decides the paramstyle
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _compile(self.statement, dialect, keys)
        return plan


def _wrapped(conn: Connection, cursor: Any, sent: tuple[str, Any], exc: Any) -> StatementError:
    """The driver's error as ``Connection.execute`` raises it: SQLAlchemy's class for it
    (IntegrityError, OperationalError, ...), the connection invalidated when the error means
    it is lost. The parameters are left out of the message (they may hold a secret's
    ciphertext)."""
    dialect = conn.dialect
    lost = dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
    if lost:
        conn.invalidate(exc)
    statement, params = sent
    wrapped: StatementError = DBAPIError.instance(
        statement,
        params,
        exc,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=lost,
        dialect=dialect,
    )
    return wrapped


def _compile(statement: UpdateBase, dialect: Dialect, keys: tuple[str, ...]) -> _Plan:
    if isinstance(statement, Insert):  # no RETURNING of a generated key nobody reads
        statement = statement.inline()
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys))
    if compiled.returning or compiled.insert_prefetch or compiled.update_prefetch:
        # a column default computed in Python would be left out: the caller gives every value
        raise ValueError(f"Direct runs plain DML with every value given: {compiled}")
    binds = compiled.binds
    if any(bind.expanding for bind in binds.values()):
        raise ValueError("Direct runs statements without expanding parameters only")
    defaults = {
        name: bind.effective_value
        for name, bind in binds.items()
        if name not in keys and not bind.required
    }
    processors = {
        name: process
        for name, bind in binds.items()
        if (process := bind.type._cached_bind_processor(dialect)) is not None
    }
    order = tuple(compiled.positiontup) if compiled.positional else None
    return _Plan(str(compiled), defaults, processors, order)
