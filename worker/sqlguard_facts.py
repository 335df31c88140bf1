"""What one migration statement does, read once from its tokens and parse tree (sqlglot).

:func:`facts` turns a statement into an ordered list of :data:`Fact` tuples that no longer
need the parser: refusals that hold in every namespace, and the containers, names and
destructive actions the namespace and ``force`` decide on (:func:`worker.sqlguard.judge`).
The facts depend only on the statement and the dialect, so they can be kept with the text's
checksum (:mod:`worker.migrations.analysis`) and a file is parsed once in its life.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from functools import cache

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.parser import Parser
from sqlglot.tokenizer_core import Token, TokenType
from sqlglot.tokens import Tokenizer

from worker.errors import MigrationFileError

Fact = tuple[str, str, str, bool]
"""``(kind, what, name, flag)``: ``("refuse", reason, "", False)``, ``("container", "",
name, always)``, ``("name", what, name, is_index)`` or ``("destructive", what, "", False)``."""

_DIALECT_ALIASES = {"postgresql": "postgres", "mariadb": "mysql", "sqlite3": "sqlite"}
EXECUTABLE_COMMENTS = frozenset({"mysql"})
"""sqlglot dialects that run ``/*! ... */`` comments as code."""
FOLDS_UNQUOTED = frozenset({"postgres"})
"""sqlglot dialects that fold unquoted identifiers to lower case."""
STRINGS = {TokenType.STRING, TokenType.HEREDOC_STRING, TokenType.NATIONAL_STRING}
_PRIVILEGED_OBJECTS = {"ROLE", "USER", "GROUP", "DEFAULT"}
_FORBIDDEN_FUNCTIONS = frozenset(
    {
        "load_file",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "lo_import",
        "lo_export",
        "dblink",
        "dblink_exec",
        "load_extension",
    }
)
_SEQUENCE_FUNCTIONS = frozenset({"nextval", "setval", "currval"})
_FORBIDDEN_SETTINGS = frozenset({"search_path", "role", "session_authorization"})
_SAFE_PRAGMAS = frozenset(
    {"foreign_keys", "defer_foreign_keys", "foreign_key_check", "table_info", "index_list"}
)


def sqlglot_dialect(name: str) -> str:
    """sqlglot's name of a driver's dialect."""
    return _DIALECT_ALIASES.get(name, name)


Parsed = tuple[tuple[exp.Expr, ...], str | None]
"""A statement's parse trees, or why it cannot be parsed."""
_TREES: dict[tuple[str, str], Parsed] = {}
_TREES_MAX = 4096


def tokens(sql: str, dialect: str) -> list[Token]:
    """The statement's tokens; MigrationFileError when it cannot be tokenized."""
    try:
        return _tools(sqlglot_dialect(dialect)).tokenizer.tokenize(sql)
    except SqlglotError as exc:
        raise MigrationFileError(f"cannot tokenize SQL: {exc}") from exc


def prepare(dialect: str) -> None:
    """Build this thread's tokenizer and parser of a driver's ``dialect`` now (imports its
    sqlglot modules), not at the first statement parsed."""
    _tools(sqlglot_dialect(dialect))


@cache
def _dialect(name: str) -> Dialect:
    """The sqlglot dialect ``name`` (settings only: built once, not per statement)."""
    return Dialect.get_or_raise(name)


class _Tools:
    """A dialect's tokenizer and parser; each resets its state at every use."""

    def __init__(self, dialect: Dialect) -> None:
        self.tokenizer: Tokenizer = dialect.tokenizer()
        self.parser: Parser = dialect.parser()


_LOCAL = threading.local()


def _tools(dialect: str) -> _Tools:
    """This thread's tokenizer and parser of ``dialect`` (made once, not per statement)."""
    made: dict[str, _Tools] | None = getattr(_LOCAL, "tools", None)
    if made is None:
        made = _LOCAL.tools = {}
    found = made.get(dialect)
    if found is None:
        found = made[dialect] = _Tools(_dialect(dialect))
    return found


def parsed(sql: str, dialect: str, found: list[Token] | None = None) -> Parsed:
    """Parse trees of a statement (``found``: its tokens, when already read), kept for the
    linter until :func:`forget_trees` (the guard's parse, shared)."""
    key = (sql, dialect)
    trees = _TREES.get(key)
    if trees is None:
        trees = _parse(sql, dialect, found)
        if len(_TREES) >= _TREES_MAX:
            _TREES.clear()
        _TREES[key] = trees
    return trees


