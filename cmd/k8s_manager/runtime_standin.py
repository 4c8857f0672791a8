"""A stand-in for the runtime operator, for clusters that cannot run its image (the emulator).

In a real cluster the runtime operator (the `kre-operator` Deployment k8s-manager creates in each runtime
namespace) deploys MongoDB, Minio and NATS Streaming. The emulator runs no containers, so the development
mode and the tests run this stand-in instead: once a runtime's `kre-operator` Deployment is available, it
creates one Deployment per component whose pods carry the labels RuntimeStatus waits on, and Minio's
PersistentVolumeClaim, which the versions' pods mount (the runtime chart's StatefulSet claim
`kre-minio-pvc-kre-minio-0`: ReadWriteMany, the Runtime's sharedStorageClass and minio.storage.size). The
emulator's controllers then make those pods Running and Ready like a kubelet would; the tests also run it on a
real control plane whose Nodes are kwok's (no container runs there either), where the claim must exist for the
versions' pods to be scheduled.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from k8s_manager_api.errors import AlreadyExists, KubeError
from k8s_manager_api.kube import KubeApi
from k8s_manager_api.names import DEPLOYMENTS, MANAGED_BY, MANAGED_BY_LABEL, RUNTIME_LABEL, RUNTIMES, Resource

log = logging.getLogger(__name__)

RUNTIME_OPERATOR = "kre-operator"
STANDIN_LABEL = "kre.konstellation.io/runtime-operator-standin"
PERSISTENT_VOLUME_CLAIMS = Resource("", "v1", "persistentvolumeclaims", namespaced=True)
# The runtime chart's Minio StatefulSet claim (volumeClaimTemplate kre-minio-pvc of Pod kre-minio-0).
MINIO_CLAIM = "kre-minio-pvc-kre-minio-0"

# Component Deployments and the pod labels the original's RuntimeStatus selects them by.
COMPONENTS: dict[str, dict[str, str]] = {
    "kre-minio": {"app": "kre-minio"},
    "kre-mongo": {"kre-app": "kre-mongo"},
    "kre-nats": {"app": "kre-nats"},
}


def component_deployment(namespace: str, name: str, pod_labels: dict[str, str]) -> dict[str, Any]:
    labels = {**pod_labels, STANDIN_LABEL: "true"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": pod_labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": name,
                            "image": "registry.k8s.io/pause:3.10",
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def minio_claim(namespace: str, runtime: dict[str, Any]) -> dict[str, Any]:
    """Minio's claim as the runtime chart's StatefulSet makes it, for the Runtime `runtime`."""
    spec = runtime.get("spec") or {}
    size = ((spec.get("minio") or {}).get("storage") or {}).get("size") or "1Gi"
    claim: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": MINIO_CLAIM,
            "namespace": namespace,
            "labels": {"app": "kre-minio", STANDIN_LABEL: "true"},
        },
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": size}}},
    }
    if spec.get("sharedStorageClass"):
        claim["spec"]["storageClassName"] = spec["sharedStorageClass"]
    return claim


def is_available(deployment: dict[str, Any]) -> bool:
    conditions = (deployment.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)


async def run_standin(api: KubeApi) -> None:
    """Deploy the components of every runtime whose runtime operator is available; runs until cancelled."""
    selector = f"{MANAGED_BY_LABEL}={MANAGED_BY},{RUNTIME_LABEL}"
    async for event in api.observe(DEPLOYMENTS, labels=selector, fields=f"metadata.name={RUNTIME_OPERATOR}"):
        deployment = event.object
        if event.type == "DELETED" or not is_available(deployment):
            continue
        namespace = deployment["metadata"]["namespace"]
        wanted: list[tuple[Resource, str, dict[str, Any]]] = []
        try:
            runtime = await api.find(RUNTIMES, namespace)  # the runtime namespace is named after its Runtime
        except KubeError as error:
            log.warning("runtime operator stand-in: Runtime %s: %s", namespace, error.safe_message)
            continue
        if runtime is not None:
            wanted.append((PERSISTENT_VOLUME_CLAIMS, MINIO_CLAIM, minio_claim(namespace, runtime)))
        for name, pod_labels in COMPONENTS.items():
            wanted.append((DEPLOYMENTS, name, component_deployment(namespace, name, pod_labels)))
        for resource, name, body in wanted:
            try:
                await api.create(resource, body, namespace)
            except AlreadyExists:
                continue
            except KubeError as error:  # the namespace may be going away; the next event retries
                log.warning("runtime operator stand-in: %s in %s: %s", name, namespace, error.safe_message)
                continue
            log.info("runtime operator stand-in: deployed %s in %s", name, namespace)


async def run_standin_forever(api: KubeApi, retry_after: float = 1.0) -> None:
    """`run_standin`, restarted after unexpected errors until cancelled."""
    while True:
        try:
            await run_standin(api)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("runtime operator stand-in failed; restarting")
        await asyncio.sleep(retry_after)
