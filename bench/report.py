"""Run settings, results, statistics: what the runner and every benchmark report with."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
MODES = ("smoke", "quick", "full")


@dataclass(frozen=True)
class Config:
    """Run settings: the size mode, the Redis database, where results go, a fleet size."""

    mode: str = "quick"
    redis_db: int = 1
    out_dir: Path = RESULTS
    pg_tracking: bool = True
    fleet_plugins: int | None = None

    def n(self, smoke: int, quick: int, full: int) -> int:
        """The size for this mode."""
        return {"smoke": smoke, "quick": quick, "full": full}[self.mode]


@dataclass
class Row:
    """One line of the report table."""

    metric: str
    value: str
    baseline: str = ""
    ratio: str = ""
    goal: str = ""
    met: bool | None = None


@dataclass
class Result:
    """A benchmark's outcome: parameters, raw metrics (JSON) and table rows."""

    name: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)

    def to_json(self, cfg: Config, seconds: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": cfg.mode,
            "params": self.params,
            "metrics": self.metrics,
            "rows": [asdict(r) for r in self.rows],
            "notes": self.notes,
            "duration_s": round(seconds, 2),
            "machine": machine(),
            "finished_at": datetime.now(UTC).isoformat(),
        }


# -- statistics ----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile ``q`` (0..100) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: Sequence[float]) -> dict[str, float]:
    """n, min, median, mean, p99, max (rounded to 3 decimals)."""
    if not values:
        return {"n": 0}
    stats = {
        "min": min(values),
        "median": statistics.median(values),
        "mean": statistics.fmean(values),
        "p99": percentile(values, 99),
        "max": max(values),
    }
    return {"n": len(values), **{k: round(v, 3) for k, v in stats.items()}}


def fmt(value: float, unit: str = "", digits: int = 2) -> str:
    """A number for the table."""
    return f"{value:,.{digits}f}{unit}"


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else float("inf")


def speed(baseline_s: float, ours_s: float) -> str:
    """How much faster (or slower) ours is than the baseline."""
    if ours_s <= baseline_s:
        return f"{baseline_s / ours_s:.2f}x faster"
    return f"{ours_s / baseline_s:.2f}x slower"


def epoch(value: datetime) -> float:
    """Seconds since the epoch of a tracking timestamp (SQLite returns naive UTC)."""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def machine() -> dict[str, Any]:
    """nproc and CPU model."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": model, "loadavg": list(os.getloadavg())}
