"""Kind-specific write rules, as kube-apiserver's registry strategies apply them.

Defaults, system-set fields, status-subresource isolation, generation, validation and the `/scale` subresource's
Scale, for the built-in kinds we serve and for custom resources (whose schema comes from their CRD).
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import re
from typing import Any

from . import errors, openapi, validation
from .rbac import RBAC_GROUP
from .resources import JsonObject, ResourceType
from .schema import CrdSchema, validate_crd_definition
from .store import Hooks
from .validation import FieldError

CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
NAMESPACE_FINALIZER = "kubernetes"
# kube-apiserver's NamespaceLifecycle admission refuses to delete these.
UNDELETABLE_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})

_CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
_LABEL_NAMED = {("", "namespaces")}
_DNS1035_NAMED = {("", "services")}
_SEGMENT_NAMED = {
    ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
}
_GENERATION_KINDS = {
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("policy", "poddisruptionbudgets"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
}


# How each kind's strategy checks metadata, on create, on update and on a /status update: "core-meta" and
# "core-update" are core's ValidateObjectMeta and ValidateObjectMetaUpdate (apimachinery's plus a check of finalizer
# names), "meta" and "update" apimachinery's alone, in the order the strategy runs them ("" or none: not at all).
_METADATA_CHECKS: dict[tuple[str, str], tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    ("", "namespaces"): ("core-meta", ("core-meta", "core-update"), ("core-update",)),
    **{
        ("", plural): ("core-meta", ("core-update", "core-meta"), ("core-update",))
        for plural in ("serviceaccounts", "secrets", "configmaps", "pods")
    },
    **{
        (group, plural): ("core-meta", ("core-update",), ("core-update",))
        for group, plural in (
            ("", "services"),
            ("apps", "deployments"),
            ("apps", "replicasets"),
            ("apps", "statefulsets"),
        )
    },
    ("", "events"): ("", (), ()),
    ("policy", "poddisruptionbudgets"): ("", (), ()),
    **{
        ("rbac.authorization.k8s.io", plural): ("core-meta", ("core-meta", "core-update"), ())
        for plural in ("roles", "rolebindings", "clusterroles", "clusterrolebindings")
    },
}
# Leases, CRDs and custom resources (whose /status writes change nothing but the status).
_GENERIC_CHECKS: tuple[str, tuple[str, ...], tuple[str, ...]] = ("meta", ("update",), ("update",))


def _name_rule(rtype: ResourceType) -> str:
    key = rtype.storage_key
    if key in _LABEL_NAMED:
        return "label"
    if key in _DNS1035_NAMED:
        return "dns1035"
    if key in _SEGMENT_NAMED:
        return "segment"
    return "subdomain"


def _carry_status(rtype: ResourceType, new: JsonObject, old: JsonObject) -> None:
    if "status" in old:
        new["status"] = copy.deepcopy(old["status"])
    else:
        new.pop("status", None)


def _carry(new: JsonObject, old: JsonObject, key: str) -> None:
    """`new[key]` as it is in `old` (absent if it is absent there)."""
    if key in old:
        new[key] = copy.deepcopy(old[key])
    else:
        new.pop(key, None)


def _status_only(new: JsonObject, old: JsonObject) -> JsonObject:
    """What a write to /status leaves: the old object with only the new status."""
    result = copy.deepcopy(old)
    if "status" in new:
        result["status"] = new["status"]
    else:
        result.pop("status", None)
    result["metadata"]["resourceVersion"] = new.get("metadata", {}).get(
        "resourceVersion", old["metadata"].get("resourceVersion")
    )
    return result


class Strategies(Hooks):
    """Hooks for the store: everything that differs from kind to kind."""

    def __init__(self) -> None:
        self._schemas: dict[tuple[str, str, str], CrdSchema] = {}
        self._next_cluster_ip = int(ipaddress.IPv4Address("10.96.0.10"))

    def set_schema(self, rtype: ResourceType, schema: CrdSchema | None) -> None:
        key = (rtype.group, rtype.version, rtype.plural)
        if schema is None:
            self._schemas.pop(key, None)
        else:
            self._schemas[key] = schema

    def _schema(self, rtype: ResourceType) -> CrdSchema | None:
        return self._schemas.get((rtype.group, rtype.version, rtype.plural))

    # ------------------------------------------------------------------ create

    def prepare_create(self, rtype: ResourceType, obj: JsonObject) -> list[str]:
        if rtype.has_status and rtype.storage_key != ("", "namespaces"):
            obj.pop("status", None)
        unknown: list[str] = []
        if rtype.from_crd:
            unknown = self._prune_and_default(rtype, obj)
        else:
            unknown = openapi.prune_unknown_fields(rtype, obj)  # as decoding into the Go types does
            getattr(self, f"_create_{rtype.group.replace('.', '_')}_{rtype.plural}", _noop)(obj)
        return unknown

    def _prune_and_default(self, rtype: ResourceType, obj: JsonObject) -> list[str]:
        schema = self._schema(rtype)
        if schema is None:
            return []
        pruned, paths = schema.prune(obj)
        defaulted = schema.apply_defaults(pruned)
        obj.clear()
        obj.update(defaulted)
        return paths

    def _create__namespaces(self, obj: JsonObject) -> None:
        obj.setdefault("spec", {})["finalizers"] = [NAMESPACE_FINALIZER]
        obj["status"] = {"phase": "Active"}
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]

    def _create__secrets(self, obj: JsonObject) -> None:
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None) or {}
        if string_data:
            data = obj.setdefault("data", {}) or {}
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            obj["data"] = data

    def _create__services(self, obj: JsonObject) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec.get("clusterIP") != "None" and not spec.get("clusterIP"):
            self._next_cluster_ip += 1
            spec["clusterIP"] = str(ipaddress.IPv4Address(self._next_cluster_ip))
        spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            if not port.get("targetPort"):  # unset, 0 or "": the port itself
                port["targetPort"] = port.get("port")
        _default_external_service(spec, {})
        obj["status"] = {"loadBalancer": {}}

    def _create_rbac_authorization_k8s_io_rolebindings(self, obj: JsonObject) -> None:
        _default_subjects(obj)

    def _create_rbac_authorization_k8s_io_clusterrolebindings(self, obj: JsonObject) -> None:
        _default_subjects(obj)

    def _create__pods(self, obj: JsonObject) -> None:
        _default_pod_spec(obj.setdefault("spec", {}))
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}

    def _create_apps_deployments(self, obj: JsonObject) -> None:
        _default_deployment(obj.setdefault("spec", {}))
        obj["status"] = {}

    def _create_apps_replicasets(self, obj: JsonObject) -> None:
        _default_replica_set(obj.setdefault("spec", {}))
        obj["status"] = {"replicas": 0}

    def _create_apps_statefulsets(self, obj: JsonObject) -> None:
        _default_stateful_set(obj.setdefault("spec", {}))
        obj["status"] = {"replicas": 0, "availableReplicas": 0}  # StatefulSetStatus: not omitempty

    def _create_policy_poddisruptionbudgets(self, obj: JsonObject) -> None:
        # An empty PodDisruptionBudgetStatus: its counters are not omitempty. Nothing computes them later.
        obj["status"] = {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0}

    def _create_apiextensions_k8s_io_customresourcedefinitions(self, obj: JsonObject) -> None:
        spec = obj.setdefault("spec", {})
        names = spec.setdefault("names", {})
        if names.get("kind") and not names.get("listKind"):
            names["listKind"] = names["kind"] + "List"
        if names.get("plural") and not names.get("singular") and names.get("kind"):
            names["singular"] = str(names["kind"]).lower()
        conversion = spec.setdefault("conversion", {"strategy": "None"})
        conversion.setdefault("strategy", "None")
        obj["status"] = {"acceptedNames": {"kind": "", "plural": ""}, "conditions": [], "storedVersions": []}

    # ------------------------------------------------------------------ update

    def prepare_update(self, rtype: ResourceType, new: JsonObject, old: JsonObject, subresource: str) -> list[str]:
        if subresource == "status":
            if rtype.from_crd:
                replaced = _status_only(new, old)
                new.clear()
                new.update(replaced)
                return []
            # The built-in status strategies only keep the spec (metadata changes go through).
            unknown = openapi.prune_unknown_fields(rtype, new)
            _carry(new, old, "spec")
            if rtype.storage_key == ("apps", "deployments"):
                _carry(new["metadata"], old["metadata"], "labels")
            elif rtype.storage_key == ("", "pods"):  # old kubelets corrupt owner references
                _carry(new["metadata"], old["metadata"], "ownerReferences")
            elif rtype.storage_key == ("", "services"):
                for ingress in ((new.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
                    if isinstance(ingress, dict) and ingress.get("ip") and not ingress.get("ipMode"):
                        ingress["ipMode"] = "VIP"  # SetDefaults_LoadBalancerIngress
            return unknown
        if subresource == "finalize":  # namespaces: everything but the status (spec.finalizers is what matters)
            unknown = openapi.prune_unknown_fields(rtype, new)
            _carry(new, old, "status")
            return unknown
        if rtype.has_status:
            _carry_status(rtype, new, old)
        unknown = self._prune_and_default(rtype, new) if rtype.from_crd else openapi.prune_unknown_fields(rtype, new)
        key = rtype.storage_key
        if key == ("", "namespaces"):
            new["spec"] = copy.deepcopy(old.get("spec", {}))
            new["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = new["metadata"]["name"]
        elif key == ("", "services"):
            spec = new.setdefault("spec", {})
            old_spec = old.get("spec", {})
            for kept in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                if kept in old_spec and not spec.get(kept):
                    spec[kept] = old_spec[kept]
            spec.setdefault("type", old_spec.get("type", "ClusterIP"))
            spec.setdefault("sessionAffinity", "None")
            spec.setdefault("internalTrafficPolicy", "Cluster")
            for port in spec.get("ports") or []:
                port.setdefault("protocol", "TCP")
                if not port.get("targetPort"):  # unset, 0 or "": the port itself
                    port["targetPort"] = port.get("port")
            _default_external_service(spec, old_spec)
        elif key == ("", "secrets"):
            self._create__secrets(new)
        elif key == ("apps", "deployments"):
            _default_deployment(new.setdefault("spec", {}))
        elif key == ("apps", "replicasets"):
            _default_replica_set(new.setdefault("spec", {}))
        elif key == ("apps", "statefulsets"):
            _default_stateful_set(new.setdefault("spec", {}))
        elif key == ("", "pods"):
            _default_pod_spec(new.setdefault("spec", {}))
        elif key in (
            ("rbac.authorization.k8s.io", "rolebindings"),
            ("rbac.authorization.k8s.io", "clusterrolebindings"),
        ):
            _default_subjects(new)
        return unknown

    # ------------------------------------------------------------------ rules

    def uses_generation(self, rtype: ResourceType) -> bool:
        return rtype.from_crd or rtype.storage_key in _GENERATION_KINDS

    def spec_changed(self, rtype: ResourceType, new: JsonObject, old: JsonObject) -> bool:
        if rtype.from_crd:
            ignored = {"metadata", "status"} if rtype.has_status else {"metadata"}
            strip = (
                {k: v for k, v in new.items() if k not in ignored},
                {k: v for k, v in old.items() if k not in ignored},
            )
            return bool(strip[0] != strip[1])
        return bool(new.get("spec") != old.get("spec"))

    def allow_unconditional_update(self, rtype: ResourceType) -> bool:
        return not rtype.from_crd

    def blocks_deletion(self, rtype: ResourceType, obj: JsonObject) -> bool:
        return rtype.storage_key == ("", "namespaces") and bool((obj.get("spec") or {}).get("finalizers"))

    def check_delete(self, rtype: ResourceType, obj: JsonObject) -> None:
        name = obj["metadata"]["name"]
        if rtype.storage_key == ("", "namespaces") and name in UNDELETABLE_NAMESPACES:
            raise errors.forbidden(
                f'namespaces "{name}" is forbidden: this namespace may not be deleted', "", "namespaces", name
            )

    def on_deletion_started(self, rtype: ResourceType, obj: JsonObject) -> None:
        if rtype.storage_key == ("", "namespaces"):
            obj.setdefault("status", {})["phase"] = "Terminating"
        elif rtype.storage_key == _CRDS:
            conditions = [
                c for c in obj.setdefault("status", {}).get("conditions") or [] if c.get("type") != "Terminating"
            ]
            conditions.append(
                {
                    "type": "Terminating",
                    "status": "True",
                    "lastTransitionTime": obj["metadata"]["deletionTimestamp"],
                    "reason": "InstanceDeletionPending",
                    "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
                }
            )
            obj["status"]["conditions"] = conditions

    def deletion_finalizers(self, rtype: ResourceType) -> list[str]:
        # The CRD storage's Delete adds it (not its create): the finalizer controller then deletes the instances.
        return [CRD_CLEANUP_FINALIZER] if rtype.storage_key == _CRDS else []

    def validate(self, rtype: ResourceType, obj: JsonObject, old: JsonObject | None, subresource: str = "") -> None:
        """As rest.BeforeCreate and rest.BeforeUpdate validate.

        A create runs the strategy's validation, and apimachinery's ObjectMeta checks only when that found nothing.
        An update runs apimachinery's ObjectMeta and ObjectMetaUpdate checks, then the strategy's, which check the
        metadata again their own way (_METADATA_CHECKS): so one bad label is reported up to four times.
        """
        metadata = obj.get("metadata", {})
        generic = validation.object_meta(metadata, _name_rule(rtype))
        if rtype.storage_key == _CRDS:  # named <plural>.<group>: its own name check comes first
            names = [e for e in validate_crd_definition(obj) if e.field.startswith("metadata.")]
            generic = names + [e for e in generic if not e.field.startswith(("metadata.name", "metadata.generate"))]
        create_check, update_checks, status_checks = _METADATA_CHECKS.get(rtype.storage_key, _GENERIC_CHECKS)
        old_metadata = old.get("metadata", {}) if old is not None else {}

        def metadata_check(check: str) -> list[FieldError]:
            found = generic if check.endswith("meta") else validation.object_meta_update(metadata, old_metadata)
            if check.startswith("core"):
                found = found + validation.kube_finalizer_names(metadata)
            return list(found)

        checks = (create_check,) if old is None else status_checks if subresource == "status" else update_checks
        found: list[FieldError] = [error for check in checks if check for error in metadata_check(check)]
        if rtype.from_crd:
            schema = self._schema(rtype)
            if schema is not None and subresource == "status" and old is not None:
                found.extend(schema.validate_status(obj, old))
            elif schema is not None:
                found = list(schema.validate(obj, old, preceding_errors=found))
            found.extend(_scale_errors(rtype, obj, status=subresource == "status"))
        else:
            check = getattr(self, f"_validate_{rtype.group.replace('.', '_')}_{rtype.plural}", None)
            if check is not None:
                found.extend(check(obj, old))
        if old is None:
            found = found or generic
        else:
            found = generic + validation.object_meta_update(metadata, old_metadata) + found
        if found:
            raise errors.invalid(rtype.kind, rtype.group, rtype.plural, metadata.get("name", ""), found)

    def _validate_apiextensions_k8s_io_customresourcedefinitions(
        self, obj: JsonObject, old: JsonObject | None
    ) -> list[FieldError]:
        found = [e for e in validate_crd_definition(obj) if not e.field.startswith("metadata.")]  # see validate()
        spec = obj.get("spec", {})
        if old is not None:
            old_spec = old.get("spec", {})
            for immutable in ("group", "scope"):
                if spec.get(immutable) != old_spec.get(immutable):
                    found.append(
                        validation.invalid_value(f"spec.{immutable}", spec.get(immutable), "field is immutable")
                    )
        return found

    def _validate_apps_deployments(self, obj: JsonObject, old: JsonObject | None) -> list[FieldError]:
        return _validate_workload(obj, old)

    def _validate_apps_replicasets(self, obj: JsonObject, old: JsonObject | None) -> list[FieldError]:
        return _validate_workload(obj, old)

    def _validate_apps_statefulsets(self, obj: JsonObject, old: JsonObject | None) -> list[FieldError]:
        return _validate_workload(obj, old, "statefulset")

    def _validate__configmaps(self, obj: JsonObject, old: JsonObject | None) -> list[FieldError]:
        found: list[FieldError] = []
        for section in ("data", "binaryData"):
            for key in obj.get(section) or {}:
                found.extend(validation.invalid_value(f"{section}[{key}]", key, p) for p in validation.config_key(key))
        return found

    def _validate_rbac_authorization_k8s_io_rolebindings(
        self, obj: JsonObject, old: JsonObject | None
    ) -> list[FieldError]:
        return _validate_binding(obj, namespaced=True)

    def _validate_rbac_authorization_k8s_io_clusterrolebindings(
        self, obj: JsonObject, old: JsonObject | None
    ) -> list[FieldError]:
        return _validate_binding(obj, namespaced=False)

    def _validate__services(self, obj: JsonObject, old: JsonObject | None) -> list[FieldError]:
        """The port checks of ValidateService (validateServicePort); names are required once there are two."""
        spec = obj.get("spec") or {}
        ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
        found: list[FieldError] = []
        if not ports and spec.get("clusterIP") != "None" and spec.get("type") != "ExternalName":
            found.append(FieldError("FieldValueRequired", "spec.ports", "Required value"))
        names: set[str] = set()
        for index, port in enumerate(ports):
            path = f"spec.ports[{index}]"
            name = str(port.get("name") or "")
            if len(ports) > 1 and not name:
                found.append(FieldError("FieldValueRequired", f"{path}.name", "Required value"))
            elif name:
                found.extend(validation.invalid_value(f"{path}.name", name, p) for p in validation.dns1123_label(name))
                if name in names:
                    duplicate = f"Duplicate value: {validation.quoted(name)}"
                    found.append(FieldError("FieldValueDuplicate", f"{path}.name", duplicate))
                names.add(name)
            found.extend(_port_number(f"{path}.port", port.get("port")))
            protocol = port.get("protocol")
            if protocol not in ("SCTP", "TCP", "UDP"):
                supported = 'supported values: "SCTP", "TCP", "UDP"'
                unsupported = f"Unsupported value: {validation.quoted(protocol)}: {supported}"
                found.append(FieldError("FieldValueNotSupported", f"{path}.protocol", unsupported))
            target = port.get("targetPort")
            if isinstance(target, str):
                found.extend(validation.invalid_value(f"{path}.targetPort", target, p) for p in _port_name(target))
            else:
                found.extend(_port_number(f"{path}.targetPort", target))
            if port.get("appProtocol") is not None:
                app = str(port["appProtocol"])
                found.extend(
                    validation.invalid_value(f"{path}.appProtocol", app, p) for p in validation.qualified_name(app)
                )
        return found + _load_balancer_status(obj)

    def _validate__secrets(self, obj: JsonObject, old: JsonObject | None) -> list[FieldError]:
        found: list[FieldError] = []
        for key, value in (obj.get("data") or {}).items():
            found.extend(validation.invalid_value(f"data[{key}]", key, p) for p in validation.config_key(key))
            try:
                base64.b64decode(str(value), validate=True)
            except ValueError:
                found.append(
                    validation.invalid_value(f"data[{key}]", "<secret contents redacted>", "illegal base64 data")
                )
        return found


def _default_subjects(obj: JsonObject) -> None:
    """SetDefaults_Subject: Users and Groups are RBAC's, ServiceAccounts the core group's."""
    for subject in obj.get("subjects") or []:
        if isinstance(subject, dict) and not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = RBAC_GROUP


def _validate_binding(obj: JsonObject, namespaced: bool) -> list[FieldError]:
    """ValidateRoleBinding and ValidateClusterRoleBinding: the roleRef, then each subject."""
    found: list[FieldError] = []
    ref = obj.get("roleRef") or {}
    if ref.get("apiGroup") != RBAC_GROUP:
        found.append(_not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [RBAC_GROUP]))
    kinds = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]
    if ref.get("kind") not in kinds:
        found.append(_not_supported("roleRef.kind", ref.get("kind", ""), kinds))
    name = ref.get("name")
    if not name:
        found.append(FieldError("FieldValueRequired", "roleRef.name", "Required value"))
    else:
        found.extend(validation.invalid_value("roleRef.name", name, p) for p in validation.path_segment_name(str(name)))
    for index, subject in enumerate(s for s in obj.get("subjects") or [] if isinstance(s, dict)):
        path = f"subjects[{index}]"
        subject_name, kind, group = subject.get("name") or "", subject.get("kind") or "", subject.get("apiGroup") or ""
        if not subject_name:
            found.append(FieldError("FieldValueRequired", f"{path}.name", "Required value"))
        if kind == "ServiceAccount":
            if subject_name:
                found.extend(
                    validation.invalid_value(f"{path}.name", subject_name, p)
                    for p in validation.dns1123_subdomain(str(subject_name))
                )
            if group:
                found.append(_not_supported(f"{path}.apiGroup", group, [""]))
            if not namespaced and not subject.get("namespace"):
                found.append(FieldError("FieldValueRequired", f"{path}.namespace", "Required value"))
        elif kind in ("User", "Group"):
            if group != RBAC_GROUP:
                found.append(_not_supported(f"{path}.apiGroup", group, [RBAC_GROUP]))
        else:
            found.append(_not_supported(f"{path}.kind", kind, ["ServiceAccount", "User", "Group"]))
    return found


def _not_supported(path: str, value: Any, supported: list[str]) -> FieldError:
    listed = ", ".join(validation.quoted(v) for v in supported)
    return FieldError(
        "FieldValueNotSupported", path, f"Unsupported value: {validation.quoted(value)}: supported values: {listed}"
    )


# Node ports the emulator hands out to NodePort and LoadBalancer Services (kube-apiserver: 30000-32767, at random).
_NODE_PORTS = iter(range(30000, 32768))


def _default_external_service(spec: JsonObject, old_spec: JsonObject) -> None:
    """What SetDefaults_Service and the Service REST storage add to NodePort and LoadBalancer Services."""
    if spec.get("type") not in ("NodePort", "LoadBalancer"):
        return
    spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec.get("type") == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    old_ports = {(p.get("port"), p.get("protocol")): p.get("nodePort") for p in old_spec.get("ports") or []}
    for port in spec.get("ports") or []:
        if isinstance(port, dict) and not port.get("nodePort"):
            port["nodePort"] = old_ports.get((port.get("port"), port.get("protocol"))) or next(_NODE_PORTS)


def _load_balancer_status(obj: JsonObject) -> list[FieldError]:
    """ValidateLoadBalancerStatus, but for the legacy-IP details."""
    path = "status.loadBalancer.ingress"
    ingresses = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if (obj.get("spec") or {}).get("type") != "LoadBalancer":
        only = "Forbidden: may only be used when `spec.type` is 'LoadBalancer'"
        return [FieldError("FieldValueForbidden", path, only)] if ingresses else []
    found: list[FieldError] = []
    for index, ingress in enumerate(i for i in ingresses if isinstance(i, dict)):
        ip, mode, hostname = ingress.get("ip"), ingress.get("ipMode"), ingress.get("hostname")
        if ip and not _is_ip(str(ip)):
            found.append(
                validation.invalid_value(
                    f"{path}[{index}].ip", ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
                )
            )
        if mode is None and ip:
            required = "Required value: must be specified when `ip` is set"
            found.append(FieldError("FieldValueRequired", f"{path}[{index}].ipMode", required))
        elif mode is not None and not ip:
            forbidden = "Forbidden: may not be specified when `ip` is not set"
            found.append(FieldError("FieldValueForbidden", f"{path}[{index}].ipMode", forbidden))
        elif mode is not None and mode not in ("Proxy", "VIP"):
            unsupported = f'Unsupported value: {validation.quoted(mode)}: supported values: "Proxy", "VIP"'
            found.append(FieldError("FieldValueNotSupported", f"{path}[{index}].ipMode", unsupported))
        if hostname:
            hostname = str(hostname)
            found.extend(
                validation.invalid_value(f"{path}[{index}].hostname", hostname, p)
                for p in validation.dns1123_subdomain(hostname)
            )
            if _is_ip(hostname):
                found.append(
                    validation.invalid_value(
                        f"{path}[{index}].hostname", hostname, "must be a DNS name, not an IP address"
                    )
                )
    return found


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _port_number(path: str, port: Any) -> list[FieldError]:
    """validation.IsValidPortNum."""
    if isinstance(port, int) and 1 <= port <= 65535:
        return []
    return [validation.invalid_value(path, port, "must be between 1 and 65535, inclusive")]


def _port_name(port: str) -> list[str]:
    """validation.IsValidPortName."""
    problems = [validation.max_len_error(15)] if len(port) > 15 else []
    if not re.fullmatch("[-a-z0-9]+", port):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", port):
        problems.append("must contain at least one letter (a-z)")
    if "--" in port:
        problems.append("must not contain consecutive hyphens")
    if port.startswith("-") or port.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return problems


def _noop(obj: JsonObject) -> None:
    return None


def _default_deployment(spec: JsonObject) -> None:
    """SetDefaults_Deployment (apps/v1), field by field: `strategy: {}` is defaulted like a missing one."""
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))


def _default_replica_set(spec: JsonObject) -> None:
    spec.setdefault("replicas", 1)
    _default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))


def _default_stateful_set(spec: JsonObject) -> None:
    """SetDefaults_StatefulSet (apps/v1), as kube-apiserver 1.36 applies it (no `maxUnavailable`)."""
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        strategy.setdefault("rollingUpdate", {})
    if strategy["type"] == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        strategy["rollingUpdate"].setdefault("partition", 0)
    retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    _default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))


def _default_pod_spec(spec: JsonObject) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        image = str(container.get("image", ""))
        tag = image.rsplit("/", 1)[-1]
        latest = "@" not in image and (":" not in tag or tag.endswith(":latest"))
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")


def _validate_workload(obj: JsonObject, old: JsonObject | None, noun: str = "deployment") -> list[FieldError]:
    from .selectors import LabelSelector

    found: list[FieldError] = []
    spec = obj.get("spec") or {}
    selector = spec.get("selector")
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not selector:
        found.append(FieldError("FieldValueRequired", "spec.selector", "Required value"))
    else:
        if not (selector.get("matchLabels") or selector.get("matchExpressions")):
            found.append(validation.invalid_value("spec.selector", selector, f"empty selector is invalid for {noun}"))
        elif not LabelSelector.from_label_selector(selector).matches(template_labels):
            found.append(
                validation.invalid_value(
                    "spec.template.metadata.labels",
                    _go_map(template_labels),
                    "`selector` does not match template `labels`",
                )
            )
        if old is not None and (old.get("spec") or {}).get("selector") != selector:
            found.append(validation.invalid_value("spec.selector", _go_selector(selector), "field is immutable"))
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    if not containers:
        found.append(FieldError("FieldValueRequired", "spec.template.spec.containers", "Required value"))
    for index, container in enumerate(containers):
        if not container.get("name"):
            found.append(
                FieldError("FieldValueRequired", f"spec.template.spec.containers[{index}].name", "Required value")
            )
        if not container.get("image"):
            found.append(
                FieldError("FieldValueRequired", f"spec.template.spec.containers[{index}].image", "Required value")
            )
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        found.append(validation.invalid_value("spec.replicas", replicas, "must be greater than or equal to 0"))
    return found


def _go_map(labels: dict[str, Any]) -> str:
    inner = ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items()))
    return f"map[string]string{{{inner}}}"


def _go_selector(selector: dict[str, Any]) -> str:
    return f"v1.LabelSelector{{MatchLabels:{_go_map(selector.get('matchLabels') or {})}}}"


# ---------------------------------------------------------------------------------------------- scale

SCALE_API_VERSION = "autoscaling/v1"
_MAX_INT32 = 2**31 - 1


def _field_path(path: str) -> list[str]:
    """apiextensions' fieldPath: `.spec.replicas` is ["spec", "replicas"]."""
    return path.removeprefix(".").split(".") if path else []


