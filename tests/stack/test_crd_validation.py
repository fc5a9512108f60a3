"""The real API server enforces the shardcast API: every example is accepted, every invalid
manifest is rejected with a message naming the offending field (see manifests/README.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from shardcast.devstack.kubectl import kubectl

REPO = Path(__file__).resolve().parents[2]
INVALID = sorted((Path(__file__).parent / "manifests" / "invalid").glob("*.yaml"))
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def expected_message(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: <text>'"
    return first.removeprefix("# expect: ").strip()


def apply_raw(kubeconfig: Path, namespace: str, manifest: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", f"--kubeconfig={kubeconfig}", "-n", namespace, "apply",
                           "-f", "-"], input=manifest, capture_output=True, text=True, timeout=60)


def test_there_are_enough_invalid_cases() -> None:
    kinds = [yaml.safe_load_all(p.read_text()).__next__()["kind"] for p in INVALID]
    assert len(INVALID) >= 30
    assert {k: kinds.count(k) >= 10 for k in ("Shard", "MigrationPolicy", "ShardMigration")} == \
        {"Shard": True, "MigrationPolicy": True, "ShardMigration": True}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_accepted(kubeconfig: Path, namespace: str, path: Path) -> None:
    result = apply_raw(kubeconfig, namespace, path.read_text())
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_manifest_is_rejected(kubeconfig: Path, namespace: str, path: Path) -> None:
    documents = path.read_text().split("\n---\n")
    for setup in documents[:-1]:  # immutability cases: create the valid object first
        created = apply_raw(kubeconfig, namespace, setup)
        assert created.returncode == 0, created.stderr
    result = apply_raw(kubeconfig, namespace, documents[-1])
    assert result.returncode != 0, f"{path.name} was accepted: {result.stdout}"
    assert expected_message(path) in result.stderr, result.stderr
    kind = yaml.safe_load(documents[-1])["kind"].lower()
    name = yaml.safe_load(documents[-1])["metadata"]["name"]
    if len(documents) == 1:  # nothing of a rejected object was stored
        leftovers = kubectl(kubeconfig, "-n", namespace, "get", kind, "-o", "name")
        assert name not in leftovers
