"""The ownership guard: every migration statement must stay inside the plugin's namespace.

Statements are parsed with sqlglot; every table, view, index and sequence they name is checked
against the plugin's :class:`~providers.base.Namespace`. Anything the guard cannot understand
is refused rather than trusted.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

from providers.base import Namespace
from worker.errors import MigrationFileError
from worker.naming import namespace

_DIALECT_ALIASES = {"postgresql": "postgres", "mariadb": "mysql", "sqlite3": "sqlite"}
EXECUTABLE_COMMENTS = frozenset({"mysql"})
"""sqlglot dialects that run ``/*! ... */`` comments as code."""
FOLDS_UNQUOTED = frozenset({"postgres"})
"""sqlglot dialects that fold unquoted identifiers to lower case."""
_STRINGS = {TokenType.STRING, TokenType.HEREDOC_STRING, TokenType.NATIONAL_STRING}
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
_SHOWN = 200


def _dialect(name: str) -> str:
    return _DIALECT_ALIASES.get(name, name)


def _tokens(sql: str, dialect: str) -> list[Token]:
    tokens, error = _tokenized(sql, _dialect(dialect))
    if error is not None:
        raise MigrationFileError(f"cannot tokenize SQL: {error}")
    return list(tokens)


@lru_cache(maxsize=4096)
def _tokenized(sql: str, dialect: str) -> tuple[tuple[Token, ...], str | None]:
    try:
        return tuple(Dialect.get_or_raise(dialect).tokenize(sql)), None
    except SqlglotError as exc:
        return (), str(exc)


def split_statements(sql: str, dialect: str) -> list[str]:
    """Split a script at top-level semicolons, keeping each statement's original text."""
    pieces: list[str] = []
    current: list[Token] = []
    depth = 0
    for i, tok in enumerate(tokens := _tokens(sql, dialect)):
        if tok.token_type == TokenType.SEMICOLON and depth <= 0:
            if current:
                pieces.append(sql[current[0].start : current[-1].end + 1])
            current, depth = [], 0
            continue
        current.append(tok)
        if _in_block_statement(current):
            depth += _block_step(tok, tokens[i + 1] if i + 1 < len(tokens) else None)
    if current:
        pieces.append(sql[current[0].start : current[-1].end + 1])
    return pieces


def _in_block_statement(current: list[Token]) -> bool:
    """CREATE TRIGGER/PROCEDURE/FUNCTION bodies may hold semicolons inside BEGIN ... END."""
    words = {t.text.upper() for t in current[:8]}
    return current[0].text.upper() == "CREATE" and bool(
        words & {"TRIGGER", "PROCEDURE", "FUNCTION"}
    )


def _block_step(tok: Token, following: Token | None) -> int:
    word = tok.text.upper() if tok.token_type not in _STRINGS else ""
    if word in {"BEGIN", "CASE"}:
        return 1
    if word == "END":
        nxt = following.text.upper() if following else ""
        return 0 if nxt in {"IF", "LOOP", "WHILE", "REPEAT"} else -1
    return 0


def check_statements(
    statements: Sequence[str],
    dialect: str,
    ns: Namespace,
    *,
    force: bool,
    owner_of: Callable[[str], str | None] | None = None,
) -> None:
    """Raise MigrationFileError for the first statement outside the plugin's namespace."""
    # owner_of maps an object name to the plugin id owning it (longest registered prefix) or
    # None; it resolves the prefix-overlap case of shared mode (ab_c_data belongs to ab-c).
    for statement in statements:
        _Guard(statement, _dialect(dialect), ns, force, owner_of).check()


