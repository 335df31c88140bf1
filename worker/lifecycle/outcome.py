"""What a step returns, and a named step of a plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.orm import Session

from worker.lifecycle.context import StepContext


@dataclass
class Outcome:
    """What a step did; ``apply`` writes its tracking changes inside the step's transaction."""

    status: Literal["done", "skipped"] = "done"
    detail: dict[str, Any] = field(default_factory=dict)
    apply: Callable[[Session], object] | None = None


@dataclass(frozen=True)
class Step:
    """A named step of a plan."""

    name: str
    run: Callable[[StepContext], Outcome]
