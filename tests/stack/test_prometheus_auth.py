"""Prometheus behind basic auth (a real server with a web config): credentials come from the
environment and files, as the chart mounts them from a Secret."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from shardcast.clients.prometheus import MetricsUnavailable, instant_value
from shardcast.devstack.packages import PROMETHEUS
from shardcast.devstack.stack import Endpoints
from tests.stack.ports import free_port

PASSWORD = "s3cret-for-tests"


@pytest.fixture
def guarded_prometheus(endpoints: Endpoints, tmp_path: Path) -> Iterator[str]:
    """A second, empty Prometheus that answers only user `shardcast` with PASSWORD."""
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  shardcast: {hashed}\n")
    (tmp_path / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n")
    port = free_port()
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.config.file={tmp_path / 'web.yml'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/-/ready", timeout=1)
        except urllib.error.HTTPError as refused:
            if refused.code == 401:  # up, and asking for credentials
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the guarded Prometheus never started"
        time.sleep(0.2)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_queries_carry_basic_auth_from_the_environment(
        guarded_prometheus: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MetricsUnavailable, match="401"):
        instant_value(guarded_prometheus, "vector(1)")
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n")
    monkeypatch.setenv("SHARDCAST_PROMETHEUS_USERNAME", "shardcast")
    monkeypatch.setenv("SHARDCAST_PROMETHEUS_PASSWORD_FILE", str(password))
    assert instant_value(guarded_prometheus, "vector(42)") == 42.0
    password.write_text("rotated-wrong\n")  # read on every call: a rotated Secret applies
    with pytest.raises(MetricsUnavailable, match="401"):
        instant_value(guarded_prometheus, "vector(1)")