class _Guard:
    """Checks of one statement."""

    def __init__(
        self,
        statement: str,
        dialect: str,
        ns: Namespace,
        force: bool,
        owner_of: Callable[[str], str | None] | None,
    ) -> None:
        self.sql, self.dialect, self.ns = statement, dialect, ns
        self.force, self.owner_of = force, owner_of

    def refuse(self, reason: str) -> MigrationFileError:
        """The error naming this statement."""
        shown = self.sql.strip()[:_SHOWN]
        return MigrationFileError(f"{reason}, in statement {shown!r}")

    def check(self) -> None:
        """Token checks first (they also cover statements sqlglot cannot parse), then the tree."""
        try:
            tokens = _tokens(self.sql, self.dialect)
        except MigrationFileError as exc:
            raise self.refuse(str(exc)) from exc
        self._check_tokens(tokens)
        tree = self._parse()
        self._check_kind(tree)
        ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            self._check_table(table, ctes)
        if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Index) and tree.this.name:
            self._check_name("index", tree.this.name, index=True, quoted=_quoted(tree.this.this))
        for call in tree.find_all(exp.Anonymous):
            self._check_sequence_call(call)
        self._check_destructive(tree)

    def _parse(self) -> exp.Expr:
        trees, error = _parsed(self.sql, self.dialect)
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

    def _check_tokens(self, tokens: list[Token]) -> None:
        words = [t.text.upper() if t.token_type not in _STRINGS else "'" for t in tokens]
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
        for tok, nxt in itertools.pairwise(tokens):
            if nxt.token_type == TokenType.L_PAREN and tok.text.lower() in _FORBIDDEN_FUNCTIONS:
                raise self.refuse(f"function {tok.text}() is never allowed in a migration")
        if self.dialect in EXECUTABLE_COMMENTS and any(
            c.lstrip().startswith(("!", "M!")) for t in tokens for c in t.comments
        ):
            raise self.refuse("MySQL executable comments (/*! ... */) are never allowed")

    def _check_kind(self, tree: exp.Expr) -> None:
        kind = str(tree.args.get("kind") or "").upper()
        if isinstance(tree, exp.Grant | exp.Revoke | exp.Attach | exp.Detach | exp.LoadData):
            raise self.refuse(f"{type(tree).__name__.upper()} is never allowed in a migration")
        if isinstance(tree, exp.Set):
            self._check_set(tree)
        if isinstance(tree, exp.Pragma):
            self._check_pragma(tree)
        if isinstance(tree, exp.Use):
            self._check_container(tree.this.name if tree.this else "", always=True)
        if isinstance(tree, exp.Create | exp.Drop) and kind in {"SCHEMA", "DATABASE"}:
            for table in tree.find_all(exp.Table):
                self._check_container(table.db or table.name, always=True)

    def _check_destructive(self, tree: exp.Expr) -> None:
        kind = str(tree.args.get("kind") or "").upper()
        if isinstance(tree, exp.Drop) and kind in {"TABLE", "SCHEMA", "DATABASE"}:
            self._destructive(f"DROP {kind}")
        if isinstance(tree, exp.TruncateTable):
            self._destructive("TRUNCATE")
        if isinstance(tree, exp.Alter) and any(
            isinstance(a, exp.Drop) and str(a.args.get("kind")).upper() == "COLUMN"
            for a in tree.args.get("actions") or []
        ):
            self._destructive("DROP COLUMN")

    def _check_sequence_call(self, call: exp.Anonymous) -> None:
        """``nextval('name')``/``setval``/``currval`` name a sequence inside a string."""
        arg = call.expressions[0] if call.expressions else None
        if call.name.lower() in _SEQUENCE_FUNCTIONS and isinstance(arg, exp.Literal):
            qualifier, _, name = str(arg.this).rpartition(".")
            self._check_container(qualifier)
            self._check_name("sequence", name, index=False, quoted=False)

    def _check_set(self, tree: exp.Set) -> None:
        for item in tree.expressions:
            if str(item.args.get("kind") or "").upper() in {"GLOBAL", "PERSIST", "PERSIST_ONLY"}:
                raise self.refuse("SET GLOBAL/PERSIST is never allowed in a migration")
            target = item.this.this if isinstance(item.this, exp.EQ) else item.this
            if isinstance(target, exp.Expr) and target.name.lower() in _FORBIDDEN_SETTINGS:
                raise self.refuse(f"SET {target.name} is never allowed in a migration")

    def _check_pragma(self, tree: exp.Pragma) -> None:
        node = tree.this.this if isinstance(tree.this, exp.EQ) else tree.this
        if isinstance(node, exp.Dot):
            self._check_container(node.this.name, always=True)
            node = node.expression
        name = node.name.lower() if isinstance(node, exp.Expr) else ""
        if name not in _SAFE_PRAGMAS:
            raise self.refuse(f"PRAGMA {name or '?'} is not allowed in a migration")

    def _destructive(self, what: str) -> None:
        if not self.force:
            raise self.refuse(f"{what} is destructive and needs force=True")

    def _check_container(self, name: str, *, always: bool = False) -> None:
        if (name and name not in self.ns.containers) or (always and not name):
            allowed = ", ".join(sorted(self.ns.containers)) or "none"
            raise self.refuse(
                f"schema/database {name!r} is outside the plugin's own (allowed: {allowed})"
            )

    def _check_table(self, table: exp.Table, ctes: set[str]) -> None:
        parent = table.parent
        if isinstance(parent, exp.Drop) and isinstance(parent.parent, exp.Alter):
            return  # ALTER TABLE ... DROP CONSTRAINT/INDEX/FOREIGN KEY name: not a table
        kind = str(parent.args.get("kind") or "").upper() if parent else ""
        if isinstance(parent, exp.Create | exp.Drop | exp.Use) and kind in {"SCHEMA", "DATABASE"}:
            return  # checked as a container
        if isinstance(parent, exp.Use) or not table.name:
            return  # USE is checked as a container; a table function has no name
        for qualifier in (table.catalog, table.db):
            self._check_container(qualifier)
        if not table.db and not table.catalog and table.name in ctes:
            return
        if isinstance(parent, exp.Schema) and isinstance(parent.parent, exp.Reference):
            return  # foreign-key targets may be core tables
        is_index = isinstance(parent, exp.Drop) and kind == "INDEX"
        self._check_name(
            "index" if is_index else "object", table.name, is_index, _quoted(table.this)
        )

    def _check_name(self, what: str, raw: str, index: bool, quoted: bool) -> None:
        prefix = self.ns.table_prefix
        if not prefix:
            return
        name = raw.lower() if self.dialect in FOLDS_UNQUOTED and not quoted else raw
        candidates = [name, name[4:]] if index and name.startswith("idx_") else [name]
        if not any(c.startswith(prefix) for c in candidates):
            raise self.refuse(f"{what} {name!r} is outside the plugin's prefix {prefix!r}")
        for candidate in candidates:
            owner = self.owner_of(candidate) if self.owner_of else None
            if owner is not None and owner != prefix and f"{namespace(owner)}_" != prefix:
                raise self.refuse(f"{what} {name!r} belongs to plugin {owner!r}")


@lru_cache(maxsize=4096)
def _parsed(sql: str, dialect: str) -> tuple[tuple[exp.Expr, ...], str | None]:
    """Parse trees of a statement (cached: the same file is checked on accept and on apply)."""
    try:
        return tuple(t for t in sqlglot.parse(sql, read=dialect) if t is not None), None
    except SqlglotError as exc:
        return (), str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _quoted(node: object) -> bool:
    return isinstance(node, exp.Identifier) and bool(node.args.get("quoted"))


def _adjacent(words: list[str], first: str, seconds: set[str]) -> bool:
    return any(a == first and b in seconds for a, b in itertools.pairwise(words))
