"""Readiness probes: a part is ready when its health endpoint answers 200."""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request

from shardcast.devstack.pki import Pki


def https_ok(url: str, pki: Pki | None) -> bool:
    if pki is None:  # components' self-signed serving certs: only liveness is being checked
        context = ssl._create_unverified_context()
    else:
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
    return get_ok(url, context)


def http_ok(url: str) -> bool:
    return get_ok(url, None)


def get_ok(url: str, context: ssl.SSLContext | None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError):
        return False



def tcp_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
