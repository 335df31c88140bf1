"""plugin_datasources.target: the named server (target) a plugin's storage lives on

Revision ID: 0003
Revises: 0005
Create Date: 2026-11-29

Existing rows live on the default target named after their driver, so they are filled in
with their provider's name.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plugin_datasources") as batch:
        batch.add_column(sa.Column("target", sa.String(64), nullable=True))
    op.execute("UPDATE plugin_datasources SET target = provider WHERE target IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("plugin_datasources") as batch:
        batch.drop_column("target")
