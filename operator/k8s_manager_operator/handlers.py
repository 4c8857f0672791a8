"""The operator's kopf handlers: the module `kopf run` loads.

    kopf run --standalone --all-namespaces -m k8s_manager_operator.handlers

`k8s-manager operator` loads the same module, so both ways run the same operator with the same settings.

The handlers are thin: each one names the Runtime to converge and hands it to the reconcile queue, which runs
the reconciler for it (never twice at once, and once for a burst of events). Runtimes are handled on every
watch event (level-based, like controller-runtime) rather than with kopf's on.create/on.update handlers, so
kopf keeps no copy of the spec (which may hold credentials) in its annotations; a timer resyncs every Runtime
periodically, and events of the objects the operator owns (or of the runtime components' pods) converge the
Runtime they belong to, which corrects drift at once.
"""

from __future__ import annotations

import datetime
import functools
import logging
import os
import socket
from typing import Any

import kopf
from k8s_manager_api import names
from k8s_manager_api.errors import KubeError
from k8s_manager_api.kube import KubeApi

from . import operations
from .config import OperatorConfig
from .queue import ReconcileQueue
from .runtime.reconcile import RuntimeReconciler, reconcile_safely
from .version import reconcile as versions
from .version.desired import ENTRYPOINT_SERVICE, VERSION_LABEL, VersionConfig

# Everything kopf writes on objects (finalizer, progress, last-handled configuration) lives under our own
# prefix, so it never collides with another kopf-based operator watching the same resources.
FRAMEWORK_PREFIX = "kopf.k8s-manager.konstellation.io"
FINALIZER = f"{FRAMEWORK_PREFIX}/finalizer"
REPORTING_COMPONENT = "k8s-manager-operator"

STARTED_AT = datetime.datetime.now(datetime.UTC)


def configure_settings(settings: kopf.OperatorSettings, instance: str) -> None:
    """Production settings. Peering, namespaces and standalone mode come from the command line instead."""
    # Events on objects: warnings and errors only; progress is visible in the resources' status conditions.
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = REPORTING_COMPONENT
    settings.posting.reporting_instance = instance

    # Ask the API server to end each watch after 5 minutes (clients then resume from the last
    # resourceVersion); the client gives up a little later, so a silently dead connection is noticed.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10

    # Plain API requests: fail fast on a hung connection and retry 5xx/429/connection errors with
    # growing pauses (about one minute in total) before the error reaches a handler.
    settings.networking.connect_timeout = 10
    settings.networking.request_timeout = 60
    settings.networking.error_backoffs = (1, 2, 4, 8, 15, 30)

    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=FRAMEWORK_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=FRAMEWORK_PREFIX, key="last-handled-configuration"
    )


def instance_name() -> str:
    """The pod name inside a cluster (POD_NAME from the downward API), the host name elsewhere."""
    return os.environ.get("POD_NAME") or socket.gethostname()


CONFIG = OperatorConfig.from_env(os.environ)
VERSION_CONFIG = VersionConfig.from_env(os.environ)
RUNTIMES = (names.GROUP, names.VERSION, names.RUNTIMES.plural)
# Kinds the operator creates for a Runtime, all labelled with the Runtime's name. Not Secrets: watching them
# would need Secret read across the cluster; the resync timer notices a changed or deleted credentials Secret.
OWNED_KINDS = (
    names.NAMESPACES,
    names.SERVICE_ACCOUNTS,
    names.ROLES,
    names.ROLE_BINDINGS,
    names.CLUSTER_ROLES,
    names.CLUSTER_ROLE_BINDINGS,
    names.DEPLOYMENTS,
)
# Runtimes reconciled at once. A reconcile is a short sequence of API calls, mostly waiting for answers; with 500
# Runtimes created together (benchmarks/runtimes.py) 16 workers left the API idle, 64 were no faster than 32.
RECONCILE_WORKERS = 32
# kopf.PRESENT's type is private to kopf; the filter mapping is passed through as kopf documents it.
OWNED_LABELS: Any = {names.MANAGED_BY_LABEL: names.MANAGED_BY, names.RUNTIME_LABEL: kopf.PRESENT}