def _nested(obj: JsonObject, path: str) -> tuple[Any, bool]:
    current: Any = obj
    for part in _field_path(path):
        if not isinstance(current, dict) or part not in current:
            return None, False
        current = current[part]
    return current, bool(path)


def _go_type(value: Any) -> str:
    """What Go's %T prints for a decoded JSON value."""
    if value is None:
        return "<nil>"
    names = {bool: "bool", str: "string", float: "float64", int: "int64", list: "[]interface {}"}
    return names.get(type(value), "map[string]interface {}")


def _json_type(value: Any) -> str:
    """How encoding/json names a JSON value's type in its unmarshal errors."""
    names = {bool: "bool", str: "string", float: "number", int: "number", list: "array", dict: "object"}
    return names.get(type(value), "null")


def _accessor_error(path: str, value: Any, wanted: str) -> str:
    """unstructured.NestedInt64's and NestedString's error for a field of another type."""
    shown = "<nil>" if value is None else value
    return f"{path} accessor error: {shown} is of the type {_go_type(value)}, expected {wanted}"


def _nested_replicas(obj: JsonObject, path: str) -> int:
    """unstructured.NestedInt64: 0 when absent, a 500 when the field is not an integer."""
    value, found = _nested(obj, path)
    if not found:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise errors.ApiError(500, _accessor_error(path, value, "int64"))
    return value


