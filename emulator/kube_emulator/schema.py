"""CustomResourceDefinition schemas: pruning, defaulting and validation as kube-apiserver 1.32 does them.

Mirrors k8s.io/apiextensions-apiserver v0.32 (pkg/apiserver/schema/{pruning,defaulting,objectmeta,listtype,
cel}, pkg/apiserver/validation, pkg/apis/apiextensions/validation) and the kube-openapi validator it uses.
Messages are the apiserver's `field.Error` bodies, so the HTTP layer can build `<Kind>.<group> "<name>" is
invalid: spec.x: Invalid value: "string": spec.x in body must be of type integer: "string"`.

On create and update the apiserver prunes the body, defaults it, then validates it (`CrdSchema.prepare`, then
`CrdSchema.validate`). Defaults are also applied to objects read from storage (`CrdSchema.apply_defaults`).
CEL rules (`x-kubernetes-validations`) run on cel-python; what it cannot evaluate is reported as an error.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import ipaddress
import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, NamedTuple, TypeAlias
from urllib.parse import urlsplit

import celpy
import lark
import re2  # type: ignore[import-untyped]
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

from .validation import FieldError, dns1035_label, dns1123_label, dns1123_subdomain

JsonValue: TypeAlias = Any

# ----------------------------------------------------------------------------------------------------
# Field errors, rendered as k8s.io/apimachinery v0.32 `field.Error` does.
# ----------------------------------------------------------------------------------------------------

REQUIRED: Final = "FieldValueRequired"
INVALID: Final = "FieldValueInvalid"
TYPE_INVALID: Final = "FieldValueTypeInvalid"
NOT_SUPPORTED: Final = "FieldValueNotSupported"
FORBIDDEN: Final = "FieldValueForbidden"
TOO_LONG: Final = "FieldValueTooLong"
TOO_MANY: Final = "FieldValueTooMany"
DUPLICATE: Final = "FieldValueDuplicate"
INTERNAL: Final = "InternalError"

#: The field of errors about the object as a whole (a nil `*field.Path`).
ROOT_PATH: Final = "<nil>"

_TYPE_TEXT: Final = {
    REQUIRED: "Required value",
    INVALID: "Invalid value",
    TYPE_INVALID: "Invalid value",
    NOT_SUPPORTED: "Unsupported value",
    FORBIDDEN: "Forbidden",
    TOO_LONG: "Too long",
    TOO_MANY: "Too many",
    DUPLICATE: "Duplicate value",
    INTERNAL: "Internal error",
}

_BLOCKING_REASONS: Final = frozenset({NOT_SUPPORTED, REQUIRED, TOO_LONG, TOO_MANY, TYPE_INVALID})


class _GoLiteral(str):
    """A value already rendered the way Go's %#v would print it (Go structs in CRD errors)."""


_OMIT: Final = object()


def _error_body(reason: str, value: object, detail: str) -> str:
    if reason in (REQUIRED, FORBIDDEN, TOO_LONG, INTERNAL) or value is _OMIT:
        body = _TYPE_TEXT[reason]
    else:
        body = f"{_TYPE_TEXT[reason]}: {_go_bad_value(value)}"
    return f"{body}: {detail}" if detail else body


def _go_bad_value(value: object) -> str:
    """`ErrorBody` of v1.36: scalars with %v, strings with %q, anything else (nil too) as encoding/json writes it."""
    if isinstance(value, _GoLiteral):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _go_quote(value)
    return _go_json(value)


def _go_quote(text: str) -> str:
    """strconv.Quote."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif char == "\a":
            out.append("\\a")
        elif char == "\b":
            out.append("\\b")
        elif char == "\f":
            out.append("\\f")
        elif char == "\v":
            out.append("\\v")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not char.isprintable() and code > 0x7F:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _go_float(number: float) -> str:
    """fmt's %v of a float64: shortest digits, exponent form below 1e-4 and from 1e+06 (strconv 'g', -1)."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    sign = "-" if number < 0 else ""
    digits_tuple = Decimal(repr(abs(number))).normalize().as_tuple()
    digits = "".join(str(d) for d in digits_tuple.digits)
    exponent = int(digits_tuple.exponent)
    decimal_point = len(digits) + exponent
    exp = decimal_point - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if decimal_point <= 0:
        return f"{sign}0.{'0' * -decimal_point}{digits}"
    if decimal_point >= len(digits):
        return sign + digits + "0" * (decimal_point - len(digits))
    return f"{sign}{digits[:decimal_point]}.{digits[decimal_point:]}"


class _GoStruct(dict[str, Any]):
    """A Go struct's fields, in declaration order (encoding/json sorts a map's keys, not a struct's fields)."""


def _go_json(value: JsonValue) -> str:
    """encoding/json.Marshal: sorted keys, integral floats without a fraction, HTML characters escaped."""

    def encode(item: JsonValue) -> str:
        if isinstance(item, float) and item.is_integer() and abs(item) < 1e21:
            return str(int(item))
        if isinstance(item, _GoStruct):
            return "{" + ",".join(f"{encode(str(k))}:{encode(v)}" for k, v in item.items()) + "}"
        if isinstance(item, Mapping):
            return "{" + ",".join(f"{encode(str(k))}:{encode(item[k])}" for k in sorted(item)) + "}"
        if isinstance(item, (list, tuple)):
            return "[" + ",".join(encode(x) for x in item) + "]"
        text = json.dumps(item, ensure_ascii=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    return encode(value)


def _required(path: str, detail: str = "") -> FieldError:
    return FieldError(REQUIRED, path, _error_body(REQUIRED, "", detail))


def _invalid(path: str, value: object, detail: str) -> FieldError:
    return FieldError(INVALID, path, _error_body(INVALID, value, detail))


def _type_invalid(path: str, value: object, detail: str) -> FieldError:
    return FieldError(TYPE_INVALID, path, _error_body(TYPE_INVALID, value, detail))


def _forbidden(path: str, detail: str) -> FieldError:
    return FieldError(FORBIDDEN, path, _error_body(FORBIDDEN, "", detail))


def _not_supported(path: str, value: object, supported: Sequence[str]) -> FieldError:
    detail = "supported values: " + ", ".join(_go_quote(v) for v in supported) if supported else ""
    return FieldError(NOT_SUPPORTED, path, _error_body(NOT_SUPPORTED, value, detail))


def _too_long(path: str, max_length: int) -> FieldError:
    detail = f"may not be more than {max_length} bytes" if max_length >= 0 else "value is too long"
    return FieldError(TOO_LONG, path, _error_body(TOO_LONG, "", detail))


def _too_many(path: str, actual: int, maximum: int) -> FieldError:
    detail = (
        f"must have at most {maximum} {'item' if maximum == 1 else 'items'}" if maximum >= 0 else "has too many items"
    )
    return FieldError(TOO_MANY, path, _error_body(TOO_MANY, actual if actual >= 0 else _OMIT, detail))


def _duplicate(path: str, value: object) -> FieldError:
    return FieldError(DUPLICATE, path, _error_body(DUPLICATE, value, ""))


def _internal(path: str, detail: str) -> FieldError:
    return FieldError(INTERNAL, path, _error_body(INTERNAL, None, detail))


class _Path:
    """field.Path: `.name` for fields, `[key]` for map keys, `[0]` for list indexes; None is the nil path."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    @staticmethod
    def child(parent: _Path | None, *names: str) -> _Path:
        text = parent._text if parent is not None else ""
        for name in names:
            text = f"{text}.{name}" if text else name
        return _Path(text)

    @staticmethod
    def key(parent: _Path | None, key: str) -> _Path:
        return _Path(f"{parent._text if parent is not None else ''}[{key}]")

    @staticmethod
    def index(parent: _Path | None, index: int) -> _Path:
        return _Path(f"{parent._text if parent is not None else ''}[{index}]")

    @staticmethod
    def render(path: _Path | None) -> str:
        return ROOT_PATH if path is None else path._text


# ----------------------------------------------------------------------------------------------------
# JSON values compared as Go's reflect.DeepEqual compares decoded JSON (int64 is not float64, true is not 1).
# ----------------------------------------------------------------------------------------------------


def _json_kind(value: JsonValue) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        # Go decodes integers beyond int64 as float64.
        return "integer" if -(2**63) <= value < 2**63 else "number"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "unknown"


def _deep_equal(left: JsonValue, right: JsonValue) -> bool:
    if isinstance(left, dict):
        return (
            isinstance(right, dict)
            and left.keys() == right.keys()
            and all(_deep_equal(left[k], right[k]) for k in left)
        )
    if isinstance(left, list):
        return (
            isinstance(right, list)
            and len(left) == len(right)
            and all(_deep_equal(a, b) for a, b in zip(left, right, strict=True))
        )
    return type(left) is type(right) and left == right


def _hashable(value: JsonValue) -> tuple[str, str]:
    """A key that distinguishes values as a Go map[interface{}] or JSON-marshalled compounds do."""
    if isinstance(value, (dict, list)):
        return ("compound", _go_json(value))
    return (type(value).__name__, repr(value))


# ----------------------------------------------------------------------------------------------------
# The schema tree.
# ----------------------------------------------------------------------------------------------------

# Formats the apiserver's validator keeps (StripUnsupportedFormatsPostProcess); it ignores the others.
_SUPPORTED_FORMATS: Final = frozenset(
    {
        "bsonobjectid", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac", "uuid", "uuid3", "uuid4",
        "uuid5", "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor", "rgbcolor", "byte", "password",
        "date", "duration", "datetime",
        "k8sshortname", "k8slongname",  # (from 1.34)
    }
)  # fmt: skip

_META_FIELDS: Final = frozenset({"apiVersion", "kind", "metadata"})


def _validation_format(schema_type: str, fmt: str) -> str:
    """StripUnsupportedFormatsPostProcessorForVersion: the format validation uses, "" for the ones it ignores."""
    if schema_type in ("", "string"):
        return fmt if fmt.replace("-", "") in _SUPPORTED_FORMATS else ""
    if schema_type == "integer":
        return fmt if fmt in ("int32", "int64") else ""
    if schema_type == "number":
        return fmt if fmt in ("float", "double") else ""
    return ""


class _Rule(NamedTuple):
    rule: str
    message: str
    message_expression: str
    reason: str | None
    field_path: str
    optional_old_self: bool | None
    raw: Mapping[str, Any]


class _Node:
    """One node of an openAPIV3Schema, with the structural parts and the value validations split out."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.type = _str_field(raw, "type")
        self.nullable = raw.get("nullable") is True
        self.format = _str_field(raw, "format")
        self.validation_format = _validation_format(self.type, self.format)
        properties = raw.get("properties")
        self.properties: dict[str, _Node] = (
            {str(k): _Node(v) for k, v in properties.items() if isinstance(v, Mapping)}
            if isinstance(properties, Mapping)
            else {}
        )
        self.has_properties = isinstance(properties, Mapping) and bool(properties)
        items = raw.get("items")
        self.items: _Node | None = _Node(items) if isinstance(items, Mapping) else None
        additional = raw.get("additionalProperties")
        self.additional: _Node | bool | None = (
            _Node(additional)
            if isinstance(additional, Mapping)
            else additional
            if isinstance(additional, bool)
            else None
        )
        self.preserve_unknown = raw.get("x-kubernetes-preserve-unknown-fields") is True
        self.embedded = raw.get("x-kubernetes-embedded-resource") is True
        self.int_or_string = raw.get("x-kubernetes-int-or-string") is True
        list_type = raw.get("x-kubernetes-list-type")
        self.list_type: str = list_type if isinstance(list_type, str) else ""
        self.list_map_keys: list[str] = [str(k) for k in raw.get("x-kubernetes-list-map-keys") or []]
        map_type = raw.get("x-kubernetes-map-type")
        self.map_type: str = map_type if isinstance(map_type, str) else ""
        self.default: JsonValue = raw.get("default")
        self.has_default = self.default is not None
        self.rules: list[_Rule] = [
            _parse_rule(r) for r in raw.get("x-kubernetes-validations") or [] if isinstance(r, Mapping)
        ]
        # Outcomes of rules that do not use oldSelf, by (rule, resource root, value as canonical JSON): such a rule's
        # outcome depends on the value alone, and cel-python takes milliseconds per evaluation.
        self.cel_outcomes: dict[tuple[str, bool, str], _CelOutcome] = {}
        self.all_of = [_Node(s) for s in raw.get("allOf") or [] if isinstance(s, Mapping)]
        self.any_of = [_Node(s) for s in raw.get("anyOf") or [] if isinstance(s, Mapping)]
        self.one_of = [_Node(s) for s in raw.get("oneOf") or [] if isinstance(s, Mapping)]
        not_schema = raw.get("not")
        self.not_: _Node | None = _Node(not_schema) if isinstance(not_schema, Mapping) else None
        self.required: list[str] = [str(r) for r in raw.get("required") or []]
        self.enum: list[JsonValue] | None = list(raw["enum"]) if isinstance(raw.get("enum"), list) else None
        self.pattern = _str_field(raw, "pattern")
        self.maximum: float | None = _number_or_none(raw.get("maximum"))
        self.minimum: float | None = _number_or_none(raw.get("minimum"))
        self.exclusive_maximum = raw.get("exclusiveMaximum") is True
        self.exclusive_minimum = raw.get("exclusiveMinimum") is True
        self.multiple_of: float | None = _number_or_none(raw.get("multipleOf"))
        self.max_length: int | None = _int_or_none(raw.get("maxLength"))
        self.min_length: int | None = _int_or_none(raw.get("minLength"))
        self.max_items: int | None = _int_or_none(raw.get("maxItems"))
        self.min_items: int | None = _int_or_none(raw.get("minItems"))
        self.unique_items = raw.get("uniqueItems") is True
        self.max_properties: int | None = _int_or_none(raw.get("maxProperties"))
        self.min_properties: int | None = _int_or_none(raw.get("minProperties"))
        # kube-openapi sees int-or-string as type [integer, string].
        self.validation_types: list[str] = (
            ["integer", "string"] if self.int_or_string else [self.type] if self.type else []
        )
        self._resource_view: _Node | None = None
        self.subtree_has_rules: bool = bool(self.rules) or any(
            child.subtree_has_rules for child in self._structural_children()
        )

    def _structural_children(self) -> Iterable[_Node]:
        yield from self.properties.values()
        if self.items is not None:
            yield self.items
        if isinstance(self.additional, _Node):
            yield self.additional

    def field_schema(self, name: str) -> _Node | None:
        """The schema a map key is validated and pruned with: its property, else additionalProperties."""
        if name in self.properties:
            return self.properties[name]
        return self.additional if isinstance(self.additional, _Node) else None

    @property
    def additional_node(self) -> _Node | None:
        return self.additional if isinstance(self.additional, _Node) else None

    def as_resource(self) -> _Node:
        """This node as CEL sees a resource: apiVersion, kind and metadata.{name,generateName} declared."""
        if self._resource_view is None:
            self._resource_view = _with_type_and_object_meta(self)
        return self._resource_view


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str_field(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    return value if isinstance(value, str) else ""


def _number_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _parse_rule(raw: Mapping[str, Any]) -> _Rule:
    optional_old_self = raw.get("optionalOldSelf")
    return _Rule(
        rule=str(raw.get("rule") or ""),
        message=str(raw.get("message") or ""),
        message_expression=str(raw.get("messageExpression") or ""),
        reason=str(raw["reason"]) if raw.get("reason") else None,
        field_path=str(raw.get("fieldPath") or ""),
        optional_old_self=optional_old_self if isinstance(optional_old_self, bool) else None,
        raw=raw,
    )


_EMPTY_NODE: Final = _Node({})


def _with_type_and_object_meta(node: _Node) -> _Node:
    """What CEL sees at a resource root: apiVersion, kind and metadata.{name,generateName} are declared."""
    raw = dict(node.raw)
    properties = dict(raw.get("properties") or {})
    properties["apiVersion"] = {"type": "string"}
    properties["kind"] = {"type": "string"}
    properties["metadata"] = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "generateName": {"type": "string"}},
    }
    raw["properties"] = properties
    raw["type"] = "object"
    return _Node(raw)


# ----------------------------------------------------------------------------------------------------
# Pruning (pkg/apiserver/schema/pruning, defaulting/prunenulls.go, objectmeta/coerce.go).
# ----------------------------------------------------------------------------------------------------

_OBJECT_META_FIELDS: Final = frozenset(
    {
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
        "ownerReferences", "finalizers", "managedFields",
    }
)  # fmt: skip
_OWNER_REFERENCE_FIELDS: Final = frozenset({"apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"})
_MANAGED_FIELDS_ENTRY_FIELDS: Final = frozenset(
    {"manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource"}
)


