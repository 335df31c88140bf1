"""migration_analyses.rules: which rules made an analysis, so dead ones can be purged

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30

An analysis is only ever reused by the rules (guard, linter, sqlglot version) that made it;
after an upgrade the old rows are dead weight. Rows made before this revision have no rules
and count as made by other rules (if still wanted, they are parsed again, once).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("migration_analyses") as batch:
        batch.add_column(sa.Column("rules", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("migration_analyses") as batch:
        batch.drop_column("rules")
