"""All configuration, read from the environment in one place (providers never read it)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

ENV_PREFIX = "PLUGIN_DB_"


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    value = env.get(ENV_PREFIX + name)
    return Path(value).expanduser().resolve() if value else default.resolve()


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(ENV_PREFIX + name)
    return float(value) if value else default


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(ENV_PREFIX + name)
    return int(value) if value else default


def _optional_int(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(ENV_PREFIX + name)
    return int(value) if value else None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter for transient errors."""

    max_retries: int = 8
    backoff_base: float = 2.0
    backoff_max: float = 120.0

    def countdown(self, retries: int, jitter: float) -> float:
        """Seconds to wait before retry number ``retries`` (jitter in [0, 1))."""
        ceiling = min(self.backoff_max, self.backoff_base * (2.0**retries))
        return max(0.05, ceiling * jitter)


@dataclass(frozen=True)
class EventSettings:
    """Outbox relay, webhooks, the connection file sink and login retirement."""

    connection_dir: Path | None = None
    webhook_allowed_hosts: tuple[str, ...] = ()
    relay_interval_seconds: float = 5.0
    webhook_timeout_seconds: float = 10.0
    webhook_backoff_base: float = 2.0
    webhook_backoff_max: float = 600.0
    webhook_disable_after: int = 20
    retire_check_seconds: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EventSettings:
        """``PLUGIN_DB_CONNECTION_DIR``, ``PLUGIN_DB_WEBHOOK_*``, ``PLUGIN_DB_RETIRE_*``."""
        folder = env.get(ENV_PREFIX + "CONNECTION_DIR")
        hosts = env.get(ENV_PREFIX + "WEBHOOK_ALLOWED_HOSTS", "")
        return cls(
            connection_dir=Path(folder).expanduser().resolve() if folder else None,
            webhook_allowed_hosts=tuple(h.strip() for h in hosts.split(",") if h.strip()),
            relay_interval_seconds=_float(
                env, "RELAY_INTERVAL_SECONDS", cls.relay_interval_seconds
            ),
            webhook_timeout_seconds=_float(
                env, "WEBHOOK_TIMEOUT_SECONDS", cls.webhook_timeout_seconds
            ),
            webhook_backoff_base=_float(env, "WEBHOOK_BACKOFF_BASE", cls.webhook_backoff_base),
            webhook_backoff_max=_float(env, "WEBHOOK_BACKOFF_MAX", cls.webhook_backoff_max),
            webhook_disable_after=_int(env, "WEBHOOK_DISABLE_AFTER", cls.webhook_disable_after),
            retire_check_seconds=_float(env, "RETIRE_CHECK_SECONDS", cls.retire_check_seconds),
        )