class _UnknownFields:
    """structuralschema.UnknownFieldPathOptions: the path walked so far and the unknown field paths found."""

    def __init__(self) -> None:
        self.parent: list[str] = []
        self.paths: list[str] = []

    def append_key(self, key: str) -> None:
        if self.parent:
            self.parent.append(".")
        self.parent.append(key)

    def append_index(self, index: int) -> None:
        self.parent.extend(("[", str(index), "]"))

    def record(self, key: str) -> None:
        depth = len(self.parent)
        self.append_key(key)
        self.paths.append("".join(self.parent))
        del self.parent[depth:]


def _prune(value: JsonValue, node: _Node | None, unknown: _UnknownFields, embedded: bool = False) -> None:
    if node is not None and node.preserve_unknown:
        _skip_prune(value, node, unknown, embedded)
        return
    depth = len(unknown.parent)
    if isinstance(value, dict):
        if node is None:
            for key in list(value):
                unknown.record(key)
                del value[key]
            return
        is_embedded = embedded or node.embedded
        for key in list(value):
            if is_embedded and key in _META_FIELDS:
                continue
            if key in node.properties:
                unknown.append_key(key)
                _prune(value[key], node.properties[key], unknown)
                del unknown.parent[depth:]
            elif node.additional is not None:
                unknown.append_key(key)
                _prune(value[key], node.additional_node, unknown)
                del unknown.parent[depth:]
            else:
                if key not in _META_FIELDS or unknown.parent:
                    unknown.record(key)
                del value[key]
    elif isinstance(value, list):
        for index, item in enumerate(value):
            unknown.append_index(index)
            _prune(item, node.items if node is not None else None, unknown)
            del unknown.parent[depth:]


def _skip_prune(value: JsonValue, node: _Node, unknown: _UnknownFields, embedded: bool) -> None:
    depth = len(unknown.parent)
    if isinstance(value, dict):
        for key in list(value):
            if (embedded or node.embedded) and key in _META_FIELDS:
                continue
            if key in node.properties:
                unknown.append_key(key)
                _prune(value[key], node.properties[key], unknown)
                del unknown.parent[depth:]
            elif node.additional is not None:
                unknown.append_key(key)
                _prune(value[key], node.additional_node, unknown)
                del unknown.parent[depth:]
    elif isinstance(value, list) and node.items is not None:
        for index, item in enumerate(value):
            unknown.append_index(index)
            _skip_prune(item, node.items, unknown, False)
            del unknown.parent[depth:]


def _prune_non_nullable_nulls(value: JsonValue, node: _Node | None) -> None:
    """Drops nulls of non-nullable fields without a default; those with a default are defaulted later."""
    if isinstance(value, dict):
        for key in list(value):
            field_node = node.field_schema(key) if node is not None else None
            if value[key] is None and field_node is not None and not field_node.nullable and not field_node.has_default:
                del value[key]
            else:
                _prune_non_nullable_nulls(value[key], field_node)
    elif isinstance(value, list):
        for item in value:
            _prune_non_nullable_nulls(item, node.items if node is not None else None)


def _prune_object_meta(metadata: JsonValue, prefix: str) -> list[str]:
    """Drops fields ObjectMeta does not know, as decoding into metav1.ObjectMeta does; returns their paths."""
    if not isinstance(metadata, dict):
        return []
    unknown: list[str] = []
    for key in list(metadata):
        if key not in _OBJECT_META_FIELDS:
            unknown.append(f"{prefix}.{key}")
            del metadata[key]
    for list_field, known in (
        ("ownerReferences", _OWNER_REFERENCE_FIELDS),
        ("managedFields", _MANAGED_FIELDS_ENTRY_FIELDS),
    ):
        entries = metadata.get(list_field)
        if isinstance(entries, list):
            for index, entry in enumerate(entries):
                if isinstance(entry, dict):
                    for key in list(entry):
                        if key not in known:
                            unknown.append(f"{prefix}.{list_field}[{index}].{key}")
                            del entry[key]
    return unknown


def _coerce_embedded_meta(value: JsonValue, node: _Node | None, path: _Path | None, unknown: list[str]) -> None:
    """objectmeta.Coerce below the root: unknown fields in the metadata of embedded resources are dropped."""
    if node is None:
        return
    if isinstance(value, dict):
        if node.embedded and "metadata" in value:
            found = _prune_object_meta(value["metadata"], _Path.render(_Path.child(path, "metadata")))
            unknown.extend(found)
        for key, item in value.items():
            if key in node.properties:
                _coerce_embedded_meta(item, node.properties[key], _Path.child(path, key), unknown)
            elif node.additional is not None:
                _coerce_embedded_meta(item, node.additional_node, _Path.key(path, key), unknown)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _coerce_embedded_meta(item, node.items, _Path.index(path, index), unknown)


# ----------------------------------------------------------------------------------------------------
# Defaulting (pkg/apiserver/schema/defaulting/algorithm.go).
# ----------------------------------------------------------------------------------------------------


def _is_non_nullable_null(value: JsonValue, node: _Node | None) -> bool:
    return value is None and node is not None and not node.nullable


def _default(value: JsonValue, node: _Node | None) -> None:
    if node is None:
        return
    if isinstance(value, dict):
        for key, prop in node.properties.items():
            if prop.has_default and (key not in value or _is_non_nullable_null(value[key], prop)):
                value[key] = copy.deepcopy(prop.default)
        for key in list(value):
            if key in node.properties:
                _default(value[key], node.properties[key])
            elif node.additional is not None:
                additional = node.additional_node
                if _is_non_nullable_null(value[key], additional) and additional is not None:
                    value[key] = copy.deepcopy(additional.default)
                _default(value[key], additional)
    elif isinstance(value, list):
        for index in range(len(value)):
            if _is_non_nullable_null(value[index], node.items) and node.items is not None:
                value[index] = copy.deepcopy(node.items.default)
            _default(value[index], node.items)


# ----------------------------------------------------------------------------------------------------
# OpenAPI value validation (k8s.io/kube-openapi pkg/validation/validate at the version 1.32 vendors).
# ----------------------------------------------------------------------------------------------------

_CODE_INVALID_TYPE: Final = 600
_CODE_REQUIRED: Final = 601
_CODE_TOO_LONG: Final = 602
_CODE_TOO_SHORT: Final = 603
_CODE_PATTERN: Final = 604
_CODE_ENUM: Final = 605
_CODE_MULTIPLE_OF: Final = 606
_CODE_MAX: Final = 607
_CODE_MIN: Final = 608
_CODE_UNIQUE: Final = 609
_CODE_MAX_ITEMS: Final = 610
_CODE_MIN_ITEMS: Final = 611
_CODE_TOO_FEW_PROPERTIES: Final = 613
_CODE_TOO_MANY_PROPERTIES: Final = 614
_CODE_UNALLOWED_PROPERTY: Final = 615
_CODE_MULTIPLE_OF_POSITIVE: Final = 617
_CODE_COMPOSITE: Final = 422  # the junctor errors, which are not `*errors.Validation`


class _OaError(NamedTuple):
    code: int
    name: str
    message: str
    value: object = None
    valid: object = None
    values: tuple[JsonValue, ...] = ()


class _Result:
    __slots__ = ("errors", "match_count")

    def __init__(self, errors: list[_OaError] | None = None) -> None:
        self.errors: list[_OaError] = errors or []
        self.match_count = 0

    def add(self, error: _OaError) -> None:
        # kube-openapi reports each message once.
        if all(existing.message != error.message for existing in self.errors):
            self.errors.append(error)

    def merge(self, *others: _Result | None) -> _Result:
        for other in others:
            if other is not None:
                for error in other.errors:
                    self.add(error)
                self.match_count += other.match_count
        return self

    @property
    def valid(self) -> bool:
        return not self.errors


class _Correlation:
    """common.CorrelatedObject: an old value matched to a new one, for ratcheting unchanged invalid values."""

    def __init__(self, new: JsonValue, old: JsonValue, node: _Node | None) -> None:
        self.new = new
        self.old = old
        self.node = node
        self._equal: bool | None = None
        self._children: dict[object, _Correlation | None] = {}
        self._old_map_list: _MapList | None = None

    def key(self, name: str) -> _Correlation | None:
        if self.node is None:
            return None
        if name in self._children:
            return self._children[name]
        child: _Correlation | None = None
        if isinstance(self.old, dict) and isinstance(self.new, dict) and name in self.old and name in self.new:
            field_node = self.node.field_schema(name)
            if field_node is not None:
                child = _Correlation(self.new[name], self.old[name], field_node)
        self._children[name] = child
        return child

    def index(self, position: int) -> _Correlation | None:
        if self.node is None or self.node.items is None:
            return None
        if position in self._children:
            return self._children[position]
        child: _Correlation | None = None
        if (
            self.node.list_type == "map"
            and isinstance(self.old, list)
            and isinstance(self.new, list)
            and position < len(self.new)
        ):
            if self._old_map_list is None:
                self._old_map_list = _MapList(self.node, self.old)
            old_item = self._old_map_list.get(self.new[position])
            if old_item is not None:
                child = _Correlation(self.new[position], old_item, self.node.items)
        self._children[position] = child
        return child

    def deep_equal(self) -> bool:
        if self._equal is None:
            self._equal = self._compute_equal()
        return self._equal

    def _compute_equal(self) -> bool:
        if self.new is None and self.old is None:
            return True
        if self.new is None or self.old is None:
            return False
        if isinstance(self.old, list) != isinstance(self.new, list) or isinstance(self.old, dict) != isinstance(
            self.new, dict
        ):
            return False
        if isinstance(self.new, list):
            if len(self.old) != len(self.new):
                return False
            if self.node is None or self.node.list_type != "map":
                return _deep_equal(self.old, self.new)
            for position in range(len(self.new)):
                child = self.index(position)
                if child is None or not child.deep_equal():
                    return False
            return True
        if isinstance(self.new, dict):
            if len(self.old) != len(self.new):
                return False
            for name in self.new:
                child = self.key(name)
                if child is None or not child.deep_equal():
                    return False
            return True
        return _deep_equal(self.old, self.new)


class _MapList:
    """An x-kubernetes-list-type=map list indexed by its keys, to find the old item matching a new one."""

    def __init__(self, node: _Node, items: list[JsonValue]) -> None:
        self._keys = node.list_map_keys
        self._by_key: dict[tuple[tuple[str, str], ...], JsonValue] = {}
        for item in items:
            if isinstance(item, dict):
                self._by_key.setdefault(self._key(item), item)

    def _key(self, item: dict[str, JsonValue]) -> tuple[tuple[str, str], ...]:
        return tuple(_hashable(item.get(k)) for k in self._keys)

    def get(self, item: JsonValue) -> JsonValue:
        if not isinstance(item, dict):
            return None
        return self._by_key.get(self._key(item))


class _OpenApiValidator:
    """SchemaValidator of kube-openapi, with the ratcheting of unchanged values of the apiserver."""

    def validate(self, node: _Node, data: JsonValue, path: str, correlation: _Correlation | None) -> _Result:
        result = self._validate_node(node, data, path, correlation)
        if not result.valid and correlation is not None and correlation.deep_equal():
            return _Result()  # ratcheted: these become warnings
        return result

    def _validate_node(self, node: _Node, data: JsonValue, path: str, correlation: _Correlation | None) -> _Result:
        result = _Result()
        if data is None:
            result.merge(self._type(node, data, path))
            result.merge(self._enum(node, data, path))
            return result
        kind = _json_kind(data)
        if node.validation_types or node.validation_format:
            result.merge(self._type(node, data, path))
            result.match_count += 1
        result.merge(self._junctors(node, data, path, correlation))
        result.match_count += 1
        if kind == "string":
            result.merge(self._string(node, data, path))
            result.match_count += 1
            if node.validation_format:
                result.merge(self._format(node, data, path))
                result.match_count += 1
        if kind in ("integer", "number"):
            result.merge(self._number(node, data, path))
            result.match_count += 1
        if kind == "array":
            result.merge(self._slice(node, data, path, correlation))
            result.match_count += 1
        result.merge(self._enum(node, data, path))
        result.match_count += 1
        if kind == "object":
            result.merge(self._object(node, data, path, correlation))
            result.match_count += 1
        result.match_count += 1
        return result

    def _type(self, node: _Node, data: JsonValue, path: str) -> _Result:
        types = node.validation_types
        if data is None:
            if types and "null" not in types and not node.nullable:
                return _Result([_invalid_type(path, ",".join(types), "null")])
            result = _Result()
            result.match_count = 1
            return result
        schema_type, data_format = _schema_info(data)
        is_float_int = schema_type == "number" and _is_json_integer(float(data)) and "integer" in types
        is_int_float = schema_type == "integer" and "number" in types
        kind = _json_kind(data)
        fmt = node.validation_format
        if (
            kind not in ("string", "array")
            and fmt
            and not (schema_type in types or data_format == fmt or is_float_int or is_int_float)
        ):
            return _Result([_invalid_type(path, fmt, data_format)])
        result = _Result()
        result.match_count = 1
        if not ("number" in types or "integer" in types) and fmt and kind in ("string", "array"):
            return result
        if not (schema_type in types or is_float_int or is_int_float):
            return _Result([_invalid_type(path, ",".join(types), schema_type)])
        return result

    def _junctors(self, node: _Node, data: JsonValue, path: str, correlation: _Correlation | None) -> _Result:
        main = _Result()
        if node.any_of:
            best: _Result | None = None
            first_success: _Result | None = None
            succeeded = False
            for branch in node.any_of:
                outcome = self._validate_node(branch, data, path, correlation)
                if outcome.valid:
                    best = None
                    succeeded = True
                    first_success = outcome
                    break
                if best is None or outcome.match_count > best.match_count:
                    best = outcome
            if not succeeded:
                main.add(
                    _OaError(_CODE_COMPOSITE, path, f"{_go_quote(path)} must validate at least one schema (anyOf)")
                )
            main.merge(best if best is not None else first_success)
        if node.one_of:
            best = None
            first_success = None
            validated = 0
            for branch in node.one_of:
                outcome = self._validate_node(branch, data, path, correlation)
                if outcome.valid:
                    validated += 1
                    best = None
                    if first_success is None:
                        first_success = outcome
                    continue
                if validated == 0 and (best is None or outcome.match_count > best.match_count):
                    best = outcome
            if validated != 1:
                extra = "Found none valid" if validated == 0 else f"Found {validated} valid alternatives"
                main.add(
                    _OaError(
                        _CODE_COMPOSITE,
                        path,
                        f"{_go_quote(path)} must validate one and only one schema (oneOf). {extra}",
                    )
                )
                main.merge(best)
            else:
                main.merge(first_success)
        if node.all_of:
            validated = 0
            for branch in node.all_of:
                outcome = self._validate_node(branch, data, path, correlation)
                if outcome.valid:
                    validated += 1
                main.merge(outcome)
            if validated != len(node.all_of):
                extra = ". None validated" if validated == 0 else ""
                main.add(
                    _OaError(
                        _CODE_COMPOSITE,
                        path,
                        f"{_go_quote(path)} must validate all the schemas (allOf){extra}",
                    )
                )
        if node.not_ is not None and self._validate_node(node.not_, data, path, correlation).valid:
            main.add(_OaError(_CODE_COMPOSITE, path, f"{_go_quote(path)} must not validate the schema (not)"))
        main.match_count += 1
        return main

    def _string(self, node: _Node, data: str, path: str) -> _Result:
        length = len(data)  # runes
        if node.max_length is not None and length > node.max_length:
            message = f"{path} in body should be at most {node.max_length} chars long"
            return _Result([_OaError(_CODE_TOO_LONG, path, message, data, node.max_length)])
        if node.min_length is not None and length < node.min_length:
            message = f"{path} in body should be at least {node.min_length} chars long"
            return _Result([_OaError(_CODE_TOO_SHORT, path, message, data, node.min_length)])
        if node.pattern:
            compiled = _compile_pattern(node.pattern)
            if isinstance(compiled, str):
                shown = f"{node.pattern}, but pattern is invalid: {compiled}"
                return _Result([_OaError(_CODE_PATTERN, path, f"{path} in body should match '{shown}'", data)])
            if compiled.search(data) is None:
                message = f"{path} in body should match '{node.pattern}'"
                return _Result([_OaError(_CODE_PATTERN, path, message, data)])
        return _Result()

    def _format(self, node: _Node, data: str, path: str) -> _Result:
        if _check_format(node.validation_format, data):
            return _Result()
        return _Result([_invalid_type(path, node.validation_format, data)])

    def _number(self, node: _Node, data: int | float, path: str) -> _Result:
        result = _Result()
        multiple = _Result()
        minimum = _Result()
        maximum = _Result()
        is_int = _json_kind(data) == "integer"
        # IsValueValidAgainstRange: does the value, printed as Go prints it, parse as the schema's type and format?
        checked = _out_of_range(node, data)
        if checked:
            result.add(_OaError(_CODE_COMPOSITE, "", f"Checked value must be of type {checked} in {path}"))
        if node.multiple_of is not None:
            multiple.merge(_Result(_check_multiple_of(path, data, node.multiple_of, is_int)))
        if node.maximum is not None:
            # Integers are compared with the bound truncated to an integer, as Go's int64() conversion does.
            limit: int | float = int(node.maximum) if is_int else node.maximum
            if data >= limit if node.exclusive_maximum else data > limit:
                relation = "less than" if node.exclusive_maximum else "less than or equal to"
                message = f"{path} in body should be {relation} {_go_number(limit)}"
                maximum.add(_OaError(_CODE_MAX, path, message, data))
        if node.minimum is not None:
            limit = int(node.minimum) if is_int else node.minimum
            if data <= limit if node.exclusive_minimum else data < limit:
                relation = "greater than" if node.exclusive_minimum else "greater than or equal to"
                message = f"{path} in body should be {relation} {_go_number(limit)}"
                minimum.add(_OaError(_CODE_MIN, path, message, data))
        result.merge(multiple, minimum, maximum)
        result.match_count += 1
        return result

    def _slice(self, node: _Node, data: list[JsonValue], path: str, correlation: _Correlation | None) -> _Result:
        result = _Result()
        if node.items is not None:
            for index, item in enumerate(data):
                child = correlation.index(index) if correlation is not None else None
                result.merge(self.validate(node.items, item, f"{path}[{index}]", child))
        size = len(data)
        if node.min_items is not None and size < node.min_items:
            message = f"{path} in body should have at least {node.min_items} items"
            result.add(_OaError(_CODE_MIN_ITEMS, path, message, size, node.min_items))
        if node.max_items is not None and size > node.max_items:
            message = f"{path} in body should have at most {node.max_items} items"
            result.add(_OaError(_CODE_MAX_ITEMS, path, message, size, node.max_items))
        if node.unique_items:
            seen: list[JsonValue] = []
            for item in data:
                if any(_deep_equal(item, other) for other in seen):
                    result.add(_OaError(_CODE_UNIQUE, path, f"{path} in body shouldn't contain duplicates"))
                    break
                seen.append(item)
        result.match_count += 1
        return result

    def _enum(self, node: _Node, data: JsonValue, path: str) -> _Result | None:
        if not node.enum:
            return None
        if data is not None and any(_enum_matches(data, allowed) for allowed in node.enum if allowed is not None):
            return None
        message = f"{path} in body should be one of {_go_slice_v(node.enum)}"
        return _Result([_OaError(_CODE_ENUM, path, message, data, None, tuple(node.enum))])

    def _object(self, node: _Node, data: dict[str, JsonValue], path: str, correlation: _Correlation | None) -> _Result:
        result = _Result()
        count = len(data)
        if node.min_properties is not None and count < node.min_properties:
            message = f"{path} in body should have at least {node.min_properties} properties"
            result.add(_OaError(_CODE_TOO_FEW_PROPERTIES, path, message, count, node.min_properties))
        if node.max_properties is not None and count > node.max_properties:
            message = f"{path} in body should have at most {node.max_properties} properties"
            result.add(_OaError(_CODE_TOO_MANY_PROPERTIES, path, message, count, node.max_properties))
        if node.additional is False:
            for key in data:
                if key not in node.properties:
                    message = f"{path}.{key} in body is a forbidden property"
                    result.add(_OaError(_CODE_UNALLOWED_PROPERTY, path, message, key))
        elif isinstance(node.additional, _Node):
            for key, value in data.items():
                if key not in node.properties:
                    child = correlation.key(key) if correlation is not None else None
                    result.merge(self.validate(node.additional, value, f"{path}.{key}", child))
        for name, prop in node.properties.items():
            if name in data:
                child_path = f"{path}.{name}" if path else name
                # TypeMeta at the root is never ratcheted.
                skip_correlation = path == "" and name in ("apiVersion", "kind")
                child = correlation.key(name) if correlation is not None and not skip_correlation else None
                result.merge(self.validate(prop, data[name], child_path, child))
        for name in node.required:
            if name not in data:
                missing = f"{path}.{name}"
                result.add(_OaError(_CODE_REQUIRED, missing, f"{missing} in body is required"))
        return result


