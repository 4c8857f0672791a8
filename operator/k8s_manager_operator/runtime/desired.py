"""The objects a Runtime named N stands for (docs/runtime.md), as plain API bodies.

Every object carries the labels `app.kubernetes.io/managed-by: k8s-manager` and `kre.konstellation.io/runtime: N`
and a controller ownerReference to the Runtime, so deleting the Runtime deletes them all. The credentials Secret
is built by `credentials.credentials_secret`; it goes after the RBAC objects and before the Deployment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from k8s_manager_api import names

from ..config import OperatorConfig

RUNTIME_KIND: Final = "Runtime"
RUNTIME_API_VERSION: Final = names.RUNTIMES.api_version

# The original's name for the runtime operator's ServiceAccount, Role, RoleBinding, Deployment, container and pod
# label, and its OPERATOR_NAME: the runtime's chart and RuntimeStatus's `name=kre-operator` selector rely on it.
OPERATOR_NAME: Final = "kre-operator"
CLUSTER_ROLE_PREFIX: Final = "kre-runtime-"
# The RoleBinding through which the operator itself may work inside a runtime namespace (config.py).
OPERATOR_ACCESS_BINDING: Final = "k8s-manager-operator"
RBAC_API_VERSION: Final = "rbac.authorization.k8s.io/v1"
RBAC_GROUP: Final = "rbac.authorization.k8s.io"

POD_SECURITY_LABELS: Final[Mapping[str, str]] = {
    f"pod-security.kubernetes.io/{mode}{suffix}": value
    for mode in ("enforce", "audit", "warn")
    for suffix, value in (("", "restricted"), ("-version", "latest"))
}

_READ: Final = ["get", "list", "watch"]
# Spelt out rather than "*": a verb Kubernetes adds later (or escalate/bind/impersonate) is not granted silently.
_WRITE: Final = ["get", "list", "watch", "create", "update", "patch", "delete"]

# The original Role (reference §7), tightened. Removed from it:
# - `monitoring.coreos.com/servicemonitors` [get, create]: the runtime's chart creates no ServiceMonitor.
# - `kre.konstellation.io` ["*"] on ["*"]: our Runtime is cluster-scoped, so a Role cannot grant it; the runtime
#   operator reads its own Runtime through the ClusterRole below and never writes it (k8s-manager owns its status),
#   and RuntimeVersions are k8s-manager's to reconcile.
# - `extensions/deployments` ["*"]: that API was removed in Kubernetes 1.16.
# - "*" on `namespaces` and `pods`: the runtime writes neither (the chart makes no bare pods; a namespaced Role
#   grants `namespaces` only on the namespace itself); reading them stays.
# - "*" on `apps/replicasets`: the Deployment controller writes them; the runtime operator only reads its own
#   (pod -> ReplicaSet -> Deployment) to find the Deployment it owns objects through.
ROLE_RULES: Final[Sequence[Mapping[str, Any]]] = (
    # What the chart writes (Secrets, ConfigMaps, Services) and Helm's release records (Secrets or ConfigMaps).
    {"apiGroups": [""], "resources": ["configmaps", "secrets", "services"], "verbs": _WRITE},
    {"apiGroups": [""], "resources": ["pods"], "verbs": _READ},
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
    # As in the original: lets the operator set blockOwnerDeletion on objects it makes owned by its Deployment.
    {
        "apiGroups": ["apps"],
        "resources": ["deployments/finalizers"],
        "resourceNames": [OPERATOR_NAME],
        "verbs": ["update"],
    },
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": _WRITE},
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": _READ},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": _WRITE},
)

RESOURCES_BY_KIND: Final[Mapping[str, names.Resource]] = {
    "Namespace": names.NAMESPACES,
    "ServiceAccount": names.SERVICE_ACCOUNTS,
    "Role": names.ROLES,
    "RoleBinding": names.ROLE_BINDINGS,
    "ClusterRole": names.CLUSTER_ROLES,
    "ClusterRoleBinding": names.CLUSTER_ROLE_BINDINGS,
    "Secret": names.SECRETS,
    "Deployment": names.DEPLOYMENTS,
}


# ------------------------------------------------------------------------------------------ shared metadata


def runtime_name(runtime: Mapping[str, Any]) -> str:
    name = runtime.get("metadata", {}).get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("the Runtime has no metadata.name")
    return name


def runtime_labels(name: str) -> dict[str, str]:
    return {names.MANAGED_BY_LABEL: names.MANAGED_BY, names.RUNTIME_LABEL: name}


def owner_reference(runtime: Mapping[str, Any]) -> dict[str, Any]:
    """A controller reference to the Runtime; blockOwnerDeletion keeps a foreground deletion waiting for it."""
    uid = runtime.get("metadata", {}).get("uid")
    if not isinstance(uid, str) or not uid:
        raise ValueError("the Runtime has no metadata.uid: owner references need the stored object")
    return {
        "apiVersion": RUNTIME_API_VERSION,
        "kind": RUNTIME_KIND,
        "name": runtime_name(runtime),
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_metadata(runtime: Mapping[str, Any], name: str, *, namespaced: bool = True) -> dict[str, Any]:
    """metadata of an object the Runtime owns; namespaced objects live in the runtime's namespace."""
    runtime_namespace = runtime_name(runtime)
    metadata: dict[str, Any] = {"name": name}
    if namespaced:
        metadata["namespace"] = runtime_namespace
    metadata["labels"] = runtime_labels(runtime_namespace)
    metadata["ownerReferences"] = [owner_reference(runtime)]
    return metadata


