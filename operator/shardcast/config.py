"""Every `SHARDCAST_*` variable the operator reads, parsed once into frozen settings.

`Settings.from_env(os.environ)` runs in the first startup handler (handlers/settings.py) and
the result goes into kopf's memo as `memo.settings`; nothing below reads the environment itself,
with two exceptions that say why where they read:
- the timers' intervals (`TimerIntervals`): kopf takes a timer's interval when its decorator
  runs, so these are read once as the handler modules load;
- Prometheus credentials (`PrometheusCredentials`): read on every connection by
  `clients.prometheus`, which the commands use too, outside any operator.
`Settings.from_env` parses both as well, so a bad value stops the operator at startup with
the variable's name, not at its first use.

The variables the operator writes into the Jobs it creates (SHARDCAST_SHARD, SHARDCAST_EPOCH,
...; api/migration_jobs.py) are the data plane's contract, not settings; SHARDCAST_TRACES
(traces/catalog.py) is for the commands, tests and benchmarks, and devstack/ reads its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

T = TypeVar("T")
Environ = Mapping[str, str]
JobExecutor = Literal["kubernetes", "local"]


class SettingsError(ValueError):
    """A SHARDCAST_* variable holds a value the operator cannot use."""


@dataclass(frozen=True)
class TimerIntervals:
    """How often kopf's timers fire, in seconds."""

    # SHARDCAST_RESYNC_SECONDS: how often every policy is evaluated (forecast, plan, status)
    policy_seconds: float = 30.0
    # SHARDCAST_MIGRATION_TICK_SECONDS: how often an unfinished migration takes its next step
    migration_tick_seconds: float = 1.0
    # SHARDCAST_SHARD_RESYNC_SECONDS: the safety net re-deriving a Shard's status from memory
    # (watches keep it current); also how often etcd records without a Shard are collected
    shard_resync_seconds: float = 600.0

    @classmethod
    def from_env(cls, environ: Environ) -> TimerIntervals:
        return cls(
            policy_seconds=_read(environ, "SHARDCAST_RESYNC_SECONDS", _positive, 30.0),
            migration_tick_seconds=_read(environ, "SHARDCAST_MIGRATION_TICK_SECONDS",
                                         _positive, 1.0),
            shard_resync_seconds=_read(environ, "SHARDCAST_SHARD_RESYNC_SECONDS",
                                       _positive, 600.0))


@dataclass(frozen=True)
class PrometheusCredentials:
    """Files, as the chart mounts them from a Secret; their contents are read per request, so
    a rotated Secret applies without a restart."""

    # SHARDCAST_PROMETHEUS_USERNAME with SHARDCAST_PROMETHEUS_PASSWORD_FILE: basic auth
    username: str | None = None
    password_file: Path | None = None
    # SHARDCAST_PROMETHEUS_BEARER_TOKEN_FILE: a bearer token
    bearer_token_file: Path | None = None

    @classmethod
    def from_env(cls, environ: Environ) -> PrometheusCredentials:
        username = environ.get("SHARDCAST_PROMETHEUS_USERNAME") or None
        password = _read(environ, "SHARDCAST_PROMETHEUS_PASSWORD_FILE", Path, None)
        if username is not None and password is None:
            raise SettingsError("SHARDCAST_PROMETHEUS_USERNAME is set but "
                                "SHARDCAST_PROMETHEUS_PASSWORD_FILE is not: basic auth needs "
                                "the file holding the password")
        return cls(username, password,
                   _read(environ, "SHARDCAST_PROMETHEUS_BEARER_TOKEN_FILE", Path, None))


@dataclass(frozen=True)
class EtcdFiles:
    """PEM files for the consensus etcd (the chart mounts them from a Secret); read once at
    startup, as the channel stays open for the life of the process."""

    ca: Path | None = None  # SHARDCAST_ETCD_CA_FILE: set, etcd is reached over TLS and verified
    cert: Path | None = None  # SHARDCAST_ETCD_CERT_FILE: client certificate, with the key
    key: Path | None = None  # SHARDCAST_ETCD_KEY_FILE