_INT_RANGES: Final = {"int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1), "uint64": (0, 2**64 - 1)}


def _out_of_range(node: _Node, data: int | float) -> str:
    """What kube-openapi's IsValueValidAgainstRange finds wrong with a number ("" if nothing): "integer (default
    format)" for 1.5 where an integer is due, "integer with format int32" for 2**31, "number with format float"..."""
    types = node.validation_types
    schema_type = types[0] if types else ""
    fmt = node.validation_format
    if schema_type == "integer":
        if isinstance(data, float) and not data.is_integer():
            fits = False
        else:
            low, high = _INT_RANGES.get(fmt, (-(2**63), 2**63 - 1))
            fits = low <= int(data) <= high
        if not fits:
            return f"integer with format {fmt}" if fmt else "integer (default format)"
    elif fmt in ("float", "float32") and abs(float(data)) > 3.4028234663852886e38 and math.isfinite(float(data)):
        return f"number with format {fmt}"
    return ""


def _invalid_type(path: str, type_name: str, value: str) -> _OaError:
    return _OaError(_CODE_INVALID_TYPE, path, f"{path} in body must be of type {type_name}: {_go_quote(value)}", value)


def _schema_info(data: JsonValue) -> tuple[str, str]:
    kind = _json_kind(data)
    if kind == "integer":
        return "integer", "int64"
    if kind == "number":
        return "number", "float64"
    return kind, ""


def _is_json_integer(number: float) -> bool:
    """swag.IsFloat64AJSONInteger."""
    if math.isnan(number) or math.isinf(number) or abs(number) > 2**53:
        return False
    if number == math.trunc(number):
        return True
    truncated = float(math.trunc(number))
    return abs(number - truncated) / min(abs(number) + abs(truncated), 1.7976931348623157e308) < 1e-9


def _go_number(number: int | float) -> str:
    return str(number) if isinstance(number, int) else _go_float(number)


def _go_slice_v(values: Sequence[JsonValue]) -> str:
    """%v of a []interface{} (only used in messages the apiserver then discards)."""

    def plain(value: JsonValue) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if value is None:
            return "<nil>"
        if isinstance(value, float):
            return _go_float(value)
        if isinstance(value, list):
            return "[" + " ".join(plain(v) for v in value) + "]"
        if isinstance(value, dict):
            return "map[" + " ".join(f"{k}:{plain(value[k])}" for k in sorted(value)) + "]"
        return str(value)

    return "[" + " ".join(plain(v) for v in values) + "]"


def _enum_matches(data: JsonValue, allowed: JsonValue) -> bool:
    """basicCommonValidator: data converted to the enum value's Go type (Go's rules), then compared."""
    data_kind, allowed_kind = _json_kind(data), _json_kind(allowed)
    if data_kind == allowed_kind:
        return _deep_equal(data, allowed) if data_kind in ("object", "array") else bool(data == allowed)
    numeric = ("integer", "number")
    if data_kind in numeric and allowed_kind in numeric:
        converted = float(data) if allowed_kind == "number" else int(data)
        return bool(converted == allowed)
    if data_kind == "integer" and allowed_kind == "string":
        try:
            return bool(chr(data) == allowed)
        except (ValueError, OverflowError):
            return bool(allowed == "\ufffd")
    return False


def _check_multiple_of(path: str, data: int | float, factor: float, is_int: bool) -> list[_OaError]:
    if is_int:
        int_factor = int(factor)
        if int_factor <= 0:
            return [
                _OaError(
                    _CODE_MULTIPLE_OF_POSITIVE,
                    path,
                    f"factor MultipleOf declared for {path} must be positive: {int_factor}",
                    int_factor,
                )
            ]
        quotient = int(data / int_factor) if abs(data) < 2**53 else data // int_factor
        if quotient * int_factor != data:
            return [_OaError(_CODE_MULTIPLE_OF, path, f"{path} in body should be a multiple of {int_factor}", data)]
        return []
    if factor <= 0:
        return [
            _OaError(
                _CODE_MULTIPLE_OF_POSITIVE,
                path,
                f"factor MultipleOf declared for {path} must be positive: {_go_float(factor)}",
                factor,
            )
        ]
    quotient_f = 1 / factor * data if factor < 1 else data / factor
    if not _is_json_integer(quotient_f):
        return [_OaError(_CODE_MULTIPLE_OF, path, f"{path} in body should be a multiple of {_go_float(factor)}", data)]
    return []


_PATTERN_CACHE: dict[str, Any] = {}
_PATTERN_LOCK = threading.Lock()


def _compile_pattern(pattern: str) -> Any:
    """An RE2 program (Go's regexp is RE2), or the compile error text."""
    with _PATTERN_LOCK:
        if pattern not in _PATTERN_CACHE:
            try:
                _PATTERN_CACHE[pattern] = re2.compile(pattern)
            except Exception as error:  # re2 raises its own error type
                _PATTERN_CACHE[pattern] = f"error parsing regexp: {error}"
        return _PATTERN_CACHE[pattern]


def _to_field_errors(result: _Result, prefix: str | None) -> list[FieldError]:
    """kubeOpenAPIResultToFieldErrors: openapi errors to field errors under `prefix` (None: the root)."""
    errors: list[FieldError] = []
    for error in result.errors:
        if error.code == _CODE_COMPOSITE:
            errors.append(_invalid(prefix if prefix is not None else ROOT_PATH, "", error.message))
            continue
        name = error.name
        if name and name != ".":
            name = name.removeprefix(".")
            path = f"{prefix}.{name}" if prefix else name
        else:
            path = prefix if prefix is not None else ROOT_PATH
        if error.code == _CODE_REQUIRED:
            errors.append(_required(path))
        elif error.code == _CODE_ENUM:
            supported = [v if isinstance(v, str) else _go_json(v) for v in error.values]
            errors.append(_not_supported(path, error.value, supported))
        elif error.code == _CODE_TOO_LONG:
            errors.append(_too_long(path, error.valid if isinstance(error.valid, int) else -1))
        elif error.code in (_CODE_MAX_ITEMS, _CODE_TOO_MANY_PROPERTIES):
            actual = error.value if isinstance(error.value, int) else -1
            errors.append(_too_many(path, actual, error.valid if isinstance(error.valid, int) else -1))
        elif error.code == _CODE_INVALID_TYPE:
            errors.append(_type_invalid(path, error.value if error.value is not None else "", error.message))
        else:
            errors.append(_invalid(path, error.value if error.value is not None else "", error.message))
    return errors


# ----------------------------------------------------------------------------------------------------
# String formats (kube-openapi strfmt.Default, restricted to the formats the apiserver supports).
# ----------------------------------------------------------------------------------------------------

_DATE_TIME_RE: Final = re.compile(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")
_DURATION_UNIT_RE: Final = re.compile(r"((\d+)\s*([A-Za-zµ]+))")
_GO_DURATION_RE: Final = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$|^[-+]?0$")
_UUID_RES: Final = {
    "uuid": re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$"),
    "uuid3": re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$"),
    "uuid4": re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"),
    "uuid5": re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"),
}
_HOSTNAME_RE: Final = re2.compile(
    r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9-\p{S}\p{L}]{0,61}"
    r"[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$"
)
_BASE64_RE: Final = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$")
_MAC_RE: Final = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5,19}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{4}\.){2,9}[0-9A-Fa-f]{4}$")
_HEXCOLOR_RE: Final = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_RGBCOLOR_RE: Final = re.compile(
    r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,"
    r"\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$"
)
_SHORT_NAME_RE: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LONG_NAME_RE: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_SSN_RE: Final = re.compile(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$")
_EMAIL_RE: Final = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_BSON_RE: Final = re.compile(r"^[0-9a-fA-F]{24}$")


def _is_date(text: str) -> bool:
    try:
        datetime.datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return len(text) == 10


def _is_date_time(text: str) -> bool:
    if len(text) < 4:
        return False
    parts = text.lower().split("t")
    if len(parts) < 2 or not _is_date(parts[0]):
        return False
    match = _DATE_TIME_RE.search(parts[1])
    return match is not None and match[1] <= "23" and match[2] <= "59" and match[3] <= "59"


def _parse_duration(text: str) -> datetime.timedelta | None:
    """strfmt.ParseDuration: Go durations ("1h30m") or unit words ("3 days")."""
    if _GO_DURATION_RE.match(text):
        total = 0.0
        sign = -1.0 if text.startswith("-") else 1.0
        factors = {
            "ns": 1e-9,
            "us": 1e-6,
            "µs": 1e-6,
            "μs": 1e-6,
            "ms": 1e-3,
            "s": 1.0,
            "m": 60.0,
            "h": 3600.0,
        }
        for number, unit in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text):
            total += float(number) * factors[unit]
        return datetime.timedelta(seconds=sign * total)
    units = (
        (("ns", "nano"), 1e-9),
        (("us", "µs", "micro"), 1e-6),
        (("ms", "milli"), 1e-3),
        (("s", "sec"), 1.0),
        (("m", "min"), 60.0),
        (("h", "hr", "hour"), 3600.0),
        (("d", "day"), 86400.0),
        (("w", "wk", "week"), 604800.0),
    )
    seconds = 0.0
    found = False
    for _, amount, unit_text in _DURATION_UNIT_RE.findall(text):
        unit = unit_text.strip().lower()
        for variants, multiplier in units:
            for position, variant in enumerate(variants):
                if (position == len(variants) - 1 and unit.startswith(variant)) or variant.lower() == unit:
                    found = True
                    seconds += int(amount) * multiplier
    return datetime.timedelta(seconds=seconds) if found else None


def _is_ipv4(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(_strip_leading_zeros(text)), ipaddress.IPv4Address)
    except ValueError:
        return False


def _strip_leading_zeros(text: str) -> str:
    # netutils.ParseIPSloppy accepts leading zeros in IPv4 octets.
    if "." in text and ":" not in text:
        return ".".join(part.lstrip("0") or "0" if part.isdigit() else part for part in text.split("."))
    return text


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _is_cidr(text: str) -> bool:
    if "/" not in text:
        return False
    address, _, prefix = text.partition("/")
    try:
        ipaddress.ip_network(f"{_strip_leading_zeros(address)}/{prefix}", strict=False)
    except ValueError:
        return False
    return True


def _is_uri(text: str) -> bool:
    """govalidator.IsRequestURI: url.ParseRequestURI succeeds (absolute URI or absolute path)."""
    if not text or any(c in text for c in " \t\n"):
        return False
    if text.startswith("/"):
        return True
    parts = urlsplit(text)
    return bool(parts.scheme) and re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*$", parts.scheme) is not None


def _is_isbn(text: str, length: int) -> bool:
    digits = re.sub(r"[\s-]", "", text)
    if length == 10:
        if not re.match(r"^\d{9}[\dX]$", digits):
            return False
        total = sum((10 - i) * (10 if c == "X" else int(c)) for i, c in enumerate(digits))
        return total % 11 == 0
    if not re.match(r"^\d{13}$", digits):
        return False
    total = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(digits))
    return total % 10 == 0


def _is_credit_card(text: str) -> bool:
    digits = re.sub(r"[^0-9]", "", text)
    if not re.match(
        r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|(222[1-9]|22[3-9][0-9]|2[3-6][0-9]{2}|27[01][0-9]|2720)"
        r"[0-9]{12}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|"
        r"(?:2131|1800|35\d{3})\d{11}|6[27][0-9]{14})$",
        digits,
    ):
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        number = int(char)
        if position % 2 == 1:
            number = number * 2 - 9 if number * 2 > 9 else number * 2
        total += number
    return total % 10 == 0


def _check_format(fmt: str, text: str) -> bool:
    name = fmt.replace("-", "")
    checks: dict[str, Callable[[str], bool]] = {
        "date": _is_date,
        "datetime": _is_date_time,
        "duration": lambda t: _parse_duration(t) is not None,
        "byte": lambda t: _BASE64_RE.match(t) is not None,
        "password": lambda _: True,
        "uri": _is_uri,
        "email": lambda t: _EMAIL_RE.match(t) is not None,
        "hostname": lambda t: _HOSTNAME_RE.search(t) is not None,
        "ipv4": _is_ipv4,
        "ipv6": _is_ipv6,
        "cidr": _is_cidr,
        "mac": lambda t: _MAC_RE.match(t) is not None,
        "isbn": lambda t: _is_isbn(t, 10) or _is_isbn(t, 13),
        "isbn10": lambda t: _is_isbn(t, 10),
        "isbn13": lambda t: _is_isbn(t, 13),
        "creditcard": _is_credit_card,
        "ssn": lambda t: _SSN_RE.match(t) is not None,
        "hexcolor": lambda t: _HEXCOLOR_RE.match(t) is not None,
        "rgbcolor": lambda t: _RGBCOLOR_RE.match(t) is not None,
        "bsonobjectid": lambda t: _BSON_RE.match(t) is not None,
        "k8sshortname": lambda t: len(t) <= 63 and _SHORT_NAME_RE.fullmatch(t) is not None,
        "k8slongname": lambda t: len(t) <= 253 and _LONG_NAME_RE.fullmatch(t) is not None,
    }
    for uuid_name, pattern in _UUID_RES.items():
        checks[uuid_name] = pattern.match  # type: ignore[assignment]
    check = checks.get(name)
    return True if check is None else bool(check(text))


