"""config.Settings.from_env: what each SHARDCAST_* variable means unset, how it is parsed, and
the error a bad value gives (it names the variable)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shardcast.config import (
    EtcdFiles,
    PrometheusCredentials,
    Settings,
    SettingsError,
    TimerIntervals,
)


def test_nothing_set_means_the_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.prometheus_url is None
    assert settings.etcd_endpoints == ()
    assert settings.job_executor == "kubernetes"
    assert settings.local_jobs_dir == Path("/tmp/shardcast-jobs")
    assert settings.metrics_address is None
    assert settings.peering_priority is None
    assert settings.challenge_workers == 1
    assert settings.intervals == TimerIntervals(30.0, 1.0, 600.0)


def test_empty_values_count_as_unset() -> None:
    names = ["SHARDCAST_PROMETHEUS_URL", "SHARDCAST_ETCD_ENDPOINTS", "SHARDCAST_JOB_EXECUTOR",
             "SHARDCAST_METRICS_ADDRESS", "SHARDCAST_PEERING_PRIORITY",
             "SHARDCAST_RESYNC_SECONDS", "SHARDCAST_ETCD_CA_FILE"]
    assert Settings.from_env(dict.fromkeys(names, "")) == Settings()


def test_every_variable_is_parsed() -> None:
    settings = Settings.from_env({
        "SHARDCAST_PROMETHEUS_URL": "http://prometheus:9090",
        "SHARDCAST_PROMETHEUS_USERNAME": "shardcast",
        "SHARDCAST_PROMETHEUS_PASSWORD_FILE": "/secret/password",
        "SHARDCAST_PROMETHEUS_BEARER_TOKEN_FILE": "/secret/token",
        "SHARDCAST_ETCD_ENDPOINTS": "10.0.0.1:2379,,10.0.0.2:2379",
        "SHARDCAST_ETCD_CA_FILE": "/tls/ca.pem", "SHARDCAST_ETCD_CERT_FILE": "/tls/c.pem",
        "SHARDCAST_ETCD_KEY_FILE": "/tls/k.pem",
        "SHARDCAST_JOB_EXECUTOR": "local", "SHARDCAST_LOCAL_JOBS_DIR": "/var/jobs",
        "SHARDCAST_METRICS_ADDRESS": "0.0.0.0:9100", "SHARDCAST_PEERING_PRIORITY": "7",
        "SHARDCAST_CHALLENGE_WORKERS": "3", "SHARDCAST_RESYNC_SECONDS": "2",
        "SHARDCAST_MIGRATION_TICK_SECONDS": "0.5", "SHARDCAST_SHARD_RESYNC_SECONDS": "60"})
    assert settings == Settings(
        prometheus_url="http://prometheus:9090",
        prometheus_credentials=PrometheusCredentials(
            "shardcast", Path("/secret/password"), Path("/secret/token")),
        etcd_endpoints=("10.0.0.1:2379", "10.0.0.2:2379"),
        etcd_files=EtcdFiles(Path("/tls/ca.pem"), Path("/tls/c.pem"), Path("/tls/k.pem")),
        job_executor="local", local_jobs_dir=Path("/var/jobs"),
        metrics_address=("0.0.0.0", 9100), peering_priority=7, challenge_workers=3,
        intervals=TimerIntervals(2.0, 0.5, 60.0))


@pytest.mark.parametrize(("name", "value", "says"), [
    ("SHARDCAST_RESYNC_SECONDS", "soon", "could not convert"),
    ("SHARDCAST_MIGRATION_TICK_SECONDS", "0", "above 0"),
    ("SHARDCAST_SHARD_RESYNC_SECONDS", "-5", "above 0"),
    ("SHARDCAST_JOB_EXECUTOR", "docker", "'kubernetes' or 'local'"),
    ("SHARDCAST_METRICS_ADDRESS", "9100", "host:port"),
    ("SHARDCAST_METRICS_ADDRESS", "0.0.0.0:http", "host:port"),
    ("SHARDCAST_PEERING_PRIORITY", "high", "invalid literal"),
    ("SHARDCAST_CHALLENGE_WORKERS", "0", "at least 1"),
])
def test_a_bad_value_names_the_variable_and_the_value(name: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError, match=says) as raised:
        Settings.from_env({name: value})
    assert str(raised.value).startswith(f"{name}={value!r}: ")


def test_basic_auth_without_a_password_file_is_refused() -> None:
    with pytest.raises(SettingsError, match="SHARDCAST_PROMETHEUS_PASSWORD_FILE is not"):
        Settings.from_env({"SHARDCAST_PROMETHEUS_USERNAME": "shardcast"})


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.prometheus_url = "http://elsewhere"  # type: ignore[misc]
