"""OpenAPI documents generated from the registry: `/openapi/v2` and `/openapi/v3` (+ one per group/version).

kubectl relies on them: `apply` asks whether a kind's PATCH takes the `fieldValidation` parameter (to leave
validation to the server), computes strategic merge patches from the `x-kubernetes-patch-*` extensions of
the v3 schema of built-in kinds, and `explain` renders the v3 schema of a kind. The layout follows
kube-apiserver: one v3 document per group/version listed at `/openapi/v3` under a content hash, paths with
`x-kubernetes-group-version-kind` and `x-kubernetes-action` on each operation, and component schemas named
after the Go packages (`io.k8s.api.apps.v1.Deployment`).

Built-in kinds' schemas come from the models of the `kubernetes` Python client (fields, types, required
fields and descriptions), completed with the patch strategies and merge keys of the k8s.io/api types, which
those models do not carry. Custom resources get their CRD version's openAPIV3Schema, as the apiextensions
apiserver publishes it (ObjectMeta reference for `metadata`, TypeMeta fields, the GVK extension).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
import struct
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .resources import JsonObject, Registry, ResourceType

V3_REF = "#/components/schemas/"
V2_REF = "#/definitions/"

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
OBJECT_META = _META + "ObjectMeta"
LIST_META = _META + "ListMeta"
STATUS = _META + "Status"
DELETE_OPTIONS = _META + "DeleteOptions"
PATCH = _META + "Patch"
SCALE = "io.k8s.api.autoscaling.v1.Scale"

OPENAPI_VERSION_INFO = {"title": "Kubernetes", "version": "v1.32.0"}
CRD_VERSION_INFO = {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"}

_API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"
)
_KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)
_METADATA_DESCRIPTION = (
    "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
_LIST_METADATA_DESCRIPTION = (
    "Standard list metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)
# What apiextensions says of the TypeMeta it adds to an x-kubernetes-embedded-resource object.
_EMBEDDED_API_VERSION_DESCRIPTION = (
    "apiVersion defines the versioned schema of this representation of an object. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"
)
_EMBEDDED_KIND_DESCRIPTION = (
    "kind is a string value representing the type of this object. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)

# ------------------------------------------------------------------------------------------------------------
# Built-in definitions, from the kubernetes client's models

# Served built-in kinds and the client model describing each (its list model is the same name + "List").
_KIND_MODELS: Mapping[tuple[str, str], str] = {
    ("", "Namespace"): "V1Namespace",
    ("", "ServiceAccount"): "V1ServiceAccount",
    ("", "Secret"): "V1Secret",
    ("", "ConfigMap"): "V1ConfigMap",
    ("", "Service"): "V1Service",
    ("", "Pod"): "V1Pod",
    ("", "Event"): "CoreV1Event",
    ("apps", "Deployment"): "V1Deployment",
    ("apps", "ReplicaSet"): "V1ReplicaSet",
    ("apps", "StatefulSet"): "V1StatefulSet",
    ("policy", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("rbac.authorization.k8s.io", "Role"): "V1Role",
    ("rbac.authorization.k8s.io", "RoleBinding"): "V1RoleBinding",
    ("rbac.authorization.k8s.io", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): "V1ClusterRoleBinding",
    ("coordination.k8s.io", "Lease"): "V1Lease",
    ("apiextensions.k8s.io", "CustomResourceDefinition"): "V1CustomResourceDefinition",
}

# Models every document may reference besides the kinds: statuses, delete options, scale.
_COMMON_MODELS = ("V1Status", "V1DeleteOptions", "V1ListMeta", "V1ObjectMeta", "V1Scale")

_META_TYPES = frozenset(
    {
        "Condition",
        "DeleteOptions",
        "LabelSelector",
        "LabelSelectorRequirement",
        "ListMeta",
        "ManagedFieldsEntry",
        "ObjectMeta",
        "OwnerReference",
        "Preconditions",
        "Status",
        "StatusCause",
        "StatusDetails",
    }
)
_APIEXTENSIONS_TYPES = frozenset(
    {
        "ExternalDocumentation",
        "JSONSchemaProps",
        "SelectableField",
        "ValidationRule",
        "WebhookConversion",
    }
)
_RBAC_TYPES = frozenset({"AggregationRule", "PolicyRule", "RoleRef"})


def _package(model_name: str, short_name: str) -> str:
    """The Go package (as an OpenAPI name prefix) of a client model's type."""
    if short_name in _META_TYPES:
        return _META
    if (
        model_name.startswith("Apiextensions")
        or short_name.startswith("CustomResource")
        or (short_name in _APIEXTENSIONS_TYPES)
    ):
        return "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
    if short_name.startswith(("Deployment", "ReplicaSet", "RollingUpdateDeployment")):
        return "io.k8s.api.apps.v1."
    if model_name.startswith("Rbac") or short_name in _RBAC_TYPES or short_name.startswith(("Role", "ClusterRole")):
        return "io.k8s.api.rbac.v1."
    if short_name.startswith("PodDisruptionBudget"):
        return "io.k8s.api.policy.v1."
    if short_name.startswith("Lease"):
        return "io.k8s.api.coordination.v1."
    if short_name.startswith("Scale"):
        return "io.k8s.api.autoscaling.v1."
    return "io.k8s.api.core.v1."


def definition_name(model_name: str) -> str:
    """`V1Deployment` -> `io.k8s.api.apps.v1.Deployment`, `CoreV1Event` -> `io.k8s.api.core.v1.Event`."""
    match = re.fullmatch(r"(?:[A-Z][a-z]+)?V1(?P<short>[A-Z].*)", model_name)
    short_name = match.group("short") if match else model_name
    return _package(model_name, short_name) + short_name


