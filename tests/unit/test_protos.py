"""The gRPC contract: generated descriptors match the original k8s-manager's protos, and are fresh."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor
from k8s_manager_facade.generated import resourcemetrics_pb2, runtime_pb2, version_pb2

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "facade" / "k8s_manager_facade" / "generated"

STRING, DOUBLE, INT32, MESSAGE = (
    FieldDescriptor.TYPE_STRING,
    FieldDescriptor.TYPE_DOUBLE,
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_MESSAGE,
)
REPEATED = "repeated"

# The reference (original-k8s-manager.md §2): message full name -> [(field name, number, type, label, message type)].
EXPECTED_MESSAGES: dict[str, list[tuple[str, int, int, str, str]]] = {
    "runtime.Runtime": [
        ("name", 1, STRING, "", ""),
        ("namespace", 2, STRING, "", ""),
        ("minio", 3, MESSAGE, "", "runtime.Runtime.MinioConf"),
        ("mongo", 4, MESSAGE, "", "runtime.Runtime.MongoConf"),
    ],
    "runtime.Runtime.MongoConf": [
        ("username", 1, STRING, "", ""),
        ("password", 2, STRING, "", ""),
        ("sharedKey", 3, STRING, "", ""),
    ],
    "runtime.Runtime.MinioConf": [("accessKey", 1, STRING, "", ""), ("secretKey", 2, STRING, "", "")],
    "runtime.Request": [("runtime", 1, MESSAGE, "", "runtime.Runtime")],
    "runtime.Response": [("message", 2, STRING, "", "")],
    "runtime.RuntimeStatusResponse": [("Status", 1, STRING, "", "")],
    "version.Version": [
        ("id", 1, STRING, "", ""),
        ("name", 2, STRING, "", ""),
        ("namespace", 3, STRING, "", ""),
        ("entrypoint", 4, MESSAGE, "", "version.Version.Entrypoint"),
        ("config", 5, MESSAGE, REPEATED, "version.Version.Config"),
        ("workflows", 6, MESSAGE, REPEATED, "version.Version.Workflow"),
    ],
    "version.Version.Config": [("key", 1, STRING, "", ""), ("value", 2, STRING, "", "")],
    "version.Version.Entrypoint": [
        ("proto_file", 1, STRING, "", ""),
        ("image", 2, STRING, "", ""),
        ("src", 3, STRING, "", ""),
    ],
    "version.Version.Workflow": [
        ("id", 1, STRING, "", ""),
        ("name", 2, STRING, "", ""),
        ("entrypoint", 3, STRING, "", ""),
        ("nodes", 4, MESSAGE, REPEATED, "version.Version.Workflow.Node"),
        ("edges", 5, MESSAGE, REPEATED, "version.Version.Workflow.Edge"),
    ],
    "version.Version.Workflow.Node": [
        ("id", 1, STRING, "", ""),
        ("name", 2, STRING, "", ""),
        ("image", 3, STRING, "", ""),
        ("src", 4, STRING, "", ""),
    ],
    "version.Version.Workflow.Edge": [
        ("id", 1, STRING, "", ""),
        ("fromNode", 2, STRING, "", ""),
        ("toNode", 3, STRING, "", ""),
    ],
    "version.Request": [("version", 1, MESSAGE, "", "version.Version")],
    "version.Response": [("message", 2, STRING, "", "")],
    "resourcemetrics.VersionResourceMetrics": [
        ("date", 1, STRING, "", ""),
        ("cpu", 2, DOUBLE, "", ""),
        ("mem", 3, DOUBLE, "", ""),
    ],
    "resourcemetrics.Response": [
        ("versionResourceMetrics", 1, MESSAGE, REPEATED, "resourcemetrics.VersionResourceMetrics")
    ],
    "resourcemetrics.VersionRequest": [
        ("versionName", 1, STRING, "", ""),
        ("namespace", 2, STRING, "", ""),
        ("fromDate", 3, STRING, "", ""),
        ("toDate", 4, STRING, "", ""),
        ("step", 5, INT32, "", ""),
    ],
}

# service full name -> [(method, input, output, server streaming)]
EXPECTED_SERVICES: dict[str, list[tuple[str, str, str, bool]]] = {
    "runtime.RuntimeService": [
        ("Create", "runtime.Request", "runtime.Response", False),
        ("RuntimeStatus", "runtime.Request", "runtime.RuntimeStatusResponse", False),
    ],
    "version.VersionService": [
        (method, "version.Request", "version.Response", False)
        for method in ("Start", "Stop", "Publish", "Unpublish", "UpdateConfig")
    ],
    "resourcemetrics.ResourceMetricsService": [
        ("GetVersion", "resourcemetrics.VersionRequest", "resourcemetrics.Response", False),
        ("WatchVersion", "resourcemetrics.VersionRequest", "resourcemetrics.Response", True),
    ],
}

FILES: list[FileDescriptor] = [runtime_pb2.DESCRIPTOR, version_pb2.DESCRIPTOR, resourcemetrics_pb2.DESCRIPTOR]


def _all_messages() -> dict[str, Descriptor]:
    found: dict[str, Descriptor] = {}

    def walk(message: Descriptor) -> None:
        found[message.full_name] = message
        for nested in message.nested_types:
            walk(nested)

    for file in FILES:
        for message in file.message_types_by_name.values():
            walk(message)
    return found


def _field_shape(field: FieldDescriptor) -> tuple[str, int, int, str, str]:
    label = REPEATED if field.is_repeated else ""
    message_type = field.message_type.full_name if field.message_type is not None else ""
    return (field.name, field.number, field.type, label, message_type)


def test_packages_are_the_originals() -> None:
    assert [file.package for file in FILES] == ["runtime", "version", "resourcemetrics"]
    assert [descriptor_pb2.FileDescriptorProto.FromString(f.serialized_pb).syntax for f in FILES] == ["proto3"] * 3


def test_messages_match_the_reference_field_by_field() -> None:
    messages = _all_messages()

    assert set(messages) == set(EXPECTED_MESSAGES)
    for name, expected in EXPECTED_MESSAGES.items():
        assert [_field_shape(f) for f in messages[name].fields] == expected, name


def test_services_and_methods_match_the_reference() -> None:
    services = {s.full_name: s for file in FILES for s in file.services_by_name.values()}

    assert set(services) == set(EXPECTED_SERVICES)
    for name, expected in EXPECTED_SERVICES.items():
        methods = [
            (m.name, m.input_type.full_name, m.output_type.full_name, m.server_streaming)
            for m in services[name].methods
        ]
        assert methods == expected, name
        assert not any(m.client_streaming for m in services[name].methods)


def test_wire_encoding_uses_the_original_field_numbers() -> None:
    # Response.message is field 2: tag byte 0x12 (field 2, length-delimited), as the Admin API decodes it.
    assert runtime_pb2.Response(message="x").SerializeToString() == b"\x12\x01x"
    assert runtime_pb2.RuntimeStatusResponse(Status="STARTED").SerializeToString() == b"\x0a\x07STARTED"


@pytest.mark.timeout(120)
def test_checked_in_generated_code_is_fresh(tmp_path: Path) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "generate_proto.sh"), str(tmp_path)], check=True, cwd=ROOT)

    fresh = tmp_path / "k8s_manager_facade" / "generated"
    names = sorted(p.name for p in fresh.iterdir())
    assert names == sorted(p.name for p in GENERATED.iterdir() if p.is_file())
    _, mismatch, errors = filecmp.cmpfiles(fresh, GENERATED, names, shallow=False)
    assert (mismatch, errors) == ([], []), "run scripts/generate_proto.sh and commit the result"
