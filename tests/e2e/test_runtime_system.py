"""The Admin API's path end to end: gRPC Create and RuntimeStatus through the real facade and operator processes.

On the emulator or a real cluster; there, until the runtime operator exists, the stand-in of tests/e2e/system.py
deploys the runtime components.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from k8s_manager_facade.generated import runtime_pb2, runtime_pb2_grpc, version_pb2, version_pb2_grpc

from .system import (
    System,
    emulator_or_none,
    eventually,
    expected_objects,
    owned_objects,
    random_credential,
    running_system,
    unique_name,
)

# Whole-system tests: processes start, reconcile and converge; on a loaded 2-core CI machine that takes time.
pytestmark = pytest.mark.timeout(300)

RuntimeStub: Any = runtime_pb2_grpc.RuntimeServiceStub  # the generated stubs are untyped
VersionStub: Any = version_pb2_grpc.VersionServiceStub


@pytest.fixture
def system(tmp_path: Path, request: pytest.FixtureRequest, kubeconfig: Path) -> Iterator[System]:
    with running_system(tmp_path, emulator_or_none(request), kubeconfig, facade=True) as running:
        yield running


def admin_api_create(name: str) -> tuple[runtime_pb2.Request, dict[str, str]]:
    """The request the Admin API sends: namespace "kre-" + lower(name), random 8-character credentials."""
    credentials = {"password": random_credential(), "sharedKey": random_credential(), "secretKey": random_credential()}
    runtime = runtime_pb2.Runtime(
        name=name,
        namespace=f"kre-{name.lower()}",
        mongo=runtime_pb2.Runtime.MongoConf(
            username="admin", password=credentials["password"], sharedKey=credentials["sharedKey"]
        ),
        minio=runtime_pb2.Runtime.MinioConf(accessKey="admin", secretKey=credentials["secretKey"]),
    )
    return runtime_pb2.Request(runtime=runtime), credentials


@pytest.mark.cluster
def test_grpc_create_then_runtime_status_started_only_once_the_components_are_ready(system: System) -> None:
    name = unique_name().removeprefix("kre-").capitalize()
    namespace = f"kre-{name.lower()}"
    request, credentials = admin_api_create(name)
    # Hold Minio back, as a slow volume would: the runtime must not be reported STARTED before it is ready.
    system.hold_component(namespace, "kre-minio")

    with grpc.insecure_channel(system.grpc_address) as channel:
        stub = RuntimeStub(channel)
        reply = stub.Create(request, timeout=20)
        assert reply.message == f"Runtime '{name}' created"

        eventually(lambda: owned_objects(system, namespace) == expected_objects(namespace), "the runtime's objects")
        eventually(lambda: system.get("pods", "-n", namespace, "-l", "app=kre-minio")["items"], "a Minio pod")
        with pytest.raises(grpc.RpcError) as early:
            stub.RuntimeStatus(runtime_pb2.Request(runtime=runtime_pb2.Runtime(namespace=namespace)), timeout=3)
        assert early.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

        system.release_component(namespace, "kre-minio")
        status = stub.RuntimeStatus(runtime_pb2.Request(runtime=runtime_pb2.Runtime(namespace=namespace)), timeout=60)
        assert status.Status == "STARTED"

        # The same Create again (the Admin API never retries, but a client may): OK, nothing duplicated.
        again, _ = admin_api_create(name)
        assert stub.Create(again, timeout=20).message == f"Runtime '{name}' created"

    assert owned_objects(system, namespace) == expected_objects(namespace)
    runtime = system.get("runtime", namespace)
    assert runtime["spec"]["displayName"] == name
    assert runtime["spec"]["entrypoint"]["host"] == f"{namespace}.local"
    visible = (
        json.dumps(runtime) + system.log("operator") + system.log("facade") + json.dumps(system.get("events", "-A"))
    )
    for value in credentials.values():
        assert value not in visible


@pytest.mark.cluster
def test_runtime_status_of_an_unknown_runtime_is_not_found(system: System) -> None:
    with grpc.insecure_channel(system.grpc_address) as channel, pytest.raises(grpc.RpcError) as missing:
        RuntimeStub(channel).RuntimeStatus(
            runtime_pb2.Request(runtime=runtime_pb2.Runtime(namespace="kre-nobody")), timeout=10
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def greeter_version(name: str, namespace: str) -> version_pb2.Request:
    """The original's greeter example as the Admin API sends it to Start."""
    workflows = [
        version_pb2.Version.Workflow(
            id=f"wf-{workflow}",
            name=workflow,
            entrypoint=method,
            nodes=[
                version_pb2.Version.Workflow.Node(
                    id=node_id,
                    name="greeter",
                    image="konstellation/kre-runtime-runner:0.9.0",
                    src="src/greeter/greeter.py",
                )
            ],
        )
        for workflow, method, node_id in (("greeting", "Greet", "qmzhfkxzbn"), ("saluting", "Salute", "tbwfojcjyx"))
    ]
    version = version_pb2.Version(
        id="5ee3a1f2c4b1a9d3e8f70a61",
        name=name,
        namespace=namespace,
        entrypoint=version_pb2.Version.Entrypoint(
            proto_file="public_input.proto",
            image="konstellation/kre-entrypoint:0.9.0",
            src="src/entrypoint/entrypoint.py",
        ),
        config=[version_pb2.Version.Config(key="GREETING_PREFIX", value="Hello")],
        workflows=workflows,
    )
    return version_pb2.Request(version=version)