def _scale_errors(rtype: ResourceType, obj: JsonObject, status: bool) -> list[FieldError]:
    """A custom resource's checks of its scale paths (validateScaleSpec; validateScaleStatus for /status)."""
    paths = rtype.scale
    if paths is None:
        return []
    found: list[FieldError] = []
    for path in (paths.status_replicas_path,) if status else (paths.spec_replicas_path,):
        value, present = _nested(obj, path)
        if present and (not isinstance(value, int) or isinstance(value, bool)):
            found.append(validation.invalid_value(path, 0, _accessor_error(path, value, "int64")))
        elif present and value < 0:
            found.append(validation.invalid_value(path, value, "should be a non-negative integer"))
        elif present and value > _MAX_INT32:
            found.append(validation.invalid_value(path, value, f"should be less than or equal to {_MAX_INT32}"))
    if status and paths.label_selector_path:
        value, present = _nested(obj, paths.label_selector_path)
        if present and not isinstance(value, str):
            error = _accessor_error(paths.label_selector_path, value, "string")
            found.append(validation.invalid_value(paths.label_selector_path, "", error))
    return found


def scale_of(rtype: ResourceType, obj: JsonObject, for_write: bool = False) -> JsonObject:
    """The autoscaling/v1 Scale of an object with the scale subresource (scaleFromDeployment & co., and
    scaleFromCustomResource for CRDs). Zero `spec.replicas` and an empty selector are omitted, as Go does.

    Reading the Scale of a custom resource without its spec replicas field is a 500, as in kube-apiserver 1.36;
    a write (`for_write`: the Scale a patch applies to) starts from 0 replicas instead."""
    paths = rtype.scale
    assert paths is not None, f"{rtype.group_resource} has no scale subresource"
    metadata = obj.get("metadata") or {}
    if not for_write and not paths.selector_from_spec and not _nested(obj, paths.spec_replicas_path)[1]:
        problem = f'the spec replicas field "{paths.spec_replicas_path}" does not exist'
        raise errors.ApiError(500, f"Internal error occurred: {problem}", details={"causes": [{"message": problem}]})
    spec_replicas = _nested_replicas(obj, paths.spec_replicas_path)
    status: JsonObject = {"replicas": _nested_replicas(obj, paths.status_replicas_path)}
    if paths.selector_from_spec:
        from .selectors import LabelSelector

        selector = str(LabelSelector.from_label_selector((obj.get("spec") or {}).get("selector")))
    else:
        value, _ = _nested(obj, paths.label_selector_path)
        selector = value if isinstance(value, str) else ""
    if selector:
        status["selector"] = selector
    scale_meta = {key: metadata[key] for key in ("name", "namespace", "uid", "resourceVersion") if key in metadata}
    if "creationTimestamp" in metadata:
        scale_meta["creationTimestamp"] = metadata["creationTimestamp"]
    return {
        "kind": "Scale",
        "apiVersion": SCALE_API_VERSION,
        "metadata": scale_meta,
        "spec": {"replicas": spec_replicas} if spec_replicas else {},
        "status": status,
    }


