"""The machine's kubectl against the stack's kubeconfig: setup steps read like the docs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from shardcast.devstack.process import StackError


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None, check: bool = True) -> str:
    """stdout of kubectl; with `check`, a non-zero exit raises with kubectl's own message."""
    proc = subprocess.run(["kubectl", f"--kubeconfig={kubeconfig}", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise StackError(f"kubectl {' '.join(args[:2])} failed: {proc.stderr.strip()}")
    return proc.stdout
