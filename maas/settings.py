"""Service settings, read once from ``MAAS_*`` environment variables.

Tests build :class:`Settings` directly; nothing reads the environment at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from maas.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent


def local_database_url(project_dir: Path = PROJECT_DIR) -> str:
    """The URL of the project-local PostGIS cluster started by ``deploy/local-db``."""
    env_file = project_dir / "var" / "pg" / "url"
    if env_file.exists():
        return env_file.read_text().strip()
    return ""


DB_POOL_MIN = 4


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service needs to know about its environment."""

    database_url: str
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = PROJECT_DIR / "var"
    region: str = "herrenberg"
    demo_osm_path: Path = PROJECT_DIR / "data" / "demo" / "herrenberg.osm.pbf"
    snap_max_distance_m: float = 1000.0
    db_pool_min: int = DB_POOL_MIN
    """Connections each process opens at start and keeps (warmed up, see maas.db): a burst
    after a quiet spell does not wait for new ones."""
    db_pool_max: int = 10
    worker_processes: int = 2
    shutdown_timeout_s: float = 30.0
    log_level: str = "INFO"
    max_body_bytes: int = 256 * 1024
    matching_interval_s: float = 300.0
    """Seconds between scheduled matching runs of every community; 0 switches the scheduler
    off (no scheduled runs, answer deadlines or cut-off notices)."""
    matching_changes: int = 20
    """A community is also run between its scheduled runs once this many requests, offers and
    answers changed since its last run; 0: only on the rhythm."""
    matching_time_limit_s: float = 5.0
    """The solver's search time per run (OR-Tools stops after this)."""
    matching_run_timeout_s: float = 300.0
    """A run that takes longer (inputs, solve, writing) fails with a timeout."""
    event_keepalive_s: float = 15.0
    """Seconds between keep-alive comments on an idle event stream."""
    event_listener_check_s: float = 5.0
    """How often the event hub polls when no one in the process listens (a dropped connection
    is noticed, and the hub's position keeps up with the table)."""
    webhook_interval_s: float = 5.0
    """Seconds between polls of due webhook deliveries (an event that queued a delivery also
    wakes the sender); 0 switches webhook delivery off."""
    webhook_timeout_s: float = 5.0
    webhook_concurrency: int = 8
    webhook_max_attempts: int = 8
    webhook_backoff_s: float = 2.0
    """The first retry's delay; each further one doubles it."""
    instant_answers: bool = True
    """Answer each new request at once (an event: is a seat likely, pickup time and place),
    computed in the matching worker pool."""
    workers: int | None = None
    """HTTP server processes sharing the port (``serve``); ``None``: one per CPU."""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def cache_dir(self) -> Path:
        """Where derived, rebuildable files (the road graph cache) live."""
        return self.data_dir / "cache"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``MAAS_*`` variables; raise :class:`ConfigError` on bad values."""
        env = os.environ if environ is None else environ
        url = env.get("MAAS_DATABASE_URL") or local_database_url()
        if not url:
            raise ConfigError(
                "MAAS_DATABASE_URL is not set and no local database was found; "
                "run 'make db' to start the project-local PostGIS, or set "
                "MAAS_DATABASE_URL=postgresql://user:password@host:5432/dbname"
            )
        kwargs: dict[str, object] = {"database_url": url}
        text_fields = {"MAAS_HOST": "host", "MAAS_REGION": "region", "MAAS_LOG_LEVEL": "log_level"}
        for var, name in text_fields.items():
            if env.get(var):
                kwargs[name] = env[var]
        path_fields = {"MAAS_DATA_DIR": "data_dir", "MAAS_DEMO_OSM": "demo_osm_path"}
        for var, name in path_fields.items():
            if env.get(var):
                kwargs[name] = Path(env[var])
        int_fields = {
            "MAAS_PORT": ("port", 1, 65535),
            "MAAS_DB_POOL_MIN": ("db_pool_min", 1, 1000),
            "MAAS_DB_POOL_MAX": ("db_pool_max", 1, 1000),
            "MAAS_WORKER_PROCESSES": ("worker_processes", 1, 256),
            "MAAS_MAX_BODY_BYTES": ("max_body_bytes", 1024, 64 * 1024 * 1024),
            "MAAS_WORKERS": ("workers", 1, 256),
            "MAAS_MATCHING_CHANGES": ("matching_changes", 0, 1_000_000),
        }
        for var, (name, low, high) in int_fields.items():
            if env.get(var):
                kwargs[name] = _parse_int(var, env[var], low, high)
        float_fields = {
            "MAAS_SNAP_MAX_DISTANCE_M": ("snap_max_distance_m", 1.0, 100_000.0),
            "MAAS_SHUTDOWN_TIMEOUT_S": ("shutdown_timeout_s", 0.0, 3600.0),
            "MAAS_MATCHING_INTERVAL_S": ("matching_interval_s", 0.0, 7 * 86400.0),
            "MAAS_MATCHING_TIME_LIMIT_S": ("matching_time_limit_s", 0.1, 3600.0),
            "MAAS_MATCHING_RUN_TIMEOUT_S": ("matching_run_timeout_s", 1.0, 86400.0),
            "MAAS_EVENT_KEEPALIVE_S": ("event_keepalive_s", 1.0, 3600.0),
            "MAAS_WEBHOOK_INTERVAL_S": ("webhook_interval_s", 0.0, 3600.0),
            "MAAS_WEBHOOK_TIMEOUT_S": ("webhook_timeout_s", 0.1, 300.0),
        }
        for var, (name, flow, fhigh) in float_fields.items():
            if env.get(var):
                kwargs[name] = _parse_float(var, env[var], flow, fhigh)
        if raw := env.get("MAAS_INSTANT_ANSWERS"):
            kwargs["instant_answers"] = _parse_bool("MAAS_INSTANT_ANSWERS", raw)
        pool_max = kwargs.get("db_pool_max")
        if "db_pool_min" not in kwargs and isinstance(pool_max, int):
            # Only the maximum set: the default minimum gives way to it.
            kwargs["db_pool_min"] = min(DB_POOL_MIN, pool_max)
        settings = cls(**kwargs)  # type: ignore[arg-type]
        if settings.db_pool_min > settings.db_pool_max:
            raise ConfigError("MAAS_DB_POOL_MIN must not exceed MAAS_DB_POOL_MAX")
        return settings


def _parse_bool(var: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{var}={raw!r} is not a yes/no value (use 1 or 0)")


def _parse_int(var: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{var}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{var}={value} is out of range ({low} to {high})")
    return value


def _parse_float(var: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{var}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise ConfigError(f"{var}={value} is out of range ({low} to {high})")
    return value
