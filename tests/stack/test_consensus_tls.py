"""The consensus record over TLS: a real etcd that serves only https and requires a client
certificate signed by its CA, as a hardened production etcd does."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from shardcast.consensus.records import Announcement
from shardcast.consensus.store import ConsensusStore, ConsensusUnavailable
from shardcast.consensus.tls import EtcdTls
from shardcast.devstack.packages import ETCD
from shardcast.devstack.pki import Pki, ensure_pki
from shardcast.devstack.stack import Endpoints
from tests.stack.ports import free_port


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA with a serving certificate for 127.0.0.1/localhost and a client
    certificate, both signed by it."""
    return ensure_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_etcd(endpoints: Endpoints, pki: Pki, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[str]:
    """A single-member etcd on https only, with --client-cert-auth; yields its host:port."""
    client, peer = free_port(), free_port()
    data = tmp_path_factory.mktemp("etcd")
    proc = subprocess.Popen(
        [ETCD, "--name=tls", f"--data-dir={data / 'data'}",
         f"--listen-client-urls=https://127.0.0.1:{client}",
         f"--advertise-client-urls=https://127.0.0.1:{client}",
         f"--listen-peer-urls=http://127.0.0.1:{peer}",
         f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
         f"--initial-cluster=tls=http://127.0.0.1:{peer}",
         f"--cert-file={pki.serving_cert}", f"--key-file={pki.serving_key}",
         f"--trusted-ca-file={pki.ca_cert}", "--client-cert-auth"],
        stdout=subprocess.DEVNULL, stderr=(data / "etcd.log").open("wb"))
    context = ssl.create_default_context(cafile=pki.ca_cert)
    context.load_cert_chain(pki.admin_cert, pki.admin_key)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{client}/health", timeout=1,
                                        context=context) as health:
                if b'"health":"true"' in health.read():
                    break
        except OSError:
            pass
        assert proc.poll() is None, (data / "etcd.log").read_text()
        assert time.monotonic() < deadline, "the TLS etcd never became healthy"
        time.sleep(0.2)
    try:
        yield f"127.0.0.1:{client}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def tls(pki: Pki, client_cert: bool = True) -> EtcdTls:
    return EtcdTls(ca=pki.ca_cert.read_bytes(),
                   cert=pki.admin_cert.read_bytes() if client_cert else None,
                   key=pki.admin_key.read_bytes() if client_cert else None)


@pytest.mark.parametrize("members", [1, 2], ids=["one-address", "multi-address"])
def test_a_client_certificate_registers_announces_and_commits(
        tls_etcd: str, pki: Pki, members: int) -> None:
    """Two addresses build the `ipv4:a,b` target the operator uses for a cluster (here both
    name the one member): the server name checked is still the member's address."""
    shard = f"kv-{members}"

    async def move() -> None:
        async with ConsensusStore.open([tls_etcd] * members, timeout=2, tls=tls(pki)) as store:
            placed = await store.register("tls", shard, "node-a")
            assert (placed.value.node, placed.value.epoch) == ("node-a", 1)
            read = await store.placement("tls", shard)
            assert read == placed
            held = await store.announce("tls", shard, placed, Announcement(
                migration=f"tls/{shard}-to-b", uid=f"uid-{members}", source="node-a",
                target="node-b", epoch=1, phase="Syncing"))
            committed = await store.commit("tls", shard, held)
            assert (committed.value.node, committed.value.epoch) == ("node-b", 2)
            assert await store.announcement("tls", shard) is None

    asyncio.run(move())


def refused(endpoint: str, tls: EtcdTls) -> None:
    async def register() -> None:
        async with ConsensusStore.open([endpoint], timeout=2, tls=tls) as store:
            await store.register("tls", "refused", "node-a")

    started = time.monotonic()
    with pytest.raises(ConsensusUnavailable):
        asyncio.run(register())
    assert time.monotonic() - started < 10


def test_without_a_client_certificate_etcd_refuses(tls_etcd: str, pki: Pki) -> None:
    refused(tls_etcd, tls(pki, client_cert=False))


def test_a_server_signed_by_another_ca_is_not_trusted(
        tls_etcd: str, pki: Pki, tmp_path: Path) -> None:
    other = ensure_pki(tmp_path / "other")
    refused(tls_etcd, EtcdTls(ca=other.ca_cert.read_bytes(), cert=pki.admin_cert.read_bytes(),
                              key=pki.admin_key.read_bytes()))
