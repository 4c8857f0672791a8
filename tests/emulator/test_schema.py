"""CRD schemas: pruning, defaulting and validation, with the apiserver's exact field paths and messages.

The emulator's schema module is tested directly; the tables of values, valid and not, are then replayed through
the API (the test marked `cluster`): one CRD with a property per case, so that a real kube-apiserver answers
them the same.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_emulator.schema import (
    ROOT_PATH,
    CrdSchema,
    validate_crd_definition,
    validate_custom_resource_metadata,
)
from kube_emulator.validation import FieldError

from tests.raw_api import RawApi, raw_api

BLOCKED = FieldError(
    "FieldValueInvalid",
    "<nil>",
    "Invalid value: null: some validation rules were not checked because the object was invalid; correct "
    "the existing errors to complete validation",
)


def spec_schema(properties: dict[str, Any], **extra: Any) -> CrdSchema:
    """A root schema whose `spec` has the given properties."""
    return CrdSchema({"type": "object", "properties": {"spec": {"type": "object", "properties": properties, **extra}}})


def resource(spec: Any, **top: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kre.konstellation.io/v1",
        "kind": "Runtime",
        "metadata": {"name": "demo"},
        "spec": spec,
        **top,
    }


RUNTIME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["entrypoint", "mongo"],
            "properties": {
                "entrypoint": {
                    "type": "object",
                    "required": ["host"],
                    "properties": {
                        "host": {
                            "type": "string",
                            "maxLength": 63,
                            "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                        },
                        "tls": {"type": "boolean", "default": False},
                    },
                },
                "mongo": {
                    "type": "object",
                    "required": ["uri"],
                    "properties": {
                        "uri": {"type": "string", "pattern": "^mongodb(\\+srv)?://"},
                        "credentials": {
                            "type": "object",
                            "required": ["secretName"],
                            "properties": {
                                "secretName": {"type": "string", "minLength": 1},
                                "usernameKey": {"type": "string", "default": "username"},
                                "passwordKey": {"type": "string", "default": "password"},
                            },
                        },
                        "poolSize": {"type": "integer", "format": "int32", "minimum": 1, "default": 10},
                    },
                },
                "workflows": {
                    "type": "array",
                    "maxItems": 10,
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {
                        "type": "object",
                        "required": ["name", "nodes"],
                        "properties": {
                            "name": {"type": "string"},
                            "exitpoint": {"type": "string"},
                            "nodes": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "required": ["id", "image"],
                                    "properties": {
                                        "id": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
                                        "image": {"type": "string"},
                                        "replicas": {"type": "integer", "default": 1, "minimum": 0},
                                        "gpu": {"type": "boolean", "default": False},
                                        "resources": {
                                            "type": "object",
                                            "x-kubernetes-preserve-unknown-fields": True,
                                        },
                                    },
                                },
                            },
                        },
                        "x-kubernetes-validations": [
                            {
                                "rule": "!has(self.exitpoint) || self.nodes.exists(n, n.id == self.exitpoint)",
                                "message": "exitpoint must be the id of one of the nodes",
                                "fieldPath": ".exitpoint",
                            }
                        ],
                    },
                },
            },
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.workflows) || self.workflows.all(w, w.nodes.all(n, n.replicas <= 5))",
                    "message": "a node may have at most 5 replicas",
                },
                {"rule": "self.mongo.uri == oldSelf.mongo.uri", "message": "mongo.uri is immutable"},
            ],
        },
        "status": {
            "type": "object",
            "properties": {"phase": {"type": "string", "enum": ["Pending", "Running", "Failed"]}},
        },
    },
}


def runtime_spec(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "entrypoint": {"host": "demo"},
        "mongo": {"uri": "mongodb://mongo:27017", "credentials": {"secretName": "mongo-creds"}},
        "workflows": [
            {
                "name": "greeter",
                "exitpoint": "exit",
                "nodes": [{"id": "entry", "image": "greeter:1"}, {"id": "exit", "image": "exit:1"}],
            }
        ],
    }
    spec.update(changes)
    return spec


@pytest.fixture(scope="module")
def runtime() -> CrdSchema:
    return CrdSchema(RUNTIME_SCHEMA)


# ----------------------------------------------------------------------------------------------------
# Pruning
# ----------------------------------------------------------------------------------------------------


def test_prune_drops_unknown_fields_and_reports_sorted_paths(runtime: CrdSchema) -> None:
    spec = runtime_spec()
    spec["bogus"] = 1
    spec["mongo"]["credentials"]["token"] = "x"
    spec["workflows"][0]["nodes"][1]["extra"] = {"a": 1}
    body = resource(spec, junk=True)
    original = copy.deepcopy(body)

    pruned, paths = runtime.prune(body)

    assert paths == ["junk", "spec.bogus", "spec.mongo.credentials.token", "spec.workflows[0].nodes[1].extra"]
    assert "junk" not in pruned
    assert "bogus" not in pruned["spec"]
    assert pruned["spec"]["mongo"]["credentials"] == {"secretName": "mongo-creds"}
    assert pruned["spec"]["workflows"][0]["nodes"][1] == {"id": "exit", "image": "exit:1"}
    assert body == original  # the input is left alone


def test_prune_keeps_type_and_object_meta_at_the_root_but_drops_unknown_metadata_fields() -> None:
    schema = CrdSchema({"type": "object", "properties": {"spec": {"type": "object"}}})
    body = {
        "apiVersion": "x.io/v1",
        "kind": "Thing",
        "metadata": {
            "name": "a",
            "labels": {"k": "v"},
            "ownerReferences": [{"name": "o", "color": "red"}],
            "x": 1,
        },
        "spec": {},
    }

    pruned, paths = schema.prune(body)

    assert paths == ["metadata.x", "metadata.ownerReferences[0].color"]
    assert pruned == {
        "apiVersion": "x.io/v1",
        "kind": "Thing",
        "metadata": {"name": "a", "labels": {"k": "v"}, "ownerReferences": [{"name": "o"}]},
        "spec": {},
    }


def test_prune_with_preserve_unknown_fields_at_the_root_only_prunes_inside_specified_properties() -> None:
    schema = CrdSchema(
        {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}},
        }
    )

    pruned, paths = schema.prune(
        {"apiVersion": "x.io/v1", "kind": "T", "anything": {"goes": 1}, "spec": {"size": 1, "color": "red"}}
    )

    assert paths == ["spec.color"]
    assert pruned["anything"] == {"goes": 1}
    assert pruned["spec"] == {"size": 1}


def test_prune_with_preserve_unknown_fields_nested(runtime: CrdSchema) -> None:
    spec = runtime_spec()
    spec["workflows"][0]["nodes"][0]["resources"] = {"limits": {"cpu": "1"}, "whatever": [1, 2]}

    pruned, paths = runtime.prune(resource(spec))

    assert paths == []
    assert pruned["spec"]["workflows"][0]["nodes"][0]["resources"] == {
        "limits": {"cpu": "1"},
        "whatever": [1, 2],
    }


def test_prune_keeps_map_keys_and_prunes_their_values() -> None:
    schema = spec_schema(
        {
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "limits": {
                "type": "object",
                "additionalProperties": {"type": "object", "properties": {"max": {"type": "integer"}}},
            },
        }
    )

    pruned, paths = schema.prune(resource({"labels": {"a": "1", "b": "2"}, "limits": {"cpu": {"max": 2, "min": 1}}}))

    assert pruned["spec"] == {"labels": {"a": "1", "b": "2"}, "limits": {"cpu": {"max": 2}}}
    assert paths == ["spec.limits.cpu.min"]


def test_prune_embedded_resource_keeps_its_type_meta_and_prunes_its_metadata() -> None:
    schema = spec_schema(
        {
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": True,
                "properties": {"spec": {"type": "object", "properties": {"image": {"type": "string"}}}},
            }
        }
    )
    template = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "bogus": 1},
        "spec": {"image": "nginx", "port": 80},
        "status": {},
    }

    pruned, paths = schema.prune(resource({"template": template}))

    assert pruned["spec"]["template"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"image": "nginx"},
    }
    assert paths == ["spec.template.spec.port", "spec.template.status", "spec.template.metadata.bogus"]


def test_prune_removes_nulls_of_non_nullable_fields_without_default() -> None:
    schema = spec_schema(
        {
            "plain": {"type": "string"},
            "nullable": {"type": "string", "nullable": True},
            "defaulted": {"type": "string", "default": "d"},
        }
    )

    pruned, _ = schema.prune(resource({"plain": None, "nullable": None, "defaulted": None}))
    prepared, _ = schema.prepare(resource({"plain": None, "nullable": None, "defaulted": None}))

    assert pruned["spec"] == {"nullable": None, "defaulted": None}
    assert prepared["spec"] == {"nullable": None, "defaulted": "d"}


# ----------------------------------------------------------------------------------------------------
# Defaulting
# ----------------------------------------------------------------------------------------------------


def test_defaults_nested_inside_objects_and_arrays(runtime: CrdSchema) -> None:
    spec = runtime_spec()
    spec["workflows"][0]["nodes"][1]["replicas"] = 3

    defaulted = runtime.apply_defaults(resource(spec))

    assert defaulted["spec"]["entrypoint"] == {"host": "demo", "tls": False}
    assert defaulted["spec"]["mongo"]["poolSize"] == 10
    assert defaulted["spec"]["mongo"]["credentials"] == {
        "secretName": "mongo-creds",
        "usernameKey": "username",
        "passwordKey": "password",
    }
    nodes = defaulted["spec"]["workflows"][0]["nodes"]
    assert nodes[0] == {"id": "entry", "image": "greeter:1", "replicas": 1, "gpu": False}
    assert nodes[1] == {"id": "exit", "image": "exit:1", "replicas": 3, "gpu": False}


def test_a_defaulted_object_gets_the_defaults_of_its_own_fields() -> None:
    schema = spec_schema(
        {
            "mongo": {
                "type": "object",
                "default": {},
                "properties": {"port": {"type": "integer", "default": 27017}, "host": {"type": "string"}},
            }
        }
    )

    assert schema.apply_defaults(resource({}))["spec"] == {"mongo": {"port": 27017}}


def test_defaults_of_map_values_and_null_items() -> None:
    schema = spec_schema(
        {
            "pools": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"size": {"type": "integer", "default": 2}},
                },
            },
            "ports": {"type": "array", "items": {"type": "integer", "default": 80}},
        }
    )

    defaulted = schema.apply_defaults(resource({"pools": {"a": {}, "b": {"size": 5}}, "ports": [None, 443]}))

    assert defaulted["spec"] == {"pools": {"a": {"size": 2}, "b": {"size": 5}}, "ports": [80, 443]}


def test_defaults_are_copies_and_the_input_is_untouched() -> None:
    schema = spec_schema({"tags": {"type": "array", "items": {"type": "string"}, "default": ["a"]}})
    body = resource({})

    first = schema.apply_defaults(body)
    first["spec"]["tags"].append("b")
    second = schema.apply_defaults(body)

    assert body["spec"] == {}
    assert second["spec"]["tags"] == ["a"]


# ----------------------------------------------------------------------------------------------------
# OpenAPI value validation
# ----------------------------------------------------------------------------------------------------


def errors_for(properties: dict[str, Any], spec: Any, **extra: Any) -> list[FieldError]:
    return spec_schema(properties, **extra).validate(resource(spec))


TYPE_ERRORS: list[Any] = [
    (
        {"type": "integer"},
        "string",
        (
            "FieldValueTypeInvalid",
            'Invalid value: "string": spec.x in body must be of type integer: "string"',
        ),
    ),
    (
        {"type": "integer"},
        1.5,
        (
            "FieldValueTypeInvalid",
            'Invalid value: "number": spec.x in body must be of type integer: "number"',
        ),
    ),
    (
        {"type": "string"},
        {"a": 1},
        (
            "FieldValueTypeInvalid",
            'Invalid value: "object": spec.x in body must be of type string: "object"',
        ),
    ),
    (
        {"type": "boolean"},
        "true",
        (
            "FieldValueTypeInvalid",
            'Invalid value: "string": spec.x in body must be of type boolean: "string"',
        ),
    ),
    (
        {"type": "array", "items": {"type": "string"}},
        "a",
        (
            "FieldValueTypeInvalid",
            'Invalid value: "string": spec.x in body must be of type array: "string"',
        ),
    ),
    (
        {"type": "object"},
        None,
        ("FieldValueTypeInvalid", 'Invalid value: "null": spec.x in body must be of type object: "null"'),
    ),
    (
        {"x-kubernetes-int-or-string": True},
        True,
        (
            "FieldValueTypeInvalid",
            'Invalid value: "boolean": spec.x in body must be of type integer,string: "boolean"',
        ),
    ),
]


@pytest.mark.parametrize(("schema", "value", "expected"), TYPE_ERRORS)
def test_type_errors(schema: dict[str, Any], value: Any, expected: tuple[str, str]) -> None:
    found = errors_for({"x": schema}, {"x": value})
    if value == 1.5:  # the number validator, which runs all the same, cannot read 1.5 as an integer either
        checked = 'Invalid value: "": Checked value must be of type integer (default format) in spec.x'
        assert found[1:] == [FieldError("FieldValueInvalid", ROOT_PATH, checked)]
        found = found[:1]
    assert found == [FieldError(expected[0], "spec.x", expected[1])]


VALID_VALUES: list[Any] = [
    ({"type": "integer"}, 3),
    ({"type": "integer"}, 3.0),  # an integral float is an integer
    ({"type": "number"}, 3),
    ({"type": "number"}, 2.5),
    ({"type": "string"}, ""),
    ({"type": "object", "nullable": True}, None),
    ({"x-kubernetes-int-or-string": True}, 8080),
    ({"x-kubernetes-int-or-string": True}, "http"),
    ({"type": "integer", "format": "int32"}, 2**31 - 1),
    ({"type": "integer", "format": "int64"}, 2**40),
    ({"type": "string", "format": "k8s-short-name"}, "web-1"),  # from 1.34
    ({"type": "string", "format": "k8s-long-name"}, "web-1.example.com"),
    ({"type": "string", "format": "date-time"}, "2024-05-01T10:00:00Z"),
    ({"type": "string", "format": "date-time"}, "2024-05-01T10:00:00.123+02:00"),
    ({"type": "string", "format": "date"}, "2024-02-29"),
    ({"type": "string", "format": "byte"}, "aGVsbG8="),
    ({"type": "string", "format": "uuid"}, "123e4567-e89b-12d3-a456-426614174000"),
    ({"type": "string", "format": "ipv4"}, "10.0.0.1"),
    ({"type": "string", "format": "duration"}, "1h30m"),
    ({"type": "string", "format": "uri"}, "https://example.com/x"),
    ({"type": "string", "format": "not-a-known-format"}, "anything"),
]


@pytest.mark.parametrize(("schema", "value"), VALID_VALUES)
def test_valid_values(schema: dict[str, Any], value: Any) -> None:
    assert errors_for({"x": schema}, {"x": value}) == []


FORMAT_ERRORS: list[Any] = [
    ("date-time", "yesterday"),
    ("date-time", "2024-05-01 10:00:00"),
    ("date", "2023-02-29"),
    ("byte", "not base64!"),
    ("uuid", "123"),
    ("ipv4", "10.0.0.256"),
    ("ipv6", "10.0.0.1"),
    ("duration", "soon"),
    ("email", "nobody"),
    ("uri", "not a uri"),
]


@pytest.mark.parametrize(("fmt", "value"), FORMAT_ERRORS)
def test_format_errors(fmt: str, value: str) -> None:
    assert errors_for({"x": {"type": "string", "format": fmt}}, {"x": value}) == [
        FieldError(
            "FieldValueTypeInvalid",
            "spec.x",
            f'Invalid value: "{value}": spec.x in body must be of type {fmt}: "{value}"',
        )
    ]


INTEGER_FORMAT_ERRORS = [
    # kube-openapi's number validator: the value, as Go prints it, must parse as the format's integer.
    ({"type": "integer", "format": "int32"}, 2**31, "integer with format int32"),
    ({"type": "integer", "format": "int64"}, 2.5, "integer with format int64"),
]


@pytest.mark.parametrize(("schema", "value", "checked"), INTEGER_FORMAT_ERRORS)
def test_integer_formats_bound_the_value(schema: dict[str, Any], value: Any, checked: str) -> None:
    found = errors_for({"x": schema}, {"x": value})
    range_error = FieldError(
        "FieldValueInvalid", ROOT_PATH, f'Invalid value: "": Checked value must be of type {checked} in spec.x'
    )
    if isinstance(value, int):
        assert found == [range_error]
    else:  # 2.5 is no integer to the type check either, which comes first
        assert [(e.reason, e.field) for e in found] == [
            ("FieldValueTypeInvalid", "spec.x"),
            ("FieldValueInvalid", ROOT_PATH),
        ]
        assert found[1] == range_error


def test_enum() -> None:
    properties = {
        "mode": {"type": "string", "enum": ["a", "b"]},
        "level": {"type": "integer", "enum": [1, 2]},
    }

    assert errors_for(properties, {"mode": "a", "level": 2}) == []
    assert errors_for(properties, {"mode": "x", "level": 3}) == [
        FieldError("FieldValueNotSupported", "spec.mode", 'Unsupported value: "x": supported values: "a", "b"'),
        FieldError("FieldValueNotSupported", "spec.level", 'Unsupported value: 3: supported values: "1", "2"'),
    ]


def test_required() -> None:
    schema = {"name": {"type": "string"}, "size": {"type": "integer"}}

    assert errors_for(schema, {"name": "a", "size": 1}, required=["name", "size"]) == []
    assert errors_for(schema, {"size": 1}, required=["name", "size"]) == [
        FieldError("FieldValueRequired", "spec.name", "Required value")
    ]


def test_required_at_the_root() -> None:
    schema = CrdSchema({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object"}}})

    assert schema.validate({"apiVersion": "x.io/v1", "kind": "T", "metadata": {"name": "a"}}) == [
        FieldError("FieldValueRequired", "spec", "Required value")
    ]


VALUE_VALIDATIONS: list[Any] = [
    (
        {"type": "string", "pattern": "^[a-z]+$"},
        "abc",
        "ABC",
        ("FieldValueInvalid", "Invalid value: \"ABC\": spec.x in body should match '^[a-z]+$'"),
    ),
    (
        {"type": "string", "minLength": 3},
        "abc",
        "ab",
        ("FieldValueInvalid", 'Invalid value: "ab": spec.x in body should be at least 3 chars long'),
    ),
    (
        {"type": "string", "maxLength": 63},
        "a" * 63,
        "a" * 64,
        ("FieldValueTooLong", "Too long: may not be more than 63 bytes"),
    ),
    (
        {"type": "integer", "minimum": 1},
        1,
        0,
        ("FieldValueInvalid", "Invalid value: 0: spec.x in body should be greater than or equal to 1"),
    ),
    (
        {"type": "integer", "maximum": 10},
        10,
        11,
        ("FieldValueInvalid", "Invalid value: 11: spec.x in body should be less than or equal to 10"),
    ),
    (
        {"type": "integer", "maximum": 10, "exclusiveMaximum": True},
        9,
        10,
        ("FieldValueInvalid", "Invalid value: 10: spec.x in body should be less than 10"),
    ),
    (
        {"type": "number", "minimum": 0.5, "exclusiveMinimum": True},
        0.6,
        0.5,
        ("FieldValueInvalid", "Invalid value: 0.5: spec.x in body should be greater than 0.5"),
    ),
    (
        {"type": "integer", "multipleOf": 5},
        15,
        12,
        ("FieldValueInvalid", "Invalid value: 12: spec.x in body should be a multiple of 5"),
    ),
    (
        {"type": "array", "items": {"type": "string"}, "minItems": 2},
        ["a", "b"],
        ["a"],
        ("FieldValueInvalid", "Invalid value: 1: spec.x in body should have at least 2 items"),
    ),
    (
        {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        ["a", "b"],
        ["a", "b", "c"],
        ("FieldValueTooMany", "Too many: 3: must have at most 2 items"),
    ),
    (
        {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1},
        {"a": "1"},
        {},
        ("FieldValueInvalid", "Invalid value: 0: spec.x in body should have at least 1 properties"),
    ),
    (
        {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1},
        {"a": "1"},
        {"a": "1", "b": "2"},
        ("FieldValueTooMany", "Too many: 2: must have at most 1 item"),
    ),
]


@pytest.mark.parametrize(("schema", "good", "bad", "expected"), VALUE_VALIDATIONS)
def test_value_validations(schema: dict[str, Any], good: Any, bad: Any, expected: tuple[str, str]) -> None:
    assert errors_for({"x": schema}, {"x": good}) == []
    assert errors_for({"x": schema}, {"x": bad}) == [FieldError(expected[0], "spec.x", expected[1])]


def test_max_length_counts_characters_not_bytes() -> None:
    assert errors_for({"x": {"type": "string", "maxLength": 3}}, {"x": "ñüé"}) == []


def test_map_values_are_validated_with_dotted_paths() -> None:
    schema = {"labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 3}}}

    assert errors_for(schema, {"labels": {"a": "ok", "b": 2, "c": "long"}}) == [
        FieldError(
            "FieldValueTypeInvalid",
            "spec.labels.b",
            'Invalid value: "integer": spec.labels.b in body must be of type string: "integer"',
        ),
        FieldError("FieldValueTooLong", "spec.labels.c", "Too long: may not be more than 3 bytes"),
    ]


def test_additional_properties_false_forbids_keys() -> None:
    schema = {"x": {"type": "object", "additionalProperties": False}}

    assert errors_for(schema, {"x": {"a": 1}}) == [
        FieldError("FieldValueInvalid", "spec.x", 'Invalid value: "a": spec.x.a in body is a forbidden property')
    ]


def test_list_type_set_reports_each_duplicate_once() -> None:
    schema = {"tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}

    assert errors_for(schema, {"tags": ["a", "b", "c"]}) == []
    assert errors_for(schema, {"tags": ["a", "b", "a", "a", "b"]}) == [
        FieldError("FieldValueDuplicate", "spec.tags[2]", 'Duplicate value: "a"'),
        FieldError("FieldValueDuplicate", "spec.tags[4]", 'Duplicate value: "b"'),
    ]


def test_list_type_map_keys() -> None:
    schema = {
        "ports": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name", "protocol"],
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "protocol": {"type": "string"},
                    "port": {"type": "integer"},
                },
            },
        }
    }
    good = [{"name": "http", "protocol": "TCP", "port": 80}, {"name": "http", "protocol": "UDP", "port": 80}]
    bad = [{"name": "http", "protocol": "TCP", "port": 80}, {"name": "http", "protocol": "TCP", "port": 81}]

    assert errors_for(schema, {"ports": good}) == []
    assert errors_for(schema, {"ports": bad}) == [
        FieldError(
            "FieldValueDuplicate",
            "spec.ports[1]",
            'Duplicate value: {"name":"http","protocol":"TCP"}',
        )
    ]


def test_realistic_runtime_errors_have_kubernetes_paths(runtime: CrdSchema) -> None:
    spec = runtime_spec()
    spec["entrypoint"]["host"] = "Demo_Host"
    del spec["mongo"]["credentials"]["secretName"]
    spec["workflows"][0]["nodes"][1]["id"] = "Exit"
    spec["workflows"][0]["nodes"].append({"id": "third"})
    body, _ = runtime.prepare(resource(spec))

    assert runtime.validate(body) == [
        FieldError(
            "FieldValueInvalid",
            "spec.entrypoint.host",
            "Invalid value: \"Demo_Host\": spec.entrypoint.host in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
        ),
        FieldError("FieldValueRequired", "spec.mongo.credentials.secretName", "Required value"),
        FieldError(
            "FieldValueInvalid",
            "spec.workflows[0].nodes[1].id",
            "Invalid value: \"Exit\": spec.workflows[0].nodes[1].id in body should match '^[a-z][a-z0-9-]*$'",
        ),
        FieldError("FieldValueRequired", "spec.workflows[0].nodes[2].image", "Required value"),
        BLOCKED,
    ]


def test_a_valid_runtime_passes(runtime: CrdSchema) -> None:
    body, unknown = runtime.prepare(resource(runtime_spec()))

    assert unknown == []
    assert runtime.validate(body) == []


def test_junctors_report_on_the_object_as_a_whole() -> None:
    schema = {
        "any": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                "anyOf": [{"required": ["a"]}, {"required": ["b"]}]},
        "one": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                "oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
        "all": {"type": "string", "allOf": [{"minLength": 2}, {"maxLength": 3}]},
        "not": {"type": "string", "not": {"enum": ["forbidden"]}},
    }  # fmt: skip

    assert errors_for(schema, {"any": {"b": "x"}, "one": {"a": "x"}, "all": "abc", "not": "fine"}) == []
    assert errors_for(schema, {"any": {}, "one": {"a": "x", "b": "y"}, "all": "a", "not": "forbidden"}) == [
        FieldError(
            "FieldValueInvalid",
            ROOT_PATH,
            'Invalid value: "": "spec.any" must validate at least one schema (anyOf)',
        ),
        FieldError("FieldValueRequired", "spec.any.a", "Required value"),
        FieldError(
            "FieldValueInvalid",
            ROOT_PATH,
            'Invalid value: "": "spec.one" must validate one and only one schema (oneOf). Found 2 valid alternatives',
        ),
        FieldError(
            "FieldValueInvalid",
            "spec.all",
            'Invalid value: "a": spec.all in body should be at least 2 chars long',
        ),
        FieldError(
            "FieldValueInvalid",
            ROOT_PATH,
            'Invalid value: "": "spec.all" must validate all the schemas (allOf)',
        ),
        FieldError("FieldValueInvalid", ROOT_PATH, 'Invalid value: "": "spec.not" must not validate the schema (not)'),
    ]


def test_int_or_string_with_any_of_pattern() -> None:
    schema = {
        "port": {
            "x-kubernetes-int-or-string": True,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": "^[a-z]+$",
        }
    }

    assert errors_for(schema, {"port": 80}) == []
    assert errors_for(schema, {"port": "http"}) == []
    assert errors_for(schema, {"port": "HTTP"}) == [
        FieldError(
            "FieldValueInvalid",
            "spec.port",
            "Invalid value: \"HTTP\": spec.port in body should match '^[a-z]+$'",
        )
    ]


def test_embedded_resources_need_api_version_and_kind() -> None:
    schema = {
        "template": {
            "type": "object",
            "x-kubernetes-embedded-resource": True,
            "x-kubernetes-preserve-unknown-fields": True,
        }
    }

    assert errors_for(schema, {"template": {"apiVersion": "v1", "kind": "Pod"}}) == []
    assert errors_for(schema, {"template": {"kind": "pod_x", "metadata": {"name": "a/b"}}}) == [
        FieldError("FieldValueRequired", "spec.template.apiVersion", "Required value"),
        FieldError(
            "FieldValueInvalid",
            "spec.template.kind",
            'Invalid value: "pod_x": may have mixed case, but should otherwise match: a DNS-1035 label must '
            "consist of lower case alphanumeric characters or '-', start with an alphabetic character, and "
            "end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
            "'[a-z]([-a-z0-9]*[a-z0-9])?')",
        ),
        FieldError("FieldValueInvalid", "spec.template.metadata.name", "Invalid value: \"a/b\": may not contain '/'"),
    ]


# ----------------------------------------------------------------------------------------------------
# Metadata
# ----------------------------------------------------------------------------------------------------


def test_custom_resource_names_are_dns_subdomains() -> None:
    assert (
        validate_custom_resource_metadata({"metadata": {"name": "demo.v1", "namespace": "ns"}}, namespaced=True) == []
    )
    assert validate_custom_resource_metadata({"metadata": {"name": "Demo_1"}}, namespaced=True) == [
        FieldError(
            "FieldValueInvalid",
            "metadata.name",
            'Invalid value: "Demo_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric '
            "characters, '-' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ),
        FieldError("FieldValueRequired", "metadata.namespace", "Required value"),
    ]
    assert validate_custom_resource_metadata({"metadata": {}}, namespaced=False) == [
        FieldError("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")
    ]
    assert validate_custom_resource_metadata({"metadata": {"name": "a", "namespace": "ns"}}, namespaced=False) == [
        FieldError("FieldValueForbidden", "metadata.namespace", "Forbidden: not allowed on this type")
    ]


def test_schema_may_restrict_metadata_name_with_properties_and_cel() -> None:
    schema = CrdSchema(
        {
            "type": "object",
            "properties": {
                "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}}},
                "spec": {"type": "object"},
            },
            "x-kubernetes-validations": [
                {"rule": "self.metadata.name.startsWith('rt-')", "message": "name must start with rt-"}
            ],
        }
    )

    assert schema.validate({"apiVersion": "x.io/v1", "kind": "T", "metadata": {"name": "rt-a"}}) == []
    assert schema.validate({"apiVersion": "x.io/v1", "kind": "T", "metadata": {"name": "rt-too-long"}}) == [
        FieldError("FieldValueTooLong", "metadata.name", "Too long: may not be more than 8 bytes"),
        BLOCKED,
    ]
    assert schema.validate({"apiVersion": "x.io/v1", "kind": "T", "metadata": {"name": "demo"}}) == [
        FieldError("FieldValueInvalid", ROOT_PATH, "Invalid value: name must start with rt-")
    ]


def test_preceding_metadata_errors_block_cel() -> None:
    schema = spec_schema({}, **{"x-kubernetes-validations": [{"rule": "false"}]})
    metadata_errors = validate_custom_resource_metadata({"metadata": {}}, namespaced=False)

    assert schema.validate(resource({}), preceding_errors=metadata_errors) == [*metadata_errors, BLOCKED]


# ----------------------------------------------------------------------------------------------------
# CEL rules
# ----------------------------------------------------------------------------------------------------


def cel_errors(rules: list[dict[str, Any]], spec: Any, properties: dict[str, Any] | None = None) -> list[FieldError]:
    props = properties or {
        "name": {"type": "string"},
        "minReplicas": {"type": "integer"},
        "maxReplicas": {"type": "integer"},
        "ratio": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    }
    return spec_schema(props, **{"x-kubernetes-validations": rules}).validate(resource(spec))


@pytest.mark.parametrize(
    "rule",
    [
        "has(self.name) && !has(self.ratio)",
        "size(self.name) == 4 && self.name.size() == 4",
        "self.tags.all(t, t.startsWith('t'))",
        "self.tags.exists(t, t == 't2')",
        "self.tags.exists_one(t, t == 't1')",
        "self.name.matches('^[a-z]+$')",
        "self.name.endsWith('mo') && self.name.contains('em')",
        "self.minReplicas <= self.maxReplicas",
        "self.minReplicas < 2.5",  # int compared with double
        "'t1' in self.tags && 'team' in self.labels && self.labels['team'] == 'ml'",
        "self.labels.all(k, k.lowerAscii() == k)",
        "self.tags.map(t, t.upperAscii()) == ['T1', 'T2']",
        "self.tags.filter(t, t != 't1').size() == 1",
        "self.name.split('m') == ['de', 'o'] && ['a', 'b'].join('-') == 'a-b'",
        "self.name.indexOf('m') == 2 && self.name.substring(1, 3) == 'em' && self.name.charAt(0) == 'd'",
        "self.name.replace('o', '0') == 'dem0' && ' x '.trim() == 'x'",
        "[3, 1, 2].sum() == 6 && [1, 2, 3].isSorted() && [4, 2].min() == 2 && [4, 2].max() == 4",
        "self.name.find('[a-z]') == 'd' && self.name.findAll('[de]') == ['d', 'e']",
        "self.minReplicas + 1 == 2 ? true : false",
        "string(self.maxReplicas) == '3' && int('5') == 5",
    ],
)
def test_cel_features_pass(rule: str) -> None:
    spec = {
        "name": "demo",
        "minReplicas": 1,
        "maxReplicas": 3,
        "tags": ["t1", "t2"],
        "labels": {"team": "ml"},
    }
    assert cel_errors([{"rule": rule}], spec) == []


def test_cel_rule_spanning_fields_uses_the_default_message() -> None:
    rule = "self.minReplicas <= self.maxReplicas"

    assert cel_errors([{"rule": rule}], {"minReplicas": 5, "maxReplicas": 3}) == [
        FieldError(
            "FieldValueInvalid",
            "spec",
            "Invalid value: failed rule: self.minReplicas <= self.maxReplicas",  # an object's value is left out
        )
    ]


def test_cel_message_message_expression_reason_and_field_path() -> None:
    rules = [
        {
            "rule": "self.minReplicas <= self.maxReplicas",
            "message": "minReplicas must not exceed maxReplicas",
        },
        {
            "rule": "self.name.size() <= 3",
            "messageExpression": "'name ' + self.name + ' is longer than 3'",
            "reason": "FieldValueForbidden",
            "fieldPath": ".name",
        },
        {
            "rule": "has(self.ratio)",
            "reason": "FieldValueRequired",
            "fieldPath": ".ratio",
            "message": "set a ratio",
        },
        {"rule": "false", "reason": "FieldValueDuplicate"},
    ]

    assert cel_errors(rules, {"name": "demo", "minReplicas": 5, "maxReplicas": 3}) == [
        FieldError("FieldValueInvalid", "spec", "Invalid value: minReplicas must not exceed maxReplicas"),
        FieldError("FieldValueForbidden", "spec.name", "Forbidden: name demo is longer than 3"),
        FieldError("FieldValueRequired", "spec.ratio", "Required value: set a ratio"),
        FieldError("FieldValueDuplicate", "spec", "Duplicate value"),  # an object's value is left out
    ]


def test_cel_rules_on_nested_nodes_and_map_values() -> None:
    properties = {
        "labels": {
            "type": "object",
            "additionalProperties": {"type": "string", "x-kubernetes-validations": [{"rule": "self != ''"}]},
        },
        "nodes": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"id": {"type": "string"}},
                "x-kubernetes-validations": [{"rule": "self.id.size() > 1", "message": "id too short"}],
            },
        },
    }

    assert cel_errors([], {"labels": {"a": "", "b": "x"}, "nodes": [{"id": "ab"}, {"id": "c"}]}, properties) == [
        FieldError("FieldValueInvalid", "spec.labels[a]", "Invalid value: \"\": failed rule: self != ''"),
        FieldError("FieldValueInvalid", "spec.nodes[1]", "Invalid value: id too short"),
    ]


def test_cel_property_names_are_escaped() -> None:
    properties = {"max-size": {"type": "integer"}, "namespace": {"type": "string"}}
    rules = [{"rule": "self.max__dash__size > 1 && self.__namespace__ == 'ns'"}]

    assert cel_errors(rules, {"max-size": 2, "namespace": "ns"}, properties) == []


def test_cel_runtime_errors_are_reported() -> None:
    assert cel_errors([{"rule": "self.ratio > 1.0"}], {}) == [
        FieldError(
            "FieldValueInvalid",
            "spec",
            'Invalid value: "object": no such key: ratio evaluating rule: self.ratio > 1.0',
        )
    ]


def test_cel_syntax_errors_are_reported() -> None:
    assert cel_errors([{"rule": "self.name =="}], {"name": "a"}) == [
        FieldError(
            "FieldValueInvalid",
            "spec",
            'Invalid value: "object": rule compile error: compilation failed: ERROR: <input>:1:11: '
            "Syntax error: unexpected input\n | self.name ==\n | ..........^",
        )
    ]


def test_cel_functions_cel_python_lacks_fail_loudly() -> None:
    assert cel_errors([{"rule": "isURL(self.name)"}], {"name": "https://x"}) == [
        FieldError(
            "FieldValueInvalid",
            "spec",
            "Invalid value: \"object\": undeclared reference to 'isURL' is not supported by the emulator's "
            "CEL engine (cel-python) evaluating rule: isURL(self.name)",
        )
    ]


def test_cel_rule_must_be_boolean() -> None:
    assert cel_errors([{"rule": "self.name"}], {"name": "a"}) == [
        FieldError(
            "FieldValueInvalid",
            "spec",
            'Invalid value: "object": rule compile error: cel expression must evaluate to a bool',
        )
    ]


def test_cel_at_the_root_reports_on_the_nil_path() -> None:
    schema = CrdSchema(
        {
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {"a": {"type": "integer"}}}},
            "x-kubernetes-validations": [{"rule": "self.spec.a > 0 && self.kind == 'Runtime'"}],
        }
    )

    assert schema.validate(resource({"a": 1})) == []
    assert schema.validate(resource({"a": 0})) == [
        FieldError(
            "FieldValueInvalid",
            ROOT_PATH,
            "Invalid value: failed rule: self.spec.a > 0 && self.kind == 'Runtime'",
        )
    ]


def test_transition_rule_with_old_self(runtime: CrdSchema) -> None:
    old, _ = runtime.prepare(resource(runtime_spec()))
    changed = copy.deepcopy(old)
    changed["spec"]["mongo"]["uri"] = "mongodb://elsewhere:27017"
    other = copy.deepcopy(old)
    other["spec"]["entrypoint"]["tls"] = True

    assert runtime.validate(changed) == []  # no old object on create: transition rules are skipped
    assert runtime.validate(other, old) == []
    assert runtime.validate(changed, old) == [
        FieldError("FieldValueInvalid", "spec", "Invalid value: mongo.uri is immutable")
    ]


def test_transition_rule_on_map_list_items_correlates_by_key() -> None:
    properties = {
        "workflows": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "image": {"type": "string"}},
                "x-kubernetes-validations": [{"rule": "self.image == oldSelf.image", "message": "image is immutable"}],
            },
        }
    }
    schema = spec_schema(properties)
    old = resource({"workflows": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]})
    reordered = resource(
        {
            "workflows": [
                {"name": "c", "image": "c:1"},
                {"name": "b", "image": "b:1"},
                {"name": "a", "image": "a:1"},
            ]
        }
    )
    changed = resource({"workflows": [{"name": "b", "image": "b:2"}, {"name": "a", "image": "a:1"}]})

    assert schema.validate(reordered, old) == []
    assert schema.validate(changed, old) == [
        FieldError("FieldValueInvalid", "spec.workflows[0]", "Invalid value: image is immutable")
    ]


def test_optional_old_self_runs_on_create_too() -> None:
    rule = {
        "rule": "!oldSelf.hasValue() || oldSelf.value() <= self",
        "optionalOldSelf": True,
        "message": "may only grow",
    }
    schema = spec_schema({"size": {"type": "integer", "x-kubernetes-validations": [rule]}})

    assert schema.validate(resource({"size": 3})) == []
    assert schema.validate(resource({"size": 3}), resource({"size": 2})) == []
    assert schema.validate(resource({"size": 1}), resource({"size": 2})) == [
        FieldError("FieldValueInvalid", "spec.size", "Invalid value: 1: may only grow")
    ]


def test_list_type_set_compares_as_a_set_in_cel() -> None:
    properties = {
        "tags": {
            "type": "array",
            "x-kubernetes-list-type": "set",
            "items": {"type": "string"},
            "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "tags are immutable"}],
        }
    }
    schema = spec_schema(properties)

    assert schema.validate(resource({"tags": ["b", "a"]}), resource({"tags": ["a", "b"]})) == []
    assert schema.validate(resource({"tags": ["a", "c"]}), resource({"tags": ["a", "b"]})) == [
        FieldError("FieldValueInvalid", "spec.tags", "Invalid value: tags are immutable")
    ]


def test_cel_values_follow_the_schema_formats() -> None:
    properties = {
        "timeout": {"type": "string", "format": "duration"},
        "since": {"type": "string", "format": "date-time"},
        "weight": {"type": "number"},
    }
    rules = [
        {
            "rule": "self.timeout > duration('1m') && self.since < timestamp('2030-01-01T00:00:00Z') "
            "&& self.weight == 2.0"
        }
    ]

    assert cel_errors(rules, {"timeout": "90s", "since": "2024-01-01T00:00:00Z", "weight": 2}, properties) == []


def test_cel_is_skipped_when_the_object_has_blocking_errors() -> None:
    assert cel_errors([{"rule": "false"}], {"minReplicas": "one"}) == [
        FieldError(
            "FieldValueTypeInvalid",
            "spec.minReplicas",
            'Invalid value: "string": spec.minReplicas in body must be of type integer: "string"',
        ),
        BLOCKED,
    ]


def test_cel_still_runs_after_non_blocking_errors() -> None:
    properties = {"name": {"type": "string", "pattern": "^[a-z]+$"}}

    assert cel_errors([{"rule": "false", "message": "never"}], {"name": "A"}, properties) == [
        FieldError(
            "FieldValueInvalid",
            "spec.name",
            "Invalid value: \"A\": spec.name in body should match '^[a-z]+$'",
        ),
        FieldError("FieldValueInvalid", "spec", "Invalid value: never"),
    ]


# ----------------------------------------------------------------------------------------------------
# Updates: ratcheting of unchanged invalid values
# ----------------------------------------------------------------------------------------------------


def test_unchanged_invalid_values_are_ratcheted_on_update() -> None:
    schema = spec_schema(
        {
            "name": {"type": "string", "maxLength": 3},
            "size": {"type": "integer"},
            "items": {"type": "array", "items": {"type": "string", "maxLength": 1}},
        }
    )
    old = resource({"name": "toolong", "size": 1, "items": ["aa"]})
    same_invalid = resource({"name": "toolong", "size": 2, "items": ["aa"]})
    newly_invalid = resource({"name": "toolonger", "size": 2, "items": ["aa", "bb"]})

    assert schema.validate(same_invalid) == [
        FieldError("FieldValueTooLong", "spec.name", "Too long: may not be more than 3 bytes"),
        FieldError("FieldValueTooLong", "spec.items[0]", "Too long: may not be more than 1 bytes"),
    ]
    assert schema.validate(same_invalid, old) == []
    assert schema.validate(newly_invalid, old) == [
        FieldError("FieldValueTooLong", "spec.name", "Too long: may not be more than 3 bytes"),
        FieldError("FieldValueTooLong", "spec.items[0]", "Too long: may not be more than 1 bytes"),
        FieldError("FieldValueTooLong", "spec.items[1]", "Too long: may not be more than 1 bytes"),
    ]


def test_unchanged_values_failing_cel_are_ratcheted_but_transition_rules_are_not() -> None:
    schema = spec_schema(
        {
            "a": {
                "type": "integer",
                "x-kubernetes-validations": [{"rule": "self > 5", "message": "a too small"}],
            },
            "b": {"type": "integer"},
        }
    )

    assert schema.validate(resource({"a": 1, "b": 2}), resource({"a": 1, "b": 1})) == []
    assert schema.validate(resource({"a": 2, "b": 2}), resource({"a": 1, "b": 1})) == [
        FieldError("FieldValueInvalid", "spec.a", "Invalid value: 2: a too small")
    ]


def test_list_type_errors_already_in_the_old_object_are_tolerated() -> None:
    schema = spec_schema({"tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}})

    assert schema.validate(resource({"tags": ["a", "a", "b"]}), resource({"tags": ["a", "a"]})) == []
    assert schema.validate(resource({"tags": ["a", "a"]}), resource({"tags": ["a"]})) == [
        FieldError("FieldValueDuplicate", "spec.tags[1]", 'Duplicate value: "a"')
    ]


def test_status_updates_validate_only_the_status(runtime: CrdSchema) -> None:
    old, _ = runtime.prepare(resource(runtime_spec()))
    new = copy.deepcopy(old)
    new["status"] = {"phase": "Done"}

    assert runtime.validate_status(new, old) == [
        FieldError(
            "FieldValueNotSupported",
            "status.phase",
            'Unsupported value: "Done": supported values: "Pending", "Running", "Failed"',
        ),
        BLOCKED,
    ]
    new["status"] = {"phase": "Running"}
    assert runtime.validate_status(new, old) == []


def test_compiled_programs_are_cached() -> None:
    from kube_emulator import schema as schema_module

    first = schema_module._compile_cel("self.a == 1")
    assert schema_module._compile_cel("self.a == 1") is first


# ----------------------------------------------------------------------------------------------------
# The CustomResourceDefinition itself
# ----------------------------------------------------------------------------------------------------


def crd(schema: dict[str, Any] | None = None, **spec_changes: Any) -> dict[str, Any]:
    versions = [
        {
            "name": "v1",
            "served": True,
            "storage": True,
            "schema": {"openAPIV3Schema": schema if schema is not None else RUNTIME_SCHEMA},
            "subresources": {"status": {}},
            "additionalPrinterColumns": [{"name": "Phase", "type": "string", "jsonPath": ".status.phase"}],
        }
    ]
    spec: dict[str, Any] = {
        "group": "kre.konstellation.io",
        "scope": "Namespaced",
        "names": {"plural": "runtimes", "singular": "runtime", "kind": "Runtime", "shortNames": ["rt"]},
        "versions": versions,
    }
    spec.update(spec_changes)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{spec['names'].get('plural', '')}.{spec.get('group', '')}"},
        "spec": spec,
    }


def test_a_valid_crd_passes() -> None:
    assert validate_crd_definition(crd()) == []


def test_crd_name_must_be_plural_dot_group() -> None:
    definition = crd()
    definition["metadata"]["name"] = "runtime.kre.konstellation.io"

    assert validate_crd_definition(definition) == [
        FieldError(
            "FieldValueInvalid",
            "metadata.name",
            'Invalid value: "runtime.kre.konstellation.io": must be spec.names.plural+"."+spec.group',
        )
    ]


def test_crd_group_scope_and_names() -> None:
    definition = crd(group="example", scope="Global")
    definition["spec"]["names"] = {"plural": "Runtimes", "kind": "Runtime", "listKind": "Runtime"}
    definition["metadata"]["name"] = "Runtimes.example"

    found = validate_crd_definition(definition)

    assert (
        FieldError(
            "FieldValueInvalid",
            "spec.group",
            'Invalid value: "example": should be a domain with at least one dot',
        )
        in found
    )
    assert (
        FieldError(
            "FieldValueNotSupported",
            "spec.scope",
            'Unsupported value: "Global": supported values: "Cluster", "Namespaced"',
        )
        in found
    )
    assert (
        FieldError(
            "FieldValueInvalid",
            "spec.names.listKind",
            'Invalid value: "Runtime": kind and listKind may not be the same',
        )
        in found
    )
    assert any(e.field == "spec.names.plural" and "DNS-1035 label" in e.message for e in found)
    assert any(e.field == "metadata.name" and "RFC 1123 subdomain" in e.message for e in found)


def test_crd_needs_exactly_one_storage_version_and_unique_names() -> None:
    definition = crd()
    second = copy.deepcopy(definition["spec"]["versions"][0])
    definition["spec"]["versions"].append(second)

    found = validate_crd_definition(definition)

    assert [(e.reason, e.field) for e in found] == [
        ("FieldValueInvalid", "spec.versions"),
        ("FieldValueInvalid", "spec.versions"),
        ("FieldValueInvalid", "status.storedVersions"),
    ]
    assert found[0].message.endswith(": must contain unique version names")
    assert found[1].message.endswith(": must have exactly one version marked as storage version")
    # The storedVersions a create starts with name the first storage version only: the second is "missing".
    assert found[2].message == 'Invalid value: ["v1"]: must have the storage version v1'

    definition["spec"]["versions"] = [definition["spec"]["versions"][0] | {"storage": False}]
    found = validate_crd_definition(definition)
    assert [e.message.rsplit(": ", 1)[-1] for e in found] == [
        "must have exactly one version marked as storage version",
        "must have at least one stored version",
    ]


def test_crd_versions_need_a_schema() -> None:
    definition = crd()
    del definition["spec"]["versions"][0]["schema"]

    assert validate_crd_definition(definition) == [
        FieldError(
            "FieldValueRequired",
            "spec.versions[0].schema.openAPIV3Schema",
            "Required value: schemas are required",
        )
    ]


def test_crd_schema_must_be_structural() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {"properties": {"a": {"type": "string"}}},
            "items": {"type": "array"},
            "status": {"type": "object", "x-kubernetes-embedded-resource": True},
        },
    }

    assert validate_crd_definition(crd(schema)) == [
        FieldError(
            "FieldValueRequired",
            "spec.validation.openAPIV3Schema.properties[items].items",
            "Required value: must be specified",
        ),
        FieldError(
            "FieldValueRequired",
            "spec.validation.openAPIV3Schema.properties[spec].type",
            "Required value: must not be empty for specified object fields",
        ),
        FieldError(
            "FieldValueRequired",
            "spec.validation.openAPIV3Schema.properties[status].properties",
            "Required value: must not be empty if x-kubernetes-embedded-resource is true without "
            "x-kubernetes-preserve-unknown-fields",
        ),
    ]


def test_crd_schema_paths_are_per_version_when_the_schemas_differ() -> None:
    definition = crd()
    v2 = copy.deepcopy(definition["spec"]["versions"][0])
    v2["name"] = "v2"
    v2["storage"] = False
    v2["schema"] = {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "strin"}}}}
    definition["spec"]["versions"].append(v2)

    assert validate_crd_definition(definition) == [
        FieldError(
            "FieldValueNotSupported",
            "spec.versions[1].schema.openAPIV3Schema.properties[spec].type",
            'Unsupported value: "strin": supported values: "array", "boolean", "integer", "number", "object", "string"',
        )
    ]


def test_crd_schema_extension_rules() -> None:
    schema = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
            "spec": {
                "type": "object",
                "properties": {
                    "mixed": {
                        "type": "object",
                        "properties": {"a": {"type": "string"}},
                        "additionalProperties": {"type": "string"},
                    },
                    "keys": {
                        "type": "array",
                        "items": {"type": "string"},
                        "x-kubernetes-list-map-keys": ["a"],
                    },
                    "unique": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                },
            },
        },
    }

    assert validate_crd_definition(crd(schema)) == [
        FieldError(
            "FieldValueForbidden",
            "spec.validation.openAPIV3Schema.properties[metadata]",
            "Forbidden: must not specify anything other than name and generateName, but metadata is "
            "implicitly specified",
        ),
        FieldError(
            "FieldValueForbidden",
            "spec.validation.openAPIV3Schema.properties[spec].properties[mixed].additionalProperties",
            "Forbidden: additionalProperties and properties are mutual exclusive",
        ),
        FieldError(
            "FieldValueRequired",
            "spec.validation.openAPIV3Schema.properties[spec].properties[keys].x-kubernetes-list-type",
            "Required value: must be map if x-kubernetes-list-map-keys is non-empty",
        ),
        FieldError(
            "FieldValueForbidden",
            "spec.validation.openAPIV3Schema.properties[spec].properties[unique].uniqueItems",
            "Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ),
    ]


def test_crd_defaults_must_be_pruned_and_valid() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "mongo": {
                        "type": "object",
                        "properties": {"port": {"type": "integer"}},
                        "default": {"host": "x"},
                    },
                    "replicas": {"type": "integer", "minimum": 1, "default": 0},
                },
            }
        },
    }

    assert validate_crd_definition(crd(schema)) == [
        FieldError(
            "FieldValueInvalid",
            "spec.validation.openAPIV3Schema.properties[spec].properties[mongo].default",
            'Invalid value: {"host":"x"}: must not have unknown fields',
        ),
        FieldError(
            "FieldValueInvalid",
            "spec.validation.openAPIV3Schema.properties[spec].properties[replicas].default",
            # The default is validated on its own, so the path in the detail is empty, as in the apiserver.
            "Invalid value: 0:  in body should be greater than or equal to 1",
        ),
    ]


def test_crd_validation_rules_are_checked() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "a": {"type": "string"},
                    "list": {
                        "type": "array",
                        "items": {
                            "type": "string",
                            "x-kubernetes-validations": [{"rule": "self == oldSelf"}],
                        },
                    },
                },
                "x-kubernetes-validations": [
                    {"rule": "self.a =="},
                    {"rule": "has(self.a)", "reason": "FieldValueBad"},
                    {"rule": "has(self.a)", "fieldPath": ".b"},
                    {"rule": "  "},
                ],
            }
        },
    }

    prefix = "spec.validation.openAPIV3Schema.properties[spec]"
    # Schema errors come first; rules of a node with schema errors are not compiled (rule 0 is not reported).
    assert validate_crd_definition(crd(schema)) == [
        FieldError(
            "FieldValueNotSupported",
            f"{prefix}.x-kubernetes-validations[1].reason",
            'Unsupported value: "FieldValueBad": supported values: "FieldValueDuplicate", '
            '"FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"',
        ),
        FieldError(
            "FieldValueInvalid",
            f"{prefix}.x-kubernetes-validations[2].fieldPath",
            'Invalid value: ".b": fieldPath must be a valid path',
        ),
        FieldError(
            "FieldValueRequired",
            f"{prefix}.x-kubernetes-validations[3].rule",
            "Required value: rule is not specified",
        ),
        FieldError(
            "FieldValueInvalid",
            f"{prefix}.properties[list].items.x-kubernetes-validations[0].rule",
            'Invalid value: "self == oldSelf": oldSelf cannot be used on the uncorrelatable portion of the '
            f"schema within {prefix}.properties[list]",
        ),
    ]

    schema["properties"]["spec"]["x-kubernetes-validations"] = [{"rule": "self.a =="}]
    del schema["properties"]["spec"]["properties"]["list"]
    (error,) = validate_crd_definition(crd(schema))
    assert error.field == f"{prefix}.x-kubernetes-validations[0].rule"
    # The rule as encoding/json writes apiextensions' internal ValidationRule: Go field names, no omitempty.
    assert error.message.startswith('Invalid value: {"Rule":"self.a ==","Message":"","MessageExpression":""')
    assert "compilation failed: ERROR: <input>:1:8: Syntax error" in error.message


def test_crd_status_subresource_restricts_the_root_schema() -> None:
    schema = copy.deepcopy(RUNTIME_SCHEMA)
    schema["additionalProperties"] = {"type": "string"}
    del schema["properties"]

    found = validate_crd_definition(crd(schema))

    assert [e.field for e in found] == [
        "spec.validation.openAPIV3Schema",
        "spec.validation.openAPIV3Schema.additionalProperties",
    ]
    assert found[0].message.endswith(
        "fields are allowed at the root of the schema if the status subresource is enabled"
    )
    assert found[1].message == "Forbidden: must not be used at the root"


def test_crd_printer_columns_and_scale_subresource() -> None:
    definition = crd()
    version = definition["spec"]["versions"][0]
    version["additionalPrinterColumns"] = [{"name": "Age", "type": "time", "jsonPath": "metadata.creationTimestamp"}]
    version["subresources"]["scale"] = {
        "specReplicasPath": ".status.replicas",
        "statusReplicasPath": ".status.replicas",
    }

    assert validate_crd_definition(definition) == [
        FieldError(
            "FieldValueInvalid",
            "spec.subresources.scale.specReplicasPath",
            'Invalid value: ".status.replicas": should be a json path under .spec',
        ),
        FieldError(
            "FieldValueInvalid",
            "spec.additionalPrinterColumns[0].type",
            'Invalid value: "time": must be one of boolean,date,integer,number,string',
        ),
        FieldError(
            "FieldValueInvalid",
            "spec.additionalPrinterColumns[0].JSONPath",
            'Invalid value: "metadata.creationTimestamp": must be a simple json path starting with .',
        ),
    ]


def test_crd_in_a_protected_group_needs_api_approval() -> None:
    definition = crd(group="runtimes.k8s.io")

    assert validate_crd_definition(definition) == [
        FieldError(
            "FieldValueRequired",
            "metadata.annotations[api-approved.kubernetes.io]",
            'Required value: protected groups must have approval annotation "api-approved.kubernetes.io", '
            "see https://github.com/kubernetes/enhancements/pull/1111",
        )
    ]
    definition["metadata"]["annotations"] = {"api-approved.kubernetes.io": "unapproved, testing only"}
    assert validate_crd_definition(definition) == []


# --- the value tables, through the API ------------------------------------------------------------------


@pytest.fixture
def raw(kubeconfig: Path) -> Iterator[RawApi]:
    with raw_api(kubeconfig) as api:
        yield api


@pytest.mark.cluster
def test_value_tables_through_the_api(raw: RawApi, namespace: str) -> None:
    """TYPE_ERRORS, VALID_VALUES, FORMAT_ERRORS and VALUE_VALIDATIONS against one CRD: property x<i> of case i."""
    cases: list[tuple[dict[str, Any], Any, list[tuple[str, str]]]] = []  # schema, value, expected (reason, message)
    # (A null of a field that is not nullable never gets there: decoding prunes it first.)
    cases += [(schema, value, [expected]) for schema, value, expected in TYPE_ERRORS if value is not None]
    cases += [(schema, value, []) for schema, value in VALID_VALUES]
    cases += [
        (
            {"type": "string", "format": fmt},
            value,
            [("FieldValueTypeInvalid", f'Invalid value: "{value}": spec.x in body must be of type {fmt}: "{value}"')],
        )
        for fmt, value in FORMAT_ERRORS
    ]
    for schema, good, bad, expected in VALUE_VALIDATIONS:
        cases += [(schema, good, []), (schema, bad, [expected])]
    for schema, value, checked in INTEGER_FORMAT_ERRORS:
        message = f'Invalid value: "": Checked value must be of type {checked} in spec.x'
        wrong_type = [] if isinstance(value, int) else [errors_for({"x": schema}, {"x": value})[0][::2]]
        cases.append((schema, value, [*wrong_type, ("FieldValueInvalid", message)]))
    group = f"schema-{uuid.uuid4().hex[:8]}.example.com"
    properties = {f"x{index}": schema for index, (schema, _, _) in enumerate(cases)}
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"things.{group}", "labels": {"app.kubernetes.io/created-by": "k8s-manager-tests"}},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": {"type": "object", "properties": properties}},
                        }
                    },
                }
            ],
        },
    }
    made = raw.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert made.status_code == 201, made.text
    things = f"/apis/{group}/v1/namespaces/{namespace}/things"
    try:
        end = time.monotonic() + 30
        while raw.get(things).status_code != 200:  # a real API server serves it a moment later
            assert time.monotonic() < end, "the CRD is not served"
            time.sleep(0.2)
        for index, (schema, value, expected) in enumerate(cases):
            body = {"apiVersion": f"{group}/v1", "kind": "Thing", "metadata": {"name": f"t{index}"}}
            body["spec"] = {f"x{index}": value}
            answer = raw.post(things, body, params={"dryRun": "All"})
            found = [(c["reason"], c["message"]) for c in answer.json().get("details", {}).get("causes", [])]
            wanted = [(reason, message.replace("spec.x", f"spec.x{index}")) for reason, message in expected]
            if value == 1.5 and schema == {"type": "integer"}:  # the number validator's own complaint, too
                checked = f'Invalid value: "": Checked value must be of type integer (default format) in spec.x{index}'
                wanted.append(("FieldValueInvalid", checked))
            assert found == wanted, (index, json.dumps(schema), value)
    finally:
        raw.delete(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/things.{group}")