# Patch strategies and merge keys of k8s.io/api (v0.32) fields, by (type, field): what kubectl's
# strategic merge patch needs and the client models lack.
_PATCH_TAGS: Mapping[tuple[str, str], tuple[str, str]] = {
    ("ObjectMeta", "ownerReferences"): ("merge", "uid"),
    ("ObjectMeta", "finalizers"): ("merge", ""),
    ("Container", "ports"): ("merge", "containerPort"),
    ("Container", "env"): ("merge", "name"),
    ("Container", "volumeMounts"): ("merge", "mountPath"),
    ("Container", "volumeDevices"): ("merge", "devicePath"),
    ("EphemeralContainer", "ports"): ("merge", "containerPort"),
    ("EphemeralContainer", "env"): ("merge", "name"),
    ("EphemeralContainer", "volumeMounts"): ("merge", "mountPath"),
    ("EphemeralContainer", "volumeDevices"): ("merge", "devicePath"),
    ("ContainerStatus", "volumeMounts"): ("merge", "mountPath"),
    ("ContainerStatus", "allocatedResourcesStatus"): ("merge", "name"),
    ("PodSpec", "volumes"): ("merge,retainKeys", "name"),
    ("PodSpec", "initContainers"): ("merge", "name"),
    ("PodSpec", "containers"): ("merge", "name"),
    ("PodSpec", "ephemeralContainers"): ("merge", "name"),
    ("PodSpec", "imagePullSecrets"): ("merge", "name"),
    ("PodSpec", "hostAliases"): ("merge", "ip"),
    ("PodSpec", "topologySpreadConstraints"): ("merge", "topologyKey"),
    ("PodSpec", "schedulingGates"): ("merge", "name"),
    ("PodSpec", "resourceClaims"): ("merge,retainKeys", "name"),
    ("PodStatus", "conditions"): ("merge", "type"),
    ("PodStatus", "hostIPs"): ("merge", "ip"),
    ("PodStatus", "podIPs"): ("merge", "ip"),
    ("PodStatus", "resourceClaimStatuses"): ("merge,retainKeys", "name"),
    ("ServiceSpec", "ports"): ("merge", "port"),
    ("ServiceStatus", "conditions"): ("merge", "type"),
    ("ServiceAccount", "secrets"): ("merge", "name"),
    ("NamespaceStatus", "conditions"): ("merge", "type"),
    ("DeploymentSpec", "strategy"): ("retainKeys", ""),
    ("DeploymentStatus", "conditions"): ("merge", "type"),
    ("ReplicaSetStatus", "conditions"): ("merge", "type"),
    ("PodDisruptionBudgetSpec", "selector"): ("replace", ""),
    ("PodDisruptionBudgetStatus", "conditions"): ("merge", "type"),
    ("JSONSchemaProps", "x-kubernetes-validations"): ("merge", "rule"),
}

_SCALARS: Mapping[str, JsonObject] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "bytes": {"type": "string", "format": "byte"},
    "bytearray": {"type": "string", "format": "byte"},
}