# ----------------------------------------------------------------------------------------------------
# Embedded resources (pkg/apiserver/schema/objectmeta/validation.go) and list types (listtype/validation.go).
# ----------------------------------------------------------------------------------------------------


def _mask_trailing_dash(name: str) -> str:
    return name[:-2] + "a" if len(name) > 1 and name.endswith("-") else name


def _path_segment_errors(name: str, prefix: bool) -> list[str]:
    if not prefix and name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def _validate_object_meta_names(
    metadata: Mapping[str, Any],
    requires_namespace: bool | None,
    name_errors: Callable[[str, bool], list[str]],
    path: _Path | None,
) -> list[FieldError]:
    """The name, generateName and namespace checks of ValidateObjectMetaAccessor."""
    errors: list[FieldError] = []
    meta_path = _Path.child(path, "metadata")
    generate_name = metadata.get("generateName")
    if isinstance(generate_name, str) and generate_name:
        for message in name_errors(generate_name, True):
            errors.append(_invalid(_Path.render(_Path.child(meta_path, "generateName")), generate_name, message))
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        errors.append(_required(_Path.render(_Path.child(meta_path, "name")), "name or generateName is required"))
    else:
        for message in name_errors(name, False):
            errors.append(_invalid(_Path.render(_Path.child(meta_path, "name")), name, message))
    namespace = metadata.get("namespace")
    namespace_path = _Path.render(_Path.child(meta_path, "namespace"))
    if requires_namespace is True:
        if not isinstance(namespace, str) or not namespace:
            errors.append(_required(namespace_path))
        else:
            for message in dns1123_label(namespace):
                errors.append(_invalid(namespace_path, namespace, message))
    elif requires_namespace is False and isinstance(namespace, str) and namespace:
        errors.append(_forbidden(namespace_path, "not allowed on this type"))
    return errors


def validate_custom_resource_metadata(obj: Mapping[str, Any], namespaced: bool) -> list[FieldError]:
    """Name, generateName and namespace of a custom resource: names are DNS-1123 subdomains.

    The part of `ValidateObjectMetaAccessor(obj, namespaced, NameIsDNSSubdomain, "metadata")` specific to
    custom resources; labels, annotations, finalizers and owner references are checked as for any kind.
    """
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        metadata = {}

    def name_errors(name: str, prefix: bool) -> list[str]:
        return dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)

    return _validate_object_meta_names(metadata, namespaced, name_errors, None)


def _parse_group_version_error(api_version: str) -> str | None:
    if api_version.count("/") > 1:
        return f"unexpected GroupVersion string: {api_version}"
    return None


def _validate_embedded(value: JsonValue, node: _Node | None, path: _Path | None) -> list[FieldError]:
    if node is None:
        return []
    errors: list[FieldError] = []
    if isinstance(value, dict):
        if node.embedded:
            errors.extend(_validate_embedded_resource(value, path))
        for key, item in value.items():
            if key in node.properties:
                errors.extend(_validate_embedded(item, node.properties[key], _Path.child(path, key)))
            elif node.additional is not None:
                errors.extend(_validate_embedded(item, node.additional_node, _Path.key(path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            errors.extend(_validate_embedded(item, node.items, _Path.index(path, index)))
    return errors


def _validate_embedded_resource(value: dict[str, JsonValue], path: _Path | None) -> list[FieldError]:
    errors: list[FieldError] = []
    if "apiVersion" not in value:
        errors.append(_required(_Path.render(_Path.child(path, "apiVersion"))))
    if "kind" not in value:
        errors.append(_required(_Path.render(_Path.child(path, "kind"))))
    for key, item in value.items():
        if key == "apiVersion":
            field = _Path.render(_Path.child(path, "apiVersion"))
            if not isinstance(item, str):
                errors.append(_invalid(field, item, "must be a string"))
            elif not item:
                errors.append(_invalid(field, item, "must not be empty"))
            elif (problem := _parse_group_version_error(item)) is not None:
                errors.append(_invalid(field, item, problem))
        elif key == "kind":
            field = _Path.render(_Path.child(path, "kind"))
            if not isinstance(item, str):
                errors.append(_invalid(field, item, "must be a string"))
            elif not item:
                errors.append(_invalid(field, item, "must not be empty"))
            elif problems := dns1035_label(item.lower()):
                errors.append(
                    _invalid(field, item, "may have mixed case, but should otherwise match: " + ",".join(problems))
                )
        elif key == "metadata" and isinstance(item, Mapping):
            meta = dict(item)
            if not meta.get("name"):
                meta["name"] = "fakename"  # the apiserver does the same to skip the name requirement
            namespaced = isinstance(meta.get("namespace"), str) and bool(meta.get("namespace"))
            errors.extend(_validate_object_meta_names(meta, namespaced or None, _path_segment_errors, path))
    return errors


def _validate_list_sets_and_maps(value: JsonValue, node: _Node | None, path: _Path | None) -> list[FieldError]:
    if node is None:
        return []
    errors: list[FieldError] = []
    if isinstance(value, dict):
        if node.additional_node is not None:
            for key, item in value.items():
                errors.extend(_validate_list_sets_and_maps(item, node.additional_node, _Path.key(path, key)))
        for key, item in value.items():
            if key in node.properties:
                errors.extend(_validate_list_sets_and_maps(item, node.properties[key], _Path.child(path, key)))
    elif isinstance(value, list):
        if node.list_type == "set":
            for position in _non_unique_indexes(value):
                errors.append(_duplicate(_Path.render(_Path.index(path, position)), value[position]))
        elif node.list_type == "map":
            errors.extend(_validate_list_map(value, node, path))
        if node.items is not None:
            for index, item in enumerate(value):
                errors.extend(_validate_list_sets_and_maps(item, node.items, _Path.index(path, index)))
    return errors


def _non_unique_indexes(values: Sequence[JsonValue]) -> list[int]:
    """The index of the second occurrence of each value that occurs more than once."""
    counts: dict[tuple[str, str], int] = {}
    positions: list[int] = []
    for index, value in enumerate(values):
        key = _hashable(value)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] == 2:
            positions.append(index)
    return positions


def _validate_list_map(value: list[JsonValue], node: _Node, path: _Path | None) -> list[FieldError]:
    for index, item in enumerate(value):
        if item is not None and not isinstance(item, dict):
            return [
                _invalid(
                    _Path.render(_Path.index(path, index)),
                    item,
                    "must be an object for an array of list-type map",
                )
            ]
    if len(value) <= 1:
        return []
    keys: list[dict[str, JsonValue]] = []
    for item in value:
        keys.append({k: item[k] for k in node.list_map_keys if isinstance(item, dict) and k in item})
    return [_duplicate(_Path.render(_Path.index(path, i)), keys[i]) for i in _non_unique_indexes(keys)]


# ----------------------------------------------------------------------------------------------------
# CEL: x-kubernetes-validations (pkg/apiserver/schema/cel) evaluated with cel-python.
# ----------------------------------------------------------------------------------------------------

_CEL_RESERVED: Final = frozenset(
    {
        "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if",
        "import", "let", "loop", "package", "namespace", "return", "var", "void", "while",
    }
)  # fmt: skip
_CEL_EXPAND_RE: Final = re.compile(r"(__|[-./]|[^a-zA-Z0-9-./_])")


def cel_escape(name: str) -> str | None:
    """The name a property has in CEL (`foo-bar` is `foo__dash__bar`), None if CEL cannot reach it."""
    if not name or name[0].isdigit():
        return None
    if name in _CEL_RESERVED:
        return f"__{name}__"
    if not re.fullmatch(r"[a-zA-Z0-9_./-]*", name):
        return None
    replacements = {"__": "__underscores__", ".": "__dot__", "-": "__dash__", "/": "__slash__"}
    return _CEL_EXPAND_RE.sub(lambda m: replacements[m.group(0)], name)


class _CompiledExpression(NamedTuple):
    runner: celpy.Runner | None
    error: str | None  # compile error detail, as the apiserver words it ("compilation failed: ...")
    uses_old_self: bool


_CEL_LOCK = threading.Lock()
_CEL_ENVIRONMENT: celpy.Environment | None = None
_CEL_CACHE: dict[str, _CompiledExpression] = {}


def _cel_environment() -> celpy.Environment:
    global _CEL_ENVIRONMENT
    if _CEL_ENVIRONMENT is None:
        _CEL_ENVIRONMENT = celpy.Environment()
    return _CEL_ENVIRONMENT


def _compile_cel(expression: str) -> _CompiledExpression:
    """Parses once per expression text; the runner is reused for every evaluation."""
    with _CEL_LOCK:
        cached = _CEL_CACHE.get(expression)
        if cached is not None:
            return cached
        environment = _cel_environment()
        try:
            ast = environment.compile(expression)
        except CELParseError as error:
            compiled = _CompiledExpression(None, "compilation failed: " + _syntax_error(expression, error), False)
        except Exception as error:  # lark raises various errors for inputs it cannot tokenize
            compiled = _CompiledExpression(None, f"compilation failed: ERROR: <input>: Syntax error: {error}", False)
        else:
            runner = environment.program(ast, functions=_CEL_FUNCTIONS)
            compiled = _CompiledExpression(runner, None, _references_old_self(ast))
        _CEL_CACHE[expression] = compiled
        return compiled


def _syntax_error(expression: str, error: CELParseError) -> str:
    """cel-go's issue text: location, then the offending line with a caret under the column."""
    line = getattr(error, "line", None) or 1
    column = getattr(error, "column", None) or 1
    lines = expression.splitlines() or [""]
    source_line = lines[min(line, len(lines)) - 1]
    location = f"ERROR: <input>:{line}:{column}: Syntax error: unexpected input"
    return f"{location}\n | {source_line}\n | {'.' * (column - 1)}^"


def _references_old_self(ast: lark.Tree[Any]) -> bool:
    for subtree in ast.iter_subtrees():
        if subtree.data == "ident":
            for child in subtree.children:
                if isinstance(child, lark.Token) and child.value == "oldSelf":
                    return True
    return False


class _SetList(celtypes.ListType):
    """x-kubernetes-list-type=set: equal when the same elements, in any order."""

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, list) or len(other) != len(self):
            return False
        return all(any(bool(item == candidate) for candidate in other) for item in self)

    def __ne__(self, other: Any) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]


class _MapListValue(celtypes.ListType):
    """x-kubernetes-list-type=map: equal when the items with the same keys are equal, in any order."""

    def __init__(self, items: Iterable[Any], keys: Sequence[str]) -> None:
        super().__init__(items)
        self.keys = [cel_escape(k) or k for k in keys]

    def _key(self, item: Any) -> tuple[Any, ...]:
        if isinstance(item, Mapping):
            return tuple(repr(item.get(celtypes.StringType(k))) for k in self.keys)
        return (repr(item),)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, list) or len(other) != len(self):
            return False
        mine = {self._key(item): item for item in self}
        for item in other:
            match = mine.get(self._key(item))
            if match is None or not bool(match == item):
                return False
        return True

    def __ne__(self, other: Any) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]


class _OptionalValue:
    """A CEL optional, enough for `oldSelf.hasValue()`, `oldSelf.value()` and `oldSelf.orValue(x)`."""

    def __init__(self, value: Any, present: bool) -> None:
        self.value = value
        self.present = present


def _to_cel(value: JsonValue, node: _Node) -> Any:
    """UnstructuredToVal: the CEL value of `value` as typed by its schema."""
    if value is None:
        return None
    if node.int_or_string:
        return celtypes.StringType(value) if isinstance(value, str) else celtypes.IntType(value)
    if node.type == "object" and isinstance(value, dict):
        if node.embedded or node.has_properties:
            typed = node.as_resource() if node.embedded else node
            members: dict[Any, Any] = {}
            for key, item in value.items():
                prop = typed.properties.get(key)
                escaped = cel_escape(key)
                # Fields not in the schema are invisible, and null fields of objects count as absent.
                if prop is None or escaped is None or item is None:
                    continue
                members[celtypes.StringType(escaped)] = _to_cel(item, prop)
            return celtypes.MapType(members)
        if node.additional_node is not None:
            additional = node.additional_node
            return celtypes.MapType({celtypes.StringType(k): _to_cel(v, additional) for k, v in value.items()})
        return celtypes.MapType({})
    if node.type == "array" and isinstance(value, list):
        items = [_to_cel(item, node.items or _EMPTY_NODE) for item in value]
        if node.list_type == "set":
            return _SetList(items)
        if node.list_type == "map":
            return _MapListValue(items, node.list_map_keys)
        return celtypes.ListType(items)
    if node.type == "string" and isinstance(value, str):
        return _cel_string(value, node.format)
    if node.type == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return celtypes.DoubleType(float(value))
    if node.type == "integer" and isinstance(value, int) and not isinstance(value, bool):
        return celtypes.IntType(value)
    if node.type == "boolean" and isinstance(value, bool):
        return celtypes.BoolType(value)
    # x-kubernetes-preserve-unknown-fields without a type: the value as plain JSON.
    return json_to_cel(value)


def _cel_string(value: str, fmt: str) -> Any:
    try:
        if fmt == "duration":
            parsed = _parse_duration(value)
            if parsed is not None:
                return celtypes.DurationType(parsed)
        elif fmt == "date":
            day = datetime.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=datetime.UTC)
            return celtypes.TimestampType(day)
        elif fmt == "date-time":
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.UTC)
            return celtypes.TimestampType(moment)
        elif fmt == "byte":
            return celtypes.BytesType(base64.b64decode(value, validate=True))
    except (ValueError, binascii.Error):
        pass
    return celtypes.StringType(value)


def _cel_number(value: Any) -> float | None:
    if isinstance(value, (celtypes.IntType, celtypes.UintType, celtypes.DoubleType)) and not isinstance(
        value, celtypes.BoolType
    ):
        return float(value)
    return None


def _cross_numeric(
    op: Callable[[float, float], bool], fallback: Callable[[Any, Any], Any]
) -> Callable[[Any, Any], Any]:
    """Comparisons across int, uint and double, as the apiserver's CEL allows them."""

    def compare(left: Any, right: Any) -> Any:
        left_number, right_number = _cel_number(left), _cel_number(right)
        if left_number is not None and right_number is not None and type(left) is not type(right):
            return celtypes.BoolType(op(left_number, right_number))
        return fallback(left, right)

    return compare


