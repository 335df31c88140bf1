"""initial tracking tables

Revision ID: 0001
Revises:
Create Date: 2026-11-21 21:06:27.025960
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("plugin_id", sa.String(length=64), nullable=True),
        sa.Column("operation_id", sa.Integer(), nullable=True),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_audit_events_operation_id"), "audit_events", ["operation_id"], unique=False
    )
    op.create_index(op.f("ix_audit_events_plugin_id"), "audit_events", ["plugin_id"], unique=False)
    op.create_table(
        "extension_schemas",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("plugin_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column(
            "schema_definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "validation_errors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("updated_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plugin_id"),
    )
    op.create_index(
        op.f("ix_extension_schemas_status"), "extension_schemas", ["status"], unique=False
    )
    op.create_table(
        "lifecycle_operations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plugin_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("current_step", sa.String(length=64), nullable=True),
        sa.Column(
            "steps",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "request",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("request_id", sa.String(length=200), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.Column("task_id", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("crashes", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id"),
    )
    op.create_index(
        "ix_lifecycle_operations_plugin_state",
        "lifecycle_operations",
        ["plugin_id", "state"],
        unique=False,
    )
    op.create_index(
        "ix_lifecycle_operations_state_lease",
        "lifecycle_operations",
        ["state", "lease_expires_at"],
        unique=False,
    )
    op.create_table(
        "migration_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plugin_id", sa.String(length=40), nullable=False),
        sa.Column("migration_version", sa.String(length=50), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("execution_time_ms", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("failing_statement", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_migration_attempts_plugin_id"), "migration_attempts", ["plugin_id"], unique=False
    )
    op.create_table(
        "plugin_migrations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("plugin_id", sa.String(length=40), nullable=False),
        sa.Column("plugin_name", sa.String(length=255), nullable=False),
        sa.Column("migration_name", sa.String(length=255), nullable=False),
        sa.Column("migration_version", sa.String(length=50), nullable=False),
        sa.Column("migration_description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rolled_back_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("execution_time_ms", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("checksum", sa.String(length=64), nullable=True),
        sa.Column("up_sql", sa.Text(), nullable=True),
        sa.Column("down_sql", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plugin_id", "migration_version", name="unique_plugin_migration"),
    )
    op.create_table(
        "plugin_secrets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("plugin_id", sa.String(length=40), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_plugin_secrets_plugin_id"), "plugin_secrets", ["plugin_id"], unique=False
    )
    op.create_table(
        "plugin_datasources",
        sa.Column("plugin_id", sa.String(length=40), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "descriptor",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "manifest",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("secrets_ref", sa.String(length=36), nullable=True),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_rotation_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["secrets_ref"], ["plugin_secrets.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("plugin_id"),
    )
    op.create_index(
        op.f("ix_plugin_datasources_next_rotation_at"),
        "plugin_datasources",
        ["next_rotation_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_plugin_datasources_status"), "plugin_datasources", ["status"], unique=False
    )


def downgrade() -> None:

    op.drop_index(op.f("ix_plugin_datasources_status"), table_name="plugin_datasources")
    op.drop_index(op.f("ix_plugin_datasources_next_rotation_at"), table_name="plugin_datasources")
    op.drop_table("plugin_datasources")
    op.drop_index(op.f("ix_plugin_secrets_plugin_id"), table_name="plugin_secrets")
    op.drop_table("plugin_secrets")
    op.drop_table("plugin_migrations")
    op.drop_index(op.f("ix_migration_attempts_plugin_id"), table_name="migration_attempts")
    op.drop_table("migration_attempts")
    op.drop_index("ix_lifecycle_operations_state_lease", table_name="lifecycle_operations")
    op.drop_index("ix_lifecycle_operations_plugin_state", table_name="lifecycle_operations")
    op.drop_table("lifecycle_operations")
    op.drop_index(op.f("ix_extension_schemas_status"), table_name="extension_schemas")
    op.drop_table("extension_schemas")
    op.drop_index(op.f("ix_audit_events_plugin_id"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_operation_id"), table_name="audit_events")
    op.drop_table("audit_events")