def _type_schema(type_text: str, annotation: Any, refs: set[str]) -> JsonObject:
    """The schema of a client model's attribute type (`List[V1Container]`, `Dict[str, str]`, `object`, ...)."""
    if type_text.startswith("List[") and type_text.endswith("]"):
        return {"type": "array", "items": _item_schema(type_text[5:-1], refs)}
    if type_text.startswith("Dict[str, ") and type_text.endswith("]"):
        return {"type": "object", "additionalProperties": _item_schema(type_text[10:-1], refs)}
    if type_text in _SCALARS:
        return dict(_SCALARS[type_text])
    if type_text == "object":
        arguments = set(_flatten_annotation(annotation))
        if {int, str} <= arguments and dict not in arguments:
            return {"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True}
        return {}
    refs.add(type_text)
    return {"$ref": V3_REF + definition_name(type_text)}


def _item_schema(type_text: str, refs: set[str]) -> JsonObject:
    schema = _type_schema(type_text, None, refs)
    if "$ref" in schema:
        return {"allOf": [schema], "default": {}}
    return schema


def _flatten_annotation(annotation: Any) -> Iterable[Any]:
    """The plain types an annotation such as `Optional[Union[Annotated[int, ...], str]]` admits."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _flatten_annotation(typing.get_args(annotation)[0])
    elif origin is typing.Union:
        for argument in typing.get_args(annotation):
            yield from _flatten_annotation(argument)
    elif origin is not None:
        yield origin
    else:
        yield annotation


@functools.cache
def _client_models() -> Any:
    """The kubernetes client's models, imported on first use (they take a moment to import)."""
    from kubernetes.client import models

    return models


def _model_definition(model_name: str, refs: set[str]) -> JsonObject:
    model = getattr(_client_models(), model_name)
    short_name = definition_name(model_name).rsplit(".", 1)[1]
    properties: JsonObject = {}
    required: list[str] = []
    for attribute, type_text in model.openapi_types.items():
        json_name = model.attribute_map[attribute]
        field = _model_field(model, attribute)
        schema = _type_schema(type_text, field.annotation, refs)
        description = field.description or _default_description(json_name, type_text)
        if "$ref" in schema:
            schema = {"allOf": [schema], "default": {}}
        if description:
            schema["description"] = description
        tags = _PATCH_TAGS.get((short_name, json_name))
        if tags is not None:
            strategy, merge_key = tags
            if merge_key:
                schema["x-kubernetes-patch-merge-key"] = merge_key
            schema["x-kubernetes-patch-strategy"] = strategy
        properties[json_name] = schema
        if field.is_required():
            required.append(json_name)
    definition: JsonObject = {"description": _model_description(model), "type": "object"}
    if properties:
        definition["properties"] = properties
    if required:
        definition["required"] = required
    return definition


def _model_field(model: Any, attribute: str) -> Any:
    """The pydantic field of a model attribute (the client renames Python keywords: `_continue` -> `var_continue`)."""
    fields = model.model_fields
    return fields[attribute] if attribute in fields else fields["var_" + attribute.lstrip("_")]


def _default_description(json_name: str, type_text: str) -> str:
    if json_name == "metadata":
        return _LIST_METADATA_DESCRIPTION if type_text == "V1ListMeta" else _METADATA_DESCRIPTION
    if json_name == "apiVersion":
        return _API_VERSION_DESCRIPTION
    if json_name == "kind":
        return _KIND_DESCRIPTION
    return ""


def _model_description(model: type) -> str:
    text = (model.__doc__ or "").split("Attributes:", 1)[0]
    return " ".join(text.split())


@dataclass(frozen=True)
class BuiltinDefinitions:
    """Definitions of all built-in types we serve, and the names each one references."""

    schemas: Mapping[str, JsonObject]
    references: Mapping[str, frozenset[str]]

    def closure(self, roots: Iterable[str]) -> dict[str, JsonObject]:
        """The named definitions and everything they reference, transitively."""
        found: dict[str, JsonObject] = {}
        pending = [name for name in roots if name in self.schemas]
        while pending:
            name = pending.pop()
            if name in found:
                continue
            found[name] = self.schemas[name]
            pending.extend(self.references[name] - found.keys())
        return found


@functools.cache
def builtin_definitions() -> BuiltinDefinitions:
    """Definitions of the served built-in kinds (and their lists) and of every type they use."""
    schemas: dict[str, JsonObject] = {}
    references: dict[str, frozenset[str]] = {}
    gvk_of: dict[str, list[JsonObject]] = {}
    for (group, kind), model_name in _KIND_MODELS.items():
        version = "v1"
        gvk_of[model_name] = [{"group": group, "kind": kind, "version": version}]
        gvk_of[model_name + "List"] = [{"group": group, "kind": kind + "List", "version": version}]
    gvk_of["V1Status"] = [{"group": "", "kind": "Status", "version": "v1"}]
    gvk_of["V1Scale"] = [{"group": "autoscaling", "kind": "Scale", "version": "v1"}]
    gvk_of["V1DeleteOptions"] = [
        {"group": group, "kind": "DeleteOptions", "version": "v1"}
        for group in (
            "",
            "apiextensions.k8s.io",
            "apps",
            "autoscaling",
            "coordination.k8s.io",
            "policy",
            "rbac.authorization.k8s.io",
        )
    ]
    pending = [*gvk_of, *_COMMON_MODELS]
    while pending:
        model_name = pending.pop()
        name = definition_name(model_name)
        if name in schemas:
            continue
        used: set[str] = set()
        definition = _model_definition(model_name, used)
        if model_name in gvk_of:
            definition["x-kubernetes-group-version-kind"] = gvk_of[model_name]
        schemas[name] = definition
        references[name] = frozenset(definition_name(m) for m in used)
        pending.extend(used)
    schemas[PATCH] = {
        "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
        "type": "object",
    }
    references[PATCH] = frozenset()
    return BuiltinDefinitions(schemas, references)


def prune_unknown_fields(rtype: ResourceType, obj: JsonObject) -> list[str]:
    """Drop, in place, the fields a built-in kind does not have; return their paths.

    What decoding into the Go types does on kube-apiserver: unknown fields vanish, and the strict decoder
    names them as `spec.template.spec.containers[0].bogus` (for `fieldValidation=Strict`/`Warn`). A `null`
    field decodes to its zero value, which is omitted (so defaulting sees it unset), except a zero
    metav1.Time, which is written as `null`; `creationTimestamp` is `omitzero` since 1.34, so a template's
    `creationTimestamp: null` (what client-go sends) is dropped too. Kinds without a model (and custom
    resources, pruned by their CRD schema) are left alone.
    """
    name = kind_definition_name(rtype)
    if rtype.from_crd or name is None:
        return []
    schemas = builtin_definitions().schemas
    unknown: list[str] = []
    _prune_value(obj, {"$ref": V3_REF + name}, schemas, "", unknown, root=True)
    return unknown


def _resolve(schema: Mapping[str, Any], schemas: Mapping[str, JsonObject]) -> Mapping[str, Any]:
    while True:
        if "allOf" in schema and len(schema["allOf"]) == 1:
            schema = schema["allOf"][0]
        elif "$ref" in schema:
            schema = schemas.get(schema["$ref"].removeprefix(V3_REF), {})
        else:
            return schema


def _prune_value(
    value: Any,
    schema: Mapping[str, Any],
    schemas: Mapping[str, JsonObject],
    path: str,
    unknown: list[str],
    root: bool = False,
) -> None:
    schema = _resolve(schema, schemas)
    if isinstance(value, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        if properties is not None:
            for key in list(value):
                child_path = f"{path}.{key}" if path else key
                if key in properties and value[key] is None:
                    if key == "creationTimestamp" or _resolve(properties[key], schemas).get("format") != "date-time":
                        del value[key]
                elif key in properties:
                    _prune_value(value[key], properties[key], schemas, child_path, unknown)
                elif not (root and key in ("apiVersion", "kind")):
                    unknown.append(child_path)
                    del value[key]
        elif isinstance(additional, dict):
            for key, child in value.items():
                _prune_value(child, additional, schemas, f"{path}.{key}" if path else key, unknown)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _prune_value(item, schema["items"], schemas, f"{path}[{index}]", unknown)


def kind_definition_name(rtype: ResourceType) -> str | None:
    """The component name of a served kind's schema; None for a built-in kind without a client model."""
    if rtype.from_crd:
        return _custom_resource_name(rtype, rtype.kind)
    model_name = _KIND_MODELS.get((rtype.group, rtype.kind))
    return definition_name(model_name) if model_name is not None else None


# ------------------------------------------------------------------------------------------------------------
# Custom resources: the apiextensions apiserver's builder


def _rest_friendly_group(group: str) -> str:
    """`ml.example.com` -> `com.example.ml`, as util.ToRESTFriendlyName names CRD schemas."""
    return ".".join(reversed(group.split(".")))


def _custom_resource_name(rtype: ResourceType, kind: str) -> str:
    return f"{_rest_friendly_group(rtype.group)}.{rtype.version}.{kind}"


def _gvk(rtype: ResourceType, kind: str | None = None) -> JsonObject:
    return {"group": rtype.group, "kind": kind or rtype.kind, "version": rtype.version}


def custom_resource_schema(rtype: ResourceType) -> JsonObject:
    """The published schema of a CRD kind: its openAPIV3Schema plus TypeMeta, ObjectMeta and the GVK."""
    if rtype.schema is None:
        schema: JsonObject = {"type": "object"}
    else:
        schema = copy.deepcopy(dict(rtype.schema))
        properties = schema.setdefault("properties", {})
        properties["apiVersion"] = {"description": _API_VERSION_DESCRIPTION, "type": "string"}
        properties["kind"] = {"description": _KIND_DESCRIPTION, "type": "string"}
        properties["metadata"] = {"allOf": [{"$ref": V3_REF + OBJECT_META}], "description": _METADATA_DESCRIPTION}
        _add_embedded_resource_properties(schema)
    schema["x-kubernetes-group-version-kind"] = [_gvk(rtype)]
    return schema


def _add_embedded_resource_properties(schema: JsonObject) -> None:
    """Objects marked x-kubernetes-embedded-resource get TypeMeta and ObjectMeta, as apiextensions adds."""
    for key in ("properties",):
        for child in (schema.get(key) or {}).values():
            if isinstance(child, dict):
                _add_embedded_resource_properties(child)
    for key in ("items", "additionalProperties"):
        child = schema.get(key)
        if isinstance(child, dict):
            _add_embedded_resource_properties(child)
    if schema.get("x-kubernetes-embedded-resource") is True:
        properties = schema.setdefault("properties", {})
        properties["apiVersion"] = {"description": _EMBEDDED_API_VERSION_DESCRIPTION, "type": "string"}
        properties["kind"] = {"description": _EMBEDDED_KIND_DESCRIPTION, "type": "string"}
        properties["metadata"] = {"allOf": [{"$ref": V3_REF + OBJECT_META}], "description": _METADATA_DESCRIPTION}
        _require_type_meta(schema)


def _require_type_meta(schema: JsonObject) -> None:
    required = schema.setdefault("required", [])
    for name in ("kind", "apiVersion"):
        if name not in required:
            required.append(name)


def _custom_resource_list_schema(rtype: ResourceType) -> JsonObject:
    return {
        "description": f"{rtype.list_kind} is a list of {rtype.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": _API_VERSION_DESCRIPTION, "type": "string"},
            "items": {
                "description": f"List of {rtype.plural}. More info: "
                "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md",
                "type": "array",
                "items": {"$ref": V3_REF + _custom_resource_name(rtype, rtype.kind)},
            },
            "kind": {"description": _KIND_DESCRIPTION, "type": "string"},
            "metadata": {"allOf": [{"$ref": V3_REF + LIST_META}], "description": _LIST_METADATA_DESCRIPTION},
        },
        "x-kubernetes-group-version-kind": [_gvk(rtype, rtype.list_kind)],
    }