def _cel_string_arg(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("no such overload")
    return str(value)


def _cel_index_of(target: Any, search: Any, offset: Any = None) -> Any:
    if isinstance(target, list):
        for position, item in enumerate(target):
            if bool(item == search):
                return celtypes.IntType(position)
        return celtypes.IntType(-1)
    text, sub = _cel_string_arg(target), _cel_string_arg(search)
    start = int(offset) if offset is not None else 0
    if start < 0 or start > len(text):
        raise ValueError(f"index out of range: {start}")
    return celtypes.IntType(text.find(sub, start))


def _cel_last_index_of(target: Any, search: Any, offset: Any = None) -> Any:
    if isinstance(target, list):
        for position in range(len(target) - 1, -1, -1):
            if bool(target[position] == search):
                return celtypes.IntType(position)
        return celtypes.IntType(-1)
    text, sub = _cel_string_arg(target), _cel_string_arg(search)
    end = int(offset) if offset is not None else len(text)
    if end < 0 or end > len(text):
        raise ValueError(f"index out of range: {end}")
    return celtypes.IntType(text.rfind(sub, 0, end + len(sub)))


def _cel_split(text: Any, separator: Any, limit: Any = None) -> Any:
    parts = _cel_string_arg(text).split(_cel_string_arg(separator)) if separator != "" else list(str(text))
    if limit is not None:
        count = int(limit)
        if count == 0:
            parts = []
        elif count > 0 and len(parts) > count:
            parts = [*parts[: count - 1], _cel_string_arg(separator).join(parts[count - 1 :])]
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def _cel_substring(text: Any, start: Any, end: Any = None) -> Any:
    value = _cel_string_arg(text)
    begin = int(start)
    finish = len(value) if end is None else int(end)
    if begin < 0 or finish > len(value) or begin > finish:
        raise ValueError(f"index out of range: {begin if begin < 0 or begin > len(value) else finish}")
    return celtypes.StringType(value[begin:finish])


def _cel_replace(text: Any, old: Any, new: Any, limit: Any = None) -> Any:
    count = -1 if limit is None else int(limit)
    return celtypes.StringType(_cel_string_arg(text).replace(_cel_string_arg(old), _cel_string_arg(new), count))


def _cel_join(items: Any, separator: Any = None) -> Any:
    if not isinstance(items, list):
        raise TypeError("no such overload")
    return celtypes.StringType(("" if separator is None else str(separator)).join(_cel_string_arg(i) for i in items))


def _cel_char_at(text: Any, index: Any) -> Any:
    value = _cel_string_arg(text)
    position = int(index)
    if position < 0 or position > len(value):
        raise ValueError(f"index out of range: {position}")
    return celtypes.StringType(value[position : position + 1])


def _cel_is_sorted(items: Any) -> Any:
    return celtypes.BoolType(all(bool(items[i] <= items[i + 1]) for i in range(len(items) - 1)))


def _cel_sum(items: Any) -> Any:
    total: Any = celtypes.IntType(0)
    for index, item in enumerate(items):
        total = item if index == 0 else total + item
    return total


def _cel_min_max(pick_min: bool) -> Callable[[Any], Any]:
    def extreme(items: Any) -> Any:
        if not isinstance(items, list):
            raise TypeError("no such overload")
        if not items:
            raise ValueError(f"{'min' if pick_min else 'max'}(list) argument must not be empty")
        best = items[0]
        for item in items[1:]:
            if bool(item < best) if pick_min else bool(item > best):
                best = item
        return best

    return extreme


def _cel_find(text: Any, pattern: Any) -> Any:
    compiled = re2.compile(_cel_string_arg(pattern))
    match = compiled.search(_cel_string_arg(text))
    return celtypes.StringType(match.group(0) if match else "")


def _cel_find_all(text: Any, pattern: Any, limit: Any = None) -> Any:
    compiled = re2.compile(_cel_string_arg(pattern))
    found = [m.group(0) for m in compiled.finditer(_cel_string_arg(text))]
    if limit is not None and int(limit) >= 0:
        found = found[: int(limit)]
    return celtypes.ListType([celtypes.StringType(f) for f in found])


def _cel_has_value(optional: Any) -> Any:
    if not isinstance(optional, _OptionalValue):
        raise TypeError("no such overload")
    return celtypes.BoolType(optional.present)


def _cel_value(optional: Any) -> Any:
    if not isinstance(optional, _OptionalValue):
        raise TypeError("no such overload")
    if not optional.present:
        raise ValueError("optional.none() dereference")
    return optional.value


def _cel_or_value(optional: Any, alternative: Any) -> Any:
    if not isinstance(optional, _OptionalValue):
        raise TypeError("no such overload")
    return optional.value if optional.present else alternative


_CEL_FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "_<_": _cross_numeric(lambda a, b: a < b, celpy.evaluation.bool_lt),
    "_<=_": _cross_numeric(lambda a, b: a <= b, celpy.evaluation.bool_le),
    "_>_": _cross_numeric(lambda a, b: a > b, celpy.evaluation.bool_gt),
    "_>=_": _cross_numeric(lambda a, b: a >= b, celpy.evaluation.bool_ge),
    # cel-go strings extension (version 2), as enabled in the apiserver.
    "charAt": _cel_char_at,
    "indexOf": _cel_index_of,
    "lastIndexOf": _cel_last_index_of,
    "lowerAscii": lambda s: celtypes.StringType(
        _cel_string_arg(s).translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))
    ),
    "upperAscii": lambda s: celtypes.StringType(
        _cel_string_arg(s).translate(str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    ),
    "replace": _cel_replace,
    "split": _cel_split,
    "substring": _cel_substring,
    "trim": lambda s: celtypes.StringType(_cel_string_arg(s).strip()),
    "join": _cel_join,
    # Kubernetes list and regex libraries.
    "isSorted": _cel_is_sorted,
    "sum": _cel_sum,
    "min": _cel_min_max(True),
    "max": _cel_min_max(False),
    "find": _cel_find,
    "findAll": _cel_find_all,
    # Optionals, for rules with optionalOldSelf.
    "hasValue": _cel_has_value,
    "value": _cel_value,
    "orValue": _cel_or_value,
}


class _CelOutcome(NamedTuple):
    value: Any
    error: str | None  # the apiserver's wording, without the " evaluating rule: ..." tail
    no_overload: bool = False
    unsupported: bool = False


def _evaluate_cel(runner: celpy.Runner, activation: Mapping[str, Any]) -> _CelOutcome:
    try:
        value = runner.evaluate(dict(activation))
    except CELEvalError as error:
        return _cel_error(error)
    except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, AttributeError) as error:
        return _CelOutcome(None, str(error) or type(error).__name__)
    if isinstance(value, CELEvalError):
        return _cel_error(value)
    return _CelOutcome(value, None)


def _cel_error(error: CELEvalError) -> _CelOutcome:
    text = str(error.args[0]) if error.args else str(error)
    if text.startswith("undeclared reference to"):
        name = re.match(r"undeclared reference to '([^']*)'", text)
        return _CelOutcome(None, f"undeclared reference to '{name[1] if name else text}'", unsupported=True)
    if text.startswith("no such member in mapping"):
        name = re.search(r"'([^']*)'", text)
        return _CelOutcome(None, f"no such key: {name[1] if name else ''}")
    if "divide by zero" in text or "division by zero" in text:
        return _CelOutcome(None, "division by zero")
    if "no such overload" in text or "no matching overload" in text:
        return _CelOutcome(None, "no such overload", no_overload=True)
    if len(error.args) > 1 and error.args[1] is IndexError:
        return _CelOutcome(None, "index out of bounds")
    return _CelOutcome(None, text)


def _valid_field_path(field_path: str, node: _Node) -> str | None:
    """cel.ValidFieldPath: the normalized path of a rule's fieldPath relative to its node, None if invalid."""
    tokens = re.findall(r"'(?:[^'\\]|\\.)*'|[.\[\]]|[^.\[\]']+", field_path)
    path: _Path | None = None
    current: _Node | None = node
    position = 0

    def descend(name: str) -> bool:
        nonlocal path, current
        if current is None:
            return False
        if current.properties:
            path = _Path.child(path, name)
            current = current.properties.get(name)
            return current is not None
        if current.additional_node is not None:
            path = _Path.key(path, name)
            current = current.additional_node
            return True
        return False

    while position < len(tokens):
        token = tokens[position]
        if token == ".":
            if position + 1 >= len(tokens) or not descend(tokens[position + 1]):
                return None
            position += 2
        elif token == "[":
            if position + 2 >= len(tokens) or tokens[position + 2] != "]":
                return None
            quoted = tokens[position + 1]
            if len(quoted) < 2 or quoted[0] != "'" or quoted[-1] != "'":
                return None
            name = re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), quoted[1:-1])
            if not descend(name):
                return None
            position += 3
        else:
            return None
    return _Path.render(path) if path is not None else ""


@dataclass(frozen=True)
class _CelRatchet:
    """ratchetingOptions of the CEL validator: the correlation at a node and at its nearest parent's."""

    current: _Correlation | None
    nearest_parent: _Correlation | None

    def key(self, name: str) -> _CelRatchet:
        if self.current is None:
            return self
        if self.nearest_parent is None and name in ("apiVersion", "kind"):
            return _CelRatchet(None, None)
        return _CelRatchet(self.current.key(name), self.current)

    def index(self, position: int) -> _CelRatchet:
        if self.current is None:
            return self
        return _CelRatchet(self.current.index(position), self.current)

    def should_ratchet(self) -> bool:
        if self.current is not None:
            return self.current.deep_equal()
        return self.nearest_parent.deep_equal() if self.nearest_parent is not None else False


_NO_RATCHET: Final = _CelRatchet(None, None)


def _cel_validate(
    node: _Node,
    value: JsonValue,
    old: JsonValue,
    path: _Path | None,
    ratchet: _CelRatchet,
    resource_root: bool,
) -> list[FieldError]:
    if value is None or not node.subtree_has_rules:
        return []
    errors = _cel_rules(node, value, old, path, ratchet, resource_root)
    if isinstance(value, list) and node.items is not None:
        old_items = _MapList(node, old) if node.list_type == "map" and isinstance(old, list) else None
        for index, item in enumerate(value):
            old_item = old_items.get(item) if old_items is not None else None
            errors.extend(
                _cel_validate(
                    node.items,
                    item,
                    old_item,
                    _Path.index(path, index),
                    ratchet.index(index),
                    node.items.embedded,
                )
            )
    elif isinstance(value, dict):
        old_map = old if isinstance(old, dict) else {}
        if node.additional_node is not None:
            for key, item in value.items():
                additional = node.additional_node
                errors.extend(
                    _cel_validate(
                        additional,
                        item,
                        old_map.get(key),
                        _Path.key(path, key),
                        ratchet.key(key),
                        additional.embedded,
                    )
                )
        for key, item in value.items():
            prop = node.properties.get(key)
            if prop is not None:
                errors.extend(
                    _cel_validate(prop, item, old_map.get(key), _Path.child(path, key), ratchet.key(key), prop.embedded)
                )
    return errors


def _cel_rules(
    node: _Node,
    value: JsonValue,
    old: JsonValue,
    path: _Path | None,
    ratchet: _CelRatchet,
    resource_root: bool,
) -> list[FieldError]:
    if not node.rules:
        return []
    errors: list[FieldError] = []
    typed = node.as_resource() if resource_root else node
    field = _Path.render(path)
    type_name = node.type
    converted: list[tuple[Any, Any]] = []

    def activation() -> dict[str, Any]:
        """self (and oldSelf on updates) as CEL values, converted on first use: remembered outcomes need neither."""
        if not converted:
            converted.append((_to_cel(value, typed), _to_cel(old, typed) if old is not None else None))
        self_value, old_value = converted[0]
        return {"self": self_value, "oldSelf": old_value} if old is not None else {"self": self_value}

    value_key = ""
    for rule in node.rules:
        compiled = _compile_cel(rule.rule)
        if compiled.error is not None or compiled.runner is None:
            errors.append(_invalid(field, type_name, f"rule compile error: {compiled.error}"))
            continue
        optional_old_self = rule.optional_old_self is True
        if compiled.uses_old_self and old is None and not optional_old_self:
            continue  # transition rules only run on updates that have an old value
        if compiled.uses_old_self:
            rule_activation = activation()
            if optional_old_self:
                rule_activation["oldSelf"] = _OptionalValue(rule_activation.get("oldSelf"), old is not None)
            outcome = _evaluate_cel(compiled.runner, rule_activation)
        else:
            value_key = value_key or json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
            outcome = _remembered_outcome(node, (rule.rule, resource_root, value_key), compiled.runner, activation)
        label = _rule_label(rule)
        if outcome.error is not None:
            if outcome.unsupported:
                detail = (
                    f"{outcome.error} is not supported by the emulator's CEL engine (cel-python) "
                    f"evaluating rule: {label}"
                )
            elif outcome.no_overload:
                detail = (
                    f"'{outcome.error}': call arguments did not match a supported operator, function or "
                    f"macro signature for rule: {label}"
                )
            else:
                detail = f"{outcome.error} evaluating rule: {label}"
            errors.append(_invalid(field, type_name, detail))
            continue
        if not isinstance(outcome.value, celtypes.BoolType):
            errors.append(_invalid(field, type_name, "rule compile error: cel expression must evaluate to a bool"))
            continue
        if bool(outcome.value):
            continue
        error_field = field
        if rule.field_path:
            normalized = _valid_field_path(rule.field_path, node)
            if normalized:
                error_field = normalized if path is None else f"{field}.{normalized}"
        message = _rule_message(rule, activation())
        # The value that failed, left out for objects and arrays (v1.36; v1.32 printed the type's name).
        shown = _OMIT if type_name in ("object", "array") else value
        error = _error_for_reason(error_field, shown, message, rule.reason)
        if not compiled.uses_old_self and ratchet.should_ratchet():
            continue  # an unchanged value that already failed: the apiserver only warns
        errors.append(error)
    return errors


# Outcomes remembered per schema node; past this many the node forgets them all (values rarely repeat that much).
_CEL_OUTCOMES_REMEMBERED: Final = 4096


def _remembered_outcome(
    node: _Node, key: tuple[str, bool, str], runner: celpy.Runner, activation: Callable[[], Mapping[str, Any]]
) -> _CelOutcome:
    outcome = node.cel_outcomes.get(key)
    if outcome is None:
        outcome = _evaluate_cel(runner, activation())
        if len(node.cel_outcomes) >= _CEL_OUTCOMES_REMEMBERED:
            node.cel_outcomes.clear()
        node.cel_outcomes[key] = outcome
    return outcome


def _rule_label(rule: _Rule) -> str:
    return rule.message.strip() if rule.message else rule.rule.strip()


def _rule_message(rule: _Rule, activation: Mapping[str, Any]) -> str:
    default = rule.message.strip() if rule.message else f"failed rule: {rule.rule.strip()}"
    if not rule.message_expression:
        return default
    compiled = _compile_cel(rule.message_expression)
    if compiled.runner is None:
        return default
    outcome = _evaluate_cel(compiled.runner, activation)
    if outcome.error is not None or not isinstance(outcome.value, str):
        return default
    text = str(outcome.value).strip()
    if not text or "\n" in text or len(text) > 5 * 1024:
        return default
    return text


def _error_for_reason(field: str, value: object, detail: str, reason: str | None) -> FieldError:
    if reason == "FieldValueForbidden":
        return _forbidden(field, detail)
    if reason == "FieldValueRequired":
        return _required(field, detail)
    if reason == "FieldValueDuplicate":
        return _duplicate(field, value)
    return _invalid(field, value, detail)


# ----------------------------------------------------------------------------------------------------
# The public API.
# ----------------------------------------------------------------------------------------------------

_BLOCKED_CEL_MESSAGE: Final = (
    "some validation rules were not checked because the object was invalid; correct the existing errors to "
    "complete validation"
)


