"""Kubernetes reads and writes beyond what kopf does itself (it patches status and posts Events).

The official client is synchronous; calls run in a worker thread so kopf's event loop never blocks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from shardcast.api.kinds import GROUP, MIGRATIONS, SHARDS, VERSION

# (connect, read) seconds: without them a call to an API server that stopped answering (mid-TLS
# handshake, say) blocks its worker thread, and with it the operator's shutdown, forever.
REQUEST_TIMEOUT = (5.0, 30.0)


def configure() -> None:
    """In a pod, the service account; elsewhere, the current kubeconfig (as kubectl would)."""
    try:
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        # The library reads $KUBECONFIG once at import; read it now, as kubectl does.
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=os.environ.get("KUBECONFIG"))


async def annotate_statefulset(namespace: str, name: str, annotations: dict[str, str]) -> bool:
    """Merge annotations into a StatefulSet's metadata (not its pod template, so no pod restarts);
    False if it does not exist."""
    def patch() -> bool:
        try:
            kubernetes.client.AppsV1Api(api_client()).patch_namespaced_stateful_set(
                name, namespace, {"metadata": {"annotations": annotations}},
                _request_timeout=REQUEST_TIMEOUT)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    return await asyncio.to_thread(patch)


async def patch_status(group: str, version: str, plural: str, namespace: str, name: str,
                       status: dict[str, object]) -> None:
    """Merge-patch another object's status subresource (kopf patches only the handled one)."""
    def patch() -> None:
        _custom_objects().patch_namespaced_custom_object_status(
            group, version, namespace, plural, name, {"status": status},
            _request_timeout=REQUEST_TIMEOUT)

    await asyncio.to_thread(patch)


async def set_finalizers(plural: str, namespace: str, name: str, finalizers: list[str],
                         resource_version: str) -> bool:
    """Replace a shardcast object's finalizers if it is still at `resource_version`; False
    if it changed meanwhile or is gone (its next watch event says what to do then)."""
    def patch() -> bool:
        try:
            _custom_objects().patch_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name,
                {"metadata": {"finalizers": finalizers, "resourceVersion": resource_version}},
                _request_timeout=REQUEST_TIMEOUT)
        except ApiException as error:
            if error.status in (404, 409):
                return False
            raise
        return True

    return await asyncio.to_thread(patch)


def get_custom(plural: str, namespace: str, name: str) -> dict[str, Any]:
    """One shardcast object, synchronously (for the CLI, not for handlers)."""
    configure()
    found = _custom_objects().get_namespaced_custom_object(
        GROUP, VERSION, namespace, plural, name, _request_timeout=REQUEST_TIMEOUT)
    return cast(dict[str, Any], found)


async def create_custom(plural: str, namespace: str, body: dict[str, Any]) -> bool:
    """Create a shardcast object; False when one of that name exists already (a retried pass)."""
    def create() -> bool:
        try:
            _custom_objects().create_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, body, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as error:
            if error.status == 409:
                return False
            raise
        return True

    return await asyncio.to_thread(create)


async def delete_custom(plural: str, namespace: str, name: str) -> None:
    """Delete a shardcast object in the background (its dependents, e.g. Jobs, follow through
    the garbage collector); one already gone is not an error."""
    def delete() -> None:
        try:
            _custom_objects().delete_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, propagation_policy="Background",
                _request_timeout=REQUEST_TIMEOUT)
        except ApiException as error:
            if error.status != 404:
                raise

    await asyncio.to_thread(delete)


STATUS_WRITE_CONCURRENCY = 8
# The bulk status writes have threads of their own: in asyncio's default pool (6 threads on 2
# cores) 10,000 of them would queue ahead of every other call a handler makes meanwhile.
_STATUS_WRITERS = concurrent.futures.ThreadPoolExecutor(STATUS_WRITE_CONCURRENCY,
                                                        thread_name_prefix="status-writes")