# ------------------------------------------------------------------------------------------------------------
# Paths and operations, as the apiserver's installer registers them

_PARAMETERS: Mapping[str, tuple[str, str]] = {
    "allowWatchBookmarks": (
        "boolean",
        (
            'allowWatchBookmarks requests watch events with type "BOOKMARK". Servers that do not implement '
            "bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not "
            "assume bookmarks are returned at any specific interval, nor may they assume the server will send any "
            "BOOKMARK event during a session. If this is not a watch, this field is ignored."
        ),
    ),
    "continue": (
        "string",
        (
            "The continue option should be set when retrieving more results from the server. Since this value is "
            "server defined, clients may only use the continue value from a previous query result with identical "
            "query parameters (except for the value of continue) and the server may reject a continue value it "
            "does not recognize."
        ),
    ),
    "dryRun": (
        "string",
        (
            "When present, indicates that modifications should not be persisted. An invalid or unrecognized "
            "dryRun directive will result in an error response and no further processing of the request. Valid "
            "values are: - All: all dry run stages will be processed"
        ),
    ),
    "fieldManager": (
        "string",
        (
            "fieldManager is a name associated with the actor or entity that is making these changes. The value "
            "must be less than or 128 characters long, and only contain printable characters, as defined by "
            "https://golang.org/pkg/unicode/#IsPrint."
        ),
    ),
    "fieldSelector": (
        "string",
        ("A selector to restrict the list of returned objects by their fields. Defaults to everything."),
    ),
    "fieldValidation": (
        "string",
        (
            "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
            "containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown "
            "fields that are silently dropped from the object, and will ignore all but the last duplicate field "
            "that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a "
            "warning via the standard warning response header for each unknown field that is dropped from the "
            "object, and for each duplicate field that is encountered. The request will still succeed if there "
            "are no other errors, and will only persist the last of any duplicate fields. This is the default in "
            "v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be "
            "dropped from the object, or if any duplicate fields are present. The error returned from the server "
            "will contain all unknown and duplicate fields encountered."
        ),
    ),
    "force": (
        "boolean",
        (
            'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields owned by '
            "other people. Force flag must be unset for non-apply patch requests."
        ),
    ),
    "gracePeriodSeconds": (
        "integer",
        (
            "The duration in seconds before the object should be deleted. Value must be non-negative integer. The "
            "value zero indicates delete immediately. If this value is nil, the default grace period for the "
            "specified type will be used. Defaults to a per object value if not specified. zero means delete "
            "immediately."
        ),
    ),
    "ignoreStoreReadErrorWithClusterBreakingPotential": (
        "boolean",
        (
            "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow "
            "fails with a corrupt object error."
        ),
    ),
    "labelSelector": (
        "string",
        ("A selector to restrict the list of returned objects by their labels. Defaults to everything."),
    ),
    "limit": (
        "integer",
        (
            "limit is a maximum number of responses to return for a list call. If more items exist, the server "
            "will set the `continue` field on the list metadata to a value that can be used with the same initial "
            "query to retrieve the next set of results."
        ),
    ),
    "orphanDependents": (
        "boolean",
        (
            "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the "
            'dependent objects be orphaned. If true/false, the "orphan" finalizer will be added to/removed from '
            "the object's finalizers list. Either this field or PropagationPolicy may be set, but not both."
        ),
    ),
    "propagationPolicy": (
        "string",
        (
            "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be "
            "set, but not both. The default policy is decided by the existing finalizer set in the "
            "metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - "
            "orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the "
            "background; 'Foreground' - a cascading policy that deletes all dependents in the foreground."
        ),
    ),
    "resourceVersion": (
        "string",
        (
            "resourceVersion sets a constraint on what resource versions a request may be served from. See "
            "https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\n"
            "Defaults to unset"
        ),
    ),
    "resourceVersionMatch": (
        "string",
        (
            "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly "
            "recommended that resourceVersionMatch be set for list calls where resourceVersion is set See "
            "https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\n"
            "Defaults to unset"
        ),
    ),
    "sendInitialEvents": (
        "boolean",
        (
            "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will "
            "begin with synthetic events to produce the current state of objects in the collection."
        ),
    ),
    "timeoutSeconds": (
        "integer",
        (
            "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity "
            "or inactivity."
        ),
    ),
    "watch": (
        "boolean",
        (
            "Watch for changes to the described resources and return them as a stream of add, update, and remove "
            "notifications. Specify resourceVersion."
        ),
    ),
}
_PRETTY = "If 'true', then the output is pretty printed."

_LIST_PARAMETERS = (
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
)
_DELETE_PARAMETERS = (
    "dryRun",
    "gracePeriodSeconds",
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "orphanDependents",
    "propagationPolicy",
)
_ACTION_PARAMETERS: Mapping[str, tuple[str, ...]] = {
    "get": (),
    "list": _LIST_PARAMETERS,
    "post": ("dryRun", "fieldManager", "fieldValidation"),
    "put": ("dryRun", "fieldManager", "fieldValidation"),
    "patch": ("dryRun", "fieldManager", "fieldValidation", "force"),
    "delete": _DELETE_PARAMETERS,
    "deletecollection": tuple(sorted({*_DELETE_PARAMETERS, *_LIST_PARAMETERS} - {"watch", "allowWatchBookmarks"})),
}

_BUILTIN_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
_CUSTOM_RESOURCE_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)


def _query_parameter(name: str) -> JsonObject:
    kind, description = _PARAMETERS[name]
    return {"name": name, "in": "query", "description": description, "schema": {"type": kind, "uniqueItems": True}}


def _path_parameter(name: str, description: str) -> JsonObject:
    return {
        "name": name,
        "in": "path",
        "description": description,
        "required": True,
        "schema": {"type": "string", "uniqueItems": True},
    }


def _pretty_parameter() -> JsonObject:
    return {"name": "pretty", "in": "query", "description": _PRETTY, "schema": {"type": "string", "uniqueItems": True}}


def _operation_id_part(text: str, capitalize_first: bool) -> str:
    """apiserver's ToValidOperationID: drop non-letters, capitalising the letter after each."""
    out: list[str] = []
    capitalize = capitalize_first
    for index, char in enumerate(text):
        if char.isalpha() or char == "_" or (index != 0 and char.isdigit()):
            out.append(char.upper() if capitalize else char)
            capitalize = False
        else:
            capitalize = True
    return "".join(out)


def _group_part(group: str) -> str:
    return _operation_id_part((group or "core").removesuffix(".k8s.io"), True)


