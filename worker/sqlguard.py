"""The ownership guard: every migration statement must stay inside the plugin's namespace.

Statements are parsed with sqlglot once (:mod:`worker.sqlguard_facts` reads them into facts);
every table, view, index and sequence they name is then checked against the plugin's
:class:`~providers.base.Namespace` by :func:`judge`. Anything the guard cannot understand is
refused rather than trusted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlglot.tokenizer_core import Token, TokenType

from providers.base import Namespace
from worker.errors import MigrationFileError
from worker.naming import namespace
from worker.sqlguard_facts import STRINGS, Fact, facts, tokens

_SHOWN = 200
_HEAD = 8
"""Tokens of a statement's start that say whether it has a BEGIN ... END body."""
OwnerOf = Callable[[str], str | None]


def split_statements(sql: str, dialect: str) -> list[str]:
    """Split a script at top-level semicolons, keeping each statement's original text."""
    pieces: list[str] = []
    current: list[Token] = []
    depth, block = 0, False
    for i, tok in enumerate(found := tokens(sql, dialect)):
        if tok.token_type == TokenType.SEMICOLON and depth <= 0:
            if current:
                pieces.append(sql[current[0].start : current[-1].end + 1])
            current, depth = [], 0
            continue
        current.append(tok)
        if len(current) <= _HEAD:  # the answer depends on the first _HEAD tokens only
            block = _in_block_statement(current)
        if block:
            depth += _block_step(tok, found[i + 1] if i + 1 < len(found) else None)
    if current:
        pieces.append(sql[current[0].start : current[-1].end + 1])
    return pieces


def _in_block_statement(current: list[Token]) -> bool:
    """CREATE TRIGGER/PROCEDURE/FUNCTION bodies may hold semicolons inside BEGIN ... END."""
    words = {t.text.upper() for t in current[:_HEAD]}
    return current[0].text.upper() == "CREATE" and bool(
        words & {"TRIGGER", "PROCEDURE", "FUNCTION"}
    )


def _block_step(tok: Token, following: Token | None) -> int:
    word = tok.text.upper() if tok.token_type not in STRINGS else ""
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
    owner_of: OwnerOf | None = None,
) -> None:
    """Raise MigrationFileError for the first statement outside the plugin's namespace."""
    # owner_of maps an object name to the plugin id owning it (longest registered prefix) or
    # None; it resolves the prefix-overlap case of shared mode (ab_c_data belongs to ab-c).
    for statement in statements:
        judge(statement, facts(statement, dialect), ns, force=force, owner_of=owner_of)


def judge(
    statement: str,
    found: Sequence[Fact],
    ns: Namespace,
    *,
    force: bool,
    owner_of: OwnerOf | None = None,
) -> None:
    """Weigh a statement's facts (:func:`worker.sqlguard_facts.facts`) against the namespace."""
    for kind, what, name, flag in found:
        if kind == "refuse":
            raise _refuse(statement, what)
        if kind == "container":
            _container(statement, ns, name, always=flag)
        elif kind == "name":
            _name(statement, ns, owner_of, what, name, index=flag)
        elif kind == "destructive" and not force:
            raise _refuse(statement, f"{what} is destructive and needs force=True")


def _refuse(statement: str, reason: str) -> MigrationFileError:
    """The error naming this statement."""
    shown = statement.strip()[:_SHOWN]
    return MigrationFileError(f"{reason}, in statement {shown!r}")


def _container(statement: str, ns: Namespace, name: str, *, always: bool) -> None:
    if (name and name not in ns.containers) or (always and not name):
        allowed = ", ".join(sorted(ns.containers)) or "none"
        raise _refuse(
            statement, f"schema/database {name!r} is outside the plugin's own (allowed: {allowed})"
        )


def _name(
    statement: str, ns: Namespace, owner_of: OwnerOf | None, what: str, name: str, *, index: bool
) -> None:
    prefix = ns.table_prefix
    if not prefix:
        return
    candidates = [name, name[4:]] if index and name.startswith("idx_") else [name]
    if not any(c.startswith(prefix) for c in candidates):
        raise _refuse(statement, f"{what} {name!r} is outside the plugin's prefix {prefix!r}")
    for candidate in candidates:
        owner = owner_of(candidate) if owner_of else None
        if owner is not None and owner != prefix and f"{namespace(owner)}_" != prefix:
            raise _refuse(statement, f"{what} {name!r} belongs to plugin {owner!r}")