def cluster_role_name(runtime_namespace: str) -> str:
    return f"{CLUSTER_ROLE_PREFIX}{runtime_namespace}"


def resource_of(obj: Mapping[str, Any]) -> names.Resource:
    """The API resource serving an object of one of the kinds built here."""
    return RESOURCES_BY_KIND[obj["kind"]]


# ------------------------------------------------------------------------------------------ the objects


def desired_objects(runtime: Mapping[str, Any], config: OperatorConfig) -> list[dict[str, Any]]:
    """The Namespace, ServiceAccount, Role, RoleBinding, ClusterRole, ClusterRoleBinding and runtime operator
    Deployment of a Runtime, in creation order. Validate the Runtime first (validation.validate_runtime)."""
    return [
        namespace(runtime),
        service_account(runtime),
        role(runtime),
        role_binding(runtime),
        cluster_role(runtime),
        cluster_role_binding(runtime),
        operator_deployment(runtime, config),
    ]


def operator_access_binding(runtime: Mapping[str, Any], config: OperatorConfig) -> dict[str, Any] | None:
    """Binds the operator's own ServiceAccount to `config.runtime_namespace_role` in the runtime namespace, or
    None when the operator's identity is not configured. Applied right after the Namespace: the operator holds
    Secret access, and what it grants the runtime operator, only through it (escalation prevention)."""
    account = config.service_account
    if account is None:
        return None
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "RoleBinding",
        "metadata": object_metadata(runtime, OPERATOR_ACCESS_BINDING),
        "subjects": [{"kind": "ServiceAccount", "name": account.name, "namespace": account.namespace}],
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": config.runtime_namespace_role},
    }


def namespace(runtime: Mapping[str, Any]) -> dict[str, Any]:
    metadata = object_metadata(runtime, runtime_name(runtime), namespaced=False)
    metadata["labels"] = {**metadata["labels"], **POD_SECURITY_LABELS}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def service_account(runtime: Mapping[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": object_metadata(runtime, OPERATOR_NAME)}


def role(runtime: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "Role",
        "metadata": object_metadata(runtime, OPERATOR_NAME),
        "rules": [_copy_rule(rule) for rule in ROLE_RULES],
    }


def role_binding(runtime: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "RoleBinding",
        "metadata": object_metadata(runtime, OPERATOR_NAME),
        # The original left the subject's namespace out (RBAC then takes the binding's); set it explicitly.
        "subjects": [_operator_subject(runtime)],
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": OPERATOR_NAME},
    }


def cluster_role(runtime: Mapping[str, Any]) -> dict[str, Any]:
    """Read access to this Runtime only: the runtime operator reads the Runtime named after its namespace."""
    name = runtime_name(runtime)
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRole",
        "metadata": object_metadata(runtime, cluster_role_name(name), namespaced=False),
        "rules": [
            {
                "apiGroups": [names.RUNTIMES.group],
                "resources": [names.RUNTIMES.plural],
                "resourceNames": [name],
                # list and watch with resourceNames need a fieldSelector metadata.name=<N> on the request.
                "verbs": list(_READ),
            }
        ],
    }


def cluster_role_binding(runtime: Mapping[str, Any]) -> dict[str, Any]:
    name = cluster_role_name(runtime_name(runtime))
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRoleBinding",
        "metadata": object_metadata(runtime, name, namespaced=False),
        "subjects": [_operator_subject(runtime)],
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
    }


def operator_deployment(runtime: Mapping[str, Any], config: OperatorConfig) -> dict[str, Any]:
    """The runtime operator: the original's Deployment (reference §3.1) with a restricted security context,
    requests and limits, and a pinned image."""
    name = runtime_name(runtime)
    development_mode = runtime.get("spec", {}).get("developmentMode") is True
    container = {
        "name": OPERATOR_NAME,
        "image": config.runtime_operator_image_reference,
        "imagePullPolicy": "IfNotPresent" if development_mode else "Always",
        "env": [
            {"name": "WATCH_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "OPERATOR_NAME", "value": OPERATOR_NAME},
        ],
        "resources": config.runtime_operator_resources.as_requirements(),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            # The operator renders charts in memory; /tmp (an emptyDir) is its only scratch space.
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_metadata(runtime, OPERATOR_NAME),
        "spec": {
            "replicas": 1,
            # The original's selector, unchanged: a Deployment's selector cannot be changed after creation.
            "selector": {"matchLabels": {"name": OPERATOR_NAME}},
            # Never two runtime operators on one Helm release, not even during a rollout.
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": {"name": OPERATOR_NAME, names.RUNTIME_LABEL: name}},
                "spec": {
                    "serviceAccountName": OPERATOR_NAME,
                    # runAsNonRoot without runAsUser: the image's numeric USER is used, and the kubelet refuses
                    # to start it as root.
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def _operator_subject(runtime: Mapping[str, Any]) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": OPERATOR_NAME, "namespace": runtime_name(runtime)}


def _copy_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    return {key: list(value) for key, value in rule.items()}
