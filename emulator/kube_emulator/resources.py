"""The kinds the emulator serves: built-in ones and those defined by CustomResourceDefinitions.

A :class:`ResourceType` is everything the HTTP layer, the store and discovery need to know about one
served group/version/resource. Built-in kinds are listed here; CRDs add and remove theirs at run time
through :class:`Registry`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

JsonObject = dict[str, Any]

VERBS_ALL = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ScalePaths:
    """Where the `/scale` subresource reads and writes: a CRD's `subresources.scale`, or the workloads' fields.

    Paths are the CRD's JSON paths (`.spec.replicas`). An empty `label_selector_path` means no selector for a
    CRD; for the built-in workloads (`selector_from_spec`) the selector is `spec.selector`, a LabelSelector.
    """

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str = ""
    selector_from_spec: bool = False


# Deployments, ReplicaSets and StatefulSets: their scale is spec.replicas, status.replicas and spec.selector.
WORKLOAD_SCALE = ScalePaths(selector_from_spec=True)


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = VERBS_ALL
    # "status" and/or "scale"; only for these does /status isolate writes.
    subresources: frozenset[str] = frozenset()
    # Where /scale reads and writes; set exactly when "scale" is in `subresources`.
    scale: ScalePaths | None = field(default=None, compare=False, hash=False)
    # openAPIV3Schema of a CRD version (None for built-in kinds: they are not schema-validated).
    schema: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    # additionalPrinterColumns of a CRD version, as written in the CRD.
    printer_columns: tuple[Mapping[str, Any], ...] = field(default=(), compare=False, hash=False)
    # A CRD version's selectableFields, as field labels ("spec.color").
    selectable_fields: tuple[str, ...] = ()
    # x-kubernetes-validations and friends are in `schema`; this marks kinds defined by a CRD.
    from_crd: bool = False
    # The version objects are stored in (CRDs: the storage version); reads convert by relabelling.
    storage_version: str = ""

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def group_resource(self) -> str:
        """`deployments.apps`, `pods` — the form used in error messages and RBAC."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def storage_key(self) -> tuple[str, str]:
        """Objects of all versions of one group/resource share a single store."""
        return (self.group, self.plural)


def _builtin(
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool,
    short_names: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    status: bool = True,
    verbs: tuple[str, ...] = VERBS_ALL,
    scale: ScalePaths | None = None,
) -> ResourceType:
    subresources = ({"status"} if status else set()) | ({"scale"} if scale is not None else set())
    return ResourceType(
        group=group,
        version=version,
        plural=plural,
        singular=kind.lower(),
        kind=kind,
        namespaced=namespaced,
        short_names=short_names,
        categories=categories,
        verbs=verbs,
        subresources=frozenset(subresources),
        scale=scale,
        storage_version=version,
    )


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _builtin("", "v1", "namespaces", "Namespace", False, ("ns",)),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",), status=False),
    _builtin("", "v1", "secrets", "Secret", True, status=False),
    _builtin("", "v1", "configmaps", "ConfigMap", True, ("cm",), status=False),
    _builtin("", "v1", "services", "Service", True, ("svc",), ("all",)),
    _builtin("", "v1", "pods", "Pod", True, ("po",), ("all",)),
    _builtin("", "v1", "events", "Event", True, ("ev",), status=False),
    _builtin("apps", "v1", "deployments", "Deployment", True, ("deploy",), ("all",), scale=WORKLOAD_SCALE),
    _builtin("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), ("all",), scale=WORKLOAD_SCALE),
    # Stored and served only: no controller makes pods for it, so its status stays as created.
    _builtin("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), ("all",), scale=WORKLOAD_SCALE),
    # Stored and served only: no disruption controller computes its status, and there is no eviction API.
    _builtin("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",)),
    _builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", True, status=False),
    _builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, status=False),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, status=False),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False, status=False),
    _builtin("coordination.k8s.io", "v1", "leases", "Lease", True, status=False),
    _builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        ("crd", "crds"),
        ("api-extensions",),
    ),
)

# Preferred versions of groups, in the order discovery lists them (core first, like kube-apiserver).
GROUP_ORDER = (
    "",
    "apps",
    "policy",
    "rbac.authorization.k8s.io",
    "coordination.k8s.io",
    "apiextensions.k8s.io",
)


class Registry:
    """All resource types currently served, keyed by (group, version, plural)."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for rtype in BUILTIN_TYPES:
            self.add(rtype)

    def add(self, rtype: ResourceType) -> None:
        self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def remove_group_resource(self, group: str, plural: str) -> None:
        for key in [k for k in self._types if k[0] == group and k[2] == plural]:
            del self._types[key]

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for rtype in self._types.values():
            if rtype.group == group and rtype.version == version and rtype.kind == kind:
                return rtype
        return None

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._types.values()))

    def groups(self) -> list[str]:
        """Group names in discovery order: built-in groups first, then CRD groups alphabetically."""
        present = {rtype.group for rtype in self._types.values()}
        ordered = [g for g in GROUP_ORDER if g in present]
        return ordered + sorted(present - set(GROUP_ORDER))

    def versions(self, group: str) -> list[str]:
        """Served versions of a group, preferred (storage/first declared) first."""
        seen: list[str] = []
        for rtype in self._types.values():
            if rtype.group == group and rtype.version not in seen:
                seen.append(rtype.version)
        return seen

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self._types.values() if t.group == group and t.version == version]

    def namespaced_storage_keys(self) -> list[tuple[str, str]]:
        """One (group, plural) per stored namespaced resource, for namespace clean-up."""
        return sorted({t.storage_key for t in self._types.values() if t.namespaced})