@functools.cache
def api_client() -> kubernetes.client.ApiClient:
    """One API client for every call this process makes outside kopf: one connection pool,
    sized for the concurrent status writers, instead of a client, a pool and a TLS handshake
    per call (at 1,000 Shards the handshakes were a third of the operator's CPU at start)."""
    configuration = kubernetes.client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = 2 * STATUS_WRITE_CONCURRENCY
    return kubernetes.client.ApiClient(configuration)


def _custom_objects() -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api_client())


@dataclass(frozen=True)
class ShardStatusWriter:
    """The policy cycle's PredictionSink: merge-patches each Shard's status.prediction, at most
    STATUS_WRITE_CONCURRENCY at once. A Shard deleted meanwhile is skipped (404); any other
    refusal is raised after the rest have been written."""

    namespace: str

    async def write(self, shards: Mapping[str, Mapping[str, Any]]) -> None:
        limit = asyncio.Semaphore(STATUS_WRITE_CONCURRENCY)
        api = _custom_objects()

        def patch(name: str, prediction: Mapping[str, Any]) -> None:
            try:
                # The answer (the whole Shard) is not turned into objects: nobody reads it, and
                # that would be most of a write's CPU in this process.
                answer = cast(urllib3.BaseHTTPResponse, api.patch_namespaced_custom_object_status(
                    GROUP, VERSION, self.namespace, SHARDS, name,
                    {"status": {"prediction": prediction}}, _request_timeout=REQUEST_TIMEOUT,
                    _preload_content=False))
                answer.drain_conn()
                answer.release_conn()
            except ApiException as error:
                if error.status != 404:
                    raise

        async def one(name: str, prediction: Mapping[str, Any]) -> None:
            async with limit:
                await loop.run_in_executor(_STATUS_WRITERS, patch, name, prediction)

        loop = asyncio.get_running_loop()

        results = await asyncio.gather(*(one(n, p) for n, p in shards.items()),
                                       return_exceptions=True)
        if errors := [r for r in results if isinstance(r, BaseException)]:
            raise errors[0]


@dataclass(frozen=True)
class MigrationWriter:
    """The policy cycle's MigrationWriter: ShardMigrations in the policy's namespace."""

    namespace: str

    async def create(self, body: Mapping[str, Any]) -> bool:
        return await create_custom(MIGRATIONS, self.namespace, dict(body))

    async def delete(self, name: str) -> None:
        await delete_custom(MIGRATIONS, self.namespace, name)


class ShardWriter:
    """The migration driver's ShardWrites: a committed move's Shard status and StatefulSet."""

    async def patch_shard_status(self, namespace: str, shard: str,
                                 fields: Mapping[str, Any]) -> None:
        await patch_status(GROUP, VERSION, SHARDS, namespace, shard, dict(fields))

    async def annotate_statefulset(self, namespace: str, name: str,
                                   annotations: dict[str, str]) -> bool:
        return await annotate_statefulset(namespace, name, annotations)


async def post_event(reference: Mapping[str, Any], event_type: str, reason: str,
                     message: str) -> None:
    """An Event about `reference` (apiVersion, kind, metadata) from outside a kopf handler,
    where kopf's own posting has no queue to post to."""
    meta = reference["metadata"]
    now = datetime.datetime.now(datetime.UTC)
    event = kubernetes.client.CoreV1Event(
        metadata=kubernetes.client.V1ObjectMeta(generate_name=f"{meta['name']}."),
        involved_object=kubernetes.client.V1ObjectReference(
            api_version=reference["apiVersion"], kind=reference["kind"], name=meta["name"],
            namespace=meta["namespace"], uid=meta.get("uid")),
        reason=reason, message=message[:1024], type=event_type, count=1,
        first_timestamp=now, last_timestamp=now,
        source=kubernetes.client.V1EventSource(component="shardcast"))

    def create() -> None:
        kubernetes.client.CoreV1Api(api_client()).create_namespaced_event(
            meta["namespace"], event, _request_timeout=REQUEST_TIMEOUT)

    await asyncio.to_thread(create)
