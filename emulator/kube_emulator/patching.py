"""The three PATCH flavours, applied the way kube-apiserver applies them.

- :func:`merge_patch`: RFC 7386 JSON merge patch as gopkg.in/evanphx/json-patch.v4 implements it.
- :func:`json_patch`: RFC 6902 JSON patch (the `jsonpatch` library), with evanphx v4's `test` rules.
- :func:`strategic_merge_patch`: k8s.io/apimachinery/pkg/util/strategicpatch (v0.32) for the built-in
  kinds, driven by the `patchStrategy`/`patchMergeKey` tags of the k8s.io/api types.

Errors are those of k8s.io/apiserver/pkg/endpoints/handlers/patch.go: decoding problems are 400,
a JSON patch that cannot be applied is 422 with the generic "rejected" message, and strategic merge
patch errors are 400, 422 or (for the plain Go errors the apiserver does not classify) 500.
All functions are pure: inputs are never mutated.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonpatch

from .errors import ApiError, bad_request
from .resources import JsonObject

__all__ = ["SMP_KINDS", "json_patch", "merge_patch", "strategic_merge_patch"]

# handlers.maxJSONPatchOperations
MAX_JSON_PATCH_OPERATIONS = 10000

# What errors.NewGenericServerResponse(422, ...) says, whatever the underlying error was.
_REJECTED = "the server rejected our request due to an error in our request"

# The patch types a custom resource accepts (CBOR apply is behind a feature gate that is off in 1.32).
_CUSTOM_RESOURCE_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)


def _rejected() -> ApiError:
    return ApiError(422, _REJECTED, "Invalid", details={})


def _json_type(value: Any) -> str:
    """The JSON type name encoding/json uses in "cannot unmarshal X into ..." messages."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    return "number"


# --- JSON merge patch ------------------------------------------------------------------------------------


def merge_patch(target: Mapping[str, Any], patch: Any) -> JsonObject:
    """Apply an RFC 7386 merge patch (`application/merge-patch+json`) to `target`.

    Like evanphx/json-patch v4, nulls are pruned from every object the patch adds, including objects
    inside added arrays. A patch that is not an object is rejected as the apiserver rejects it.
    """
    if patch is None:
        raise bad_request("Invalid JSON Patch")
    if not isinstance(patch, dict):
        raise bad_request(
            f"error decoding patch: json: cannot unmarshal {_json_type(patch)} "
            "into Go value of type map[string]interface {}"
        )
    document = copy.deepcopy(dict(target))
    _merge_documents(document, patch)
    return document


