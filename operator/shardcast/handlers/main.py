"""Entry point behind `shardcast run`: the kopf operator with shardcast's handlers registered."""

from __future__ import annotations

import kopf

import shardcast.handlers  # noqa: F401  (registers the handlers)
from shardcast.handlers.memo import Shared


def run_operator(namespaces: list[str], standalone: bool, liveness: str, verbose: bool) -> None:
    if verbose:
        kopf.configure(verbose=True)
    # The namespaces also go into the memo: collecting orphaned etcd records must stay within
    # the namespaces this operator serves (another release may serve the others).
    kopf.run(standalone=standalone, namespaces=namespaces, clusterwide=not namespaces,
             liveness_endpoint=liveness, memo=kopf.Memo(shared=Shared(tuple(namespaces))))
