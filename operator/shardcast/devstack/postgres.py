"""Local PostgreSQL 15 servers for the PostgreSQL data plane's tests, demo and bench.

Debian's `postgresql-15` (installed on demand like the stack's other packages), one cluster per
node on loopback with `initdb`, `wal_level=logical` and room for a replication slot per
concurrent move. PostgreSQL refuses to run as root, so as root the servers run as the
package's `postgres` user, with their data under a directory that user can reach. A server
already running is reused; `pg_ctl -w -t` bounds every wait, and a failed start shows the
tail of the server's log.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from shardcast.devstack.packages import install_debian_packages
from shardcast.devstack.process import StackError, log_tail

BIN = Path("/usr/lib/postgresql/15/bin")
FIRST_PORT = 25432
START_TIMEOUT_SECONDS = 60
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "wal_level": "logical",
    "max_replication_slots": "32",
    "max_wal_senders": "32",
    "max_worker_processes": "32",
    "max_logical_replication_workers": "16",
    "max_sync_workers_per_subscription": "2",
    "max_connections": "100",
    # Disposable local servers: durability across a machine crash buys nothing here, and the
    # moves' WAL traffic is what the tests measure, not the disk's flush latency.
    "fsync": "off",
    "full_page_writes": "off",
}


@dataclass(frozen=True)
class LocalServer:
    node: str
    port: int
    data: Path

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.node}.log"


def state_root() -> Path:
    """Where the clusters live: under /var/tmp, which the `postgres` user can reach (root's
    home cannot be)."""
    return Path(os.environ.get("SHARDCAST_POSTGRES_STATE", f"/var/tmp/shardcast-postgres-"
                                                           f"{os.geteuid()}"))


def ensure_servers(nodes: Sequence[str], root: Path | None = None,
                   log: Callable[[str], None] = print) -> list[LocalServer]:
    """One running server per node (ports FIRST_PORT + i), created and started when missing."""
    if not (BIN / "postgres").exists():
        install_debian_packages({str(BIN / "postgres"): "postgresql-15"}, log)
    root = root or state_root()
    servers = [LocalServer(node, FIRST_PORT + i, root / node) for i, node in enumerate(nodes)]
    root.mkdir(parents=True, exist_ok=True)
    _own(root)
    for server in servers:
        if not (server.data / "PG_VERSION").exists():
            _initdb(server)
        if _pg_ctl(server, "status").returncode != 0:
            started = _pg_ctl(server, "start", "-w", "-t", str(START_TIMEOUT_SECONDS),
                              "-l", str(server.log), "-o", f"-p {server.port} -k {server.data}")
            if started.returncode != 0:
                raise StackError(f"PostgreSQL {server.node} did not start on port "
                                 f"{server.port}:\n{started.stdout}{log_tail(server.log)}")
            log(f"started PostgreSQL {server.node} on 127.0.0.1:{server.port}")
    return servers


def stop_servers(root: Path | None = None) -> None:
    root = root or state_root()
    for data in sorted(root.glob("*/PG_VERSION")):
        server = LocalServer(data.parent.name, 0, data.parent)
        _pg_ctl(server, "stop", "-m", "fast", "-w", "-t", str(START_TIMEOUT_SECONDS))


def _initdb(server: LocalServer) -> None:
    if server.data.exists():
        shutil.rmtree(server.data)  # a half-made cluster from an interrupted initdb
    made = _as_postgres([str(BIN / "initdb"), "-D", str(server.data), "--auth=trust",
                         "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"])
    if made.returncode != 0:
        raise StackError(f"initdb for {server.node} failed:\n{made.stdout}")
    with (server.data / "postgresql.conf").open("a") as conf:
        conf.write("\n# shardcast local data plane\n")
        conf.writelines(f"{name} = {value}\n" for name, value in SETTINGS.items())


def _pg_ctl(server: LocalServer, *args: str) -> subprocess.CompletedProcess[str]:
    return _as_postgres([str(BIN / "pg_ctl"), "-D", str(server.data), *args])


def _as_postgres(argv: list[str]) -> subprocess.CompletedProcess[str]:
    user = "postgres" if os.geteuid() == 0 else None
    return subprocess.run(argv, user=user, capture_output=False, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
                          check=False, cwd="/")


def _own(root: Path) -> None:
    """As root, hand the state directory to the `postgres` user (initdb wants to own it)."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(root, entry.pw_uid, entry.pw_gid)