def _merge_documents(document: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            document.pop(key, None)
        elif document.get(key) is None:
            document[key] = _without_nulls(value)
        else:
            document[key] = _merged_value(document[key], value)


def _merged_value(current: Any, patch: Any) -> Any:
    if not isinstance(current, dict):
        return _without_nulls(patch)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    _merge_documents(current, patch)
    return current


def _without_nulls(value: Any) -> Any:
    """A copy of `value` with null members of objects removed, at any depth (array items stay)."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [None if item is None else _without_nulls(item) for item in value]
    return value


# --- JSON patch ------------------------------------------------------------------------------------------

_STRING_OPERATION_FIELDS = ("op", "path", "from")
_APPLY_FAILURES = (
    jsonpatch.JsonPatchException,
    jsonpatch.JsonPointerException,
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    AttributeError,
)


class _TestFailedError(Exception):
    pass


def json_patch(target: Mapping[str, Any], operations: Any) -> JsonObject:
    """Apply an RFC 6902 patch (`application/json-patch+json`) to `target`.

    A body that is not a list of operation objects is a 400; an operation that cannot be applied
    (failed `test`, missing path, unknown op, ...) is the apiserver's generic 422 Invalid.
    """
    if operations is None:  # Go decodes `null` into an empty patch
        return copy.deepcopy(dict(target))
    if not isinstance(operations, list):
        raise bad_request(
            f"error decoding patch: json: cannot unmarshal {_json_type(operations)} "
            "into Go value of type []handlers.jsonPatchOp"
        )
    for operation in operations:
        if not isinstance(operation, dict):
            raise bad_request(
                f"error decoding patch: json: cannot unmarshal {_json_type(operation)} "
                "into Go value of type handlers.jsonPatchOp"
            )
        for name in _STRING_OPERATION_FIELDS:
            value = operation.get(name)
            if value is not None and not isinstance(value, str):
                raise bad_request(
                    f"error decoding patch: json: cannot unmarshal {_json_type(value)} "
                    f"into Go struct field jsonPatchOp.{name} of type string"
                )
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise ApiError(
            413,
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(operations)}",
            "RequestEntityTooLarge",
        )
    document: Any = copy.deepcopy(dict(target))
    # Copied so added values never alias the caller's patch.
    for operation in copy.deepcopy(operations):
        try:
            document = _apply_operation(document, operation)
        except (_TestFailedError, *_APPLY_FAILURES):
            raise _rejected() from None
    if not isinstance(document, dict):
        # The apiserver then fails to decode the result into the kind's Go type.
        rendered = json.dumps(document, separators=(",", ":"))
        detail = (
            "couldn't get version/kind; json parse error: json: cannot unmarshal "
            f"{_json_type(document)} into Go value of type "
            'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; '
            'Kind string "json:\\"kind,omitempty\\"" }'
        )
        body = f"Invalid value: {json.dumps(rendered)}: {detail}"
        raise ApiError(
            422,
            f' "" is invalid: patch: {body}',
            "Invalid",
            details={"causes": [{"reason": "FieldValueInvalid", "message": body, "field": "patch"}]},
        )
    return document


def _apply_operation(document: Any, operation: dict[str, Any]) -> Any:
    if operation.get("op") == "test":
        _test(document, operation)
        return document
    if operation.get("op") in ("add", "replace") and "value" not in operation:
        operation = {**operation, "value": None}  # evanphx v4 writes null for a missing value
    if operation.get("op") == "replace" and operation.get("path"):
        # evanphx v4's replace looks the key up in an object without checking it is there: a missing member
        # is added (an array's index must exist, though).
        parent, part = jsonpatch.JsonPointer(str(operation["path"])).to_last(document)
        if isinstance(parent, dict) and part not in parent:
            operation = {**operation, "op": "add"}
    return jsonpatch.JsonPatch([operation]).apply(document, in_place=True)


def _test(document: Any, operation: Mapping[str, Any]) -> None:
    """evanphx v4 `test`: exact JSON equality, and a missing member equals null."""
    if "value" not in operation:
        raise _TestFailedError
    expected = operation["value"]
    pointer = jsonpatch.JsonPointer(operation.get("path") or "")
    if not pointer.parts:
        actual = document
    else:
        parent, part = pointer.to_last(document)
        if isinstance(parent, dict):
            actual = parent.get(part)
        elif isinstance(parent, list) and isinstance(part, int) and 0 <= part < len(parent):
            actual = parent[part]
        else:
            raise _TestFailedError
    if actual is None or expected is None:
        if actual is None and expected is None:
            return
        raise _TestFailedError
    if not _json_equal(actual, expected):
        raise _TestFailedError


def _json_equal(left: Any, right: Any) -> bool:
    """Equality of the JSON texts: 1 and 1.0 differ, and so do 1 and true."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(_json_equal(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)


# --- strategic merge patch: patch metadata of the built-in kinds -----------------------------------------


@dataclass(frozen=True)
class _Meta:
    """Patch metadata of one field: its strategy, merge key, and the fields of its struct or list item.

    Fields without tags need no entry: maps merge and lists are replaced. `retainKeys` is not
    recorded: the server only obeys an explicit `$retainKeys` directive.
    """

    strategy: str = ""
    merge_key: str = ""
    fields: Mapping[str, _Meta] = field(default_factory=dict)


_NO_META = _Meta()


def _merge_list(merge_key: str = "", item_fields: Mapping[str, _Meta] | None = None) -> _Meta:
    return _Meta("merge", merge_key, item_fields or {})


def _struct(**fields: _Meta) -> _Meta:
    return _Meta(fields=fields)


_OBJECT_META = _struct(ownerReferences=_merge_list("uid"), finalizers=_merge_list())
_CONTAINER = {
    "ports": _merge_list("containerPort"),
    "env": _merge_list("name"),
    "volumeMounts": _merge_list("mountPath"),
    "volumeDevices": _merge_list("devicePath"),
}
_POD_SPEC = _struct(
    volumes=_merge_list("name"),
    initContainers=_merge_list("name", _CONTAINER),
    containers=_merge_list("name", _CONTAINER),
    ephemeralContainers=_merge_list("name", _CONTAINER),
    imagePullSecrets=_merge_list("name"),
    hostAliases=_merge_list("ip"),
    topologySpreadConstraints=_merge_list("topologyKey"),
    schedulingGates=_merge_list("name"),
    resourceClaims=_merge_list("name"),
)
_POD_STATUS = _struct(
    conditions=_merge_list("type"),
    hostIPs=_merge_list("ip"),
    podIPs=_merge_list("ip"),
    resourceClaimStatuses=_merge_list("name"),
)
_CONDITIONS_STATUS = _struct(conditions=_merge_list("type"))
_POD_TEMPLATE = _struct(metadata=_OBJECT_META, spec=_POD_SPEC)
_WORKLOAD = _struct(metadata=_OBJECT_META, spec=_struct(template=_POD_TEMPLATE), status=_CONDITIONS_STATUS)
_METADATA_ONLY = _struct(metadata=_OBJECT_META)

_KIND_SCHEMAS: Mapping[str, _Meta] = {
    "Pod": _struct(metadata=_OBJECT_META, spec=_POD_SPEC, status=_POD_STATUS),
    "Deployment": _WORKLOAD,
    "ReplicaSet": _WORKLOAD,
    "StatefulSet": _WORKLOAD,
    "Scale": _METADATA_ONLY,  # autoscaling/v1, the /scale subresource's kind
    "PodDisruptionBudget": _struct(
        metadata=_OBJECT_META, spec=_struct(selector=_Meta("replace")), status=_CONDITIONS_STATUS
    ),
    "Service": _struct(metadata=_OBJECT_META, spec=_struct(ports=_merge_list("port")), status=_CONDITIONS_STATUS),
    "ServiceAccount": _struct(metadata=_OBJECT_META, secrets=_merge_list("name")),
    "Namespace": _struct(metadata=_OBJECT_META, status=_CONDITIONS_STATUS),
    "ConfigMap": _METADATA_ONLY,
    "Secret": _METADATA_ONLY,
    "Role": _METADATA_ONLY,
    "RoleBinding": _METADATA_ONLY,
    "ClusterRole": _METADATA_ONLY,
    "ClusterRoleBinding": _METADATA_ONLY,
    "Lease": _METADATA_ONLY,
    "Event": _METADATA_ONLY,
    "CustomResourceDefinition": _METADATA_ONLY,
}

SMP_KINDS: frozenset[str] = frozenset(_KIND_SCHEMAS)
"""Kinds :func:`strategic_merge_patch` knows the patch metadata of."""


# --- strategic merge patch: errors -----------------------------------------------------------------------

_BAD_REQUEST, _INVALID, _INTERNAL = "BadRequest", "Invalid", "Internal"


class _PatchError(Exception):
    def __init__(self, message: str, category: str = _INTERNAL) -> None:
        super().__init__(message)
        self.message = message
        self.category = category

    def api_error(self) -> ApiError:
        if self.category == _BAD_REQUEST:
            return bad_request(self.message)
        if self.category == _INVALID:
            return _rejected()
        # A plain Go error: ErrorToAPIStatus makes it a 500 with reason StatusReasonUnknown ("").
        error = ApiError(500, self.message)
        error.reason = ""
        return error


def _bad_primitive_list() -> _PatchError:
    return _PatchError("invalid patch format of primitive list", _BAD_REQUEST)


def _bad_retain_keys() -> _PatchError:
    return _PatchError("invalid patch format of retainKeys", _BAD_REQUEST)


def _bad_set_element_order() -> _PatchError:
    return _PatchError("invalid patch format of setElementOrder list", _BAD_REQUEST)


def _go_float(value: float) -> str:
    """fmt's %v of a float64 (strconv 'g', shortest, exponent below 1e-4 and from 1e21)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    if -4 <= exponent < 21:
        text = repr(value)
        if "e" in text:
            text = format(value, "f")
        return text[:-2] if text.endswith(".0") else text
    mantissa, _, power = f"{value:e}".partition("e")
    shortest = repr(float(mantissa)).removesuffix(".0")
    sign = "-" if int(power) < 0 else "+"
    return f"{shortest}e{sign}{abs(int(power)):02d}"


def _go_value(value: Any) -> str:
    """fmt's %v of a decoded JSON value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{_go_value(value[key])}" for key in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_value(item) for item in value) + "]"
    return str(value)


def _go_string(value: Any) -> str:
    """fmt's %s of a decoded JSON value."""
    if isinstance(value, str):
        return value
    return f"%!s({_go_type(value)}={_go_value(value)})" if value is not None else "%!s(<nil>)"


def _go_type(value: Any) -> str:
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "%!s(<nil>)"


def _bad_arg_type(expected: str, actual: Any) -> _PatchError:
    return _PatchError(f"expected a {expected}, but received a {_go_type(actual)}")


def _no_merge_key(item: Mapping[str, Any], merge_key: str) -> _PatchError:
    return _PatchError(f"map: {_go_value(dict(item))} does not contain declared merge key: {merge_key}")


def _bad_patch_type(directive: Any, item: Mapping[str, Any]) -> _PatchError:
    return _PatchError(f"unknown patch type: {_go_string(directive)} in map: {_go_value(dict(item))}")


# --- strategic merge patch: the algorithm ----------------------------------------------------------------

_DIRECTIVE = "$patch"
_DELETE, _REPLACE, _MERGE = "delete", "replace", "merge"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
_SET_ELEMENT_ORDER = "$setElementOrder"
_MISSING = object()


def strategic_merge_patch(target: Mapping[str, Any], patch: Any, kind: str) -> JsonObject:
    """Apply a strategic merge patch (`application/strategic-merge-patch+json`) to a built-in object.

    `kind` selects the patch metadata (merge keys and strategies). Kinds without it, i.e. custom
    resources, are refused with the 415 the apiserver gives for them.
    """
    schema = _KIND_SCHEMAS.get(kind)
    if schema is None:
        raise ApiError(
            415,
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(_CUSTOM_RESOURCE_PATCH_TYPES),
            "UnsupportedMediaType",
        )
    if patch is None:  # decodes to a nil map, which patches nothing
        return copy.deepcopy(dict(target))
    if not isinstance(patch, dict):
        raise bad_request(f"json: cannot unmarshal {_json_type(patch)} into Go value of type map[string]interface {{}}")
    try:
        merged = _merge_map(copy.deepcopy(dict(target)), copy.deepcopy(patch), schema.fields)
    except _PatchError as error:
        raise error.api_error() from None
    # Go decodes the result into the typed object, which drops directives left inside added values.
    stripped: JsonObject = _strip_directives(merged)
    return stripped


def _merge_map(original: dict[str, Any] | None, patch: dict[str, Any], fields: Mapping[str, _Meta]) -> dict[str, Any]:
    """mergeMap with the server's options (parallel lists merged, unmatched nulls ignored)."""
    if _DIRECTIVE in patch:
        return _map_directive(patch[_DIRECTIVE], patch)
    if original is None:
        original = {}
    _apply_retain_keys(original, patch)
    _merge_element_order_lists(original, patch, fields)
    for raw_key, patch_value in list(patch.items()):
        key, is_delete_list = raw_key, raw_key.startswith(_DELETE_FROM_PRIMITIVE_LIST)
        if is_delete_list:
            key = _directive_target(raw_key, _DELETE_FROM_PRIMITIVE_LIST)
        if patch_value is None:
            original.pop(key, None)
            continue
        current = original.get(key, _MISSING)
        if current is _MISSING or _go_kind(current) != _go_kind(patch_value):
            if not is_delete_list:
                _set_without_directives(original, key, _drop_null_members(patch_value))
            continue
        meta = fields.get(key, _NO_META)
        if isinstance(current, dict):
            original[key] = patch_value if meta.strategy == _REPLACE else _merge_map(current, patch_value, meta.fields)
        elif isinstance(current, list):
            if meta.strategy == _MERGE or is_delete_list:
                original[key] = _merge_slice(current, patch_value, meta, is_delete_list)[0]
            else:
                original[key] = patch_value
        else:
            _set_without_directives(original, key, patch_value)
    return original


def _map_directive(directive: Any, patch: dict[str, Any]) -> dict[str, Any]:
    if directive == _REPLACE:
        del patch[_DIRECTIVE]
        return patch
    if directive == _DELETE:
        return {}
    raise _bad_patch_type(directive, patch)


def _go_kind(value: Any) -> str:
    """The Go dynamic type the decoded value would have (int64 and float64 differ, like bool)."""
    return _go_type(value) if value is not None else "nil"


def _set_without_directives(target: dict[str, Any], key: str, value: Any) -> None:
    cleaned, keep = _remove_directives(value)
    if keep:
        target[key] = cleaned
    else:
        target.pop(key, None)


def _remove_directives(value: Any) -> tuple[Any, bool]:
    """removeDirectives: maps carrying `$patch` vanish (from maps and lists), other values stay."""
    if isinstance(value, dict):
        if _DIRECTIVE in value:
            return None, False
        kept: dict[str, Any] = {}
        for key, item in value.items():
            cleaned, keep = _remove_directives(item)
            if keep:
                kept[key] = cleaned
        return kept, True
    if isinstance(value, list):
        items: list[Any] = []
        for item in value:
            cleaned, keep = _remove_directives(item)
            if keep:
                items.append(cleaned)
        return items, True
    return value, True


def _drop_null_members(value: Any) -> Any:
    """discardNullValuesFromPatch: null members of maps go, at any depth."""
    if isinstance(value, dict):
        return {key: _drop_null_members(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_drop_null_members(item) for item in value]
    return value


def _directive_target(key: str, prefix: str) -> str:
    """The field a `$prefix/field` directive applies to."""
    head, slash, rest = key.partition("/")
    if not slash or head != prefix:
        raise _bad_primitive_list() if prefix == _DELETE_FROM_PRIMITIVE_LIST else _bad_set_element_order()
    return rest


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if _RETAIN_KEYS not in patch:
        return
    retained = patch.pop(_RETAIN_KEYS)
    if not isinstance(retained, list):
        raise _bad_retain_keys()
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_FROM_PRIMITIVE_LIST, _SET_ELEMENT_ORDER)):
            continue
        if key not in retained:
            raise _bad_retain_keys()
    for key in [k for k in original if k not in retained]:
        del original[key]