def scaled(rtype: ResourceType, current: JsonObject, scale: JsonObject) -> JsonObject:
    """`current` with the replicas a Scale written to /scale asks for (scaleUpdatedObjectInfo), its
    resourceVersion a precondition when the Scale carries one. Raises 400 or 422 for a bad Scale."""
    paths = rtype.scale
    assert paths is not None, f"{rtype.group_resource} has no scale subresource"
    name = str((current.get("metadata") or {}).get("name", ""))
    spec = scale.get("spec") or {}
    replicas = spec.get("replicas", 0) if isinstance(spec, dict) else spec
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise errors.bad_request(
            'Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal '
            f"{_json_type(replicas)} into Go struct field ScaleSpec.spec.replicas of type int32"
        )
    if replicas < 0 and not rtype.from_crd:  # a custom resource's own validation checks its replicas path
        problem = validation.invalid_value("spec.replicas", replicas, "must be greater than or equal to 0")
        raise errors.invalid("Scale", "autoscaling", "scales", name, [problem])
    updated = copy.deepcopy(current)
    *parents, leaf = _field_path(paths.spec_replicas_path)
    target = updated
    for part in parents:
        child = target.get(part)
        if not isinstance(child, dict):
            child = target[part] = {}
        target = child
    target[leaf] = replicas
    resource_version = (scale.get("metadata") or {}).get("resourceVersion")
    if resource_version:
        updated["metadata"]["resourceVersion"] = resource_version
    return updated