def _tag(rtype: ResourceType) -> str:
    group = _operation_id_part((rtype.group or "core").removesuffix(".k8s.io"), False)
    return f"{group}_{_operation_id_part(rtype.version, False)}"


def _article(kind: str) -> str:
    return " an " if kind[:1].lower() in "aeiou" else " a "


@dataclass(frozen=True)
class _Operation:
    method: str  # get, put, patch, post, delete
    action: str  # x-kubernetes-action
    verb: str  # first word of the operationId
    description: str
    request: str | None  # component name of the request body, if any
    response: str
    statuses: tuple[tuple[str, str], ...]  # (HTTP status, description)


def _body_schema(name: str) -> JsonObject:
    return {"$ref": V3_REF + name}


def _operation(rtype: ResourceType, op: _Operation, scope: str, subresource: str, suffix: str = "") -> JsonObject:
    kind_part = f"{scope}{rtype.kind}{subresource.title()}{suffix}"
    response_types = (
        ("application/json", "application/yaml")
        if rtype.from_crd
        else ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
    )
    if op.action in ("list",):
        response_types = (*response_types, "application/json;stream=watch")
        if not rtype.from_crd:
            response_types = (*response_types, "application/vnd.kubernetes.protobuf;stream=watch")
    content = {media: {"schema": _body_schema(op.response)} for media in response_types}
    operation: JsonObject = {
        "description": op.description,
        "operationId": op.verb + _group_part(rtype.group) + _operation_id_part(rtype.version, True) + kind_part,
        "tags": [_tag(rtype)],
        "responses": {status: {"description": text, "content": content} for status, text in op.statuses},
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": (
            {"group": "autoscaling", "kind": "Scale", "version": "v1"} if subresource == "scale" else _gvk(rtype)
        ),
    }
    parameters = [_query_parameter(name) for name in _ACTION_PARAMETERS[op.action]]
    if parameters:
        operation["parameters"] = parameters
    if op.request is not None:
        if op.method == "patch":
            media_types: tuple[str, ...] = (
                _CUSTOM_RESOURCE_PATCH_TYPES
                if rtype.from_crd or kind_definition_name(rtype) is None
                else _BUILTIN_PATCH_TYPES
            )
        elif rtype.from_crd:
            media_types = ("application/json", "application/yaml")
        else:
            media_types = ("*/*",)
        operation["requestBody"] = {
            "content": {media: {"schema": _body_schema(op.request)} for media in media_types},
            "required": op.method != "delete",
        }
    return operation


def _resource_paths(rtype: ResourceType, kind_schema: str, list_schema: str) -> dict[str, JsonObject]:
    """Paths of one resource (collection, item, subresources), each with its operations."""
    prefix = f"/apis/{rtype.group}/{rtype.version}" if rtype.group else f"/api/{rtype.version}"
    kind = rtype.kind
    scope = "Namespaced" if rtype.namespaced else ""
    collection = f"{prefix}/namespaces/{{namespace}}/{rtype.plural}" if rtype.namespaced else f"{prefix}/{rtype.plural}"
    item = collection + "/{name}"
    scope_parameters = (
        [_path_parameter("namespace", "object name and auth scope, such as for teams and projects")]
        if rtype.namespaced
        else []
    )
    name_parameter = _path_parameter("name", f"name of the {kind}")
    verbs = set(rtype.verbs)
    ok = (("200", "OK"),)
    paths: dict[str, JsonObject] = {}

    collection_ops: JsonObject = {"parameters": [*scope_parameters, _pretty_parameter()]}
    if "list" in verbs:
        collection_ops["get"] = _operation(
            rtype,
            _Operation("get", "list", "list", f"list or watch objects of kind {kind}", None, list_schema, ok),
            scope,
            "",
        )
    if "create" in verbs:
        collection_ops["post"] = _operation(
            rtype,
            _Operation(
                "post",
                "post",
                "create",
                f"create{_article(kind)}{kind}",
                kind_schema,
                kind_schema,
                (("200", "OK"), ("201", "Created"), ("202", "Accepted")),
            ),
            scope,
            "",
        )
    if "deletecollection" in verbs:
        collection_ops["delete"] = _operation(
            rtype,
            _Operation(
                "delete",
                "deletecollection",
                "deletecollection",
                f"delete collection of {kind}",
                DELETE_OPTIONS,
                STATUS,
                ok,
            ),
            scope,
            "",
        )
    paths[collection] = collection_ops

    item_ops: JsonObject = {"parameters": [name_parameter, *scope_parameters, _pretty_parameter()]}
    if "get" in verbs:
        item_ops["get"] = _operation(
            rtype, _Operation("get", "get", "read", f"read the specified {kind}", None, kind_schema, ok), scope, ""
        )
    if "update" in verbs:
        item_ops["put"] = _operation(
            rtype,
            _Operation(
                "put",
                "put",
                "replace",
                f"replace the specified {kind}",
                kind_schema,
                kind_schema,
                (("200", "OK"), ("201", "Created")),
            ),
            scope,
            "",
        )
    if "patch" in verbs:
        item_ops["patch"] = _operation(
            rtype,
            _Operation(
                "patch",
                "patch",
                "patch",
                f"partially update the specified {kind}",
                PATCH,
                kind_schema,
                (("200", "OK"), ("201", "Created")),
            ),
            scope,
            "",
        )
    if "delete" in verbs:
        item_ops["delete"] = _operation(
            rtype,
            _Operation(
                "delete",
                "delete",
                "delete",
                f"delete{_article(kind)}{kind}",
                DELETE_OPTIONS,
                kind_schema if rtype.from_crd or rtype.kind == "CustomResourceDefinition" else STATUS,
                (("200", "OK"), ("202", "Accepted")),
            ),
            scope,
            "",
        )
    paths[item] = item_ops

    for subresource in sorted(rtype.subresources):
        body = SCALE if subresource == "scale" else kind_schema
        paths[f"{item}/{subresource}"] = {
            "parameters": [name_parameter, *scope_parameters, _pretty_parameter()],
            "get": _operation(
                rtype,
                _Operation("get", "get", "read", f"read {subresource} of the specified {kind}", None, body, ok),
                scope,
                subresource,
            ),
            "put": _operation(
                rtype,
                _Operation(
                    "put",
                    "put",
                    "replace",
                    f"replace {subresource} of the specified {kind}",
                    body,
                    body,
                    (("200", "OK"), ("201", "Created")),
                ),
                scope,
                subresource,
            ),
            "patch": _operation(
                rtype,
                _Operation(
                    "patch",
                    "patch",
                    "patch",
                    f"partially update {subresource} of the specified {kind}",
                    PATCH,
                    body,
                    (("200", "OK"), ("201", "Created")),
                ),
                scope,
                subresource,
            ),
        }

    if rtype.namespaced and "list" in verbs:
        paths[f"{prefix}/{rtype.plural}"] = {
            "parameters": [_pretty_parameter()],
            "get": _operation(
                rtype,
                _Operation("get", "list", "list", f"list or watch objects of kind {kind}", None, list_schema, ok),
                "",
                "",
                "ForAllNamespaces",
            ),
        }
    return paths