def _same(left: Any, right: Any) -> bool:
    """Go's == on interface values: same dynamic type and equal value."""
    return type(left) is type(right) and bool(left == right)


def _element_kind(*lists: list[Any]) -> str:
    """sliceElementType: all items of all lists must share one type, and not be lists."""
    kind = ""
    for items in lists:
        for item in items:
            current = _go_kind(item)
            if not kind:
                kind = current
                if kind == "[]interface {}":
                    raise _PatchError("lists of lists are not supported", _INVALID)
            elif current != kind:
                rendered = "[" + " ".join(_go_value(each) for each in lists) + "]"
                raise _PatchError(f"list element types are not identical: {rendered}")
    if not kind:
        raise _PatchError("no elements in any of the given slices")
    return kind


def _is_map_kind(kind: str) -> bool:
    return kind == "map[string]interface {}"


def _find_by_merge_key(items: list[Any], merge_key: str, value: Any) -> int | None:
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _PatchError(f"value for key {index} is not a map")
        if merge_key in item and _same(item[merge_key], value):
            return index
    return None


def _merge_slice(
    original: list[Any], patch: list[Any], meta: _Meta, is_delete_list: bool
) -> tuple[list[Any], list[Any]]:
    """mergeSlice. Returns the merged list and what the caller's `original` slice reads afterwards.

    Go edits `original` in place: deleting items shifts its backing array and appending then writes
    into the freed slots. mergePatchIntoOriginal goes on to order by that altered slice, and the
    apiserver's results (and Go's own tests) depend on it, so the second value reproduces it.
    """
    if not original and not patch:
        return original, original
    kind = _element_kind(original, patch)
    merge_key = meta.merge_key
    live_view = original
    if not _is_map_kind(kind):
        if is_delete_list:
            return [item for item in original if not any(_same(item, gone) for gone in patch)], original
        merged = _deduplicated(original + patch)
    else:
        if not merge_key:
            raise _PatchError("cannot merge lists without merge key for struct")
        original, patch, live_view = _apply_list_directives(original, patch, merge_key)
        merged = _merge_items(original, patch, merge_key, meta.fields, live_view)
    patch_items, server_only = _partition(merged, patch, merge_key)
    return _normalize_order(patch_items, server_only, patch, original, merge_key, kind), live_view


