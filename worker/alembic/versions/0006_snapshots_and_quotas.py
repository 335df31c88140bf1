"""plugin_snapshots and plugin_quotas

Revision ID: 0006
Revises: 0008
Create Date: 2026-11-29

Snapshots taken before risky changes (and on demand) and the storage quota state per plugin.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0008"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "plugin_snapshots",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("plugin_id", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=True),
        sa.Column("ledger", _JSON, nullable=False),
        sa.Column("row_counts", _JSON, nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("raw_bytes", sa.BigInteger(), nullable=True),
        sa.Column("checksum", sa.String(64), nullable=True),
        sa.Column("location", sa.String(512), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
    )
    op.create_index("ix_plugin_snapshots_plugin_id_id", "plugin_snapshots", ["plugin_id", "id"])
    op.create_table(
        "plugin_quotas",
        sa.Column("plugin_id", sa.String(40), primary_key=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("limit_bytes", sa.BigInteger(), nullable=True),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("checked_at", _TS, nullable=False),
        sa.Column("changed_at", _TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("plugin_quotas")
    op.drop_index("ix_plugin_snapshots_plugin_id_id", table_name="plugin_snapshots")
    op.drop_table("plugin_snapshots")
