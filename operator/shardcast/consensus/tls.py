"""TLS from the operator to the consensus etcd: the server is verified against a CA, and a client
certificate is presented when etcd runs with --client-cert-auth."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import aetcd
import aetcd.rpc
import grpc  # type: ignore[import-untyped]  # aetcd's own transport; ships no types


@dataclass(frozen=True)
class EtcdTls:
    """PEM bytes: the CA that signed the members' certificates, and optionally this client's own
    certificate and key (both or neither)."""

    ca: bytes
    cert: bytes | None = None
    key: bytes | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ValueError("an etcd client certificate needs both the certificate and its key")

    def credentials(self) -> Any:
        """grpc's channel credentials: verify the server against `ca`, present `cert`."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert)


class TlsClient(aetcd.Client):  # type: ignore[misc]  # aetcd ships no type information
    """An aetcd client whose channel is TLS.

    aetcd 1.0 has no TLS option: `Client.connect()` always opens
    `rpc.insecure_channel(target, options=...)` and then builds its stubs and watcher on that
    channel. Instead of copying that method (and the private state it sets up), `connect` lends
    aetcd a secure-channel factory in place of `insecure_channel` for the one call. That call
    never yields to the event loop (shardcast passes no username/password, so there is no
    Authenticate round trip, and a client that is already connecting is passed straight
    through), so no other client in the process can pick up the factory while it is in place.
    """

    def __init__(self, tls: EtcdTls, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._credentials = tls.credentials()

    async def connect(self) -> None:
        if self._connected.is_set() or self._is_connecting:
            await super().connect()
            return
        insecure = aetcd.rpc.insecure_channel
        aetcd.rpc.insecure_channel = functools.partial(
            aetcd.rpc.secure_channel, credentials=self._credentials)
        try:
            await super().connect()
        finally:
            aetcd.rpc.insecure_channel = insecure