def _deduplicated(items: list[Any]) -> list[Any]:
    unique: list[Any] = []
    for item in items:
        if not any(_same(item, seen) for seen in unique):
            unique.append(item)
    return unique


def _apply_list_directives(
    original: list[Any], patch: list[Any], merge_key: str
) -> tuple[list[Any], list[Any], list[Any]]:
    """mergeSliceWithSpecialElements: `$patch: delete` items delete, `$patch: replace` replaces.

    Returns the list to merge into, the remaining patch items and the Go backing array of `original`.
    """
    backing = list(original)
    length = len(backing)
    plain: list[Any] = []
    replace = False
    for item in patch:
        if _DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == _DELETE:
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            while (index := _find_by_merge_key(backing[:length], merge_key, item[merge_key])) is not None:
                # append(s[:i], s[i+1:]...) shifts the tail left inside the same array.
                backing[index : length - 1] = backing[index + 1 : length]
                length -= 1
        elif directive == _REPLACE:
            replace = True
        elif directive == _MERGE:
            raise _PatchError("merging lists cannot yet be specified in the patch")
        else:
            raise _bad_patch_type(directive, item)
    if replace:
        return plain, [], backing
    return backing[:length], plain, backing


def _merge_items(
    original: list[Any],
    patch: list[Any],
    merge_key: str,
    item_fields: Mapping[str, _Meta],
    backing: list[Any],
) -> list[Any]:
    """mergeSliceWithoutSpecialElements; writes that land inside `backing` are mirrored there."""
    merged = list(original)
    for item in patch:
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        index = _find_by_merge_key(merged, merge_key, item[merge_key])
        if index is None:
            index = len(merged)
            merged.append(item)
        else:
            merged[index] = _merge_map(merged[index], item, item_fields)
        if index < len(backing):
            backing[index] = merged[index]
    return merged