class CrdSchema:
    """The openAPIV3Schema of one CRD version, applied to custom resources as kube-apiserver 1.32 does.

    Every method leaves its arguments untouched and returns new objects.
    """

    def __init__(self, openapi_v3_schema: Mapping[str, Any]) -> None:
        self._raw = copy.deepcopy(dict(openapi_v3_schema))
        self._root = _Node(self._raw)
        status = self._root.properties.get("status")
        self._status = status

    @property
    def raw(self) -> Mapping[str, Any]:
        return self._raw

    def prune(self, obj: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Drops fields the schema does not specify; returns the object and the dropped paths ("spec.foo").

        As the apiserver's decoder: unknown fields of root metadata first, then pruning of everything except
        apiVersion/kind/metadata at the root and at x-kubernetes-embedded-resource nodes (honouring
        x-kubernetes-preserve-unknown-fields), null values of non-nullable fields that have no default, and
        unknown fields in the metadata of embedded resources. The paths are what `kubectl` shows as
        `unknown field "spec.foo"` warnings.
        """
        pruned = copy.deepcopy(dict(obj))
        paths = _prune_object_meta(pruned.get("metadata"), "metadata")
        unknown = _UnknownFields()
        _prune(pruned, self._root, unknown, embedded=True)
        paths.extend(sorted(unknown.paths))
        _prune_non_nullable_nulls(pruned, self._root)
        embedded: list[str] = []
        _coerce_embedded_meta(pruned, self._root, None, embedded)
        paths.extend(sorted(embedded))
        return pruned, paths

    def apply_defaults(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Sets `default` values of absent (and of null non-nullable) fields, nested ones included."""
        defaulted = copy.deepcopy(dict(obj))
        _default(defaulted, self._root)
        return defaulted

    def prepare(self, obj: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """A request body as the apiserver decodes it for create and update: pruned, then defaulted."""
        pruned, unknown = self.prune(obj)
        return self.apply_defaults(pruned), unknown

    def validate(
        self,
        obj: Mapping[str, Any],
        old: Mapping[str, Any] | None = None,
        *,
        preceding_errors: Sequence[FieldError] = (),
    ) -> list[FieldError]:
        """Validates a prepared object; `old` is the stored object on update.

        In the apiserver's order: the OpenAPI schema (on update, errors in values unchanged from `old` are
        ratcheted away), embedded resources, list-type set/map uniqueness, then CEL rules, which are skipped
        with one "some validation rules were not checked" error when earlier errors make the object unusable.
        `preceding_errors` are the metadata errors the caller found first (they count for that skip).
        """
        errors = list(preceding_errors)
        correlation = _Correlation(dict(obj), dict(old), self._root) if old is not None else None
        result = _OpenApiValidator().validate(self._root, dict(obj), "", correlation)
        errors.extend(_to_field_errors(result, None))
        errors.extend(_validate_embedded(dict(obj), self._root, None))
        if old is None or not _validate_list_sets_and_maps(dict(old), self._root, None):
            errors.extend(_validate_list_sets_and_maps(dict(obj), self._root, None))
        errors.extend(self._cel(obj, old, errors, _CelRatchet(correlation, None)))
        return errors

    def validate_status(self, obj: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
        """Validation of an update through the /status subresource: only `status` is schema-validated."""
        errors: list[FieldError] = []
        if "status" in obj and self._status is not None:
            result = _OpenApiValidator().validate(self._status, obj["status"], "", None)
            errors.extend(_to_field_errors(result, "status"))
        new_list_errors = _validate_list_sets_and_maps(dict(obj), self._root, None)
        if new_list_errors and not _validate_list_sets_and_maps(dict(old), self._root, None):
            errors.extend(new_list_errors)
        errors.extend(self._cel(obj, old, errors, _NO_RATCHET))
        return errors

    def _cel(
        self,
        obj: Mapping[str, Any],
        old: Mapping[str, Any] | None,
        errors: Sequence[FieldError],
        ratchet: _CelRatchet,
    ) -> list[FieldError]:
        if not self._root.subtree_has_rules:
            return []
        if any(error.reason in _BLOCKING_REASONS for error in errors):
            return [_invalid(ROOT_PATH, None, _BLOCKED_CEL_MESSAGE)]
        old_value = dict(old) if old is not None else None
        return _cel_validate(self._root, dict(obj), old_value, None, ratchet, True)


# ----------------------------------------------------------------------------------------------------
# The CustomResourceDefinition object (pkg/apis/apiextensions/validation/validation.go).
# ----------------------------------------------------------------------------------------------------

_OPENAPI_TYPES: Final = ("array", "boolean", "integer", "number", "object", "string")
_PRINTER_COLUMN_TYPES: Final = ("boolean", "date", "integer", "number", "string")
_PRINTER_COLUMN_FORMATS: Final = (
    "byte",
    "date",
    "date-time",
    "double",
    "float",
    "int32",
    "int64",
    "password",
)
_VALIDATION_REASONS: Final = (
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
)
_ROOT_FIELDS_WITH_STATUS: Final = frozenset(
    {
        "description", "type", "format", "title", "maximum", "exclusiveMaximum", "minimum",
        "exclusiveMinimum",
        "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "multipleOf", "required",
        "items", "properties", "externalDocs", "example", "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-validations",
    }
)  # fmt: skip
_JUNCTOR_FORBIDDEN: Final = (
    ("type", "must be empty to be structural"),
    ("default", "must be undefined to be structural"),
    ("title", "must be empty to be structural"),
    ("description", "must be empty to be structural"),
    ("nullable", "must be false to be structural"),
    ("x-kubernetes-preserve-unknown-fields", "must be false to be structural"),
    ("x-kubernetes-embedded-resource", "must be false to be structural"),
    ("x-kubernetes-int-or-string", "must be false to be structural"),
    ("x-kubernetes-list-map-keys", "must be empty to be structural"),
    ("x-kubernetes-list-type", "must be undefined to be structural"),
    ("x-kubernetes-map-type", "must be undefined to be structural"),
    ("x-kubernetes-validations", "must be empty to be structural"),
)


# CRD errors show values of apiextensions' internal Go types, which have no json tags: encoding/json writes every
# field, under its Go name, in declaration order (a nil pointer, slice or map as null).


def _go_struct(value: Any, fields: Sequence[tuple[str, str, Callable[[Any], JsonValue]]]) -> _GoStruct:
    raw: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
    return _GoStruct((go_name, convert(raw.get(json_name))) for go_name, json_name, convert in fields)


def _as_is(value: Any) -> JsonValue:
    return copy.deepcopy(value) if value is not None else None


def _string(value: Any) -> JsonValue:
    return value if isinstance(value, str) else ""


def _flag(value: Any) -> JsonValue:
    return value is True


def _list_of(convert: Callable[[Any], JsonValue]) -> Callable[[Any], JsonValue]:
    return lambda value: [convert(item) for item in value] if isinstance(value, list) else None


def _map_of(convert: Callable[[Any], JsonValue]) -> Callable[[Any], JsonValue]:
    return lambda value: {k: convert(v) for k, v in value.items()} if isinstance(value, Mapping) else None


def _optional(convert: Callable[[Any], JsonValue]) -> Callable[[Any], JsonValue]:
    return lambda value: convert(value) if value is not None else None


def _go_schema_props(value: Any) -> JsonValue:
    """apiextensions.JSONSchemaProps as encoding/json writes it."""
    props = _go_schema_props
    return _go_struct(
        value,
        (
            ("ID", "id", _string),
            ("Schema", "$schema", _string),
            ("Ref", "$ref", _as_is),
            ("Description", "description", _string),
            ("Type", "type", _string),
            ("Nullable", "nullable", _flag),
            ("Format", "format", _string),
            ("Title", "title", _string),
            ("Default", "default", _as_is),
            ("Maximum", "maximum", _as_is),
            ("ExclusiveMaximum", "exclusiveMaximum", _flag),
            ("Minimum", "minimum", _as_is),
            ("ExclusiveMinimum", "exclusiveMinimum", _flag),
            ("MaxLength", "maxLength", _as_is),
            ("MinLength", "minLength", _as_is),
            ("Pattern", "pattern", _string),
            ("MaxItems", "maxItems", _as_is),
            ("MinItems", "minItems", _as_is),
            ("UniqueItems", "uniqueItems", _flag),
            ("MultipleOf", "multipleOf", _as_is),
            ("Enum", "enum", _as_is),
            ("MaxProperties", "maxProperties", _as_is),
            ("MinProperties", "minProperties", _as_is),
            ("Required", "required", _as_is),
            ("Items", "items", _optional(_go_schema_props_or_array)),
            ("AllOf", "allOf", _list_of(props)),
            ("OneOf", "oneOf", _list_of(props)),
            ("AnyOf", "anyOf", _list_of(props)),
            ("Not", "not", _optional(props)),
            ("Properties", "properties", _map_of(props)),
            ("AdditionalProperties", "additionalProperties", _optional(_go_schema_props_or_bool)),
            ("PatternProperties", "patternProperties", _map_of(props)),
            ("Dependencies", "dependencies", _map_of(_go_schema_props_or_strings)),
            ("AdditionalItems", "additionalItems", _optional(_go_schema_props_or_bool)),
            ("Definitions", "definitions", _map_of(props)),
            ("ExternalDocs", "externalDocs", _optional(_go_external_docs)),
            ("Example", "example", _as_is),
            ("XPreserveUnknownFields", "x-kubernetes-preserve-unknown-fields", _as_is),
            ("XEmbeddedResource", "x-kubernetes-embedded-resource", _flag),
            ("XIntOrString", "x-kubernetes-int-or-string", _flag),
            ("XListMapKeys", "x-kubernetes-list-map-keys", _as_is),
            ("XListType", "x-kubernetes-list-type", _as_is),
            ("XMapType", "x-kubernetes-map-type", _as_is),
            ("XValidations", "x-kubernetes-validations", _list_of(_go_validation_rule)),
        ),
    )


def _go_schema_props_or_array(value: Any) -> JsonValue:
    if isinstance(value, list):
        return _GoStruct(Schema=None, JSONSchemas=[_go_schema_props(item) for item in value])
    return _GoStruct(Schema=_go_schema_props(value), JSONSchemas=None)


def _go_schema_props_or_bool(value: Any) -> JsonValue:
    if isinstance(value, bool):
        return _GoStruct(Allows=value, Schema=None)
    return _GoStruct(Allows=True, Schema=_go_schema_props(value))


def _go_schema_props_or_strings(value: Any) -> JsonValue:
    if isinstance(value, list):
        return _GoStruct(Schema=None, Property=copy.deepcopy(value))
    return _GoStruct(Schema=_go_schema_props(value), Property=None)


def _go_external_docs(value: Any) -> JsonValue:
    return _go_struct(value, (("Description", "description", _string), ("URL", "url", _string)))


def _go_validation_rule(value: Any) -> JsonValue:
    return _go_struct(
        value,
        (
            ("Rule", "rule", _string),
            ("Message", "message", _string),
            ("MessageExpression", "messageExpression", _string),
            ("Reason", "reason", _as_is),
            ("FieldPath", "fieldPath", _string),
            ("OptionalOldSelf", "optionalOldSelf", _as_is),
        ),
    )


def _go_crd_versions(versions: Sequence[Mapping[str, Any]], shared: tuple[bool, bool, bool, bool]) -> JsonValue:
    """[]apiextensions.CustomResourceDefinitionVersion: what all versions share has moved to the CRD's spec.

    `shared`: whether the schema, subresources, printer columns and selectable fields are the same in every version.
    """
    same_schema, same_subresources, same_columns, same_fields = shared

    def schema(version: Mapping[str, Any]) -> JsonValue:
        validation = version.get("schema")
        if same_schema or not isinstance(validation, Mapping):
            return None
        return _GoStruct(OpenAPIV3Schema=_optional(_go_schema_props)(validation.get("openAPIV3Schema")))

    def subresources(version: Mapping[str, Any]) -> JsonValue:
        found = version.get("subresources")
        if same_subresources or not isinstance(found, Mapping):
            return None
        scale = found.get("scale")
        return _GoStruct(
            Status=_GoStruct() if isinstance(found.get("status"), Mapping) else None,
            Scale=_go_struct(
                scale,
                (
                    ("SpecReplicasPath", "specReplicasPath", _string),
                    ("StatusReplicasPath", "statusReplicasPath", _string),
                    ("LabelSelectorPath", "labelSelectorPath", _as_is),
                ),
            )
            if isinstance(scale, Mapping)
            else None,
        )

    column = (
        ("Name", "name", _string),
        ("Type", "type", _string),
        ("Format", "format", _string),
        ("Description", "description", _string),
        ("Priority", "priority", lambda v: v if isinstance(v, int) else 0),
        ("JSONPath", "jsonPath", _string),
    )
    return [
        _GoStruct(
            Name=_string(version.get("name")),
            Served=_flag(version.get("served")),
            Storage=_flag(version.get("storage")),
            Deprecated=_flag(version.get("deprecated")),
            DeprecationWarning=_as_is(version.get("deprecationWarning")),
            Schema=schema(version),
            Subresources=subresources(version),
            AdditionalPrinterColumns=None
            if same_columns
            else _list_of(lambda c: _go_struct(c, column))(version.get("additionalPrinterColumns")),
            SelectableFields=None
            if same_fields
            else _list_of(lambda f: _go_struct(f, (("JSONPath", "jsonPath", _string),)))(
                version.get("selectableFields")
            ),
        )
        for version in versions
    ]


def _go_json_literal(value: JsonValue) -> _GoLiteral:
    return _GoLiteral(_go_json(value))


def _validation_rule_literal(raw: Mapping[str, Any]) -> _GoLiteral:
    return _go_json_literal(_go_validation_rule(raw))


def validate_crd_definition(crd: Mapping[str, Any]) -> list[FieldError]:
    """Validates an apiextensions.k8s.io/v1 CustomResourceDefinition on create, as the apiserver does.

    Covers metadata.name (`<plural>.<group>`), group, scope, names, versions (DNS-1035 names, unique, exactly
    one storage version), the presence of a structural v1 schema with valid defaults, list/map type
    extensions, x-kubernetes-validations (syntax, reasons, fieldPath, oldSelf placement), subresources,
    printer columns, conversion strategy, spec.preserveUnknownFields and the API approval of protected
    groups. Schema errors are reported at `spec.validation.openAPIV3Schema` when all versions share one
    schema, as the apiserver does.
    """
    errors: list[FieldError] = []
    metadata = _mapping(crd.get("metadata"))
    spec: Mapping[str, Any] = _mapping(crd.get("spec"))
    names: Mapping[str, Any] = _mapping(spec.get("names"))
    group = str(spec.get("group") or "")
    plural = str(names.get("plural") or "")
    kind = str(names.get("kind") or "")
    singular = str(names.get("singular") or "") or kind.lower()
    list_kind = str(names.get("listKind") or "") or (f"{kind}List" if kind else "")
    versions: list[Mapping[str, Any]] = [v for v in spec.get("versions") or [] if isinstance(v, Mapping)]

    def crd_name_errors(name: str, prefix: bool) -> list[str]:
        found = dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)
        if name != f"{plural}.{group}":
            found.append('must be spec.names.plural+"."+spec.group')
        return found

    errors.extend(_validate_object_meta_names(metadata, False, crd_name_errors, None))

    if not group:
        errors.append(_required("spec.group"))
    elif problems := dns1123_subdomain(group):
        errors.append(_invalid("spec.group", group, ",".join(problems)))
    elif len(group.split(".")) < 2:
        errors.append(_invalid("spec.group", group, "should be a domain with at least one dot"))

    scope = str(spec.get("scope") or "")
    if not scope:
        errors.append(_required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        errors.append(_not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))

    schemas = [_version_schema(v) for v in versions]
    shared_schema = bool(versions) and all(_deep_equal(s, schemas[0]) for s in schemas)
    subresources = [v.get("subresources") for v in versions]
    shared_subresources = bool(versions) and all(_deep_equal(s, subresources[0]) for s in subresources)
    columns = [v.get("additionalPrinterColumns") for v in versions]
    shared_columns = bool(versions) and all(_deep_equal(c, columns[0]) for c in columns)

    for index, schema in enumerate(schemas):
        if schema is None:
            errors.append(_required(f"spec.versions[{index}].schema.openAPIV3Schema", "schemas are required"))
    preserve_unknown = spec.get("preserveUnknownFields") is True
    has_defaults = any(s is not None and _schema_has(s, lambda n: n.get("default") is not None) for s in schemas)
    if has_defaults and preserve_unknown:
        errors.append(
            _invalid("spec.preserveUnknownFields", True, "must be false in order to use defaults in the schema")
        )

    storage_count = 0
    seen_versions: set[str] = set()
    unique_versions = True
    any_status = any(_status_enabled(s) for s in subresources)
    for index, version in enumerate(versions):
        version_path = f"spec.versions[{index}]"
        version_name = str(version.get("name") or "")
        if version.get("storage") is True:
            storage_count += 1
        if version_name in seen_versions:
            unique_versions = False
        seen_versions.add(version_name)
        if problems := dns1035_label(version_name):
            errors.append(_invalid(f"{version_path}.name", version_name, ",".join(problems)))
        warning = version.get("deprecationWarning")
        if warning is not None:
            if version.get("deprecated") is not True:
                errors.append(
                    _invalid(
                        f"{version_path}.deprecationWarning",
                        str(warning),
                        "can only be set for deprecated versions",
                    )
                )
            elif len(str(warning)) > 256:
                errors.append(
                    _invalid(f"{version_path}.deprecationWarning", str(warning), "must be <= 256 characters long")
                )
            elif not str(warning):
                errors.append(
                    _invalid(f"{version_path}.deprecationWarning", str(warning), "must not be an empty string")
                )
        version_schema = schemas[index]
        if not shared_schema and version_schema is not None:
            status_enabled = _status_enabled(subresources[index])
            errors.extend(_validate_schema(version_schema, f"{version_path}.schema", status_enabled))
        if not shared_subresources:
            errors.extend(_validate_subresources(subresources[index], f"{version_path}.subresources"))
        if not shared_columns:
            errors.extend(_validate_columns(columns[index], f"{version_path}.additionalPrinterColumns"))

    fields = [v.get("selectableFields") for v in versions]
    shared_fields = bool(versions) and all(_deep_equal(f, fields[0]) for f in fields)
    shared = (shared_schema, shared_subresources, shared_columns, shared_fields)
    versions_value = _go_json_literal(_go_crd_versions(versions, shared))
    if not unique_versions:
        errors.append(_invalid("spec.versions", versions_value, "must contain unique version names"))
    if storage_count != 1:
        errors.append(
            _invalid("spec.versions", versions_value, "must have exactly one version marked as storage version")
        )

    for field_name, value in (
        ("plural", plural),
        ("singular", singular),
        ("kind", kind),
        ("listKind", list_kind),
    ):
        if not value:
            errors.append(_required(f"spec.names.{field_name}"))
    errors.extend(_validate_names(plural, singular, kind, list_kind, names))

    if shared_schema and schemas[0] is not None:
        errors.extend(_validate_schema(schemas[0], "spec.validation", any_status))
    if shared_subresources:
        errors.extend(_validate_subresources(subresources[0], "spec.subresources"))
    if shared_columns:
        errors.extend(_validate_columns(columns[0], "spec.additionalPrinterColumns"))
    errors.extend(_validate_conversion(spec.get("conversion")))

    # ValidateCustomResourceDefinitionStoredVersions, of the storedVersions PrepareForCreate sets: the first
    # storage version.
    stored = [str(v.get("name") or "") for v in versions if v.get("storage") is True][:1]
    if not stored:
        errors.append(
            _invalid("status.storedVersions", _go_json_literal(None), "must have at least one stored version")
        )
    remaining = set(stored)
    for version in versions if stored else []:
        name = str(version.get("name") or "")
        if version.get("storage") is True and name not in remaining:
            errors.append(
                _invalid("status.storedVersions", _go_json_literal(stored), f"must have the storage version {name}")
            )
        remaining.discard(name)
    errors.extend(_validate_api_approval(group, metadata))
    if preserve_unknown:
        errors.append(
            _invalid(
                "spec.preserveUnknownFields",
                True,
                "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in "
                "spec.versions[*].schema instead",
            )
        )
    return errors


def _version_schema(version: Mapping[str, Any]) -> Mapping[str, Any] | None:
    schema = version.get("schema")
    if isinstance(schema, Mapping) and isinstance(schema.get("openAPIV3Schema"), Mapping):
        return schema["openAPIV3Schema"]  # type: ignore[no-any-return]
    return None


def _status_enabled(subresources: object) -> bool:
    return isinstance(subresources, Mapping) and subresources.get("status") is not None


def _schema_has(raw: Mapping[str, Any], predicate: Callable[[Mapping[str, Any]], bool]) -> bool:
    if predicate(raw):
        return True
    children: list[Any] = []
    for key in ("properties", "patternProperties", "definitions"):
        if isinstance(raw.get(key), Mapping):
            children.extend(raw[key].values())
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(raw.get(key), list):
            children.extend(raw[key])
    for key in ("not", "items", "additionalProperties", "additionalItems"):
        if isinstance(raw.get(key), Mapping):
            children.append(raw[key])
    return any(isinstance(child, Mapping) and _schema_has(child, predicate) for child in children)


def _validate_names(
    plural: str, singular: str, kind: str, list_kind: str, names: Mapping[str, Any]
) -> list[FieldError]:
    errors: list[FieldError] = []
    if plural and (problems := dns1035_label(plural)):
        errors.append(_invalid("spec.names.plural", plural, ",".join(problems)))
    if singular and (problems := dns1035_label(singular)):
        errors.append(_invalid("spec.names.singular", singular, ",".join(problems)))
    for field_name, value in (("kind", kind), ("listKind", list_kind)):
        if value and (problems := dns1035_label(value.lower())):
            detail = "may have mixed case, but should otherwise match: " + ",".join(problems)
            errors.append(_invalid(f"spec.names.{field_name}", value, detail))
    for index, short_name in enumerate(names.get("shortNames") or []):
        if problems := dns1035_label(str(short_name)):
            errors.append(_invalid(f"spec.names.shortNames[{index}]", str(short_name), ",".join(problems)))
    if kind and kind == list_kind:
        errors.append(_invalid("spec.names.listKind", list_kind, "kind and listKind may not be the same"))
    for index, category in enumerate(names.get("categories") or []):
        if problems := dns1035_label(str(category)):
            errors.append(_invalid(f"spec.names.categories[{index}]", str(category), ",".join(problems)))
    return errors


def _validate_subresources(subresources: object, path: str) -> list[FieldError]:
    if not isinstance(subresources, Mapping) or not isinstance(subresources.get("scale"), Mapping):
        return []
    scale: Mapping[str, Any] = subresources["scale"]
    errors: list[FieldError] = []
    for key, prefixes, where in (
        ("specReplicasPath", (".spec.",), "should be a json path under .spec"),
        ("statusReplicasPath", (".status.",), "should be a json path under .status"),
    ):
        value = str(scale.get(key) or "")
        field = f"{path}.scale.{key}"
        if not value:
            errors.append(_required(field))
        elif problem := _simple_json_path_error(value):
            errors.append(_invalid(field, value, problem))
        elif not value.startswith(prefixes):
            errors.append(_invalid(field, value, where))
    selector = scale.get("labelSelectorPath")
    if isinstance(selector, str) and selector:
        field = f"{path}.scale.labelSelectorPath"
        if problem := _simple_json_path_error(selector):
            errors.append(_invalid(field, selector, problem))
        elif not selector.startswith((".spec.", ".status.")):
            errors.append(_invalid(field, selector, "should be a json path under either .spec or .status"))
    return errors


def _simple_json_path_error(text: str) -> str | None:
    if not text:
        return "must not be empty"
    if text[0] != ".":
        return "must be a simple json path starting with ."
    return None


def _validate_columns(columns: object, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if not isinstance(columns, list):
        return errors
    for index, column in enumerate(columns):
        if not isinstance(column, Mapping):
            continue
        column_path = f"{path}[{index}]"
        if not column.get("name"):
            errors.append(_required(f"{column_path}.name"))
        column_type = str(column.get("type") or "")
        allowed = "must be one of " + ",".join(_PRINTER_COLUMN_TYPES)
        if not column_type:
            errors.append(_required(f"{column_path}.type", allowed))
        elif column_type not in _PRINTER_COLUMN_TYPES:
            errors.append(_invalid(f"{column_path}.type", column_type, allowed))
        column_format = str(column.get("format") or "")
        if column_format and column_format not in _PRINTER_COLUMN_FORMATS:
            errors.append(
                _invalid(
                    f"{column_path}.format",
                    column_format,
                    "must be one of " + ",".join(_PRINTER_COLUMN_FORMATS),
                )
            )
        json_path = str(column.get("jsonPath") or "")
        if not json_path:
            errors.append(_required(f"{column_path}.JSONPath"))
        elif problem := _simple_json_path_error(json_path):
            errors.append(_invalid(f"{column_path}.JSONPath", json_path, problem))
    return errors


def _validate_conversion(conversion: object) -> list[FieldError]:
    if not isinstance(conversion, Mapping):
        return []
    strategy = str(conversion.get("strategy") or "")
    errors: list[FieldError] = []
    if not strategy:
        errors.append(_required("spec.conversion.strategy"))
    elif strategy not in ("None", "Webhook"):
        errors.append(_not_supported("spec.conversion.strategy", strategy, ["None", "Webhook"]))
    webhook = conversion.get("webhook")
    if strategy == "Webhook":
        client_config = webhook.get("clientConfig") if isinstance(webhook, Mapping) else None
        if not isinstance(client_config, Mapping):
            errors.append(_required("spec.conversion.webhookClientConfig", "required when strategy is set to Webhook"))
        elif (client_config.get("url") is None) == (client_config.get("service") is None):
            errors.append(_required("spec.conversion.webhookClientConfig", "exactly one of url or service is required"))
        review_versions = webhook.get("conversionReviewVersions") if isinstance(webhook, Mapping) else None
        if not review_versions:
            errors.append(_required("spec.conversion.conversionReviewVersions", "must specify at least one version"))
    elif isinstance(webhook, Mapping):
        if webhook.get("clientConfig") is not None:
            errors.append(
                _forbidden(
                    "spec.conversion.webhookClientConfig",
                    "should not be set when strategy is not set to Webhook",
                )
            )
        if webhook.get("conversionReviewVersions"):
            errors.append(
                _forbidden(
                    "spec.conversion.conversionReviewVersions",
                    "should not be set when strategy is not set to Webhook",
                )
            )
    return errors


def _validate_api_approval(group: str, metadata: Mapping[str, Any]) -> list[FieldError]:
    protected = group in ("k8s.io", "kubernetes.io") or group.endswith((".k8s.io", ".kubernetes.io"))
    if not protected:
        return []
    annotation_name = "api-approved.kubernetes.io"
    annotations = _mapping(metadata.get("annotations"))
    value = str(annotations.get(annotation_name) or "")
    field = f"metadata.annotations[{annotation_name}]"
    if not value:
        return [
            _required(
                field,
                f'protected groups must have approval annotation "{annotation_name}", see https://github.com/kubernetes/enhancements/pull/1111',
            )
        ]
    if value.startswith("unapproved"):
        return []
    parts = urlsplit(value)
    if parts.scheme and parts.netloc:
        return []
    return [
        _invalid(
            field,
            value,
            f'protected groups must have approval annotation "{annotation_name}" with either a URL or a '
            'reason starting with "unapproved", see https://github.com/kubernetes/enhancements/pull/1111',
        )
    ]


def _validate_schema(raw: Mapping[str, Any], path: str, status_enabled: bool) -> list[FieldError]:
    """validateCustomResourceDefinitionValidation of one openAPIV3Schema under `path` (the schema level)."""
    errors: list[FieldError] = []
    schema_path = f"{path}.openAPIV3Schema"
    if status_enabled:
        for key, value in raw.items():
            if value in (None, False, "", [], {}):
                continue
            if key == "type":
                if value != "object":
                    errors.append(
                        _invalid(
                            f"{schema_path}.type",
                            value,
                            'only "object" is allowed as the type at the root of the schema if the status '
                            "subresource is enabled",
                        )
                    )
                    break
                continue
            if key not in _ROOT_FIELDS_WITH_STATUS:
                allowed = (
                    "[Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum "
                    "MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items "
                    "Properties ExternalDocs Example XPreserveUnknownFields XValidations]"
                )
                errors.append(
                    _invalid(
                        schema_path,
                        _go_json_literal(_go_schema_props(raw)),
                        f"only {allowed} fields are allowed at the root of the schema if the status "
                        "subresource is enabled",
                    )
                )
                break
    if raw.get("nullable") is True:
        errors.append(_forbidden(f"{schema_path}.nullable", "nullable cannot be true at the root"))

    structural = _structural_errors(raw, schema_path)
    errors.extend(structural)
    default_errors = [] if structural else _validate_defaults(_Node(raw), schema_path, resource_root=True)
    errors.extend(default_errors)
    context = _SchemaContext(cel_enabled=not structural and not default_errors)
    schema_errors, cel_errors = _openapi_schema_errors(raw, schema_path, context, is_root=True)
    errors.extend(schema_errors)
    errors.extend(cel_errors)
    return errors


class _SchemaContext(NamedTuple):
    allow_defaults: bool = True
    disallow_defaults_reason: str = ""
    inside_resource_meta: bool = False
    forbid_old_self_path: str | None = None
    cel_enabled: bool = True


def _openapi_schema_errors(
    raw: Mapping[str, Any], path: str, context: _SchemaContext, is_root: bool
) -> tuple[list[FieldError], list[FieldError]]:
    """ValidateCustomResourceDefinitionOpenAPISchema: (schema errors, CEL errors)."""
    errors: list[FieldError] = []
    cel_errors: list[FieldError] = []
    schema_type = raw.get("type") or ""
    if schema_type and schema_type not in _OPENAPI_TYPES:
        errors.append(_not_supported(f"{path}.type", schema_type, list(_OPENAPI_TYPES)))
    if raw.get("default") is not None and not context.allow_defaults:
        detail = "must not be set" + (
            f" {context.disallow_defaults_reason}" if context.disallow_defaults_reason else ""
        )
        errors.append(_forbidden(f"{path}.default", detail))
    for key, detail in (
        ("id", "id is not supported"),
        ("additionalItems", "additionalItems is not supported"),
        ("patternProperties", "patternProperties is not supported"),
        ("definitions", "definitions is not supported"),
        ("dependencies", "dependencies is not supported"),
        ("$ref", "$ref is not supported"),
    ):
        if raw.get(key) not in (None, "", {}):
            errors.append(_forbidden(f"{path}.{key}", detail))
    if schema_type == "null":
        errors.append(_forbidden(f"{path}.type", "type cannot be set to null, use nullable as an alternative"))
    if isinstance(raw.get("items"), list) and raw["items"]:
        errors.append(_forbidden(f"{path}.items", "items must be a schema object and not an array"))
    if context.inside_resource_meta and raw.get("x-kubernetes-embedded-resource") is True:
        errors.append(_forbidden(f"{path}.x-kubernetes-embedded-resource", "must not be used inside of resource meta"))
    if raw.get("uniqueItems") is True:
        errors.append(
            _forbidden(
                f"{path}.uniqueItems",
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            )
        )

    def merge(found: tuple[list[FieldError], list[FieldError]]) -> None:
        errors.extend(found[0])
        cel_errors.extend(found[1])

    additional = raw.get("additionalProperties")
    properties = _mapping(raw.get("properties"))
    if additional is not None:
        if properties and (additional is False or isinstance(additional, Mapping)):
            errors.append(
                _forbidden(f"{path}.additionalProperties", "additionalProperties and properties are mutual exclusive")
            )
        if isinstance(additional, Mapping):
            sub = context
            if context.inside_resource_meta:
                sub = sub._replace(
                    allow_defaults=False,
                    disallow_defaults_reason="inside additionalProperties applying to object metadata",
                )
            merge(_openapi_schema_errors(additional, f"{path}.additionalProperties", sub, False))
    for name, prop in properties.items():
        if not isinstance(prop, Mapping):
            continue
        sub = context
        if (is_root or raw.get("x-kubernetes-embedded-resource") is True) and name in _META_FIELDS:
            sub = sub._replace(inside_resource_meta=True)
            if is_root:
                sub = sub._replace(allow_defaults=False, disallow_defaults_reason=f"in top-level {name}")
        merge(_openapi_schema_errors(prop, f"{path}.properties[{name}]", sub, False))
    if isinstance(raw.get("not"), Mapping):
        merge(_openapi_schema_errors(raw["not"], f"{path}.not", context, False))
    for junctor in ("allOf", "oneOf", "anyOf"):
        for index, branch in enumerate(raw.get(junctor) or []):
            if isinstance(branch, Mapping):
                merge(_openapi_schema_errors(branch, f"{path}.{junctor}[{index}]", context, False))
    items = raw.get("items")
    list_type = raw.get("x-kubernetes-list-type")
    if isinstance(items, Mapping):
        sub = context
        if list_type != "map" and sub.forbid_old_self_path is None:
            sub = sub._replace(forbid_old_self_path=path)
        merge(_openapi_schema_errors(items, f"{path}.items", sub, False))

    if raw.get("x-kubernetes-preserve-unknown-fields") is False:
        errors.append(_invalid(f"{path}.x-kubernetes-preserve-unknown-fields", False, "must be true or undefined"))
    map_type = raw.get("x-kubernetes-map-type")
    if map_type is not None and schema_type != "object":
        if not schema_type:
            errors.append(_required(f"{path}.type", "must be object if x-kubernetes-map-type is specified"))
        else:
            errors.append(_invalid(f"{path}.type", schema_type, "must be object if x-kubernetes-map-type is specified"))
    if map_type is not None and map_type not in ("atomic", "granular"):
        errors.append(_not_supported(f"{path}.x-kubernetes-map-type", map_type, ["atomic", "granular"]))
    if list_type is not None and schema_type != "array":
        if not schema_type:
            errors.append(_required(f"{path}.type", "must be array if x-kubernetes-list-type is specified"))
        else:
            errors.append(_invalid(f"{path}.type", schema_type, "must be array if x-kubernetes-list-type is specified"))
    elif list_type == "set" and isinstance(items, Mapping):
        if items.get("type") == "array" and items.get("x-kubernetes-list-type") not in (None, "atomic"):
            errors.append(
                _invalid(
                    f"{path}.items.x-kubernetes-list-type",
                    items.get("x-kubernetes-list-type"),
                    "must be atomic as item of a list with x-kubernetes-list-type=set",
                )
            )
        if items.get("type") == "object" and items.get("x-kubernetes-map-type") != "atomic":
            errors.append(
                _invalid(
                    f"{path}.items.x-kubernetes-map-type",
                    None,
                    "must be atomic as item of a list with x-kubernetes-list-type=set",
                )
            )
    if list_type is not None and list_type not in ("atomic", "set", "map"):
        errors.append(_not_supported(f"{path}.x-kubernetes-list-type", list_type, ["atomic", "set", "map"]))
    map_keys = [str(k) for k in raw.get("x-kubernetes-list-map-keys") or []]
    if map_keys:
        if list_type is None:
            errors.append(
                _required(f"{path}.x-kubernetes-list-type", "must be map if x-kubernetes-list-map-keys is non-empty")
            )
        elif list_type != "map":
            errors.append(
                _invalid(
                    f"{path}.x-kubernetes-list-type",
                    list_type,
                    "must be map if x-kubernetes-list-map-keys is non-empty",
                )
            )
    if list_type == "map":
        errors.extend(_map_list_errors(raw, path, map_keys))
    if list_type in ("set", "map") and isinstance(items, Mapping):
        errors.extend(_map_set_key_errors(items, path, list_type, map_keys))

    rules = raw.get("x-kubernetes-validations") or []
    rule_errors, rule_cel_errors = _rule_definition_errors(rules, raw, path, context)
    errors.extend(rule_errors)
    if not errors and context.cel_enabled:
        cel_errors.extend(rule_cel_errors)
    return errors, cel_errors


def _map_list_errors(raw: Mapping[str, Any], path: str, map_keys: Sequence[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    items = raw.get("items")
    if not map_keys:
        errors.append(
            _required(f"{path}.x-kubernetes-list-map-keys", "must not be empty if x-kubernetes-list-type is map")
        )
    if items is None:
        errors.append(_required(f"{path}.items", "must have a schema if x-kubernetes-list-type is map"))
    elif not isinstance(items, Mapping):
        errors.append(
            _invalid(
                f"{path}.items",
                _go_json_literal(_go_schema_props_or_array(items)),
                "must only have a single schema if x-kubernetes-list-type is map",
            )
        )
    elif items.get("type") != "object":
        errors.append(
            _invalid(
                f"{path}.items.type",
                items.get("type") or "",
                "must be object if parent array's x-kubernetes-list-type is map",
            )
        )
    else:
        properties = _mapping(items.get("properties"))
        seen: set[str] = set()
        for key in map_keys:
            if key in properties:
                if isinstance(properties[key], Mapping) and properties[key].get("type") in (
                    "array",
                    "object",
                ):
                    errors.append(
                        _invalid(
                            f"{path}.items.properties[{key}].type",
                            "object",
                            "must be a scalar type if parent array's x-kubernetes-list-type is map",
                        )
                    )
            else:
                errors.append(
                    _invalid(
                        f"{path}.x-kubernetes-list-map-keys",
                        _go_json_literal(list(map_keys)),
                        "entries must all be names of item properties",
                    )
                )
            if key in seen:
                errors.append(
                    _invalid(
                        f"{path}.x-kubernetes-list-map-keys",
                        _go_json_literal(list(map_keys)),
                        "must not contain duplicate entries",
                    )
                )
            seen.add(key)
    return errors


def _map_set_key_errors(
    items: Mapping[str, Any], path: str, list_type: str, map_keys: Sequence[str]
) -> list[FieldError]:
    errors: list[FieldError] = []
    if items.get("nullable") is True:
        errors.append(
            _forbidden(f"{path}.items.nullable", f"cannot be nullable when x-kubernetes-list-type is {list_type}")
        )
    if list_type == "map":
        required = {str(r) for r in items.get("required") or []}
        properties = _mapping(items.get("properties"))
        for key in map_keys:
            prop = properties.get(key)
            if not isinstance(prop, Mapping):
                continue
            if key not in required and prop.get("default") is None:
                errors.append(
                    _required(
                        f"{path}.items.properties[{key}].default",
                        "this property is in x-kubernetes-list-map-keys, so it must have a default or be a "
                        "required property",
                    )
                )
            if prop.get("nullable") is True:
                errors.append(
                    _forbidden(
                        f"{path}.items.properties[{key}].nullable",
                        "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
                    )
                )
    return errors


def _rule_definition_errors(
    rules: object, raw: Mapping[str, Any], path: str, context: _SchemaContext
) -> tuple[list[FieldError], list[FieldError]]:
    errors: list[FieldError] = []
    cel_errors: list[FieldError] = []
    if not isinstance(rules, list):
        return errors, cel_errors
    node = _Node(raw)
    for index, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            continue
        rule_path = f"{path}.x-kubernetes-validations[{index}]"
        text = str(rule.get("rule") or "")
        message = str(rule.get("message") or "")
        message_expression = str(rule.get("messageExpression") or "")
        if not text.strip():
            errors.append(_required(f"{rule_path}.rule", "rule is not specified"))
        elif message and not message.strip():
            errors.append(_invalid(f"{rule_path}.message", message, "message must be non-empty if specified"))
        elif "\n" in message.strip():
            errors.append(_invalid(f"{rule_path}.message", message, "message must not contain line breaks"))
        elif "\n" in text.strip() and not message.strip():
            errors.append(_required(f"{rule_path}.message", "message must be specified if rule contains line breaks"))
        if message_expression and not message_expression.strip():
            errors.append(
                _required(f"{rule_path}.messageExpression", "messageExpression must be non-empty if specified")
            )
        reason = rule.get("reason")
        if reason is not None and reason not in _VALIDATION_REASONS:
            errors.append(_not_supported(f"{rule_path}.reason", reason, list(_VALIDATION_REASONS)))
        field_path = str(rule.get("fieldPath") or "")
        if field_path and not field_path.strip():
            errors.append(_invalid(f"{rule_path}.fieldPath", field_path, "fieldPath must be non-empty if specified"))
        if "\n" in field_path:
            errors.append(_invalid(f"{rule_path}.fieldPath", field_path, "fieldPath must not contain line breaks"))
        if field_path and _valid_field_path(field_path, node) is None:
            errors.append(_invalid(f"{rule_path}.fieldPath", field_path, "fieldPath must be a valid path"))
        if not text.strip():
            continue
        compiled = _compile_cel(text)
        if compiled.error is not None:  # and then the other checks all the same, as the apiserver does
            cel_errors.append(_invalid(f"{rule_path}.rule", _validation_rule_literal(rule), compiled.error))
        if message_expression.strip():
            compiled_message = _compile_cel(message_expression)
            if compiled_message.error is not None:
                detail = "messageExpression " + compiled_message.error
                cel_errors.append(_invalid(f"{rule_path}.messageExpression", _validation_rule_literal(rule), detail))
        if compiled.uses_old_self:
            if context.forbid_old_self_path is not None:
                cel_errors.append(
                    _invalid(
                        f"{rule_path}.rule",
                        text,
                        "oldSelf cannot be used on the uncorrelatable portion of the schema within "
                        f"{context.forbid_old_self_path}",
                    )
                )
        elif rule.get("optionalOldSelf") is not None:
            cel_errors.append(
                _invalid(
                    f"{rule_path}.optionalOldSelf",
                    bool(rule.get("optionalOldSelf")),
                    "may not be set if oldSelf is not used in rule",
                )
            )
    return errors, cel_errors


class _Level:
    ROOT = 0
    ITEMS = 1
    FIELD = 2


def _structural_errors(raw: Mapping[str, Any], path: str) -> list[FieldError]:
    """ValidateStructural: invariants of a structural schema and completeness of value validations, sorted."""
    errors = _structural_invariants(raw, _Level.ROOT, path)
    errors.extend(_completeness(raw, raw, path, path))
    return sorted(errors, key=lambda e: f"{e.field}: {e.message}")


def _is_int_or_string_any_of(branches: object) -> bool:
    return (
        isinstance(branches, list)
        and len(branches) == 2
        and branches[0] == {"type": "integer"}
        and branches[1] == {"type": "string"}
    )


def _structural_invariants(raw: Mapping[str, Any], level: int, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    schema_type = raw.get("type") or ""
    items = raw.get("items")
    if schema_type == "array" and items is None:
        errors.append(_required(f"{path}.items", "must be specified"))
    if isinstance(items, Mapping):
        errors.extend(_structural_invariants(items, _Level.ITEMS, f"{path}.items"))
    properties = _mapping(raw.get("properties"))
    for name, prop in properties.items():
        if isinstance(prop, Mapping):
            errors.extend(_structural_invariants(prop, _Level.FIELD, f"{path}.properties[{name}]"))
    additional = raw.get("additionalProperties")
    if additional is not None:
        if level == _Level.ROOT:
            errors.append(_forbidden(f"{path}.additionalProperties", "must not be used at the root"))
        if isinstance(additional, Mapping):
            errors.extend(_structural_invariants(additional, _Level.FIELD, f"{path}.additionalProperties"))
    int_or_string = raw.get("x-kubernetes-int-or-string") is True
    preserve = raw.get("x-kubernetes-preserve-unknown-fields") is True
    embedded = raw.get("x-kubernetes-embedded-resource") is True
    if int_or_string and preserve:
        errors.append(
            _invalid(
                f"{path}.x-kubernetes-preserve-unknown-fields",
                True,
                "must be false if x-kubernetes-int-or-string is true",
            )
        )
    if int_or_string and embedded:
        errors.append(
            _invalid(
                f"{path}.x-kubernetes-embedded-resource",
                True,
                "must be false if x-kubernetes-int-or-string is true",
            )
        )

    skip_any_of = _is_int_or_string_any_of(raw.get("anyOf"))
    all_of = raw.get("allOf") or []
    skip_first_all_of_any_of = (
        bool(all_of) and isinstance(all_of[0], Mapping) and _is_int_or_string_any_of(all_of[0].get("anyOf"))
    )
    errors.extend(_value_validation_errors(raw, skip_any_of, skip_first_all_of_any_of, path))

    check_metadata = level == _Level.ROOT or embedded
    if embedded and schema_type != "object":
        if not schema_type:
            errors.append(_required(f"{path}.type", "must be object if x-kubernetes-embedded-resource is true"))
        else:
            errors.append(
                _invalid(f"{path}.type", schema_type, "must be object if x-kubernetes-embedded-resource is true")
            )
    elif not schema_type and not int_or_string and not preserve:
        detail = {
            _Level.ROOT: "must not be empty at the root",
            _Level.ITEMS: "must not be empty for specified array items",
            _Level.FIELD: "must not be empty for specified object fields",
        }[level]
        errors.append(_required(f"{path}.type", detail))
    if embedded and additional is not None:
        errors.append(
            _forbidden(f"{path}.additionalProperties", "must not be used if x-kubernetes-embedded-resource is set")
        )
    if level == _Level.ROOT and schema_type and schema_type != "object":
        errors.append(_invalid(f"{path}.type", schema_type, "must be object at the root"))
    for meta_field in ("kind", "apiVersion"):
        prop = properties.get(meta_field)
        if isinstance(prop, Mapping) and check_metadata and prop.get("type") != "string":
            errors.append(_invalid(f"{path}.properties[{meta_field}].type", prop.get("type") or "", "must be string"))
    metadata = properties.get("metadata")
    if isinstance(metadata, Mapping):
        meta_path = f"{path}.properties[metadata]"
        if check_metadata and metadata.get("type") != "object":
            errors.append(_invalid(f"{meta_path}.type", metadata.get("type") or "", "must be object"))
        if level == _Level.ROOT:
            rest = {
                k: v
                for k, v in metadata.items()
                if k not in ("type", "default", "properties") and v not in (None, "", [], {}, False)
            }
            meta_properties = _mapping(metadata.get("properties"))
            if set(meta_properties) - {"name", "generateName"} or rest:
                errors.append(
                    _forbidden(
                        meta_path,
                        "must not specify anything other than name and generateName, but metadata is "
                        "implicitly specified",
                    )
                )
    if embedded and not preserve and not properties:
        errors.append(
            _required(
                f"{path}.properties",
                "must not be empty if x-kubernetes-embedded-resource is true without "
                "x-kubernetes-preserve-unknown-fields",
            )
        )
    return errors


def _value_validation_errors(
    raw: Mapping[str, Any], skip_any_of: bool, skip_first_all_of_any_of: bool, path: str
) -> list[FieldError]:
    errors: list[FieldError] = []
    if not skip_any_of:
        for index, branch in enumerate(raw.get("anyOf") or []):
            if isinstance(branch, Mapping):
                errors.extend(_nested_value_validation_errors(branch, False, f"{path}.anyOf[{index}]"))
    for index, branch in enumerate(raw.get("allOf") or []):
        if isinstance(branch, Mapping):
            errors.extend(
                _nested_value_validation_errors(
                    branch, skip_first_all_of_any_of and index == 0, f"{path}.allOf[{index}]"
                )
            )
    for index, branch in enumerate(raw.get("oneOf") or []):
        if isinstance(branch, Mapping):
            errors.extend(_nested_value_validation_errors(branch, False, f"{path}.oneOf[{index}]"))
    if isinstance(raw.get("not"), Mapping):
        errors.extend(_nested_value_validation_errors(raw["not"], False, f"{path}.not"))
    pattern = raw.get("pattern")
    if isinstance(pattern, str) and pattern:
        compiled = _compile_pattern(pattern)
        if isinstance(compiled, str):
            errors.append(
                _invalid(f"{path}.pattern", pattern, f"must be a valid regular expression, but isn't: {compiled}")
            )
    return errors


def _nested_value_validation_errors(raw: Mapping[str, Any], skip_any_of: bool, path: str) -> list[FieldError]:
    errors = _value_validation_errors(raw, skip_any_of, False, path)
    if isinstance(raw.get("items"), Mapping):
        errors.extend(_nested_value_validation_errors(raw["items"], False, f"{path}.items"))
    properties = _mapping(raw.get("properties"))
    for name, prop in properties.items():
        if isinstance(prop, Mapping):
            errors.extend(_nested_value_validation_errors(prop, False, f"{path}.properties[{name}]"))
    for key, detail in _JUNCTOR_FORBIDDEN:
        if raw.get(key) not in (None, False, "", [], {}):
            errors.append(_forbidden(f"{path}.{key}", detail))
    if raw.get("additionalProperties") is not None:
        errors.append(_forbidden(f"{path}.additionalProperties", "must be undefined to be structural"))
    if "metadata" in properties:
        errors.append(_forbidden(f"{path}.properties[metadata]", "must not be specified in a nested context"))
    return errors


def _completeness(
    raw: Mapping[str, Any], structural: Mapping[str, Any] | None, s_path: str, v_path: str
) -> list[FieldError]:
    """Properties and items used in junctors must be specified in the structural part of the schema too."""
    errors: list[FieldError] = []
    for junctor in ("allOf", "anyOf", "oneOf"):
        for index, branch in enumerate(raw.get(junctor) or []):
            if isinstance(branch, Mapping):
                errors.extend(_nested_completeness(branch, structural, s_path, f"{v_path}.{junctor}[{index}]"))
    if isinstance(raw.get("not"), Mapping):
        errors.extend(_nested_completeness(raw["not"], structural, s_path, f"{v_path}.not"))
    return errors


def _nested_completeness(
    raw: Mapping[str, Any], structural: Mapping[str, Any] | None, s_path: str, v_path: str
) -> list[FieldError]:
    if structural is None:
        return [_required(s_path, f"because it is defined in {v_path}")]
    errors = _completeness(raw, structural, s_path, v_path)
    if isinstance(raw.get("items"), Mapping):
        items = structural.get("items") if isinstance(structural.get("items"), Mapping) else None
        errors.extend(_nested_completeness(raw["items"], items, f"{s_path}.items", f"{v_path}.items"))
    structural_properties = _mapping(structural.get("properties"))
    for name, prop in (raw.get("properties") or {}).items():
        if not isinstance(prop, Mapping):
            continue
        if name not in structural_properties:
            errors.append(
                _required(f"{s_path}.properties[{name}]", f"because it is defined in {v_path}.properties[{name}]")
            )
        else:
            errors.extend(
                _nested_completeness(
                    prop,
                    structural_properties[name],
                    f"{s_path}.properties[{name}]",
                    f"{v_path}.properties[{name}]",
                )
            )
    return errors


def _validate_defaults(
    node: _Node, path: str, resource_root: bool = False, inside_meta: bool = False
) -> list[FieldError]:
    """ValidateDefaults: each default must be pruned, and valid against its own schema, CEL rules included."""
    errors: list[FieldError] = []
    if node.has_default and not inside_meta:
        default_path = f"{path}.default"
        pruned = copy.deepcopy(node.default)
        _prune(pruned, node, _UnknownFields(), embedded=node.embedded)
        if not _deep_equal(pruned, node.default):
            errors.append(_invalid(default_path, node.default, "must not have unknown fields"))
        found = _to_field_errors(_OpenApiValidator().validate(node, node.default, "", None), default_path)
        if found:
            errors.extend(found)
        elif node.subtree_has_rules:
            errors.extend(
                _rename_root(
                    _cel_validate(node, node.default, node.default, None, _NO_RATCHET, resource_root or node.embedded),
                    default_path,
                )
            )
    if node.items is not None:
        errors.extend(_validate_defaults(node.items, f"{path}.items", inside_meta=inside_meta))
    for name, prop in node.properties.items():
        meta = inside_meta or ((resource_root or node.embedded) and name in _META_FIELDS)
        errors.extend(_validate_defaults(prop, f"{path}.properties[{name}]", inside_meta=meta))
    return errors


def _rename_root(errors: list[FieldError], root: str) -> list[FieldError]:
    renamed = []
    for error in errors:
        if error.field == ROOT_PATH:
            renamed.append(error._replace(field=root))
        elif error.field.startswith("["):
            renamed.append(error._replace(field=root + error.field))
        else:
            renamed.append(error._replace(field=f"{root}.{error.field}"))
    return renamed
