"""VersionService end to end: a real gRPC server, the generated stubs, the emulator or a real cluster.

There is no operator here: the tests play it by writing the RuntimeVersion's status through the API, as the
operator does once it has applied a generation (`status.observedGeneration`, conditions `Published`, `Stalled`).
Requests have the Admin API's shapes, with the original's greeter example. The tests that take the `emulator`
fixture (API faults, counted requests) run on the emulator only; the others, marked `cluster`, on a real cluster too,
taking turns with the other end-to-end tests (tests/e2e/conftest.py). There the namespace kre-demo outlives a test
(deleting a namespace takes seconds), emptied of versions after each, and is deleted after the module's last test.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from k8s_manager_api.kube import KubeApi
from k8s_manager_api.names import NAMESPACES, RUNTIME_VERSIONS, RUNTIMES
from k8s_manager_facade.config import FacadeConfig
from k8s_manager_facade.generated import runtime_pb2, version_pb2, version_pb2_grpc
from k8s_manager_facade.runtime_requests import build_runtime, validate_create
from k8s_manager_facade.server import FacadeServer
from k8s_manager_facade.version_service import WRITE_ATTEMPTS

from .test_runtime_service import (
    add_fault,
    delete_runtimes,
    facade_config,
    hits,
    install_crds,
    on_real_cluster,
    rpc_error,
    written_by_k8s_manager,
)

VersionStub: Any = version_pb2_grpc.VersionServiceStub  # the generated stubs are untyped
NAMESPACE = "kre-demo"
NAME = "greeter-v1"
GREETING = "Hola-qZ81vW"  # a distinctive config value: no message may quote it
VERSIONS_COLLECTION = r"/apis/kre\.konstellation\.io/v1alpha1/runtimeversions$"
GREETER_V1 = rf"/apis/kre\.konstellation\.io/v1alpha1/namespaces/{NAMESPACE}/runtimeversions/{NAME}$"
PUBLISHED_REPLY = f"Version  '{NAME}' published correctly. in namespace '{NAMESPACE}'"


def greeter(name: str = NAME, namespace: str = NAMESPACE, image: str = "konstellation/kre-py:0.9.0") -> dict[str, Any]:
    """The krt-template greeter as the Admin API's Start sends it: workflows greeting and saluting."""
    return {
        "id": "5ee3a1f2c4b1a9d3e8f70a61",
        "name": name,
        "namespace": namespace,
        "entrypoint": {
            "proto_file": "public_input.proto",
            "image": "konstellation/kre-entrypoint:0.9.0",
            "src": "src/entrypoint/entrypoint.py",
        },
        "config": [{"key": "GREETING", "value": GREETING}, {"key": "LOG_LEVEL", "value": "INFO"}],
        "workflows": [
            {
                "id": "wf-greeting",
                "name": "greeting",
                "entrypoint": "Greet",
                "nodes": [{"id": "qmzhfkxzbn", "name": "greeter", "image": image, "src": "src/greeter/greeter.py"}],
            },
            {
                "id": "wf-saluting",
                "name": "saluting",
                "entrypoint": "Salute",
                "nodes": [{"id": "tbwfojcjyx", "name": "greeter", "image": image, "src": "src/greeter/greeter.py"}],
            },
        ],
    }


def start_request(**changes: Any) -> version_pb2.Request:
    return version_pb2.Request(version=version_pb2.Version(**greeter(**changes)))


def name_request(name: str = NAME, namespace: str = NAMESPACE, **fields: Any) -> version_pb2.Request:
    """What the Admin API sends to Stop, Publish and Unpublish (and, with config, UpdateConfig)."""
    return version_pb2.Request(version=version_pb2.Version(name=name, namespace=namespace, **fields))


# -------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo_namespace_deleted_at_the_end(kubeconfig_path: Path | None) -> Iterator[None]:
    """On a real cluster, the namespace kre-demo is deleted after the module's last test (without waiting)."""
    yield
    if kubeconfig_path is not None:
        asyncio.run(delete_namespace(kubeconfig_path))


@pytest.fixture(scope="module")
def kubeconfig_path() -> Path | None:
    """The real cluster's kubeconfig, None on the emulator (the `kubeconfig` fixture is per test)."""
    return Path(os.environ["K8S_MANAGER_TEST_KUBECONFIG"]) if on_real_cluster() else None


