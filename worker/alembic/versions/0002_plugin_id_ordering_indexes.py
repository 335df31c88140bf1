"""(plugin_id, id) indexes for per-plugin listings newest first

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

PostgreSQL otherwise walks the primary key backwards and filters by plugin for a busy plugin's
audit trail (measured in bench/tracking.py).
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_events_plugin_id_id", "audit_events", ["plugin_id", "id"])
    op.drop_index("ix_audit_events_plugin_id", table_name="audit_events")
    op.create_index(
        "ix_lifecycle_operations_plugin_id_id", "lifecycle_operations", ["plugin_id", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_lifecycle_operations_plugin_id_id", table_name="lifecycle_operations")
    op.create_index("ix_audit_events_plugin_id", "audit_events", ["plugin_id"])
    op.drop_index("ix_audit_events_plugin_id_id", table_name="audit_events")