@pytest.mark.cluster
def test_the_admin_api_drives_versions_through_their_lifecycle(system: System) -> None:
    drive_versions_through_their_lifecycle(system)


def drive_versions_through_their_lifecycle(system: System) -> str:
    """A runtime kre-greeter-<random>, then its versions through Start (with the operator killed), Publish,
    UpdateConfig, Stop and Unpublish as the Admin API calls them, checking each step; returns its namespace."""
    name = "Greeter-" + unique_name().removeprefix("kre-")
    request, _ = admin_api_create(name)
    namespace = f"kre-{name.lower()}"
    with grpc.insecure_channel(system.grpc_address) as channel:
        runtimes, versions = RuntimeStub(channel), VersionStub(channel)
        runtimes.Create(request, timeout=20)
        assert runtimes.RuntimeStatus(runtime_pb2.Request(runtime=request.runtime), timeout=120).Status == "STARTED"

        # Kill the operator while the first version starts: Start converges once it is back.
        started = greeter_version("greeter-v1", namespace)
        system.kill_operator()
        with pytest.raises(grpc.RpcError) as too_early:
            versions.Start(started, timeout=3)
        assert too_early.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        system.start_operator()
        assert versions.Start(started, timeout=60).message == "Version 'greeter-v1' started"
        assert versions.Start(started, timeout=60).message == "Version 'greeter-v1' started"  # repeated: safe

        names = {
            item["metadata"]["name"]
            for item in system.get("deployments", "-n", namespace, "-l", "version-name=greeter-v1")["items"]
        }
        assert names == {"greeter-v1-greeter-qmzhfkxzbn", "greeter-v1-greeter-tbwfojcjyx", "greeter-v1-entrypoint"}

        published = versions.Publish(started, timeout=60)
        assert published.message == f"Version  'greeter-v1' published correctly. in namespace '{namespace}'"
        versions.Start(greeter_version("greeter-v2", namespace), timeout=60)
        versions.Publish(greeter_version("greeter-v2", namespace), timeout=60)
        selector = system.get("service", "active-entrypoint", "-n", namespace)["spec"]["selector"]
        assert selector["version-name"] == "greeter-v2"

        update = greeter_version("greeter-v1", namespace)
        del update.version.config[:]
        update.version.config.append(version_pb2.Version.Config(key="GREETING_PREFIX", value="Hi"))
        assert versions.UpdateConfig(update, timeout=60).message == "Version 'greeter-v1' config updated"
        assert system.get("configmap", "greeter-v1-global", "-n", namespace)["data"] == {"GREETING_PREFIX": "Hi"}

        assert versions.Stop(started, timeout=60).message == "Version 'greeter-v1' stopped"
        left = system.get("deployments,configmaps", "-n", namespace, "-l", "version-name=greeter-v1")["items"]
        assert left == []
        assert versions.Unpublish(greeter_version("greeter-v2", namespace), timeout=60).message == (
            "Version 'greeter-v2' unpublished"
        )
        assert system.get("service", "active-entrypoint", "-n", namespace) is None
    return namespace