async def delete_namespace(kubeconfig: Path) -> None:
    api = await KubeApi.connect(str(kubeconfig))
    try:
        if await api.find(NAMESPACES, NAMESPACE) is not None:
            await api.delete(NAMESPACES, NAMESPACE)
    finally:
        await api.close()


async def fresh_namespace(api: KubeApi) -> None:
    """The namespace kre-demo, Active and without versions: made, or emptied (once a deleted one is gone)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while (found := await api.find(NAMESPACES, NAMESPACE)) is not None and found["metadata"].get("deletionTimestamp"):
        assert loop.time() < deadline, f"namespace {NAMESPACE} still Terminating after 120 s"
        await asyncio.sleep(0.2)
    if found is None:
        await api.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        return
    versions, _ = await api.list(RUNTIME_VERSIONS, NAMESPACE)
    for version in versions:
        await api.delete(RUNTIME_VERSIONS, version["metadata"]["name"], NAMESPACE)
    while (await api.list(RUNTIME_VERSIONS, NAMESPACE))[0]:
        assert loop.time() < deadline, f"the versions of {NAMESPACE} were not deleted within 120 s"
        await asyncio.sleep(0.1)


@pytest.fixture
async def kube(kubeconfig: Path, demo_namespace_deleted_at_the_end: None) -> AsyncIterator[KubeApi]:
    """The cluster with the CRDs, the runtime kre-demo and its namespace (as the operator would have made it)."""
    api = await KubeApi.connect(str(kubeconfig))
    await install_crds(api)
    if on_real_cluster():
        await delete_runtimes(api)  # an interrupted run's
    runtime_request = runtime_pb2.Request(
        runtime=runtime_pb2.Runtime(
            name="Demo",
            namespace=NAMESPACE,
            mongo=runtime_pb2.Runtime.MongoConf(username="admin", password="Xq3vL9pa", sharedKey="Tm7wQ2zk"),
            minio=runtime_pb2.Runtime.MinioConf(accessKey="admin", secretKey="Hb5nR8cy"),
        )
    )
    await api.create(RUNTIMES, build_runtime(validate_create(runtime_request), FacadeConfig()))
    await fresh_namespace(api)
    yield api
    if on_real_cluster():
        await fresh_namespace(api)
        await delete_runtimes(api)
    await api.close()


@pytest.fixture
async def facade(kube: KubeApi, facade_kubeconfig: Path) -> AsyncIterator[FacadeServer]:
    server = FacadeServer(facade_config(facade_kubeconfig))
    await server.start()
    await asyncio.wait_for(server.cluster_reached.wait(), 10)
    yield server
    await server.stop()


@pytest.fixture
async def stub(facade: FacadeServer) -> AsyncIterator[Any]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{facade.port}") as channel:
        yield VersionStub(channel)


# ------------------------------------------------------------------------------------ playing the operator


def condition(kind: str, status: str, reason: str, message: str, generation: int) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2025-01-01T00:00:00Z",
        "observedGeneration": generation,
    }


async def report(
    kube: KubeApi, *, applied: bool = True, published: bool | None = None, stalled: tuple[str, str] | None = None
) -> int:
    """Write the status the operator writes for the version's current generation; returns that generation.

    `applied`: observedGeneration is that generation (else it stays where it was); `published`: the Published
    condition; `stalled`: a Stalled condition (reason, message).
    """
    version = await kube.get(RUNTIME_VERSIONS, NAME, NAMESPACE)
    generation: int = version["metadata"]["generation"]
    status = version.get("status") or {}
    conditions = [condition("Ready", "False", "DeploymentsNotAvailable", "waiting for pods", generation)]
    if published is not None:
        reason = "Published" if published else "NotPublished"
        conditions.append(condition("Published", str(published), reason, "the active-entrypoint Service", generation))
    if stalled is not None:
        conditions.append(condition("Stalled", "True", *stalled, generation))
    observed = generation if applied else status.get("observedGeneration")
    patch = {"status": {"observedGeneration": observed, "conditions": conditions}}
    await kube.patch(RUNTIME_VERSIONS, NAME, patch, NAMESPACE, subresource="status")
    return generation


async def spec_when(kube: KubeApi, check: Callable[[dict[str, Any]], bool], deadline: float = 5) -> dict[str, Any]:
    """The RuntimeVersion once `check(its spec)` holds (the facade has written it)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        version = await kube.find(RUNTIME_VERSIONS, NAME, NAMESPACE)
        if version is not None and check(version["spec"]):
            return version
        assert loop.time() < end, f"the RuntimeVersion did not get the expected spec; it is {version}"
        await asyncio.sleep(0.05)


