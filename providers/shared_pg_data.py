"""Shared mode on PostgreSQL: snapshots of only the plugin's tables, restore, quotas.

* Snapshot: ``pg_dump -Fc --table=…`` of exactly the plugin's objects, on a snapshot
  exported by a REPEATABLE READ transaction that also counts their rows.
* Restore: ``pg_restore -f - | psql -1``: in one transaction psql moves the plugin's objects
  to a hold schema, lets the script recreate them, moves what it made to the side schema
  ``pdb_side_<ns>`` and the held objects back; others only see the side schema appear.
  The swap, in one transaction, moves the plugin's objects to ``pdb_replaced_<ns>`` (kept)
  and the side schema's in.
* Quotas: a statement trigger on each of the plugin's tables refuses INSERT and UPDATE with
  "permission denied" (SQLSTATE 42501); SELECT and DELETE work. Tables created later are
  covered at the next enforcement.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from providers import tools
from providers.base import PluginSpec, Sink
from providers.pg_data import _counts
from providers.shared_data import SharedData
from worker.naming import POSTGRES_IDENT_BYTES, bounded

QUOTA_FUNCTION, QUOTA_TRIGGER = "plugin_db_quota_refuse", "plugin_db_quota"
_MOVABLE = (
    "SELECT c.relname, CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' "
    "WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind FROM pg_class c "
    "WHERE c.relnamespace = to_regnamespace({src})::oid AND c.relkind IN ('r','p','v','m','S') "
    "AND starts_with(c.relname, {prefix}) AND NOT c.relname = ANY({others}::text[]) "
    "AND NOT c.relispartition AND NOT (c.relkind = 'S' AND EXISTS (SELECT FROM pg_depend d "
    "WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))"
)
_MOVE = (
    "DO $$DECLARE r record; BEGIN FOR r IN " + _MOVABLE + " LOOP EXECUTE "
    "format('ALTER %s %I.%I SET SCHEMA %I', r.kind, {src}, r.relname, {dst}); END LOOP; END $$;"
)
_REFUSE = (
    "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN "
    "RAISE EXCEPTION 'permission denied: storage quota exceeded, the plugin is read-only "
    "until it is back under its limit' USING ERRCODE = '42501'; END $$"
)


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(map(_lit, values)) + "]::text[]" if values else "'{}'"


class SharedPostgresData(SharedData):
    """Data hooks of shared mode on PostgreSQL."""

    snapshot_format: ClassVar[str | None] = "shared_pg_custom"

    def _names(self, spec: PluginSpec) -> tuple[str, str, str]:
        """(side, replaced, hold) schemas of the plugin."""
        return tuple(  # type: ignore[return-value]
            bounded(f"pdb_{what}_{spec.namespace}", POSTGRES_IDENT_BYTES)
            for what in ("side", "replaced", "hold")
        )

    def _env(self) -> dict[str, str]:
        url, env = self.url, {}
        for key, value in (("PGHOST", url.host), ("PGPORT", url.port), ("PGUSER", url.username)):
            if value:
                env[key] = str(value)
        if url.password:
            env["PGPASSWORD"] = str(url.password)
        env["PGDATABASE"] = str(url.database or "")
        return env

    def _schema_and_others(self, cur: Any, spec: PluginSpec) -> tuple[str, list[str], list[str]]:
        """(current schema, the plugin's objects, other plugins' objects under its prefix)."""
        schema = str(self._run(cur, "SELECT current_schema()")[0][0])
        objects = self._objects(cur)
        owned = self._owned(cur, spec, objects)
        prefix = f"{spec.namespace}_"
        others = [n for n in objects if n.startswith(prefix) and n not in owned]
        return schema, owned, others

    def _move(
        self, spec: PluginSpec, src: str, dst: str, others: list[str], whole: bool = False
    ) -> str:
        """A DO block moving the plugin's relations (or all, ``whole``) from ``src`` to ``dst``."""
        prefix = "''" if whole else _lit(f"{spec.namespace}_")
        return _MOVE.format(src=_lit(src), dst=_lit(dst), prefix=prefix, others=_array(others))

    def dump(self, spec: PluginSpec, sink: Sink) -> dict[str, int]:
        """``pg_dump -Fc -Z0 --table=…`` of the plugin's objects on an exported snapshot."""
        with self._translated():
            conn = self._open()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    schema, owned, _ = self._schema_and_others(cur, spec)
                    cur.execute(
                        "SELECT pg_export_snapshot(), current_setting('server_version_num')"
                    )
                    exported, version = cur.fetchone()
                    counts = {k: v for k, v in _counts(cur, schema).items() if k in owned}
                    program = tools.find_pg("pg_dump", int(version) // 10000)
                    argv = [program, "-Fc", "-Z0", f"--snapshot={exported}"]
                    argv += [f"--table={_pattern(schema)}.{_pattern(n)}" for n in owned]
                    if not owned:  # without a --table pg_dump would dump everything
                        argv.append("--table=pdb_no_such_table")
                    tools.stream_out(argv, self._env(), sink)
            finally:
                conn.close()
        return counts

    def load_side(self, spec: PluginSpec, chunks: Iterator[bytes]) -> None:
        """One transaction: hold the plugin's objects aside, replay, keep the result as side."""
        side, _, hold = self._names(spec)
        with self._session() as cur:
            schema, _, others = self._schema_and_others(cur, spec)
            version = int(self._run(cur, "SHOW server_version_num")[0][0]) // 10000
            self._run(cur, f"DROP SCHEMA IF EXISTS {self._q(side)} CASCADE")
        fresh = "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0};"
        before = fresh.format(self._q(hold)) + self._move(spec, schema, hold, others)
        after = fresh.format(self._q(side)) + self._move(spec, schema, side, others)
        after += self._move(spec, hold, schema, [], whole=True) + f"DROP SCHEMA {self._q(hold)};"
        restore = [tools.find_pg("pg_restore", version), "--exit-on-error", "-f", "-"]
        psql = [tools.find_pg("psql", version), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1"]
        psql += ["-c", before, "-f", "-", "-c", after]
        tools.pipe_in(restore, psql, self._env(), chunks)

    def _side_exists(self, cur: Any, side: str) -> bool:
        return bool(self._run(cur, "SELECT 1 FROM pg_namespace WHERE nspname = %s", side))

    def side_row_counts(self, spec: PluginSpec) -> dict[str, int] | None:
        """Rows per table of the side schema (None without one)."""
        side = self._names(spec)[0]
        with self._session() as cur:
            return _counts(cur, side) if self._side_exists(cur, side) else None

    def swap_side(self, spec: PluginSpec) -> str | None:
        """In one transaction: the plugin's objects to the replaced schema, the side's in."""
        side, replaced, _ = self._names(spec)
        with self._translated():
            conn = self._open()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    if not self._side_exists(cur, side):
                        return None
                    schema, _, others = self._schema_and_others(cur, spec)
                    q = self._q(replaced)
                    cur.execute(f"DROP SCHEMA IF EXISTS {q} CASCADE; CREATE SCHEMA {q}")
                    cur.execute(self._move(spec, schema, replaced, others))
                    cur.execute(self._move(spec, side, schema, [], whole=True))
                    cur.execute(f"DROP SCHEMA {self._q(side)}")
            finally:
                conn.close()
        return replaced

    def drop_side(self, spec: PluginSpec) -> None:
        """Drop the side schema, if any."""
        with self._session() as cur:
            self._run(cur, f"DROP SCHEMA IF EXISTS {self._q(self._names(spec)[0])} CASCADE")

    def discard_restore_objects(self, spec: PluginSpec) -> None:
        """Drop the side and replaced schemas (purge)."""
        with self._session() as cur:
            for name in self._names(spec)[:2]:
                self._run(cur, f"DROP SCHEMA IF EXISTS {self._q(name)} CASCADE")

    def _tables(self, cur: Any, spec: PluginSpec) -> list[str]:
        objects = self._objects(cur)
        return [n for n in self._owned(cur, spec, objects) if objects[n] == "table"]

    def set_read_only(self, spec: PluginSpec, read_only: bool) -> None:
        """The quota trigger on (or off) each of the plugin's tables, in one transaction."""
        with self._translated():
            conn = self._open()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    if read_only:
                        cur.execute(_REFUSE.format(self._q(QUOTA_FUNCTION)))
                    for table in self._tables(cur, spec):
                        on = f"ON {self._q(table)}"
                        cur.execute(f"DROP TRIGGER IF EXISTS {QUOTA_TRIGGER} {on}")
                        if read_only:
                            cur.execute(
                                f"CREATE TRIGGER {QUOTA_TRIGGER} BEFORE INSERT OR UPDATE {on} "
                                f"FOR EACH STATEMENT EXECUTE FUNCTION {QUOTA_FUNCTION}()"
                            )
            finally:
                conn.close()

    def is_read_only(self, spec: PluginSpec) -> bool:
        """Whether every table of the plugin carries the quota trigger."""
        with self._session() as cur:
            tables = self._tables(cur, spec)
            rows = self._run(
                cur,
                "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE c.relnamespace = to_regnamespace(current_schema())::oid "
                "AND t.tgname = %s AND c.relname = ANY(%s)",
                QUOTA_TRIGGER,
                tables,
            )
        return bool(tables) and int(rows[0][0]) == len(tables)


def _pattern(name: str) -> str:
    """An exact pg_dump pattern for one name."""
    return '"' + name.replace('"', '""') + '"'
