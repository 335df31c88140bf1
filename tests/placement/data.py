"""Test data for relocation: three related tables, JSON, NULLs, non-ASCII, 10,000 rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

USERS, POSTS, COMMENTS = 1000, 3000, 6000


def tables(meta: sa.MetaData, prefix: str = "") -> tuple[sa.Table, sa.Table, sa.Table]:
    """users ← posts ← comments (comments also → users, nullable)."""
    users = sa.Table(
        f"{prefix}users",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(200), unique=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("profile", sa.JSON),
        sa.Column("created_at", sa.DateTime),
    )
    posts = sa.Table(
        f"{prefix}posts",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey(f"{prefix}users.id"), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text),
        sa.Column("score", sa.Numeric(10, 2)),
    )
    comments = sa.Table(
        f"{prefix}comments",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_id", sa.Integer, sa.ForeignKey(f"{prefix}posts.id"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey(f"{prefix}users.id")),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("meta", sa.JSON),
    )
    return users, posts, comments


def rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Deterministic rows: every third value NULL, names in several scripts."""
    start = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC).replace(tzinfo=None)
    names = ["Zoë", "Jürgen", "Łukasz", "東京", "Ærøskøbing", "O'Brien", "plain"]
    users = [
        {
            "id": i,
            "name": f"{names[i % len(names)]} {i}",
            "email": None if i % 3 == 0 else f"u{i}@example.org",
            "active": i % 2 == 0,
            "profile": None if i % 4 == 0 else {"lang": "fr", "tags": ["ä", i], "n": {"x": i}},
            "created_at": None if i % 5 == 0 else start + timedelta(seconds=i, microseconds=i),
        }
        for i in range(1, USERS + 1)
    ]
    posts = [
        {
            "id": i,
            "user_id": 1 + i % USERS,
            "title": f"Titre n°{i} — ünïcødé",
            "body": None if i % 3 == 0 else "x" * (i % 50) + "€",
            "score": None if i % 7 == 0 else f"{i % 1000}.{i % 100:02d}",
        }
        for i in range(1, POSTS + 1)
    ]
    comments = [
        {
            "id": i,
            "post_id": 1 + i % POSTS,
            "user_id": None if i % 6 == 0 else 1 + i % USERS,
            "text": f"комментарий {i}",
            "meta": None if i % 2 else [i, "🙂", None, True],
        }
        for i in range(1, COMMENTS + 1)
    ]
    return users, posts, comments


def fill(engine: sa.Engine, schema: str | None = None, prefix: str = "") -> None:
    """Create the tables and insert every row in bulk."""
    meta = sa.MetaData(schema=schema)
    made = tables(meta, prefix)
    with engine.begin() as conn:
        meta.create_all(conn)
        for table, data in zip(made, rows(), strict=True):
            conn.execute(table.insert(), data)