@dataclass(frozen=True)
class Settings:
    """The worker's configuration; ``Settings.from_env()`` is the only reader of os.environ."""

    broker_url: str = "redis://localhost:6379/0"
    result_backend: str | None = None
    database_url: str = ""
    data_dir: Path = field(default_factory=lambda: Path("var").resolve())
    plugins_root: Path = field(default_factory=lambda: Path("plugins").resolve())
    postgres_admin_url: str | None = None
    mysql_admin_url: str | None = None
    shared_url: str | None = None
    targets_file: Path | None = None
    secret_keys: tuple[str, ...] = ()
    queue: str = "plugin-db"
    lease_seconds: float = 60.0
    reconcile_seconds: float = 0.0
    """How often beat re-sends stale operations; 0: half a lease, at least 5 s."""
    max_attempts: int = 5
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    visibility_timeout: int = 3600
    lock_wait_seconds: float = 30.0
    archive_retention_days: int = 30
    doctor_interval_seconds: float = 3600.0
    enable_entry_points: bool = False
    failpoints: str = ""
    log_json: bool = True
    # snapshots, the migration linter and quotas
    snapshot_dir: Path | None = None
    large_table_mb: float = 64.0
    quota_interval_seconds: float = 300.0
    metrics_port: int | None = None
    metrics_address: str = "127.0.0.1"
    metrics_dir: Path = field(default_factory=lambda: Path("var/metrics").resolve())
    events: EventSettings = field(default_factory=EventSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``PLUGIN_DB_*`` variables (see README, "Configuration")."""
        env = os.environ if env is None else env
        data_dir = _path(env, "DATA_DIR", Path("var"))
        keys = tuple(k.strip() for k in env.get(ENV_PREFIX + "SECRET_KEY", "").split(",") if k)
        settings = cls(
            broker_url=env.get(ENV_PREFIX + "BROKER_URL", cls.broker_url),
            result_backend=env.get(ENV_PREFIX + "RESULT_BACKEND") or None,
            database_url=env.get(ENV_PREFIX + "DATABASE_URL")
            or f"sqlite:///{data_dir / 'tracking.db'}",
            data_dir=data_dir,
            plugins_root=_path(env, "PLUGINS_ROOT", Path("plugins")),
            postgres_admin_url=env.get(ENV_PREFIX + "POSTGRES_ADMIN_URL") or None,
            mysql_admin_url=env.get(ENV_PREFIX + "MYSQL_ADMIN_URL") or None,
            shared_url=env.get(ENV_PREFIX + "SHARED_URL") or None,
            targets_file=_path(env, "TARGETS", Path()) if env.get(ENV_PREFIX + "TARGETS") else None,
            secret_keys=keys,
            lease_seconds=_float(env, "LEASE_SECONDS", cls.lease_seconds),
            reconcile_seconds=_float(env, "RECONCILE_SECONDS", cls.reconcile_seconds),
            max_attempts=_int(env, "MAX_ATTEMPTS", cls.max_attempts),
            retry=RetryPolicy(
                max_retries=_int(env, "MAX_RETRIES", RetryPolicy.max_retries),
                backoff_base=_float(env, "BACKOFF_BASE", RetryPolicy.backoff_base),
                backoff_max=_float(env, "BACKOFF_MAX", RetryPolicy.backoff_max),
            ),
            visibility_timeout=_int(env, "VISIBILITY_TIMEOUT", cls.visibility_timeout),
            lock_wait_seconds=_float(env, "LOCK_WAIT_SECONDS", cls.lock_wait_seconds),
            archive_retention_days=_int(env, "ARCHIVE_RETENTION_DAYS", cls.archive_retention_days),
            doctor_interval_seconds=_float(
                env, "DOCTOR_INTERVAL_SECONDS", cls.doctor_interval_seconds
            ),
            enable_entry_points=env.get(ENV_PREFIX + "ENABLE_ENTRY_POINTS", "") == "1",
            failpoints=env.get(ENV_PREFIX + "FAILPOINTS", ""),
            log_json=env.get(ENV_PREFIX + "LOG_FORMAT", "json") == "json",
            snapshot_dir=_path(env, "SNAPSHOT_DIR", data_dir / "snapshots"),
            large_table_mb=_float(env, "LARGE_TABLE_MB", cls.large_table_mb),
            quota_interval_seconds=_float(
                env, "QUOTA_INTERVAL_SECONDS", cls.quota_interval_seconds
            ),
            metrics_port=_optional_int(env, "METRICS_PORT"),
            metrics_address=env.get(ENV_PREFIX + "METRICS_ADDRESS") or cls.metrics_address,
            metrics_dir=_path(env, "METRICS_DIR", data_dir / "metrics"),
            events=EventSettings.from_env(env),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse settings that would break redelivery guarantees."""
        if self.visibility_timeout <= 2 * self.retry.backoff_max:
            raise ValueError(
                "PLUGIN_DB_VISIBILITY_TIMEOUT must be well above PLUGIN_DB_BACKOFF_MAX "
                f"(got {self.visibility_timeout}s <= 2 x {self.retry.backoff_max}s): "
                "a delayed retry would otherwise be delivered twice"
            )

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields replaced (tests and the demo use this)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def snapshots_path(self) -> Path:
        """Where the local snapshot store keeps its files."""
        return self.snapshot_dir or self.data_dir / "snapshots"

    @property
    def uses_filesystem_broker(self) -> bool:
        """True for the embedded default broker, which needs no server."""
        return self.broker_url.startswith("filesystem://")


@cache
def process_settings() -> Settings:
    """This process's settings: the environment is read once, on first use."""
    return Settings.from_env()