# ------------------------------------------------------------------------------------------------------------
# Documents

_GENERIC_KIND = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _kind_schemas(rtype: ResourceType) -> tuple[str, str, dict[str, JsonObject]]:
    """Component names of a kind and its list, and the schemas to add for them."""
    if rtype.from_crd:
        kind_name = _custom_resource_name(rtype, rtype.kind)
        list_name = _custom_resource_name(rtype, rtype.list_kind)
        return (
            kind_name,
            list_name,
            {kind_name: custom_resource_schema(rtype), list_name: _custom_resource_list_schema(rtype)},
        )
    known = kind_definition_name(rtype)
    if known is not None:
        return known, known + "List", {}
    # A built-in kind the client models do not describe: a permissive schema keeps kubectl working.
    prefix = f"io.k8s.api.{rtype.group.removesuffix('.k8s.io') or 'core'}.{rtype.version}."
    kind_schema = {**_GENERIC_KIND, "x-kubernetes-group-version-kind": [_gvk(rtype)]}
    list_schema = {**_GENERIC_KIND, "x-kubernetes-group-version-kind": [_gvk(rtype, rtype.list_kind)]}
    return (
        prefix + rtype.kind,
        prefix + rtype.list_kind,
        {prefix + rtype.kind: kind_schema, prefix + rtype.list_kind: list_schema},
    )


def group_version_document(rtypes: Iterable[ResourceType]) -> JsonObject:
    """The OpenAPI v3 document of one group/version, from the resource types it serves."""
    rtypes = list(rtypes)
    paths: dict[str, JsonObject] = {}
    own_schemas: dict[str, JsonObject] = {}
    roots = [STATUS, DELETE_OPTIONS, PATCH]
    for rtype in rtypes:
        kind_name, list_name, schemas = _kind_schemas(rtype)
        own_schemas.update(schemas)
        roots.extend((kind_name, list_name))
        if "scale" in rtype.subresources:
            roots.append(SCALE)
        if rtype.from_crd:
            roots.extend((OBJECT_META, LIST_META))
        paths.update(_resource_paths(rtype, kind_name, list_name))
    schemas = builtin_definitions().closure(roots)
    schemas.update(own_schemas)
    from_crd = any(rtype.from_crd for rtype in rtypes)
    return {
        "openapi": "3.0.0",
        "info": dict(CRD_VERSION_INFO if from_crd else OPENAPI_VERSION_INFO),
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer Token authentication",
                    "name": "authorization",
                    "in": "header",
                }
            },
        },
        "security": [{"BearerToken": []}],
    }


def _group_version_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _served_group_versions(registry: Registry) -> dict[str, list[ResourceType]]:
    served: dict[str, list[ResourceType]] = {}
    for group in registry.groups():
        for version in registry.versions(group):
            served[_group_version_key(group, version)] = registry.in_group_version(group, version)
    return served


@functools.lru_cache(maxsize=64)
def _builtin_document(rtypes: tuple[ResourceType, ...]) -> tuple[JsonObject, str]:
    """Built-in group/versions never change: build each document and its hash once."""
    document = group_version_document(rtypes)
    return document, content_hash(document)


def content_hash(document: Any) -> str:
    """The `?hash=` of a document: an uppercase hex SHA-512 of its JSON, as kube-openapi computes it."""
    return hashlib.sha512(json.dumps(document, separators=(",", ":"), sort_keys=True).encode()).hexdigest().upper()


def _document_and_hash(rtypes: list[ResourceType]) -> tuple[JsonObject, str]:
    if any(rtype.from_crd for rtype in rtypes):
        document = group_version_document(rtypes)
        return document, content_hash(document)
    return _builtin_document(tuple(rtypes))


def v3_discovery(registry: Registry) -> JsonObject:
    """`/openapi/v3`: every group/version with the URL of its current document."""
    paths: dict[str, JsonObject] = {}
    for key, rtypes in _served_group_versions(registry).items():
        _, digest = _document_and_hash(rtypes)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}


def v3_document(registry: Registry, key: str) -> JsonObject | None:
    """`/openapi/v3/<key>` for `api/v1` or `apis/<group>/<version>`; None when that is not served."""
    rtypes = _served_group_versions(registry).get(key)
    if not rtypes:
        return None
    document, _ = _document_and_hash(rtypes)
    return document


def v2_document(registry: Registry) -> JsonObject:
    """`/openapi/v2`: one Swagger 2.0 document for everything served."""
    paths: dict[str, JsonObject] = {}
    definitions: dict[str, JsonObject] = {}
    for rtypes in _served_group_versions(registry).values():
        document, _ = _document_and_hash(rtypes)
        for path, item in document["paths"].items():
            paths[path] = _v2_path_item(item)
        for name, schema in document["components"]["schemas"].items():
            definitions[name] = _v2_schema(schema)
        for rtype in rtypes:
            if rtype.from_crd:
                definitions[_custom_resource_name(rtype, rtype.kind)] = custom_resource_schema_v2(rtype)
    return {
        "swagger": "2.0",
        "info": dict(OPENAPI_VERSION_INFO),
        "paths": dict(sorted(paths.items())),
        "definitions": dict(sorted(definitions.items())),
        "securityDefinitions": {
            "BearerToken": {
                "type": "apiKey",
                "description": "Bearer Token authentication",
                "name": "authorization",
                "in": "header",
            }
        },
        "security": [{"BearerToken": []}],
    }


def _v2_schema(schema: Any) -> Any:
    """A v3 schema as Swagger 2.0 has it: refs under #/definitions, written as `$ref` + description."""
    if isinstance(schema, list):
        return [_v2_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0] and "properties" not in schema:
        # v3 wraps a described reference in allOf; v2 (and kubectl's v2 parser) wants a plain $ref.
        unwrapped = {key: value for key, value in schema.items() if key not in ("allOf", "default")}
        return _v2_schema({**unwrapped, "$ref": all_of[0]["$ref"]})
    converted: JsonObject = {}
    for key, value in schema.items():
        if key in ("nullable", "anyOf", "oneOf", "not"):
            continue
        if key == "$ref" and isinstance(value, str):
            converted[key] = value.replace(V3_REF, V2_REF, 1)
        elif key in ("properties", "patternProperties", "definitions") and isinstance(value, dict):
            converted[key] = {name: _v2_schema(child) for name, child in value.items()}
        elif key in ("items", "additionalProperties", "allOf"):
            converted[key] = _v2_schema(value)
        else:
            converted[key] = value
    return converted