@dataclass(frozen=True)
class Settings:
    """The operator's settings, read once at startup; defaults are what an unset variable
    means."""

    # SHARDCAST_PROMETHEUS_URL: where shard metrics and KPIs are read; None: nothing is
    # forecast and KPI gates cannot be read
    prometheus_url: str | None = None
    prometheus_credentials: PrometheusCredentials = PrometheusCredentials()
    # SHARDCAST_ETCD_ENDPOINTS: comma-separated host:port of every member of the consensus
    # etcd; empty: shards get no placement record and no migration can start
    etcd_endpoints: tuple[str, ...] = ()
    etcd_files: EtcdFiles = EtcdFiles()
    # SHARDCAST_JOB_EXECUTOR: "kubernetes" (Jobs) or "local" (the same commands as local
    # processes: an API server with no nodes that run containers, or no cluster)
    job_executor: JobExecutor = "kubernetes"
    # SHARDCAST_LOCAL_JOBS_DIR: where local Jobs keep their logs and exit codes
    local_jobs_dir: Path = Path("/tmp/shardcast-jobs")
    # SHARDCAST_METRICS_ADDRESS: host:port to serve /metrics on; None: not served, so several
    # operator processes on one machine (tests, the demo) never fight over a port
    metrics_address: tuple[str, int] | None = None
    # SHARDCAST_PEERING_PRIORITY: this replica's kopf peering priority; None: drawn at random,
    # as replicas of equal priority all pause
    peering_priority: int | None = None
    # SHARDCAST_CHALLENGE_WORKERS: processes fitting statsmodels challengers, one BLAS thread
    # each (so the CPU they may take)
    challenge_workers: int = 1
    intervals: TimerIntervals = field(default_factory=TimerIntervals)

    @classmethod
    def from_env(cls, environ: Environ) -> Settings:
        """Parse every variable; a bad value raises SettingsError naming it."""
        return cls(
            prometheus_url=environ.get("SHARDCAST_PROMETHEUS_URL") or None,
            prometheus_credentials=PrometheusCredentials.from_env(environ),
            etcd_endpoints=tuple(
                e for e in environ.get("SHARDCAST_ETCD_ENDPOINTS", "").split(",") if e),
            etcd_files=EtcdFiles(*(_read(environ, f"SHARDCAST_ETCD_{part}_FILE", Path, None)
                                   for part in ("CA", "CERT", "KEY"))),
            job_executor=_read(environ, "SHARDCAST_JOB_EXECUTOR", _executor, "kubernetes"),
            local_jobs_dir=_read(environ, "SHARDCAST_LOCAL_JOBS_DIR", Path,
                                 Path("/tmp/shardcast-jobs")),
            metrics_address=_read(environ, "SHARDCAST_METRICS_ADDRESS", _address, None),
            peering_priority=_read(environ, "SHARDCAST_PEERING_PRIORITY", int, None),
            challenge_workers=_read(environ, "SHARDCAST_CHALLENGE_WORKERS", _count, 1),
            intervals=TimerIntervals.from_env(environ))


def _read(environ: Environ, name: str, parse: Callable[[str], T], default: T) -> T:
    """`name` parsed, or `default` when it is unset or empty."""
    raw = environ.get(name, "")
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError as error:
        raise SettingsError(f"{name}={raw!r}: {error}") from error


def _positive(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a number of seconds above 0")
    return value


def _count(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


def _executor(raw: str) -> JobExecutor:
    if raw == "kubernetes":
        return "kubernetes"
    if raw == "local":
        return "local"
    raise ValueError("must be 'kubernetes' or 'local'")


def _address(raw: str) -> tuple[str, int]:
    host, colon, port = raw.rpartition(":")
    if not colon or not port.isdigit():
        raise ValueError("must be host:port, e.g. 0.0.0.0:9090")
    return host, int(port)
