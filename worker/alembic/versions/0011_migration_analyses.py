"""migration_analyses: each migration part parsed once in its life

Revision ID: 0011
Revises: 0006
Create Date: 2026-11-30

The ownership guard's facts and the linter's findings of a migration part (UP or DOWN SQL),
keyed by a checksum of the text, the dialect and the rules' version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "migration_analyses",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("dialect", sa.String(32), nullable=False),
        sa.Column("body", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("migration_analyses")
