"""Background processes of the stack: started detached, found again by pid file, stopped cleanly.

Every part gets a bounded wait for readiness; when it does not come up, the error names the part
and shows the tail of its log, because "timed out" alone sends people digging through files.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

LOG_TAIL_LINES = 25


class StackError(RuntimeError):
    """A part of the local stack failed to start or stop."""


@dataclass(frozen=True)
class Part:
    """One long-running process of the stack."""

    name: str
    argv: Sequence[str]
    ready: Callable[[], bool]
    timeout_seconds: float = 60.0

    def log_path(self, state: Path) -> Path:
        return state / "logs" / f"{self.name}.log"

    def pid_path(self, state: Path) -> Path:
        return state / "run" / f"{self.name}.pid"


def running_pid(part: Part, state: Path) -> int | None:
    """The part's pid if its own process is alive (zombies count as dead)."""
    try:
        pid = int(part.pid_path(state).read_text())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except (FileNotFoundError, ValueError):
        return None
    if command != part.argv[0]:  # a stale pid file whose number now belongs to someone else
        return None
    return pid if _alive(pid) else None


def start(part: Part, state: Path) -> bool:
    """Start the part unless it already runs; wait until ready. Returns True if it was started."""
    if running_pid(part, state) is not None:
        _wait_ready(part, state, None)
        return False
    log = part.log_path(state)
    log.parent.mkdir(parents=True, exist_ok=True)
    part.pid_path(state).parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(part.argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    part.pid_path(state).write_text(str(proc.pid))
    _wait_ready(part, state, proc)
    return True


def stop(part: Part, state: Path, kill_after_seconds: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the part lingers; waits until the pid is gone so ports are free."""
    pid = running_pid(part, state)
    if pid is not None:
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + kill_after_seconds
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
    part.pid_path(state).unlink(missing_ok=True)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"


def _wait_ready(part: Part, state: Path, proc: subprocess.Popen[bytes] | None) -> None:
    def exited() -> str | None:
        if proc is not None and proc.poll() is not None:
            return f"exited with code {proc.returncode} while starting"
        return None

    wait_until(part.name, part.ready, part.timeout_seconds, part.log_path(state), exited)


def wait_until(name: str, check: Callable[[], bool], timeout_seconds: float, log: Path,
               failed: Callable[[], str | None] = lambda: None) -> None:
    """Poll `check` until true; on timeout or failure, raise naming the part with its log tail."""
    deadline = time.monotonic() + timeout_seconds
    while (problem := failed()) is None:
        if check():
            return
        if time.monotonic() > deadline:
            problem = f"not ready after {timeout_seconds:.0f}s"
            break
        time.sleep(0.2)
    raise StackError(f"{name} {problem}; last lines of {log}:\n{log_tail(log)}")


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    if "\nState:\tZ" in status:
        with contextlib.suppress(ChildProcessError):  # our own child: reap it so it disappears
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