# What apiextensions' ToStructuralOpenAPIV2 drops from a CRD schema for /openapi/v2 (the junctors, which v2 cannot
# say), and `default`, which the v2 handler prunes (handler.PruneDefaults); other value validations (format, enum,
# pattern, bounds, required, ...) are published as they are.
_NOT_IN_V2 = frozenset({"allOf", "oneOf", "anyOf", "not", "default", "nullable"})


def _structural_v2(schema: Mapping[str, Any]) -> JsonObject:
    """apiextensions' ToStructuralOpenAPIV2 of a structural schema, its defaults pruned."""
    out: JsonObject = {
        key: copy.deepcopy(value)
        for key, value in schema.items()
        if key not in _NOT_IN_V2 and key not in ("properties", "items", "additionalProperties")
    }
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    nullable = schema.get("nullable") is True
    properties = schema.get("properties")
    if not (preserve or nullable):
        if isinstance(properties, dict):
            out["properties"] = {
                name: _structural_v2(child) for name, child in properties.items() if isinstance(child, dict)
            }
        items = schema.get("items")
        if isinstance(items, dict):
            out["items"] = _structural_v2(items)
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        out["additionalProperties"] = _structural_v2(additional)
    elif isinstance(additional, bool):
        out["additionalProperties"] = additional
    if isinstance(out.get("required"), list):
        # A nullable property cannot be required in v2, nor can anything when nullable values are allowed.
        if isinstance(additional, dict) and additional.get("nullable") is True:
            out.pop("required")
        elif isinstance(properties, dict):
            nullable_names = {
                name for name, child in properties.items() if isinstance(child, dict) and child.get("nullable") is True
            }
            kept = [name for name in out["required"] if name not in nullable_names]
            if kept:
                out["required"] = kept
            else:
                out.pop("required")
    if nullable or (out.get("type") == "array" and "items" not in out) or (preserve and out.get("type") == "object"):
        out.pop("type", None)
    if out.get("x-kubernetes-embedded-resource") is True and not preserve:
        embedded = out.setdefault("properties", {})
        embedded["apiVersion"] = {"description": _EMBEDDED_API_VERSION_DESCRIPTION, "type": "string"}
        embedded["kind"] = {"description": _EMBEDDED_KIND_DESCRIPTION, "type": "string"}
        embedded["metadata"] = {"$ref": V2_REF + OBJECT_META, "description": _METADATA_DESCRIPTION}
        _require_type_meta(out)
    return out


def custom_resource_schema_v2(rtype: ResourceType) -> JsonObject:
    """The v2 definition of a CRD kind: only `type: object` when unknown fields are kept at the root."""
    schema = rtype.schema
    if schema is None or schema.get("x-kubernetes-preserve-unknown-fields") is True:
        definition: JsonObject = {"type": "object"}
    else:
        definition = _structural_v2(schema)
        properties = definition.setdefault("properties", {})
        properties["apiVersion"] = {"description": _API_VERSION_DESCRIPTION, "type": "string"}
        properties["kind"] = {"description": _KIND_DESCRIPTION, "type": "string"}
        properties["metadata"] = {"$ref": V2_REF + OBJECT_META, "description": _METADATA_DESCRIPTION}
    definition["x-kubernetes-group-version-kind"] = [_gvk(rtype)]
    return definition


def _v2_path_item(item: JsonObject) -> JsonObject:
    converted: JsonObject = {}
    if "parameters" in item:
        converted["parameters"] = [_v2_parameter(p) for p in item["parameters"]]
    for method in ("get", "put", "post", "patch", "delete"):
        operation = item.get(method)
        if operation is None:
            continue
        v2_operation: JsonObject = {
            key: operation[key]
            for key in ("description", "operationId", "tags", "x-kubernetes-action", "x-kubernetes-group-version-kind")
        }
        parameters = [_v2_parameter(p) for p in operation.get("parameters", [])]
        body = operation.get("requestBody")
        if body is not None:
            media_types = list(body["content"])
            schema = body["content"][media_types[0]]["schema"]
            parameters.insert(
                0, {"name": "body", "in": "body", "required": body.get("required", False), "schema": _v2_schema(schema)}
            )
            v2_operation["consumes"] = media_types
        if parameters:
            v2_operation["parameters"] = parameters
        responses = {}
        produces: list[str] = []
        for status, response in operation["responses"].items():
            content = response.get("content", {})
            for media in content:
                if media not in produces:
                    produces.append(media)
            first = next(iter(content.values()), None)
            responses[status] = {"description": response["description"]}
            if first is not None:
                responses[status]["schema"] = _v2_schema(first["schema"])
        responses["401"] = {"description": "Unauthorized"}
        v2_operation["produces"] = produces
        v2_operation["schemes"] = ["https"]
        v2_operation["responses"] = responses
        converted[method] = v2_operation
    return converted


def _v2_parameter(parameter: JsonObject) -> JsonObject:
    converted = {key: value for key, value in parameter.items() if key != "schema"}
    converted.update(parameter.get("schema", {}))
    return converted


# ------------------------------------------------------------------------------------------------------------
# /openapi/v2 as protobuf (github.com/google/gnostic-models openapiv2.Document), which client-go asks for

V2_PROTOBUF_REQUEST = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def wants_v2_protobuf(accept: str) -> bool:
    """Whether an Accept header asks /openapi/v2 for gnostic protobuf (client-go always does)."""
    return any(clause.split(";")[0].strip() in (V2_PROTOBUF_REQUEST, V2_PROTOBUF) for clause in accept.split(","))


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 values are sent as ten-byte two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (strings, bytes, embedded messages)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _text(number: int, value: Any) -> bytes:
    return _field(number, str(value).encode()) if value not in (None, "") else b""


def _texts(number: int, values: Any) -> bytes:
    if isinstance(values, str):
        values = [values]
    return b"".join(_field(number, str(v).encode()) for v in values or [])


def _flag(number: int, value: Any) -> bytes:
    return _varint(number << 3) + b"\x01" if value is True else b""


def _integer(number: int, value: Any) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return b""
    return _varint(number << 3) + _varint(int(value))


def _double(number: int, value: Any) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return b""
    return _varint(number << 3 | 1) + struct.pack("<d", float(value))


def _any(number: int, value: Any) -> bytes:
    """An openapi_v2.Any: gnostic keeps values it does not model as YAML text (JSON is YAML)."""
    return _field(number, _text(2, json.dumps(value, separators=(",", ":"), sort_keys=True)))


def _extensions(number: int, node: Mapping[str, Any]) -> bytes:
    return b"".join(
        _field(number, _text(1, key) + _any(2, value)) for key, value in node.items() if key.startswith("x-")
    )