async def still_waiting(call: Awaitable[Any]) -> bool:
    """Whether the call is still waiting after a moment."""
    await asyncio.sleep(0.3)
    return not asyncio.ensure_future(call).done()


async def started(stub: Any, kube: KubeApi) -> None:
    """Start the greeter and play the operator applying it."""
    call = asyncio.ensure_future(stub.Start(start_request(), timeout=10))
    await spec_when(kube, lambda spec: True)
    await report(kube, published=False)
    await call


async def published(stub: Any, kube: KubeApi) -> None:
    await started(stub, kube)
    call = asyncio.ensure_future(stub.Publish(name_request(), timeout=60))
    await spec_when(kube, lambda spec: spec["published"])
    await report(kube, published=True)
    await call


# ----------------------------------------------------------------------------------------------- Start


@pytest.mark.cluster
async def test_start_writes_the_version_and_replies_once_the_operator_applied_it(stub, kube):
    call = asyncio.ensure_future(stub.Start(start_request(), timeout=10))
    version = await spec_when(kube, lambda spec: True)
    waiting_before_status = await still_waiting(call)

    generation = await report(kube, published=False)
    reply = await call

    assert reply.message == f"Version '{NAME}' started"
    assert waiting_before_status is True
    assert generation == 1
    assert version["spec"] == {
        "id": "5ee3a1f2c4b1a9d3e8f70a61",
        "entrypoint": {
            "protoFile": "public_input.proto",
            "image": "konstellation/kre-entrypoint:0.9.0",
            "src": "src/entrypoint/entrypoint.py",
        },
        "config": [{"key": "GREETING", "value": GREETING}, {"key": "LOG_LEVEL", "value": "INFO"}],
        "workflows": [
            {
                "id": "wf-greeting",
                "name": "greeting",
                "entrypoint": "Greet",
                "nodes": [
                    {
                        "id": "qmzhfkxzbn",
                        "name": "greeter",
                        "image": "konstellation/kre-py:0.9.0",
                        "src": "src/greeter/greeter.py",
                    }
                ],
                "edges": [],
            },
            {
                "id": "wf-saluting",
                "name": "saluting",
                "entrypoint": "Salute",
                "nodes": [
                    {
                        "id": "tbwfojcjyx",
                        "name": "greeter",
                        "image": "konstellation/kre-py:0.9.0",
                        "src": "src/greeter/greeter.py",
                    }
                ],
                "edges": [],
            },
        ],
        "desiredState": "Started",
        "published": False,
    }


@pytest.mark.cluster
async def test_start_again_writes_nothing_and_answers_at_once(stub, kube):
    await started(stub, kube)
    before = await kube.get(RUNTIME_VERSIONS, NAME, NAMESPACE)

    reply = await stub.Start(start_request(), timeout=2)

    after = await kube.get(RUNTIME_VERSIONS, NAME, NAMESPACE)
    assert reply.message == f"Version '{NAME}' started"
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


@pytest.mark.cluster
async def test_start_of_a_changed_version_updates_its_spec_and_keeps_it_published(stub, kube):
    await published(stub, kube)

    call = asyncio.ensure_future(stub.Start(start_request(image="konstellation/kre-py:1.0.0"), timeout=10))
    version = await spec_when(kube, lambda spec: spec["workflows"][0]["nodes"][0]["image"].endswith(":1.0.0"))
    waiting_for_the_new_generation = await still_waiting(call)
    await report(kube, published=True)
    reply = await call

    assert reply.message == f"Version '{NAME}' started"
    assert waiting_for_the_new_generation is True
    assert version["metadata"]["generation"] == 3  # created, published, changed
    assert (version["spec"]["desiredState"], version["spec"]["published"]) == ("Started", True)


@pytest.mark.cluster
async def test_start_after_stop_starts_it_again(stub, kube):
    await started(stub, kube)
    stopping = asyncio.ensure_future(stub.Stop(name_request(), timeout=30))
    await spec_when(kube, lambda spec: spec["desiredState"] == "Stopped")
    await report(kube, published=False)
    await stopping

    call = asyncio.ensure_future(stub.Start(start_request(), timeout=10))
    version = await spec_when(kube, lambda spec: spec["desiredState"] == "Started")
    await report(kube, published=False)

    assert (await call).message == f"Version '{NAME}' started"
    assert version["metadata"]["generation"] == 3


