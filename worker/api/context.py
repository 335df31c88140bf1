"""What every handler shares: settings, tracking sessions, the lifecycle service, the producer."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any

from celery import Celery
from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from worker.lifecycle.service import LifecycleService
from worker.secrets import SecretBox
from worker.settings import Settings


@dataclass
class ApiContext:
    """Built once per API process; the service validates requests exactly as the worker does."""

    settings: Settings
    extras: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def service(self) -> LifecycleService:
        """Validation and recording of lifecycle requests (no provider work)."""
        return LifecycleService(self.settings)

    @property
    def sessions(self) -> sessionmaker[Session]:
        """Sessions on the tracking database."""
        return self.service.sessions

    @property
    def box(self) -> SecretBox:
        """Decrypts stored credentials for the connection route."""
        return self.service.box

    @cached_property
    def celery(self) -> Celery:
        """The producer app: sends the public tasks by name, as any producer would."""
        from worker.celery_app import create_producer

        return create_producer(self.settings)


async def api_context(request: Request) -> ApiContext:
    """FastAPI dependency: the process's context."""
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(api_context)]
"""The context as a handler parameter."""
