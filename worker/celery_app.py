"""The Celery application: queue ``plugin-db``, JSON only, late acks, events on for Flower.

Messages that are not the contract's shape are refused before a task sees them
(:mod:`worker.intake`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from celery import Celery

from worker.settings import Settings, process_settings

QUEUE = "plugin-db"


def broker_url(settings: Settings) -> str:
    """The broker's URL; the embedded default's gets a host name, which kombu's file-system
    transport ignores but otherwise warns about on every send."""
    if settings.broker_url in ("filesystem://", "filesystem:///"):
        return "filesystem://localhost/"
    return settings.broker_url


def broker_options(settings: Settings) -> dict[str, Any]:
    """Transport options: a visibility timeout above the longest backoff, or embedded folders."""
    if settings.uses_filesystem_broker:
        folder = settings.data_dir / "broker"
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
    return {"visibility_timeout": settings.visibility_timeout}


def result_backend(settings: Settings) -> str:
    """Results go next to the broker: Redis, or files for the embedded default."""
    if settings.result_backend:
        return settings.result_backend
    if settings.uses_filesystem_broker:
        folder = settings.data_dir / "results"
        folder.mkdir(parents=True, exist_ok=True)
        return f"file://{folder}"
    return settings.broker_url


def worker_command(
    *,
    concurrency: int = 2,
    pool: str = "prefork",
    loglevel: str = "INFO",
    beat_schedule_file: str | None = None,
    beat: bool = False,
    extra: Sequence[str] = (),
) -> list[str]:
    """argv of a Celery worker on queue plugin-db with task events on (for Flower).

    Without gossip and mingle: workers coordinate through operation leases in the tracking
    database, never through each other's events or revoked lists, so a worker neither consumes
    every other worker's task events nor waits for their replies at start-up.
    """
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "-Q",
        QUEUE,
        "-E",
        "--without-gossip",
        "--without-mingle",
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
    ]
    if beat or beat_schedule_file:
        argv.append("-B")
    if beat_schedule_file:
        argv += ["-s", beat_schedule_file]
    return [*argv, *extra]


def create_app(settings: Settings) -> Celery:
    """A configured Celery app whose tasks are the public contract's."""
    app = Celery(
        "plugin_db",
        include=["tasks.lifecycle", "tasks.maintenance", "tasks.events", "tasks.safety"],
    )
    options = broker_options(settings)
    app.conf.update(
        broker_url=broker_url(settings),
        result_backend=result_backend(settings),
        broker_transport_options=options,
        result_backend_transport_options=options if not settings.uses_filesystem_broker else {},
        broker_connection_retry_on_startup=True,
        task_default_queue=QUEUE,
        task_default_exchange=QUEUE,
        task_default_routing_key=QUEUE,
        task_routes={"plugin_db.*": {"queue": QUEUE}},
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_send_task_events=True,
        task_send_sent_event=True,
        task_track_started=True,
        result_expires=7 * 24 * 3600,
        result_extended=False,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        beat_schedule=beat_schedule(settings),
        timezone="UTC",
        worker_consumer="worker.intake:AuditingConsumer",
    )
    if settings.broker_url.split("://", 1)[0] in ("redis", "rediss"):
        app.conf.broker_transport = "worker.intake:GuardedRedisTransport"
    app.conf.plugin_db_settings = settings
    return app


def create_producer(settings: Settings) -> Celery:
    """The app a producer sends with: :func:`create_app` without a result backend.

    Workers still store every task's result. A producer never reads one, and an app with a
    Redis result backend subscribes to each message's result channel as it sends it: a result
    store that is down (when it is configured apart from the broker) would hold every enqueue
    in reconnect retries, and a long-running producer would listen for results it never reads.
    """
    app = create_app(settings)
    app.conf.result_backend = None
    return app


def beat_schedule(settings: Settings) -> dict[str, Any]:
    """Periodic work: reconcile, rotate due credentials, the doctor, purge expired archives
    and dead migration analyses."""
    reconcile_every = settings.reconcile_seconds or max(5.0, settings.lease_seconds / 2)
    return {
        "reconcile": {"task": "plugin_db.reconcile", "schedule": reconcile_every},
        "rotate-due": {"task": "plugin_db.rotate_due", "schedule": 3600.0},
        "doctor": {"task": "plugin_db.doctor", "schedule": settings.doctor_interval_seconds},
        "purge-archives": {"task": "plugin_db.purge_archives", "schedule": 3600.0},
        "purge-analyses": {"task": "plugin_db.purge_analyses", "schedule": 86400.0},
        "dispatch-events": {
            "task": "plugin_db.dispatch_events",
            "schedule": settings.events.relay_interval_seconds,
        },
        "retire-due": {
            "task": "plugin_db.retire_due",
            "schedule": settings.events.retire_check_seconds,
        },
        "snapshot-retention": {"task": "plugin_db.snapshot_retention", "schedule": 3600.0},
        "quotas-enforce": {
            "task": "plugin_db.quotas_enforce",
            "schedule": settings.quota_interval_seconds,
        },
    }


app = create_app(process_settings())