def forget_trees() -> None:
    """Drop the kept parse trees (an analysis is stored; its trees are not needed again)."""
    _TREES.clear()


def _parse(sql: str, dialect: str, found: list[Token] | None) -> Parsed:
    tools = _tools(dialect)
    try:
        raw = found if found is not None else tools.tokenizer.tokenize(sql)
        return tuple(t for t in tools.parser.parse(raw, sql) if t is not None), None
    except SqlglotError as exc:
        return (), str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class _Refused(Exception):
    """Stops reading a statement at a refusal that holds in every namespace."""


def facts(statement: str, dialect: str) -> tuple[Fact, ...]:
    """The statement's facts, in the order the guard weighs them."""
    reader = _Reader(sqlglot_dialect(dialect))
    with contextlib.suppress(_Refused):
        reader.read(statement)
    return tuple(reader.found)


class _Reader:
    """Collects the facts of one statement."""

    def __init__(self, dialect: str) -> None:
        self.dialect, self.found = dialect, list[Fact]()

    def refuse(self, reason: str) -> _Refused:
        """Record a refusal; the caller raises what this returns."""
        self.found.append(("refuse", reason, "", False))
        return _Refused()

    def container(self, name: str, *, always: bool = False) -> None:
        """A schema/database the statement names (``always``: it must name one)."""
        self.found.append(("container", "", name, always))

    def name(self, what: str, raw: str, index: bool, quoted: bool) -> None:
        """An object name that must carry the plugin's prefix."""
        folded = raw.lower() if self.dialect in FOLDS_UNQUOTED and not quoted else raw
        self.found.append(("name", what, folded, index))

    def read(self, sql: str) -> None:
        """Token checks first (they also cover statements sqlglot cannot parse), then the tree."""
        try:
            found = tokens(sql, self.dialect)
        except MigrationFileError as exc:
            raise self.refuse(str(exc)) from exc
        self._tokens(found)
        tree = self._parse(sql, found)
        self._kind(tree)
        ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            self._table(table, ctes)
        if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Index) and tree.this.name:
            self.name("index", tree.this.name, True, quoted(tree.this.this))
        for call in tree.find_all(exp.Anonymous):
            self._sequence_call(call)
        self._destructive(tree)

    def _parse(self, sql: str, found: list[Token]) -> exp.Expr:
        trees, error = parsed(sql, self.dialect, found)
        if error is not None:
            raise self.refuse(f"sqlglot cannot parse this statement ({error}); refused")
        if len(trees) != 1:
            raise self.refuse("expected exactly one statement (split the script first)")
        if isinstance(trees[0], exp.Command | exp.Block):
            raise self.refuse(
                "sqlglot cannot parse this statement (it only sees an opaque command), so its "
                "objects cannot be checked; refused"
            )
        return trees[0]

    def _tokens(self, found: list[Token]) -> None:
        words = [t.text.upper() if t.token_type not in STRINGS else "'" for t in found]
        head = [w for w in words[:4] if w not in {"OR", "REPLACE"}]
        first, second = [*head, "", ""][:2]
        if first in {"GRANT", "REVOKE", "ATTACH", "DETACH"}:
            raise self.refuse(f"{first} is never allowed in a migration")
        if first in {"CREATE", "ALTER", "DROP"} and second in _PRIVILEGED_OBJECTS:
            raise self.refuse(f"{first} {second} is never allowed in a migration")
        if first in {"SET", "RESET"} and {"ROLE", "AUTHORIZATION"} & set(words[:4]):
            raise self.refuse("changing the session role is never allowed in a migration")
        if (
            first == "LOAD"
            or _adjacent(words, "INTO", {"OUTFILE", "DUMPFILE"})
            or "DIRECTORY" in words  # MySQL DATA/INDEX DIRECTORY table options
        ):
            raise self.refuse("reading or writing server files is never allowed in a migration")
        if first == "COPY":
            raise self.refuse("COPY (server files, PROGRAM) is never allowed in a migration")
        for tok, nxt in itertools.pairwise(found):
            if nxt.token_type == TokenType.L_PAREN and tok.text.lower() in _FORBIDDEN_FUNCTIONS:
                raise self.refuse(f"function {tok.text}() is never allowed in a migration")
        if self.dialect in EXECUTABLE_COMMENTS and any(
            c.lstrip().startswith(("!", "M!")) for t in found for c in t.comments
        ):
            raise self.refuse("MySQL executable comments (/*! ... */) are never allowed")

    def _kind(self, tree: exp.Expr) -> None:
        kind = str(tree.args.get("kind") or "").upper()
        if isinstance(tree, exp.Grant | exp.Revoke | exp.Attach | exp.Detach | exp.LoadData):
            raise self.refuse(f"{type(tree).__name__.upper()} is never allowed in a migration")
        if isinstance(tree, exp.Set):
            self._set(tree)
        if isinstance(tree, exp.Pragma):
            self._pragma(tree)
        if isinstance(tree, exp.Use):
            self.container(tree.this.name if tree.this else "", always=True)
        if isinstance(tree, exp.Create | exp.Drop) and kind in {"SCHEMA", "DATABASE"}:
            for table in tree.find_all(exp.Table):
                self.container(table.db or table.name, always=True)

    def _destructive(self, tree: exp.Expr) -> None:
        kind = str(tree.args.get("kind") or "").upper()
        if isinstance(tree, exp.Drop) and kind in {"TABLE", "SCHEMA", "DATABASE"}:
            self.found.append(("destructive", f"DROP {kind}", "", False))
        if isinstance(tree, exp.TruncateTable):
            self.found.append(("destructive", "TRUNCATE", "", False))
        if isinstance(tree, exp.Alter) and any(
            isinstance(a, exp.Drop) and str(a.args.get("kind")).upper() == "COLUMN"
            for a in tree.args.get("actions") or []
        ):
            self.found.append(("destructive", "DROP COLUMN", "", False))

    def _sequence_call(self, call: exp.Anonymous) -> None:
        """``nextval('name')``/``setval``/``currval`` name a sequence inside a string."""
        arg = call.expressions[0] if call.expressions else None
        if call.name.lower() in _SEQUENCE_FUNCTIONS and isinstance(arg, exp.Literal):
            qualifier, _, name = str(arg.this).rpartition(".")
            self.container(qualifier)
            self.name("sequence", name, False, False)

    def _set(self, tree: exp.Set) -> None:
        for item in tree.expressions:
            if str(item.args.get("kind") or "").upper() in {"GLOBAL", "PERSIST", "PERSIST_ONLY"}:
                raise self.refuse("SET GLOBAL/PERSIST is never allowed in a migration")
            target = item.this.this if isinstance(item.this, exp.EQ) else item.this
            if isinstance(target, exp.Expr) and target.name.lower() in _FORBIDDEN_SETTINGS:
                raise self.refuse(f"SET {target.name} is never allowed in a migration")

    def _pragma(self, tree: exp.Pragma) -> None:
        node = tree.this.this if isinstance(tree.this, exp.EQ) else tree.this
        if isinstance(node, exp.Dot):
            self.container(node.this.name, always=True)
            node = node.expression
        name = node.name.lower() if isinstance(node, exp.Expr) else ""
        if name not in _SAFE_PRAGMAS:
            raise self.refuse(f"PRAGMA {name or '?'} is not allowed in a migration")

    def _table(self, table: exp.Table, ctes: set[str]) -> None:
        parent = table.parent
        if isinstance(parent, exp.Drop) and isinstance(parent.parent, exp.Alter):
            return  # ALTER TABLE ... DROP CONSTRAINT/INDEX/FOREIGN KEY name: not a table
        kind = str(parent.args.get("kind") or "").upper() if parent else ""
        if isinstance(parent, exp.Create | exp.Drop | exp.Use) and kind in {"SCHEMA", "DATABASE"}:
            return  # read as a container
        if isinstance(parent, exp.Use) or not table.name:
            return  # USE is read as a container; a table function has no name
        for qualifier in (table.catalog, table.db):
            self.container(qualifier)
        if not table.db and not table.catalog and table.name in ctes:
            return
        if isinstance(parent, exp.Schema) and isinstance(parent.parent, exp.Reference):
            return  # foreign-key targets may be core tables
        is_index = isinstance(parent, exp.Drop) and kind == "INDEX"
        self.name("index" if is_index else "object", table.name, is_index, quoted(table.this))


def quoted(node: object) -> bool:
    """Whether an identifier was written quoted."""
    return isinstance(node, exp.Identifier) and bool(node.args.get("quoted"))


def _adjacent(words: list[str], first: str, seconds: set[str]) -> bool:
    return first in words and any(a == first and b in seconds for a, b in itertools.pairwise(words))