def _partition(items: list[Any], present_in: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    """Split `items` into those present in `present_in` and the server-only rest."""
    present: list[Any] = []
    server_only: list[Any] = []
    for item in items:
        if not merge_key:
            found = any(_same(item, other) for other in present_in)
        else:
            if not isinstance(item, dict):
                raise _bad_arg_type("map[string]interface {}", item)
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            found = _find_by_merge_key(present_in, merge_key, item[merge_key]) is not None
        (present if found else server_only).append(item)
    return present, server_only


def _order_identity(merge_key: str, kind: str) -> Callable[[Any], Any]:
    if _is_map_kind(kind):
        return lambda item: item.get(merge_key) if isinstance(item, dict) else None
    return lambda item: item


def _position(order: list[Any], item: Any, identity: Callable[[Any], Any]) -> int:
    wanted = identity(item)
    for index, other in enumerate(order):
        if _same(identity(other), wanted):
            return index
    return -1


def _sort_by(items: list[Any], order: list[Any], merge_key: str, kind: str) -> list[Any]:
    """normalizeSliceOrder: sort `items` by their place in `order`; `$patch: delete` items last."""
    to_delete: list[Any] = []
    if _is_map_kind(kind):
        for item in (*items, *order):
            if not isinstance(item, dict):
                raise _bad_arg_type("map[string]interface {}", item)
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
        to_delete = [item for item in items if item.get(_DIRECTIVE) == _DELETE]
        items = [item for item in items if item.get(_DIRECTIVE) != _DELETE]
    identity = _order_identity(merge_key, kind)
    positions = [_position(order, item, identity) for item in items]
    if all(position >= 0 for position in positions):
        ranked = sorted(zip(positions, range(len(items)), strict=True))
        return [items[index] for _, index in ranked] + to_delete
    # Go's comparator treats unknown items as "less"; replay its insertion sort to place them alike.
    result = list(items)
    for i in range(1, len(result)):
        j = i
        while j > 0:
            left, right = _position(order, result[j], identity), _position(order, result[j - 1], identity)
            if left >= 0 and right >= 0 and left >= right:
                break
            result[j], result[j - 1] = result[j - 1], result[j]
            j -= 1
    return result + to_delete


def _normalize_order(
    patch_items: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    merge_key: str,
    kind: str,
) -> list[Any]:
    """normalizeElementOrder + mergeSortedSlice: patch order first, live order for server-only items."""
    right = _sort_by(patch_items, patch_order, merge_key, kind)
    left = _sort_by(server_only, server_order, merge_key, kind)
    identity = _order_identity(merge_key, kind)
    merged: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j >= len(right):
            merged.append(left[i])
            i += 1
        elif i >= len(left):
            merged.append(right[j])
            j += 1
        else:
            left_at = _position(server_order, left[i], identity)
            right_at = _position(server_order, right[j], identity)
            if 0 <= left_at < right_at:
                merged.append(left[i])
                i += 1
            else:
                # Items new to the list sort before the remaining live ones, as in Go.
                merged.append(right[j])
                j += 1
    return merged


def _merge_element_order_lists(original: dict[str, Any], patch: dict[str, Any], fields: Mapping[str, _Meta]) -> None:
    """mergePatchIntoOriginal: merge each list named by `$setElementOrder/<list>` and order it."""
    for directive_key in [key for key in patch if key.startswith(_SET_ELEMENT_ORDER)]:
        element_order = patch.pop(directive_key)
        if not isinstance(element_order, list):
            raise _bad_arg_type("[]interface {}", element_order)
        list_key = _directive_target(directive_key, _SET_ELEMENT_ORDER)
        in_original, in_patch = list_key in original, list_key in patch
        original_list = original.get(list_key) if in_original else []
        patch_list = patch.get(list_key) if in_patch else []
        if not isinstance(original_list, list):
            raise _bad_arg_type("[]interface {}", original_list)
        if not isinstance(patch_list, list):
            raise _bad_arg_type("[]interface {}", patch_list)
        meta = fields.get(list_key, _NO_META)
        merge_key = meta.merge_key
        _check_element_order(patch_list, element_order, merge_key)
        live_order = original_list
        if in_original and not in_patch:
            merged: list[Any] = original_list
        elif in_patch and not in_original:
            merged = _remove_directives(patch_list)[0]
        elif in_original and in_patch:
            if meta.strategy == _MERGE:
                merged, live_order = _merge_slice(original_list, patch_list, meta, is_delete_list=False)
            else:
                merged = patch_list
        else:
            continue
        patch.pop(list_key, None)
        if not original_list and not patch_list:
            # Go fails on two empty lists ("no elements"); a typed object never has one, ours may.
            original[list_key] = merged
            continue
        patch_items, server_only = _partition(merged, element_order, merge_key)
        kind = _element_kind(original_list, patch_list)
        original[list_key] = _normalize_order(patch_items, server_only, element_order, live_order, merge_key, kind)


def _check_element_order(patch_list: list[Any], element_order: list[Any], merge_key: str) -> None:
    """validatePatchWithSetOrderList: patch items must appear in `$setElementOrder`, in its order."""
    if not element_order or not patch_list:
        return
    items = patch_list
    if merge_key:
        for item in patch_list:
            if not isinstance(item, dict):
                raise _bad_arg_type("map[string]interface {}", item)
        items = [item for item in patch_list if item.get(_DIRECTIVE) != _DELETE]
    patch_index = order_index = 0
    while patch_index < len(items) and order_index < len(element_order):
        item = items[patch_index]
        if isinstance(item, dict) and _DIRECTIVE in item:
            patch_index += 1
            continue
        if _merge_key_equal(item, element_order[order_index], merge_key):
            patch_index += 1
        order_index += 1
    if patch_index < len(items) and order_index >= len(element_order):
        raise _PatchError(
            f"The order in patch list:\n{_go_value(patch_list)}\n doesn't match "
            f"{_SET_ELEMENT_ORDER} list:\n{_go_value(element_order)}\n"
        )


def _merge_key_equal(left: Any, right: Any, merge_key: str) -> bool:
    if not merge_key:
        return _same(left, right)
    for item in (left, right):
        if not isinstance(item, dict):
            raise _bad_arg_type("map[string]interface {}", item)
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
    return _same(left[merge_key], right[merge_key])


def _is_directive_key(key: str) -> bool:
    return key in (_DIRECTIVE, _RETAIN_KEYS) or key.startswith((_SET_ELEMENT_ORDER, _DELETE_FROM_PRIMITIVE_LIST))


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _strip_directives(item) for key, item in value.items() if not _is_directive_key(key)}
    if isinstance(value, list):
        return [_strip_directives(item) for item in value]
    return value
