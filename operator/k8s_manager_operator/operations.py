"""What the operator needs to run in production besides its handlers: metrics, log context, peering settings.

The settings themselves (environment variables and flags) are described in `operations_config`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

import kopf
from k8s_manager_api import names
from k8s_manager_api.errors import AlreadyExists
from k8s_manager_api.kube import KubeApi

from . import logcontext
from .config import ConfigError
from .metrics import MetricsServer, OperatorMetrics
from .operations_config import OperationsConfig
from .queue import ReconcileQueue

log = logging.getLogger(__name__)

RUNTIME_KIND: Final = "Runtime"
VERSION_KIND: Final = "RuntimeVersion"

Key = TypeVar("Key", bound=Hashable)

CLUSTER_PEERINGS: Final = names.Resource("kopf.dev", "v1", "clusterkopfpeerings", namespaced=False)


def configure_peering(settings: kopf.OperatorSettings, config: OperationsConfig) -> None:
    """The peering lifetime; keep-alives unlogged (with a short lifetime there is one a second)."""
    settings.peering.lifetime = config.peering_lifetime
    settings.peering.stealth = True


async def ensure_peering_object(api: KubeApi, settings: kopf.OperatorSettings) -> None:
    """Create the ClusterKopfPeering named by --peering if it is missing: kopf keeps every replica paused until it
    exists, and shipping it in manifests/ would need its CRD established before `kubectl apply -k` could send it."""
    if settings.peering.standalone or not settings.peering.clusterwide or not settings.peering.name:
        return
    body = {"apiVersion": CLUSTER_PEERINGS.api_version, "kind": "ClusterKopfPeering"}
    try:
        await api.create(CLUSTER_PEERINGS, {**body, "metadata": {"name": settings.peering.name}})
    except AlreadyExists:
        return
    log.info("created ClusterKopfPeering %s", settings.peering.name)


def runtime_reference(name: str) -> dict[str, str]:
    return {"apiVersion": names.RUNTIMES.api_version, "kind": RUNTIME_KIND, "name": name}


def version_reference(key: tuple[str, str]) -> dict[str, str]:
    namespace, name = key
    return {
        "apiVersion": names.RUNTIME_VERSIONS.api_version,
        "kind": VERSION_KIND,
        "namespace": namespace,
        "name": name,
    }


class KindObserver(Generic[Key]):
    """Observes one kind's reconcile queue: its log lines name the object, its reconciles are counted and timed."""

    def __init__(self, kind: str, metrics: OperatorMetrics, reference: Callable[[Key], Mapping[str, str]]) -> None:
        self._kind = kind
        self._metrics = metrics
        self._reference = reference

    def reconcile_started(self, key: Key) -> None:
        logcontext.about(self._reference(key))

    def reconcile_finished(self, key: Key, seconds: float, failed: bool) -> None:
        logcontext.about(None)
        self._metrics.record_reconcile(self._kind, seconds, failed)


@dataclass
class Operations:
    metrics: OperatorMetrics
    server: MetricsServer | None

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()


async def start(
    settings: kopf.OperatorSettings,
    env: Mapping[str, str],
    runtimes: ReconcileQueue[str],
    versions: ReconcileQueue[tuple[str, str]],
) -> Operations:
    """Apply the peering settings, observe the two queues, serve the metrics if a port is configured.

    Called from the startup handler; a bad setting or a port that cannot be bound stops the operator.
    """
    try:
        config = OperationsConfig.from_env(env)
    except ConfigError as error:
        raise kopf.PermanentError(str(error)) from None
    configure_peering(settings, config)
    logcontext.install()
    metrics = OperatorMetrics((RUNTIME_KIND, VERSION_KIND))
    runtimes.observer = KindObserver(RUNTIME_KIND, metrics, runtime_reference)
    versions.observer = KindObserver(VERSION_KIND, metrics, version_reference)
    metrics.track_queue(RUNTIME_KIND, runtimes)
    metrics.track_queue(VERSION_KIND, versions)
    if not config.metrics_port:
        return Operations(metrics, None)
    server = MetricsServer(metrics, config.metrics_host, config.metrics_port)
    try:
        await server.start()
    except OSError as error:
        raise kopf.PermanentError(
            f"cannot serve metrics on {config.metrics_host}:{config.metrics_port}: {error.strerror or error}"
        ) from None
    log.info("serving metrics at http://%s:%d/metrics", config.metrics_host, config.metrics_port)
    return Operations(metrics, server)
