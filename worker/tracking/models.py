"""SQLAlchemy models of the tracking tables (contract section 3), by area:

:mod:`~worker.tracking.base` (Base, clock), :mod:`~worker.tracking.plugins`,
:mod:`~worker.tracking.schemas`, :mod:`~worker.tracking.events`,
:mod:`~worker.tracking.placement`, :mod:`~worker.tracking.safety`. A new table goes in
the module of its area (or a new one) and is re-exported here, so
``from worker.tracking.models import X`` and Alembic's ``Base.metadata`` see every table.
"""

from __future__ import annotations

from worker.tracking.base import (
    Base,
    JsonType,
    Timestamps,
    new_uuid,
    utcnow,
)
from worker.tracking.events import (
    CredentialRetirement,
    OutboxCursor,
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from worker.tracking.placement import (
    PluginRelocation,
    TargetReservation,
    TargetUsage,
)
from worker.tracking.plugins import (
    ApiToken,
    AuditEvent,
    LifecycleOperation,
    PluginDatasource,
    PluginSecret,
)
from worker.tracking.safety import (
    PluginQuota,
    PluginSnapshot,
)
from worker.tracking.schemas import (
    ExtensionSchema,
    MigrationAnalysis,
    MigrationAttempt,
    PluginMigration,
)

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "CredentialRetirement",
    "ExtensionSchema",
    "JsonType",
    "LifecycleOperation",
    "MigrationAnalysis",
    "MigrationAttempt",
    "OutboxCursor",
    "OutboxEvent",
    "PluginDatasource",
    "PluginMigration",
    "PluginQuota",
    "PluginRelocation",
    "PluginSecret",
    "PluginSnapshot",
    "TargetReservation",
    "TargetUsage",
    "Timestamps",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "new_uuid",
    "utcnow",
]
