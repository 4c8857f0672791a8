"""Names of the custom resources and of the objects and labels k8s-manager owns.

The schemas themselves live in crds/ (the single source of truth); only identities are restated here.
"""

from __future__ import annotations

from typing import Final, NamedTuple


class Resource(NamedTuple):
    """A served resource: what the API adapter needs to build its paths."""

    group: str
    version: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


GROUP: Final = "kre.konstellation.io"
VERSION: Final = "v1alpha1"

RUNTIMES: Final = Resource(GROUP, VERSION, "runtimes", namespaced=False)
RUNTIME_VERSIONS: Final = Resource(GROUP, VERSION, "runtimeversions", namespaced=True)

NAMESPACES: Final = Resource("", "v1", "namespaces", namespaced=False)
SERVICE_ACCOUNTS: Final = Resource("", "v1", "serviceaccounts", namespaced=True)
SECRETS: Final = Resource("", "v1", "secrets", namespaced=True)
CONFIG_MAPS: Final = Resource("", "v1", "configmaps", namespaced=True)
SERVICES: Final = Resource("", "v1", "services", namespaced=True)
PODS: Final = Resource("", "v1", "pods", namespaced=True)
EVENTS: Final = Resource("", "v1", "events", namespaced=True)
DEPLOYMENTS: Final = Resource("apps", "v1", "deployments", namespaced=True)
ROLES: Final = Resource("rbac.authorization.k8s.io", "v1", "roles", namespaced=True)
ROLE_BINDINGS: Final = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", namespaced=True)
CLUSTER_ROLES: Final = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False)
CLUSTER_ROLE_BINDINGS: Final = Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", namespaced=False)
CUSTOM_RESOURCE_DEFINITIONS: Final = Resource(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False
)

# Labels on everything the operator creates.
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "k8s-manager"
RUNTIME_LABEL: Final = "kre.konstellation.io/runtime"

# Reasons of a Runtime's `Ready=False` condition that no waiting can cure: the spec itself is wrong, its
# credentials cannot be found, or its namespace belongs to someone else. RuntimeStatus then stops waiting
# (FAILED_PRECONDITION).
INVALID_SPEC: Final = "InvalidSpec"
CREDENTIALS_MISSING: Final = "CredentialsMissing"
NAMESPACE_NOT_OWNED: Final = "NamespaceNotOwned"
TERMINAL_RUNTIME_REASONS: Final = frozenset({INVALID_SPEC, CREDENTIALS_MISSING, NAMESPACE_NOT_OWNED})
