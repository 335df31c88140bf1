"""Placement reservations per target, and relocations of a plugin's storage

Revision ID: 0008
Revises: 0003
Create Date: 2026-11-29

``target_reservations`` holds the capacity each plugin takes on its target and
``target_usage`` their sums per target, updated with a conditional UPDATE so concurrent
placements never overfill a target. Plugins that live somewhere already get a reservation
on their target (their manifest's ``limits``), so usage starts true.
``plugin_relocations`` records each move of a plugin to another target or mode.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0003"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_ZERO = sa.text("0")


def upgrade() -> None:
    usage = op.create_table(
        "target_usage",
        sa.Column("target", sa.String(64), primary_key=True),
        sa.Column("plugins", sa.Integer(), nullable=False, server_default=_ZERO),
        sa.Column("storage_mb", sa.Integer(), nullable=False, server_default=_ZERO),
        sa.Column("connections", sa.Integer(), nullable=False, server_default=_ZERO),
        sa.Column("state", sa.String(16), nullable=True),
    )
    reservations = op.create_table(
        "target_reservations",
        sa.Column("plugin_id", sa.String(64), primary_key=True),
        sa.Column("target", sa.String(64), primary_key=True),
        sa.Column("storage_mb", sa.Integer(), nullable=False, server_default=_ZERO),
        sa.Column("connections", sa.Integer(), nullable=False, server_default=_ZERO),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_target_reservations_target", "target_reservations", ["target"])
    op.create_table(
        "plugin_relocations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("plugin_id", sa.String(64), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=True, unique=True),
        sa.Column("source_target", sa.String(64), nullable=False),
        sa.Column("source_mode", sa.String(32), nullable=False),
        sa.Column("dest_target", sa.String(64), nullable=False),
        sa.Column("dest_mode", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detail", _JSON, nullable=False),
        sa.Column("purge_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_plugin_relocations_plugin_id", "plugin_relocations", ["plugin_id"])
    op.create_index("ix_plugin_relocations_state", "plugin_relocations", ["state"])
    op.create_index("ix_plugin_relocations_purge_after", "plugin_relocations", ["purge_after"])
    _backfill(usage, reservations)


def _limit(manifest: Any, key: str) -> int:
    if isinstance(manifest, str):
        manifest = json.loads(manifest)
    try:
        value = manifest["sovereign"]["database"]["limits"][key]
    except (KeyError, TypeError):
        return 0
    return value if isinstance(value, int) else 0


def _backfill(usage: sa.Table, reservations: sa.Table) -> None:
    """A reservation for every plugin that lives on a target already, and their sums."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT plugin_id, COALESCE(target, provider), manifest FROM plugin_datasources "
            "WHERE status <> 'deleted'"
        )
    ).all()
    now = sa.func.now()
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for plugin_id, target, manifest in rows:
        storage, connections = _limit(manifest, "storageMb"), _limit(manifest, "connections")
        bind.execute(
            reservations.insert().values(
                plugin_id=plugin_id,
                target=target,
                storage_mb=storage,
                connections=connections,
                created_at=now,
            )
        )
        total = sums[target]
        total[0], total[1], total[2] = total[0] + 1, total[1] + storage, total[2] + connections
    for target, (plugins, storage, connections) in sums.items():
        bind.execute(
            usage.insert().values(
                target=target, plugins=plugins, storage_mb=storage, connections=connections
            )
        )


def downgrade() -> None:
    op.drop_table("plugin_relocations")
    op.drop_table("target_reservations")
    op.drop_table("target_usage")
