"""Running a migration's Jobs: as Kubernetes Jobs, or as local processes when there is no cluster.

Both runners take the same batch/v1 manifest and answer with the same JobState (the JobRunner
port of reconcile/ports.py), so the migration driver cannot tell them apart. Creating is
idempotent (an existing Job of that name is kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from shardcast.clients.kubernetes import REQUEST_TIMEOUT, api_client
from shardcast.migration.model import JobState


class KubernetesJobs:
    async def create(self, namespace: str, manifest: Mapping[str, Any]) -> None:
        def create() -> None:
            try:
                kubernetes.client.BatchV1Api(api_client()).create_namespaced_job(
                    namespace, dict(manifest),  # type: ignore[arg-type]  # dicts are accepted
                    _request_timeout=REQUEST_TIMEOUT)
            except ApiException as error:
                if error.status != 409:
                    raise

        await asyncio.to_thread(create)

    async def state(self, namespace: str, name: str) -> JobState:
        def read() -> JobState:
            try:
                job = kubernetes.client.BatchV1Api(api_client()).read_namespaced_job_status(
                    name, namespace, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as error:
                if error.status == 404:
                    return JobState.ABSENT
                raise
            status = job.status or kubernetes.client.V1JobStatus()
            conditions = {c.type: c.status for c in (status.conditions or [])}
            if conditions.get("Complete") == "True" or (status.succeeded or 0) > 0:
                return JobState.SUCCEEDED
            if conditions.get("Failed") == "True":
                return JobState.FAILED
            return JobState.RUNNING

        return await asyncio.to_thread(read)

    async def delete(self, namespace: str, name: str) -> None:
        def delete() -> None:
            try:
                kubernetes.client.BatchV1Api(api_client()).delete_namespaced_job(
                    name, namespace, propagation_policy="Background",
                    _request_timeout=REQUEST_TIMEOUT)
            except ApiException as error:
                if error.status != 404:
                    raise

        await asyncio.to_thread(delete)


_VARIABLE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


class LocalJobs:
    """The first container's command and args as a detached local process.

    Its exit code lands in a file, so an operator restarted meanwhile still learns how the Job
    ended; a process that vanished without one (killed) counts as failed, like a lost pod.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _files(self, namespace: str, name: str) -> tuple[Path, Path, Path]:
        base = self._directory / f"{namespace}.{name}"  # names hold dots: no with_suffix
        return Path(f"{base}.pid"), Path(f"{base}.rc"), Path(f"{base}.log")

    async def create(self, namespace: str, manifest: Mapping[str, Any]) -> None:
        pid_file, rc_file, log_file = self._files(namespace, manifest["metadata"]["name"])
        if pid_file.exists():
            return
        container = manifest["spec"]["template"]["spec"]["containers"][0]
        env = {**os.environ, **{e["name"]: e.get("value", "") for e in container.get("env", [])}}
        argv = [_VARIABLE.sub(lambda m: env.get(m[1], m[0]), part)
                for part in [*container.get("command", []), *container.get("args", [])]]
        self._directory.mkdir(parents=True, exist_ok=True)
        wrapper = f'"$@"; echo $? > {rc_file}.tmp && mv {rc_file}.tmp {rc_file}'
        with log_file.open("ab") as log:
            process = subprocess.Popen(["sh", "-c", wrapper, "job", *argv], env=env,
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       start_new_session=True)
        pid_file.write_text(str(process.pid))

    async def state(self, namespace: str, name: str) -> JobState:
        pid_file, rc_file, _ = self._files(namespace, name)
        if (ended := _exit_state(rc_file)) is not None:
            return ended
        if not pid_file.exists():
            return JobState.ABSENT
        if _alive(int(pid_file.read_text())):
            return JobState.RUNNING
        # It may have written its exit code and ended between the first look and this one: a
        # Job that succeeded must not be taken for one that was killed.
        return _exit_state(rc_file) or JobState.FAILED

    async def delete(self, namespace: str, name: str) -> None:
        pid_file, _, _ = self._files(namespace, name)
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid_file.read_text()), signal.SIGTERM)


def _exit_state(rc_file: Path) -> JobState | None:
    """How the Job ended, by the exit code its wrapper wrote; None while there is none."""
    if not rc_file.exists():
        return None
    return JobState.SUCCEEDED if rc_file.read_text().strip() == "0" else JobState.FAILED


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status
