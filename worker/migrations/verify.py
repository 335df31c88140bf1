"""Reversibility proof: UP, DOWN and UP again on a scratch database, compared by reflection.

The scratch database comes from the plugin's driver
(:meth:`~providers.base.Provider.scratch_database`: a temporary SQLite file, a schema or a
database the admin creates and drops afterwards). The schema is reflected with SQLAlchemy
(tables, columns, primary and foreign keys, indexes, views) before anything runs and after
every UP part; each DOWN part, run newest first, must bring back exactly the state before its
UP part (so a DOWN that forgets an index is caught even when an older DOWN drops the table
later); UP again must reproduce the state after the first UP. Statements pass the ownership
guard with the scratch schema as the only container, so a statement naming the plugin's real
schema is refused, never run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from providers.base import Namespace, Provider
from worker.errors import PluginDbError, ProofStopped
from worker.migrations.files import MigrationFile
from worker.sqlguard import check_statements, split_statements

Snapshot = dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    """The outcome of a proof: ok, or the differences (and errors) found."""

    ok: bool
    dialect: str
    versions: list[str]
    differences: list[str]

    def to_json(self) -> dict[str, Any]:
        """JSON form (also the audit event's details)."""
        return {
            "ok": self.ok,
            "dialect": self.dialect,
            "versions": self.versions,
            "differences": self.differences,
        }


def _type(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # a type SQLAlchemy cannot compile: its class is enough to compare
        return type(value).__name__


def reflect(engine: Engine, schema: str | None) -> Snapshot:
    """Tables (columns, keys, indexes) and views of the scratch database."""
    insp = sa.inspect(engine)
    tables: dict[str, Any] = {}
    for table in sorted(insp.get_table_names(schema=schema)):
        columns = {
            c["name"]: f"{_type(c['type'])}{'' if c.get('nullable', True) else ' NOT NULL'}"
            for c in insp.get_columns(table, schema=schema)
        }
        indexes = {
            str(
                i["name"]
            ): f"{'UNIQUE ' if i.get('unique') else ''}({', '.join(map(str, i['column_names']))})"
            for i in insp.get_indexes(table, schema=schema)
        }
        pk = insp.get_pk_constraint(table, schema=schema).get("constrained_columns") or []
        fks = sorted(
            f"({', '.join(fk['constrained_columns'])}) -> {fk['referred_table']}"
            f"({', '.join(fk['referred_columns'])})"
            for fk in insp.get_foreign_keys(table, schema=schema)
        )
        tables[table] = {"columns": columns, "indexes": indexes, "primary_key": pk, "fks": fks}
    return {"tables": tables, "views": sorted(insp.get_view_names(schema=schema))}


def _diff_named(label: str, what: str, want: dict[str, str], got: dict[str, str]) -> list[str]:
    """``what`` is a prefix such as ``"column t."`` or ``"view "``."""
    out = [f"{label}: {what}{n} is missing" for n in sorted(set(want) - set(got))]
    out += [f"{label}: {what}{n} is left over" for n in sorted(set(got) - set(want))]
    out += [
        f"{label}: {what}{n} is {got[n]}, expected {want[n]}"
        for n in sorted(set(want) & set(got))
        if want[n] != got[n]
    ]
    return out


def diff(want: Snapshot, got: Snapshot, label: str) -> list[str]:
    """Human-readable differences between two snapshots."""
    wt, gt = want["tables"], got["tables"]
    out = [f"{label}: table {t} is missing" for t in sorted(set(wt) - set(gt))]
    out += [f"{label}: table {t} is left over" for t in sorted(set(gt) - set(wt))]
    for t in sorted(set(wt) & set(gt)):
        out += _diff_named(label, f"column {t}.", wt[t]["columns"], gt[t]["columns"])
        out += _diff_named(label, f"index on {t}: ", wt[t]["indexes"], gt[t]["indexes"])
        for key in ("primary_key", "fks"):
            if wt[t][key] != gt[t][key]:
                out.append(f"{label}: {key} of {t} is {gt[t][key]}, expected {wt[t][key]}")
    views_want, views_got = dict.fromkeys(want["views"], ""), dict.fromkeys(got["views"], "")
    return out + _diff_named(label, "view ", views_want, views_got)


class _Runner:
    """Runs parts of files on one autocommit connection, each statement guarded first."""

    def __init__(self, engine: Engine, dialect: str, ns: Namespace) -> None:
        self.dialect, self.ns = dialect, ns
        self.conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def run(self, file: MigrationFile, part: str) -> None:
        sql = file.up_sql if part == "UP" else file.down_sql
        try:
            statements = split_statements(sql, self.dialect)
            check_statements(statements, self.dialect, self.ns, force=True)
        except PluginDbError as exc:
            raise ProofStopped(f"{part} of {file.version} refused: {exc}") from exc
        raw = self.conn.connection.driver_connection
        assert raw is not None
        for statement in statements:
            cursor = raw.cursor()
            try:
                cursor.execute(statement)
            except Exception as exc:  # driver errors differ per dialect
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                shown = statement.strip()[:200]
                raise ProofStopped(
                    f"{part} of {file.version} failed at {shown!r}: {reason}"
                ) from exc
            finally:
                cursor.close()

    def close(self) -> None:
        self.conn.close()


def prove(
    files: list[MigrationFile], dialect: str, engine: Engine, schema: str | None, ns: Namespace
) -> list[str]:
    """UP all, DOWN each (newest first) back to its before-state, UP again; the differences.

    A difference a DOWN leaves is reported once: later DOWN parts are judged only on what
    they change themselves.
    """
    runner, differences = _Runner(engine, dialect, ns), list[str]()
    try:
        states = [reflect(engine, schema)]
        for file in files:
            runner.run(file, "UP")
            states.append(reflect(engine, schema))
        current = states[-1]
        for index in reversed(range(len(files))):
            file = files[index]
            if not file.down_sql:
                return [*differences, f"{file.version}: has no DOWN part, so it cannot be undone"]
            runner.run(file, "DOWN")
            carried = set(diff(states[index + 1], current, ""))
            current = reflect(engine, schema)
            label = f"after DOWN of {file.version}"
            differences += [
                f"{label}{d}" for d in diff(states[index], current, "") if d not in carried
            ]
        for file in files:
            runner.run(file, "UP")
        differences += diff(states[-1], reflect(engine, schema), "after UP again")
    except ProofStopped as exc:
        differences.append(str(exc))
    finally:
        runner.close()
    return differences


def verify(files: list[MigrationFile], provider: Provider, ns: Namespace) -> Verdict:
    """Prove ``files`` reversible on the driver's scratch database."""
    versions, dialect = [f.version for f in files], provider.dialect
    with provider.scratch_database() as (engine, schema, container):
        differences = prove(
            files, dialect, engine, schema, replace(ns, containers=frozenset({container}))
        )
    return Verdict(not differences, dialect, versions, differences)