@kopf.on.startup()
async def on_startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    configure_settings(settings, instance_name())
    memo.api = await KubeApi.connect()
    reconciler = RuntimeReconciler(memo.api, CONFIG)
    memo.runtimes = ReconcileQueue(functools.partial(reconcile_safely, reconciler), RECONCILE_WORKERS)
    memo.runtimes.start()
    memo.version_reconciler = versions.VersionReconciler(memo.api, VERSION_CONFIG)
    memo.versions = ReconcileQueue(
        functools.partial(versions.reconcile_key, memo.version_reconciler), RECONCILE_WORKERS
    )
    memo.versions.start()
    memo.operations = await operations.start(settings, os.environ, memo.runtimes, memo.versions)
    await operations.ensure_peering_object(memo.api, settings)


@kopf.on.cleanup()
async def on_cleanup(memo: kopf.Memo, **_: Any) -> None:
    if memo.get("operations") is not None:
        await memo.operations.stop()
    for queue in (memo.get("runtimes"), memo.get("versions")):
        if queue is not None:
            await queue.stop()
    api: KubeApi | None = memo.get("api")
    if api is not None:
        await api.close()


@kopf.on.event(*RUNTIMES)
async def runtime_changed(name: str, event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    if event["type"] == "DELETED":
        memo.runtimes.forget(name)
    else:
        memo.runtimes.request(name)


@kopf.timer(*RUNTIMES, interval=CONFIG.resync_interval)
async def runtime_resync(name: str, memo: kopf.Memo, **_: Any) -> None:
    # Skipped for a Runtime events had reconciled within half an interval: each is still looked at at least
    # every 1.5 intervals, and a busy operator does not add a resync per Runtime to its work.
    memo.runtimes.request(name, unless_started_within=CONFIG.resync_interval / 2)


async def owned_object_changed(labels: kopf.Labels, memo: kopf.Memo, **_: Any) -> None:
    memo.runtimes.request(labels[names.RUNTIME_LABEL])


for _kind in OWNED_KINDS:
    kopf.on.event(_kind.group, _kind.version, _kind.plural, labels=OWNED_LABELS)(owned_object_changed)


def is_component_pod(labels: kopf.Labels, **_: Any) -> bool:
    return any(check.selector.matches(labels) for check in CONFIG.components)


@kopf.on.event("", "v1", "pods", when=is_component_pod)
async def component_pod_changed(namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A runtime component's pod changed: its namespace is named after the Runtime (if it is a runtime's)."""
    if namespace:
        memo.runtimes.request(namespace)


@kopf.on.probe(id="started_at")
def started_at(**_: Any) -> str:
    """Reported by the liveness endpoint: when this operator process started."""
    return STARTED_AT.isoformat()


# ---------------------------------------------------------------------------------------------- versions

RUNTIME_VERSIONS = (names.GROUP, names.VERSION, names.RUNTIME_VERSIONS.plural)
VERSION_OWNED_LABELS: Any = {names.MANAGED_BY_LABEL: names.MANAGED_BY, VERSION_LABEL: kopf.PRESENT}


@kopf.on.event(*RUNTIME_VERSIONS)
async def version_changed(name: str, namespace: str | None, event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    if event["type"] != "DELETED" and namespace:
        memo.versions.request((namespace, name))


@kopf.timer(*RUNTIME_VERSIONS, interval=CONFIG.resync_interval)
async def version_resync(name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    if namespace:
        memo.versions.request((namespace, name))


async def version_object_changed(labels: kopf.Labels, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    if namespace:
        memo.versions.request((namespace, labels[VERSION_LABEL]))


for _kind in (names.CONFIG_MAPS, names.DEPLOYMENTS):
    kopf.on.event(_kind.group, _kind.version, _kind.plural, labels=VERSION_OWNED_LABELS)(version_object_changed)


@kopf.on.event("", "v1", "services", field="metadata.name", value=ENTRYPOINT_SERVICE)
async def entrypoint_service_changed(namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    """The published version changed (or the Service drifted): every version of the namespace re-checks."""
    if not namespace:
        return
    try:
        listed, _ = await memo.api.list(names.RUNTIME_VERSIONS, namespace)
    except KubeError as error:
        logging.getLogger(__name__).warning("versions of %s: %s", namespace, error.safe_message)
        return
    for version in listed:
        memo.versions.request((namespace, version["metadata"]["name"]))