def _schema_pb(schema: Mapping[str, Any]) -> bytes:
    """openapi_v2.Schema."""
    kind = schema.get("type")
    out = [
        _text(1, schema.get("$ref")),
        _text(2, schema.get("format")),
        _text(3, schema.get("title")),
        _text(4, schema.get("description")),
        _any(5, schema["default"]) if "default" in schema else b"",
        _double(6, schema.get("multipleOf")),
        _double(7, schema.get("maximum")),
        _flag(8, schema.get("exclusiveMaximum")),
        _double(9, schema.get("minimum")),
        _flag(10, schema.get("exclusiveMinimum")),
        _integer(11, schema.get("maxLength")),
        _integer(12, schema.get("minLength")),
        _text(13, schema.get("pattern")),
        _integer(14, schema.get("maxItems")),
        _integer(15, schema.get("minItems")),
        _flag(16, schema.get("uniqueItems")),
        _integer(17, schema.get("maxProperties")),
        _integer(18, schema.get("minProperties")),
        _texts(19, schema.get("required")),
        b"".join(_any(20, value) for value in schema.get("enum") or []),
    ]
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        out.append(_field(21, _field(1, _schema_pb(additional))))
    elif isinstance(additional, bool):  # a set oneof member is sent even when false
        out.append(_field(21, _varint(2 << 3) + _varint(int(additional))))
    if kind:
        out.append(_field(22, _texts(1, kind)))
    items = schema.get("items")
    if isinstance(items, dict):
        out.append(_field(23, _field(1, _schema_pb(items))))
    elif isinstance(items, list):
        out.append(_field(23, b"".join(_field(1, _schema_pb(item)) for item in items)))
    out.extend(_field(24, _schema_pb(part)) for part in schema.get("allOf") or [])
    properties = schema.get("properties")
    if isinstance(properties, dict):
        out.append(
            _field(
                25,
                b"".join(
                    _field(1, _text(1, name) + _field(2, _schema_pb(child))) for name, child in properties.items()
                ),
            )
        )
    out.append(_flag(27, schema.get("readOnly")))
    if "example" in schema:
        out.append(_any(30, schema["example"]))
    out.append(_extensions(31, schema))
    return b"".join(out)


def _parameter_pb(parameter: Mapping[str, Any]) -> bytes:
    """openapi_v2.ParametersItem for a body, query or path parameter."""
    where = parameter.get("in")
    if where == "body":
        body = (
            _text(1, parameter.get("description"))
            + _text(2, parameter.get("name"))
            + _text(3, where)
            + _flag(4, parameter.get("required"))
            + _field(5, _schema_pb(parameter.get("schema") or {}))
        )
        return _field(1, _field(1, body))
    common = _flag(1, parameter.get("required")) + _text(2, where) + _text(3, parameter.get("description"))
    common += _text(4, parameter.get("name"))
    if where == "path":  # PathParameterSubSchema: type 5, format 6, uniqueItems 19
        sub = common + _text(5, parameter.get("type")) + _text(6, parameter.get("format"))
        sub += _flag(19, parameter.get("uniqueItems"))
        return _field(1, _field(2, _field(4, sub)))
    # QueryParameterSubSchema: type 6, format 7, uniqueItems 20
    sub = common + _text(6, parameter.get("type")) + _text(7, parameter.get("format"))
    sub += _flag(20, parameter.get("uniqueItems"))
    return _field(1, _field(2, _field(3, sub)))


def _operation_pb(operation: Mapping[str, Any]) -> bytes:
    responses = b"".join(
        _field(
            1,
            _text(1, status)
            + _field(
                2,
                _field(
                    1,
                    _text(1, response.get("description"))
                    + (_field(2, _field(1, _schema_pb(response["schema"]))) if "schema" in response else b""),
                ),
            ),
        )
        for status, response in (operation.get("responses") or {}).items()
    )
    return b"".join(
        [
            _texts(1, operation.get("tags")),
            _text(3, operation.get("description")),
            _text(5, operation.get("operationId")),
            _texts(6, operation.get("produces")),
            _texts(7, operation.get("consumes")),
            b"".join(_field(8, _parameter_pb(p)) for p in operation.get("parameters") or []),
            _field(9, responses),
            _texts(10, operation.get("schemes")),
            _extensions(13, operation),
        ]
    )


_PATH_ITEM_FIELDS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _path_item_pb(item: Mapping[str, Any]) -> bytes:
    out = [
        _field(number, _operation_pb(item[method])) for method, number in _PATH_ITEM_FIELDS.items() if method in item
    ]
    out.extend(_field(9, _parameter_pb(p)) for p in item.get("parameters") or [])
    out.append(_extensions(10, item))
    return b"".join(out)


_V2_CACHE: dict[tuple[tuple[str, str], ...], bytes] = {}


def v2_protobuf(registry: Registry) -> bytes:
    """`/openapi/v2` encoded as gnostic's openapi_v2.Document, as kube-apiserver serves it to client-go.

    Encoding takes a while, so the last few encodings are kept, keyed by the hashes of the v3 documents.
    """
    key = tuple(sorted((gv, entry["serverRelativeURL"]) for gv, entry in v3_discovery(registry)["paths"].items()))
    cached = _V2_CACHE.get(key)
    if cached is None:
        cached = _encode_v2(v2_document(registry))
        if len(_V2_CACHE) >= 4:
            _V2_CACHE.pop(next(iter(_V2_CACHE)))
        _V2_CACHE[key] = cached
    return cached


def _encode_v2(document: JsonObject) -> bytes:
    info = document["info"]
    paths = b"".join(
        _field(2, _text(1, path) + _field(2, _path_item_pb(item))) for path, item in document["paths"].items()
    )
    definitions = b"".join(
        _field(1, _text(1, name) + _field(2, _schema_pb(schema))) for name, schema in document["definitions"].items()
    )
    security_definitions = b"".join(
        _field(
            1,
            _text(1, name)
            + _field(
                2,
                _field(
                    2,
                    _text(1, item.get("type"))
                    + _text(2, item.get("name"))
                    + _text(3, item.get("in"))
                    + _text(4, item.get("description")),
                ),
            ),
        )
        for name, item in document["securityDefinitions"].items()
    )
    security = b"".join(
        _field(12, b"".join(_field(1, _text(1, name) + _field(2, _texts(1, scopes))) for name, scopes in item.items()))
        for item in document["security"]
    )
    return b"".join(
        [
            _text(1, document["swagger"]),
            _field(2, _text(1, info["title"]) + _text(2, info["version"])),
            _field(8, paths),
            _field(9, definitions),
            security,
            _field(13, security_definitions),
        ]
    )


def document(registry: Registry, path: str) -> JsonObject | None:
    """The OpenAPI document served at `path` (`/openapi/v2`, `/openapi/v3[/...]`), or None."""
    if path == "/openapi/v2":
        return v2_document(registry)
    if path == "/openapi/v3":
        return v3_discovery(registry)
    if path.startswith("/openapi/v3/"):
        return v3_document(registry, path.removeprefix("/openapi/v3/"))
    return None
