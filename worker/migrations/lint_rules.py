"""The linter's rules: parse a statement, find what it destroys and what it locks, per dialect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from worker.sqlguard_facts import parsed

DESTRUCTIVE, LOCKING, NON_TRANSACTIONAL = "destructive", "locking", "non_transactional"
ALIASES = {"postgresql": "postgres", "mariadb": "mysql", "sqlite3": "sqlite"}
SHOWN = 160
_T = exp.DataType.Type
_BOUNDED = {_T.TINYINT, _T.SMALLINT, _T.INT, _T.MEDIUMINT, _T.FLOAT, _T.BOOLEAN, _T.BIT}
_SIZED = {_T.VARCHAR, _T.CHAR, _T.NVARCHAR, _T.NCHAR, _T.DECIMAL, _T.VARBINARY, _T.BINARY}
_PG_COERCIBLE = {_T.TEXT, _T.VARCHAR}  # to TEXT or unbounded VARCHAR: no rewrite
_VOLATILE = {"random", "gen_random_uuid", "uuid_generate_v4", "clock_timestamp", "nextval"}
_VOLATILE_NODES = (exp.Uuid, exp.Rand)
DDL = (exp.Create, exp.Alter, exp.Drop, exp.TruncateTable)

SNAPSHOT_HINT = "keep a snapshot (snapshots.beforeMigrate) or copy the data out first"
_MYSQL_ONLINE = (
    "append `, ALGORITHM=INPLACE, LOCK=NONE` (the server then refuses instead of copying the "
    "table), or use an online schema change tool (gh-ost, pt-online-schema-change)"
)


@dataclass(frozen=True)
class Hit:
    kind: str
    rule: str
    message: str
    table: str | None
    suggestion: str | None = None


def tree_of(sql: str, dialect: str) -> exp.Expr | None:
    """The statement's one parse tree (the guard's parse, shared), or None."""
    trees, error = parsed(sql, dialect)
    if error is not None:
        return None  # the ownership guard refuses what cannot be parsed
    return trees[0] if len(trees) == 1 else None


def table_of(tree: exp.Expr) -> str | None:
    node = tree.this if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Index) else tree
    found = node.args.get("table") if isinstance(node, exp.Index) else None
    table = found if isinstance(found, exp.Table) else tree.find(exp.Table)
    return table.name if table is not None and table.name else None


def classify(tree: exp.Expr, dialect: str) -> list[Hit]:
    hits = _destructive(tree)
    locking = _LOCKING.get(dialect)
    if locking is not None:
        hits += locking(tree)
    return hits


def _destructive(tree: exp.Expr) -> list[Hit]:
    kind, table = str(tree.args.get("kind") or "").upper(), table_of(tree)
    if isinstance(tree, exp.Drop) and kind in {"TABLE", "SCHEMA", "DATABASE"}:
        return [Hit(DESTRUCTIVE, f"drop_{kind.lower()}", f"DROP {kind} deletes data", table,
                     SNAPSHOT_HINT)]  # fmt: skip
    if isinstance(tree, exp.TruncateTable):
        return [Hit(DESTRUCTIVE, "truncate", "TRUNCATE deletes every row", table, SNAPSHOT_HINT)]
    if isinstance(tree, exp.Delete | exp.Update) and not tree.args.get("where"):
        verb = "DELETE" if isinstance(tree, exp.Delete) else "UPDATE"
        return [
            Hit(
                DESTRUCTIVE,
                f"{verb.lower()}_without_where",
                f"{verb} without WHERE changes every row",
                table,
                f"add a WHERE clause; to touch every row on purpose, {SNAPSHOT_HINT}",
            )
        ]
    hits = []
    for action in _actions(tree):
        if isinstance(action, exp.Drop) and str(action.args.get("kind")).upper() == "COLUMN":
            hits.append(Hit(DESTRUCTIVE, "drop_column", "DROP COLUMN deletes the column's "
                             "data", table, SNAPSHOT_HINT))  # fmt: skip
        dtype = _new_type(action)
        if dtype is not None and _narrow(dtype):
            hits.append(
                Hit(
                    DESTRUCTIVE,
                    "narrowing_type",
                    f"changes a column to {dtype.sql()}: values that do not fit are lost or "
                    "refused",
                    table,
                    f"check the data fits first; {SNAPSHOT_HINT}",
                )
            )
    return hits


def _actions(tree: exp.Expr) -> list[exp.Expr]:
    return list(tree.args.get("actions") or []) if isinstance(tree, exp.Alter) else []


def _new_type(action: exp.Expr) -> exp.DataType | None:
    if isinstance(action, exp.AlterColumn) and isinstance(action.args.get("dtype"), exp.DataType):
        return action.args["dtype"]  # type: ignore[no-any-return]
    if isinstance(action, exp.ModifyColumn) and isinstance(action.this, exp.ColumnDef):
        kind = action.this.args.get("kind")
        return kind if isinstance(kind, exp.DataType) else None
    return None


def _narrow(dtype: exp.DataType) -> bool:
    return dtype.this in _BOUNDED or (dtype.this in _SIZED and bool(dtype.expressions))


# -- PostgreSQL ------------------------------------------------------------------------------


def _pg_locking(tree: exp.Expr) -> list[Hit]:
    table = table_of(tree)
    if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Index):
        if tree.args.get("concurrently"):
            return []
        return [
            Hit(
                LOCKING,
                "index_without_concurrently",
                "CREATE INDEX blocks writes to the table while it builds",
                table,
                "CREATE INDEX CONCURRENTLY ... in a migration file of its own (it cannot run "
                "inside a transaction)",
            )
        ]
    hits: list[Hit] = []
    for action in _actions(tree):
        hits += [Hit(LOCKING, rule, msg, table, fix) for rule, msg, fix in _pg_action(action)]
    added = [a for a in _actions(tree) if isinstance(a, exp.AddConstraint)]
    if any(a.find(exp.ForeignKey, exp.CheckColumnConstraint) for a in added) and not (
        tree.args.get("not_valid")
    ):
        hits.append(
            Hit(
                LOCKING,
                "constraint_without_not_valid",
                "adding a FOREIGN KEY or CHECK constraint scans the table under lock",
                table,
                "ADD CONSTRAINT ... NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT",
            )
        )
    return hits


def _pg_action(action: exp.Expr) -> list[tuple[str, str, str]]:
    if isinstance(action, exp.ColumnDef) and _volatile_default(action):
        return [
            (
                "volatile_default",
                "ADD COLUMN with a volatile default rewrites every row under an ACCESS "
                "EXCLUSIVE lock",
                "ADD COLUMN without a default, SET DEFAULT, then backfill in batches",
            )
        ]
    if isinstance(action, exp.AlterColumn) and action.args.get("allow_null") is False:
        return [
            (
                "set_not_null",
                "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock",
                "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c; "
                "then SET NOT NULL (no scan) and drop the check",
            )
        ]
    dtype = _new_type(action)
    if dtype is not None and not (dtype.this in _PG_COERCIBLE and not dtype.expressions):
        return [
            (
                "type_rewrite",
                f"changing a column to {dtype.sql(dialect='postgres')} rewrites the table "
                "under an ACCESS EXCLUSIVE lock",
                "add a new column, backfill it in batches, switch readers, drop the old one",
            )
        ]
    return []


def _volatile_default(column: exp.ColumnDef) -> bool:
    for constraint in column.args.get("constraints") or []:
        default = constraint.args.get("kind")
        if isinstance(default, exp.DefaultColumnConstraint):
            node = default.this
            if isinstance(node, exp.Expr) and (
                node.find(*_VOLATILE_NODES)
                or any(f.name.lower() in _VOLATILE for f in node.find_all(exp.Anonymous))
            ):
                return True
    return False


# -- MySQL / MariaDB -------------------------------------------------------------------------


def _mysql_locking(tree: exp.Expr) -> list[Hit]:
    if not isinstance(tree, exp.Alter) or str(tree.args.get("kind")).upper() != "TABLE":
        return []
    options = list(tree.args.get("options") or [])
    algorithm = next((o.name.upper() for o in options if isinstance(o, exp.AlgorithmProperty)), "")
    if algorithm in {"INSTANT", "INPLACE", "NOCOPY"}:
        return []
    rebuilds = [o for o in options if not isinstance(o, exp.AlgorithmProperty | exp.LockProperty)]
    copying = [a for a in _actions(tree) if not _mysql_online(a)] + rebuilds
    if algorithm != "COPY" and not copying:
        return []
    what = ", ".join(sorted({type(a).__name__ for a in copying})) or "ALGORITHM=COPY"
    return [
        Hit(
            LOCKING,
            "table_copy",
            f"this ALTER copies the table ({what}): writes wait until it finishes",
            table_of(tree),
            _MYSQL_ONLINE,
        )
    ]


def _mysql_online(action: exp.Expr) -> bool:
    """Actions MariaDB 10.4+/MySQL 8 run INSTANT or INPLACE without copying the table."""
    if isinstance(action, exp.ColumnDef | exp.Drop | exp.RenameColumn | exp.AlterRename):
        return not (isinstance(action, exp.Drop) and str(action.args.get("kind")) == "PRIMARY")
    if isinstance(action, exp.AlterColumn):
        return action.args.get("dtype") is None and action.args.get("allow_null") is None
    if isinstance(action, exp.AddConstraint):
        return all(
            isinstance(e, exp.IndexColumnConstraint | exp.UniqueColumnConstraint)
            for e in action.expressions
        )
    return False


_LOCKING: dict[str, Callable[[exp.Expr], list[Hit]]] = {
    "postgres": _pg_locking,
    "mysql": _mysql_locking,
}