# ------------------------------------------------------------------------------------------------ Stop


@pytest.mark.cluster
async def test_stop_of_a_published_version_stops_and_unpublishes_it_in_one_write(stub, kube):
    await published(stub, kube)
    before = await kube.get(RUNTIME_VERSIONS, NAME, NAMESPACE)

    call = asyncio.ensure_future(stub.Stop(name_request(), timeout=30))
    version = await spec_when(kube, lambda spec: spec["desiredState"] == "Stopped")
    waiting_before_status = await still_waiting(call)
    await report(kube, published=False)
    reply = await call

    assert reply.message == f"Version '{NAME}' stopped"
    assert waiting_before_status is True
    assert version["spec"]["published"] is False
    assert version["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert version["spec"]["workflows"] == before["spec"]["workflows"]  # the resource and its spec stay


# --------------------------------------------------------------------------------------- Publish, Unpublish


@pytest.mark.cluster
async def test_publish_waits_for_published_true(stub, kube):
    await started(stub, kube)

    call = asyncio.ensure_future(stub.Publish(name_request(), timeout=60))
    version = await spec_when(kube, lambda spec: spec["published"])
    await report(kube, published=False)  # applied, but the Service does not select it yet
    waiting_while_not_published = await still_waiting(call)
    await report(kube, published=True)
    reply = await call

    assert reply.message == PUBLISHED_REPLY
    assert waiting_while_not_published is True
    assert version["spec"]["desiredState"] == "Started"


@pytest.mark.cluster
async def test_publish_again_answers_at_once(stub, kube):
    await published(stub, kube)

    reply = await stub.Publish(name_request(), timeout=2)

    assert reply.message == PUBLISHED_REPLY


@pytest.mark.cluster
async def test_unpublish_waits_for_published_false(stub, kube):
    await published(stub, kube)

    call = asyncio.ensure_future(stub.Unpublish(name_request(), timeout=300))
    version = await spec_when(kube, lambda spec: not spec["published"])
    await report(kube, applied=False, published=True)
    waiting_before_applied = await still_waiting(call)
    await report(kube, published=False)
    reply = await call

    assert reply.message == f"Version '{NAME}' unpublished"
    assert waiting_before_applied is True
    assert version["spec"]["desiredState"] == "Started"


# ---------------------------------------------------------------------------------------------- UpdateConfig


@pytest.mark.cluster
async def test_update_config_replaces_the_config_and_waits_until_applied(stub, kube):
    await started(stub, kube)
    config = [
        version_pb2.Version.Config(key="LOG_LEVEL", value="DEBUG"),
        version_pb2.Version.Config(key="NEW_KEY", value="first"),
        version_pb2.Version.Config(key="NEW_KEY", value="last"),
    ]

    call = asyncio.ensure_future(stub.UpdateConfig(name_request(config=config), timeout=50))
    version = await spec_when(kube, lambda spec: spec["config"][0]["value"] == "DEBUG")
    waiting_before_status = await still_waiting(call)
    await report(kube, published=False)
    reply = await call

    assert reply.message == f"Version '{NAME}' config updated"
    assert waiting_before_status is True
    assert version["spec"]["config"] == [{"key": "LOG_LEVEL", "value": "DEBUG"}, {"key": "NEW_KEY", "value": "last"}]
    assert version["metadata"]["generation"] == 2


# ---------------------------------------------------------------------------------------- refused calls


@pytest.mark.parametrize("method", ["Stop", "Publish", "Unpublish", "UpdateConfig"])
@pytest.mark.cluster
async def test_a_version_never_started_is_failed_precondition(stub, kube, method):
    error = await rpc_error(getattr(stub, method)(name_request(), timeout=10))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == (
        f"Version '{NAME}' was never started in namespace '{NAMESPACE}' (there is no RuntimeVersion '{NAME}')"
    )
    assert await kube.find(RUNTIME_VERSIONS, NAME, NAMESPACE) is None


@pytest.mark.cluster
async def test_a_stopped_version_cannot_be_published(stub, kube):
    await started(stub, kube)
    await kube.patch(RUNTIME_VERSIONS, NAME, {"spec": {"desiredState": "Stopped"}}, NAMESPACE)

    error = await rpc_error(stub.Publish(name_request(), timeout=10))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == f"Version '{NAME}' is stopped: start it before publishing it"
    assert (await kube.get(RUNTIME_VERSIONS, NAME, NAMESPACE))["spec"]["published"] is False


@pytest.mark.parametrize("method", ["Start", "Stop", "Publish", "Unpublish", "UpdateConfig"])
@pytest.mark.cluster
async def test_an_unknown_runtime_namespace_is_not_found(stub, kube, method):
    before = await written_by_k8s_manager(kube, RUNTIME_VERSIONS)  # none on a fresh emulator
    request = start_request(namespace="kre-nowhere") if method == "Start" else name_request(namespace="kre-nowhere")

    error = await rpc_error(getattr(stub, method)(request, timeout=10))

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == (
        "version.namespace: there is no runtime with the namespace 'kre-nowhere' (no Runtime 'kre-nowhere')"
    )
    assert await written_by_k8s_manager(kube, RUNTIME_VERSIONS) == before


@pytest.mark.cluster
async def test_a_runtime_without_its_namespace_yet_is_not_found(stub, kube):
    runtime = await kube.get(RUNTIMES, NAMESPACE)
    await kube.create(RUNTIMES, {**runtime, "metadata": {"name": "kre-other"}})

    error = await rpc_error(stub.Start(start_request(namespace="kre-other"), timeout=10))

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details().startswith(f"cannot write RuntimeVersion '{NAME}' in namespace 'kre-other': 404 NotFound")


# ------------------------------------------------------------------------------------- waiting, and failing


@pytest.mark.cluster
async def test_start_past_its_deadline_says_what_is_missing(stub, kube):
    error = await rpc_error(stub.Start(start_request(), timeout=1.5))

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error.details().startswith(f"Start of version '{NAME}' in namespace '{NAMESPACE}' is not applied after ")
    assert error.details().endswith("the operator has not reported on it yet (no status; generation 1 written)")
    assert GREETING not in error.details()
    assert await kube.find(RUNTIME_VERSIONS, NAME, NAMESPACE) is not None  # a retried Start carries on from here


@pytest.mark.cluster
async def test_publish_past_its_deadline_says_why_it_is_not_published(stub, kube):
    await started(stub, kube)
    call = asyncio.ensure_future(stub.Publish(name_request(), timeout=1.5))
    await spec_when(kube, lambda spec: spec["published"])
    await report(kube, published=False)

    error = await rpc_error(call)

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error.details().endswith("Published is False (NotPublished: the active-entrypoint Service)")


@pytest.mark.cluster
async def test_a_stalled_version_reports_why_and_an_invalid_spec_ends_the_wait(stub, kube):
    call = asyncio.ensure_future(stub.Start(start_request(), timeout=10))
    await spec_when(kube, lambda spec: True)
    await report(kube, applied=False, stalled=("QuotaExceeded", "pods: limited to 1"))
    waiting_while_blocked = await still_waiting(call)

    await report(kube, applied=False, stalled=("InvalidSpec", "spec.workflows[1].nodes[0]: bad"))
    error = await rpc_error(call)

    assert waiting_while_blocked is True
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == f"Version '{NAME}' cannot be applied: InvalidSpec: spec.workflows[1].nodes[0]: bad"


@pytest.mark.cluster
async def test_a_version_deleted_while_waiting_is_not_found(stub, kube):
    call = asyncio.ensure_future(stub.Start(start_request(), timeout=10))
    await spec_when(kube, lambda spec: True)

    await kube.delete(RUNTIME_VERSIONS, NAME, NAMESPACE)
    error = await rpc_error(call)

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == f"RuntimeVersion '{NAME}' in namespace '{NAMESPACE}' was deleted while waiting"


@pytest.mark.cluster
async def test_the_server_maximum_bounds_a_call_without_deadline(stub, kube, monkeypatch):
    monkeypatch.setattr("k8s_manager_facade.version_service.VERSION_WAIT_MAXIMUM", 0.5)

    error = await rpc_error(stub.Start(start_request()))

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "is not applied after 0.5 s (the server's limit for calls without a deadline)" in error.details()


async def test_many_waiting_calls_share_one_watch(stub, kube, emulator):
    watches = add_fault(emulator, method="GET", path=VERSIONS_COLLECTION, watch=True, times=None)
    await started(stub, kube)
    calls = [asyncio.ensure_future(stub.Publish(name_request(), timeout=30)) for _ in range(20)]
    await spec_when(kube, lambda spec: spec["published"])
    await asyncio.sleep(0.5)

    await report(kube, published=True)
    replies = await asyncio.gather(*calls)

    assert {reply.message for reply in replies} == {PUBLISHED_REPLY}
    assert hits(emulator, watches) == 1


@pytest.mark.cluster
async def test_shutdown_ends_waiting_calls_with_unavailable(kube, facade_kubeconfig):
    server = FacadeServer(facade_config(facade_kubeconfig, shutdown_grace_period=5))
    port = await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = asyncio.ensure_future(VersionStub(channel).Start(start_request(), timeout=30))
        await spec_when(kube, lambda spec: True)
        await server.stop()
        error = await rpc_error(call)

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details().startswith(f"the facade is shutting down; version '{NAME}': ")


# ------------------------------------------------------------------------------------------- conflicts


async def test_a_conflicting_write_is_read_and_tried_again(stub, kube, emulator):
    await started(stub, kube)
    conflict = add_fault(emulator, method="PATCH", path=GREETER_V1, status=409, times=2)

    call = asyncio.ensure_future(stub.Stop(name_request(), timeout=30))
    await spec_when(kube, lambda spec: spec["desiredState"] == "Stopped")
    await report(kube, published=False)

    assert (await call).message == f"Version '{NAME}' stopped"
    assert hits(emulator, conflict) == 2


async def test_a_write_that_keeps_conflicting_is_aborted(stub, kube, emulator):
    await started(stub, kube)
    conflict = add_fault(emulator, method="PATCH", path=GREETER_V1, status=409, times=None)

    error = await rpc_error(stub.Stop(name_request(), timeout=30))

    assert error.code() == grpc.StatusCode.ABORTED
    assert error.details() == (
        f"cannot write RuntimeVersion '{NAME}' in namespace '{NAMESPACE}': it kept changing while being written "
        f"({WRITE_ATTEMPTS} attempts); retry"
    )
    assert hits(emulator, conflict) == WRITE_ATTEMPTS
    assert (await kube.get(RUNTIME_VERSIONS, NAME, NAMESPACE))["spec"]["desiredState"] == "Started"


# ------------------------------------------------------------------------------------------- bad input


def bad_start(**changes: Any) -> version_pb2.Request:
    version = greeter()
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target: Any = version
        for parent in parents:
            target = target[int(parent)] if parent.isdigit() else target[parent]
        target[leaf] = value
    return version_pb2.Request(version=version_pb2.Version(**version))


BAD_CALLS: list[tuple[str, str, version_pb2.Request, str]] = [
    ("Start without version", "Start", version_pb2.Request(), "version"),
    ("Start with an upper-case name", "Start", start_request(name="Greeter-V1"), "version.name"),
    ("Start without workflows", "Start", bad_start(workflows=[]), "version.workflows"),
    ("Start, workflow without nodes", "Start", bad_start(workflows__0__nodes=[]), "version.workflows[0].nodes"),
    (
        "Start, duplicate node id",
        "Start",
        bad_start(workflows__1__nodes__0__id="qmzhfkxzbn"),
        "version.workflows[1].nodes[0].id",
    ),
    (
        "Start, edge to an unknown node",
        "Start",
        bad_start(workflows__1__edges=[{"id": "e1", "fromNode": "tbwfojcjyx", "toNode": "nowhere"}]),
        "version.workflows[1].edges[0].toNode",
    ),
    ("Start, config key not an env var", "Start", bad_start(config__0__key="GREETING TEXT"), "version.config[0].key"),
    ("Stop without name", "Stop", name_request(name=""), "version.name"),
    ("Publish with a bad namespace", "Publish", name_request(namespace="kre_demo"), "version.namespace"),
    ("Unpublish without version", "Unpublish", version_pb2.Request(), "version"),
    (
        "UpdateConfig, key with '='",
        "UpdateConfig",
        name_request(config=[version_pb2.Version.Config(key="A=B", value=GREETING)]),
        "version.config[0].key",
    ),
]


@pytest.mark.parametrize(
    ("method", "request_", "field"), [case[1:] for case in BAD_CALLS], ids=[case[0] for case in BAD_CALLS]
)
@pytest.mark.cluster
async def test_bad_input_is_invalid_argument_and_writes_nothing(stub, kube, method, request_, field):
    before = await written_by_k8s_manager(kube, RUNTIME_VERSIONS)  # none on a fresh emulator

    error = await rpc_error(getattr(stub, method)(request_, timeout=10))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(f"{field}: ")
    assert GREETING not in error.details()
    assert await written_by_k8s_manager(kube, RUNTIME_VERSIONS) == before
    # The server keeps serving.
    await started(stub, kube)
