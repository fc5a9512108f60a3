"""Local Jobs: real processes, their exit codes, and the Job manifest's environment."""

import asyncio
import time
from pathlib import Path

from pytest import MonkeyPatch

from shardcast.api.migration_jobs import job_env, job_manifest, job_name
from shardcast.clients import jobs as local_jobs
from shardcast.clients.jobs import LocalJobs
from shardcast.migration.model import JobState

OWNER = {"apiVersion": "shardcast.io/v1alpha1", "kind": "ShardMigration", "name": "m",
         "uid": "u-1"}


def _manifest(kind: str, script: str) -> dict[str, object]:
    spec = {"template": {"spec": {"containers": [
        {"name": kind, "image": "none", "command": ["sh", "-c"], "args": [script]}]}}}
    return job_manifest(job_name("kv-0-to-b", kind), kind, spec,
                        job_env("ns", "kv-0-to-b", "kv-0", "node-a", "node-b", 3, 1 << 30), OWNER)


def _wait(jobs: LocalJobs, name: str) -> JobState:
    deadline = time.monotonic() + 10
    while (state := asyncio.run(jobs.state("ns", name))) is JobState.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return state


def test_each_job_runs_once_with_the_migration_in_its_environment(tmp_path: Path) -> None:
    jobs = LocalJobs(tmp_path)
    out = tmp_path / "seen"
    sync = _manifest("sync", f'echo "$SHARDCAST_SHARD $SHARDCAST_EPOCH $SHARDCAST_SIZE_BYTES" '
                             f'>> {out}')
    cutover = _manifest("cutover", "exit 3")
    for manifest in (sync, cutover, sync):  # creating again is a no-op
        asyncio.run(jobs.create("ns", manifest))
    assert _wait(jobs, "kv-0-to-b-sync") is JobState.SUCCEEDED
    assert _wait(jobs, "kv-0-to-b-cutover") is JobState.FAILED
    assert out.read_text() == "kv-0 3 1073741824\n"
    assert asyncio.run(jobs.state("ns", "other")) is JobState.ABSENT


def test_a_killed_job_counts_as_failed(tmp_path: Path) -> None:
    jobs = LocalJobs(tmp_path)
    asyncio.run(jobs.create("ns", _manifest("sync", "sleep 30")))
    assert asyncio.run(jobs.state("ns", "kv-0-to-b-sync")) is JobState.RUNNING
    asyncio.run(jobs.delete("ns", "kv-0-to-b-sync"))
    assert _wait(jobs, "kv-0-to-b-sync") is JobState.FAILED


def test_job_manifest_is_owned_by_the_migration() -> None:
    job = _manifest("sync", "true")
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u-1"  # type: ignore[index]
    assert job_name("m" * 70, "cutover").endswith("-cutover")
    assert len(job_name("m" * 70, "cutover")) <= 63


def test_a_job_that_ends_between_two_looks_is_taken_as_it_ended(tmp_path: Path,
                                                                   monkeypatch: MonkeyPatch,
                                                                   ) -> None:
    """state() finds no exit code, then the process gone: it wrote its code and ended in
    between (a loaded machine does that), and it succeeded."""
    jobs = LocalJobs(tmp_path)
    pid_file, rc_file = tmp_path / "ns.kv-0-to-b-sync.pid", tmp_path / "ns.kv-0-to-b-sync.rc"
    pid_file.write_text("4194304")

    def ends_meanwhile(pid: int) -> bool:
        rc_file.write_text("0\n")
        return False

    monkeypatch.setattr(local_jobs, "_alive", ends_meanwhile)
    assert asyncio.run(jobs.state("ns", "kv-0-to-b-sync")) is JobState.SUCCEEDED
