"""Debian packages the stack needs: etcd (both clusters), Prometheus and promtool (backfill)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping

ETCD = "/usr/bin/etcd"
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
_PACKAGES = {ETCD: "etcd-server", "/usr/bin/etcdctl": "etcd-client", PROMETHEUS: "prometheus"}


def ensure_debian_packages(log: Callable[[str], None] = print) -> None:
    """apt-get install whatever the stack lacks; a no-op (and no root needed) once installed."""
    install_debian_packages(_PACKAGES, log)


def install_debian_packages(packages: Mapping[str, str],
                            log: Callable[[str], None] = print) -> None:
    """apt-get install the packages (path it provides -> package) whose path is missing."""
    missing = sorted({pkg for path, pkg in packages.items() if not os.path.exists(path)})
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if sudo and shutil.which("sudo") is None:
        raise RuntimeError(f"need root to install {', '.join(missing)}: "
                           f"run `apt-get install -y {' '.join(missing)}` as root")
    log(f"installing Debian packages: {', '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                   check=True, env=env)
