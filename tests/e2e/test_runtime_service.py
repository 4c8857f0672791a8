"""RuntimeService end to end: a real gRPC server, the generated stubs, the emulator or a real cluster.

There is no operator here: the tests play it by writing the Runtime's status through the API. The tests that take the
`emulator` fixture (API faults, counted requests, no CRDs yet) run on the emulator only; the others, marked `cluster`,
on a real cluster too, where they take turns with the other end-to-end tests (tests/e2e/conftest.py) and delete the
Runtimes they wrote (RUNTIME_NAMES) when they end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from k8s_manager import dev
from k8s_manager_api.kube import USER_AGENT, KubeApi
from k8s_manager_api.names import RUNTIMES, TERMINAL_RUNTIME_REASONS
from k8s_manager_facade.config import FacadeConfig
from k8s_manager_facade.generated import (
    resourcemetrics_pb2_grpc,
    runtime_pb2,
    runtime_pb2_grpc,
    version_pb2_grpc,
)
from k8s_manager_facade.server import FacadeServer
from kube_emulator import Fault
from kube_emulator.threaded import ThreadedEmulator

# As the Admin API sends them: namespace "kre-" + lower(name), random 8-character credentials.
PASSWORD, SHARED_KEY, SECRET_KEY = "Xq3vL9pa", "Tm7wQ2zk", "Hb5nR8cy"
# The generated stubs are untyped.
RuntimeStub: Any = runtime_pb2_grpc.RuntimeServiceStub
VersionStub: Any = version_pb2_grpc.VersionServiceStub
ResourceMetricsStub: Any = resourcemetrics_pb2_grpc.ResourceMetricsServiceStub
RUNTIMES_COLLECTION = r"/apis/kre\.konstellation\.io/v1alpha1/runtimes$"
# Every Runtime these tests (and test_version_service.py's) write: deleted before and after each on a real cluster.
RUNTIME_NAMES = ("kre-demo", "kre-other")


def create_request(name: str = "Demo", **runtime: Any) -> runtime_pb2.Request:
    fields: dict[str, Any] = {
        "name": name,
        "namespace": f"kre-{name.lower()}",
        "mongo": {"username": "admin", "password": PASSWORD, "sharedKey": SHARED_KEY},
        "minio": {"accessKey": "admin", "secretKey": SECRET_KEY},
        **runtime,
    }
    return runtime_pb2.Request(runtime=runtime_pb2.Runtime(**fields))


def status_request(namespace: str = "kre-demo") -> runtime_pb2.Request:
    return runtime_pb2.Request(runtime=runtime_pb2.Runtime(namespace=namespace))


def assert_no_credential(message: str) -> None:
    for value in (PASSWORD, SHARED_KEY, SECRET_KEY):
        assert value not in message


# -------------------------------------------------------------------------------------------- fixtures


async def install_crds(api: KubeApi) -> None:
    await asyncio.wait_for(dev.apply_crds(api, dev.load_crds(dev.default_crds_dir())), 30)


def on_real_cluster() -> bool:
    return bool(os.environ.get("K8S_MANAGER_TEST_KUBECONFIG"))


async def delete_runtimes(api: KubeApi) -> None:
    """Delete the tests' Runtimes, if any, and wait until they are gone (no operator runs: no finalizer holds them)."""
    for name in RUNTIME_NAMES:
        if await api.find(RUNTIMES, name) is not None:
            await api.delete(RUNTIMES, name)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    for name in RUNTIME_NAMES:
        while await api.find(RUNTIMES, name) is not None:
            assert loop.time() < deadline, f"Runtime {name} was not deleted within 30 s"
            await asyncio.sleep(0.1)


@pytest.fixture
async def kube(kubeconfig: Path) -> AsyncIterator[KubeApi]:
    """The cluster, with the CRDs installed, as the tests (playing the operator) see it."""
    api = await KubeApi.connect(str(kubeconfig))
    await install_crds(api)
    if on_real_cluster():
        await delete_runtimes(api)  # an interrupted run's
    yield api
    if on_real_cluster():
        await delete_runtimes(api)
    await api.close()


async def written_by_k8s_manager(kube: KubeApi, res: Any) -> list[str]:
    """The names of the objects of `res` that k8s-manager's API client wrote.

    All of them where no managedFields are kept (the emulator); on a real cluster, tests of other suites create
    Runtimes and versions of their own meanwhile, through other clients.
    """
    items, _ = await kube.list(res)
    return sorted(
        item["metadata"]["name"]
        for item in items
        if not item["metadata"].get("managedFields")
        or any(entry.get("manager") == USER_AGENT for entry in item["metadata"]["managedFields"])
    )


def facade_config(kubeconfig: Path, **settings: Any) -> FacadeConfig:
    defaults: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "shutdown_grace_period": 0.5}
    return FacadeConfig(kubeconfig=str(kubeconfig), **{**defaults, **settings})


@pytest.fixture
async def facade(kube: KubeApi, facade_kubeconfig: Path) -> AsyncIterator[FacadeServer]:
    server = FacadeServer(facade_config(facade_kubeconfig))
    await server.start()
    await asyncio.wait_for(server.cluster_reached.wait(), 10)
    yield server
    await server.stop()


@pytest.fixture
async def channel(facade: FacadeServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{facade.port}") as opened:
        yield opened


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> Any:
    return RuntimeStub(channel)


def add_fault(emulator: ThreadedEmulator, **rule: Any) -> Fault:
    faults = emulator.emulator.faults
    return emulator.run_sync(lambda: faults.add(Fault(**rule)))


def hits(emulator: ThreadedEmulator, fault: Fault) -> int:
    return emulator.run_sync(lambda: fault.hits)


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call
    return failed.value


async def set_ready(
    kube: KubeApi, name: str, status: str, reason: str, message: str = "", **extra: Any
) -> dict[str, Any]:
    """Write the Runtime's status as the operator would, for the generation it has now."""
    generation = (await kube.get(RUNTIMES, name))["metadata"]["generation"]
    condition = {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2025-01-01T00:00:00Z",
        "observedGeneration": generation,
    }
    patch = {"status": {"observedGeneration": generation, "conditions": [condition], **extra}}
    return await kube.patch(RUNTIMES, name, patch, subresource="status")


# ---------------------------------------------------------------------------------------------- Create


@pytest.mark.cluster
async def test_create_writes_the_runtime_and_replies_as_the_original(stub, kube):
    reply = await stub.Create(create_request(), timeout=20)

    assert reply.message == "Runtime 'Demo' created"
    runtime = await kube.get(RUNTIMES, "kre-demo")
    assert runtime["spec"] == {
        "displayName": "Demo",
        "developmentMode": False,
        "entrypoint": {"host": "kre-demo.local"},
        "sharedStorageClass": "standard",
        "mongo": {"credentials": {"username": "admin", "password": PASSWORD, "sharedKey": SHARED_KEY}},
        "minio": {"credentials": {"accessKey": "admin", "secretKey": SECRET_KEY}, "storage": {"size": "1Gi"}},
        "nats_streaming": {"replicas": 1},
    }


@pytest.mark.cluster
async def test_the_configuration_shapes_the_runtime(kube, facade_kubeconfig):
    config = facade_config(
        facade_kubeconfig,
        base_domain_name="kre.example.com",
        development_mode=True,
        shared_storage_class="nfs-client",
        shared_storage_size="2Gi",
    )
    server = FacadeServer(config)
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await RuntimeStub(channel).Create(create_request(), timeout=20)
    finally:
        await server.stop()

    spec = (await kube.get(RUNTIMES, "kre-demo"))["spec"]
    assert spec["entrypoint"] == {"host": "kre-demo.kre.example.com"}
    assert (spec["developmentMode"], spec["sharedStorageClass"]) == (True, "nfs-client")
    assert spec["minio"]["storage"] == {"size": "2Gi"}


@pytest.mark.cluster
async def test_create_twice_is_ok_and_changes_nothing(stub, kube):
    await stub.Create(create_request(), timeout=20)
    first = await kube.get(RUNTIMES, "kre-demo")
    new_credentials = {"username": "admin", "password": "Other123", "sharedKey": "Other456"}

    again = await stub.Create(create_request(mongo=new_credentials), timeout=20)

    assert again.message == "Runtime 'Demo' created"
    after = await kube.get(RUNTIMES, "kre-demo")
    assert after["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


@pytest.mark.cluster
async def test_create_again_after_the_operator_moved_the_credentials_is_ok(stub, kube):
    await stub.Create(create_request(), timeout=20)
    secret_ref = {"secretRef": {"name": "kre-runtime-credentials"}}
    await kube.patch(RUNTIMES, "kre-demo", {"spec": {"mongo": {"credentials": {
        "username": None, "password": None, "sharedKey": None, **secret_ref}}, "minio": {"credentials": {
        "accessKey": None, "secretKey": None, **secret_ref}}}})  # fmt: skip

    again = await stub.Create(create_request(), timeout=20)

    assert again.message == "Runtime 'Demo' created"


@pytest.mark.cluster
async def test_a_conflicting_create_is_already_exists_and_leaves_the_runtime_alone(stub, kube):
    await stub.Create(create_request(), timeout=20)

    conflicting = create_request(name="Other")
    conflicting.runtime.namespace = "kre-demo"
    error = await rpc_error(stub.Create(conflicting, timeout=20))

    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error.details() == "Runtime 'kre-demo' already exists with a different spec (differs in spec.displayName)"
    assert (await kube.get(RUNTIMES, "kre-demo"))["spec"]["displayName"] == "Demo"


BAD_REQUESTS = [
    pytest.param(runtime_pb2.Request(), "runtime", id="no runtime"),
    pytest.param(create_request(mongo=None), "runtime.mongo", id="no mongo"),
    pytest.param(create_request(minio=None), "runtime.minio", id="no minio"),
    pytest.param(create_request(namespace="Kre-Demo"), "runtime.namespace", id="upper-case namespace"),
    pytest.param(create_request(namespace="kre-" + "x" * 60), "runtime.namespace", id="namespace too long"),
    pytest.param(create_request(namespace="kré"), "runtime.namespace", id="unicode namespace"),
    pytest.param(create_request(namespace="kube-system"), "runtime.namespace", id="kube-system"),
    pytest.param(create_request(name=""), "runtime.name", id="empty name"),
    pytest.param(
        create_request(mongo={"username": "admin", "password": PASSWORD + "@", "sharedKey": SHARED_KEY}),
        "runtime.mongo.password",
        id="bad password character",
    ),
    pytest.param(
        create_request(minio={"accessKey": "admin", "secretKey": SECRET_KEY[:5]}),
        "runtime.minio.secretKey",
        id="secret key too short",
    ),
    pytest.param(create_request(namespace=""), "runtime.namespace", id="empty namespace"),
    pytest.param(create_request(namespace="kre.demo"), "runtime.namespace", id="namespace with a dot"),
    pytest.param(create_request(namespace="-kre-demo"), "runtime.namespace", id="namespace starting with a dash"),
    pytest.param(create_request(namespace="default"), "runtime.namespace", id="the default namespace"),
    pytest.param(create_request(name="x" * 257), "runtime.name", id="name too long"),
    pytest.param(
        create_request(mongo={"username": "", "password": PASSWORD, "sharedKey": SHARED_KEY}),
        "runtime.mongo.username",
        id="empty mongo username",
    ),
    pytest.param(
        create_request(mongo={"username": "admin", "password": "", "sharedKey": SHARED_KEY}),
        "runtime.mongo.password",
        id="empty mongo password",
    ),
    pytest.param(
        create_request(mongo={"username": "admin", "password": PASSWORD, "sharedKey": "abc"}),
        "runtime.mongo.sharedKey",
        id="shared key too short",
    ),
    pytest.param(
        create_request(mongo={"username": "admin", "password": PASSWORD, "sharedKey": SHARED_KEY + "!"}),
        "runtime.mongo.sharedKey",
        id="bad shared key character",
    ),
    pytest.param(
        create_request(minio={"accessKey": "", "secretKey": SECRET_KEY}),
        "runtime.minio.accessKey",
        id="empty access key",
    ),
    pytest.param(
        create_request(mongo={"username": "ädmin", "password": PASSWORD, "sharedKey": SHARED_KEY}),
        "runtime.mongo.username",
        id="unicode username",
    ),
]


@pytest.mark.parametrize(("request_", "field"), BAD_REQUESTS)
@pytest.mark.cluster
async def test_bad_input_is_invalid_argument_and_writes_nothing(stub, channel, kube, request_, field):
    before = await written_by_k8s_manager(kube, RUNTIMES)  # none on a fresh emulator

    error = await rpc_error(stub.Create(request_, timeout=20))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(f"{field}: ") or f"; {field}: " in error.details()
    assert_no_credential(error.details())
    assert await written_by_k8s_manager(kube, RUNTIMES) == before
    health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.cluster
async def test_the_server_keeps_serving_after_bad_input_and_garbage(stub, channel, kube):
    before = await written_by_k8s_manager(kube, RUNTIMES)  # none on a fresh emulator
    raw = channel.unary_unary("/runtime.RuntimeService/Create")  # no serializers: bytes as they are
    garbage = await rpc_error(raw(b"\x0a\xff\xff\xff\xff\x0f", timeout=5))
    for request_, _ in [param.values for param in BAD_REQUESTS]:
        await rpc_error(stub.Create(request_, timeout=20))

    reply = await stub.Create(create_request(), timeout=20)

    assert garbage.code() == grpc.StatusCode.UNKNOWN  # grpc.aio's own answer to a request it cannot decode
    assert reply.message == "Runtime 'Demo' created"
    assert await written_by_k8s_manager(kube, RUNTIMES) == sorted([*before, "kre-demo"])


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param({"status": 500, "times": 2}, id="500 twice"),
        pytest.param({"status": 503, "times": 1}, id="503"),
        pytest.param({"status": 429, "retry_after": 1, "times": 1}, id="429 with Retry-After"),
    ],
)
async def test_transient_api_errors_on_create_are_retried(stub, kube, emulator, rule):
    fault = add_fault(emulator, method="POST", path=RUNTIMES_COLLECTION, **rule)

    reply = await stub.Create(create_request(), timeout=20)

    assert reply.message == "Runtime 'Demo' created"
    assert hits(emulator, fault) == rule["times"]
    assert (await kube.get(RUNTIMES, "kre-demo"))["spec"]["displayName"] == "Demo"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        pytest.param(403, grpc.StatusCode.PERMISSION_DENIED, id="403"),
        pytest.param(409, grpc.StatusCode.ABORTED, id="409 Conflict"),
        pytest.param(422, grpc.StatusCode.INVALID_ARGUMENT, id="422"),
        pytest.param(500, grpc.StatusCode.UNAVAILABLE, id="500 for good"),
    ],
)
async def test_api_errors_map_to_grpc_codes_without_the_apis_message(stub, kube, emulator, status, code):
    # The API's own message may quote values (a 422 does): it must not reach the client.
    message = f'Runtime "kre-demo" is invalid: spec.mongo.credentials.password: Invalid value: "{PASSWORD}"'
    add_fault(emulator, method="POST", path=RUNTIMES_COLLECTION, status=status, message=message, times=None)

    error = await rpc_error(stub.Create(create_request(), timeout=20))

    assert error.code() == code
    assert error.details().startswith("cannot create Runtime 'kre-demo': ")
    assert f"{status} " in error.details()
    assert_no_credential(error.details())
    assert await kube.find(RUNTIMES, "kre-demo") is None


# --------------------------------------------------------------------------------------- RuntimeStatus


@pytest.mark.cluster
async def test_status_of_an_unknown_runtime_is_not_found(stub):
    error = await rpc_error(stub.RuntimeStatus(status_request("kre-nothing"), timeout=10))

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "Runtime 'kre-nothing' does not exist"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        pytest.param(runtime_pb2.Request(), "runtime", id="no runtime"),
        pytest.param(status_request(""), "runtime.namespace", id="no namespace"),
        pytest.param(status_request("Kre_Demo"), "runtime.namespace", id="invalid namespace"),
    ],
)
@pytest.mark.cluster
async def test_status_of_a_bad_request_is_invalid_argument(stub, request_, field):
    error = await rpc_error(stub.RuntimeStatus(request_, timeout=10))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(f"{field}: ")


@pytest.mark.cluster
async def test_started_only_once_ready(stub, kube):
    await stub.Create(create_request(), timeout=20)

    early = await rpc_error(stub.RuntimeStatus(status_request(), timeout=1))
    waiting = asyncio.ensure_future(stub.RuntimeStatus(status_request(), timeout=30))
    await asyncio.sleep(0.5)
    done_before_ready = waiting.done()
    await set_ready(kube, "kre-demo", "True", "Ready", "the runtime is ready")
    reply = await waiting

    assert early.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "not ready" in early.details()
    assert done_before_ready is False
    assert reply.Status == "STARTED"


@pytest.mark.cluster
async def test_already_ready_answers_at_once(stub, kube):
    await stub.Create(create_request(), timeout=20)
    await set_ready(kube, "kre-demo", "True", "Ready")

    reply = await stub.RuntimeStatus(status_request(), timeout=2)

    assert reply.Status == "STARTED"


@pytest.mark.cluster
async def test_a_status_for_an_older_generation_does_not_count(stub, kube):
    await stub.Create(create_request(), timeout=20)
    await set_ready(kube, "kre-demo", "True", "Ready")
    await kube.patch(RUNTIMES, "kre-demo", {"spec": {"displayName": "Renamed"}})  # generation 2

    stale = await rpc_error(stub.RuntimeStatus(status_request(), timeout=1))
    await set_ready(kube, "kre-demo", "True", "Ready")
    reply = await stub.RuntimeStatus(status_request(), timeout=5)

    assert stale.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "generation 2" in stale.details()
    assert reply.Status == "STARTED"


@pytest.mark.cluster
async def test_the_deadline_message_says_what_is_missing(stub, kube):
    await stub.Create(create_request(), timeout=20)
    components = [{"name": "minio", "ready": True}, {"name": "mongo", "ready": False}, {"name": "nats", "ready": False}]
    await set_ready(kube, "kre-demo", "False", "ComponentsNotReady", "waiting for mongo, nats", components=components)

    error = await rpc_error(stub.RuntimeStatus(status_request(), timeout=1.5))

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error.details().startswith("Runtime 'kre-demo' is not ready after ")
    assert error.details().endswith(
        "Ready is False (ComponentsNotReady: waiting for mongo, nats); components not ready: mongo, nats"
    )


@pytest.mark.parametrize("reason", sorted(TERMINAL_RUNTIME_REASONS))
@pytest.mark.cluster
async def test_a_terminal_failure_is_failed_precondition(stub, kube, reason):
    await stub.Create(create_request(), timeout=20)
    waiting = asyncio.ensure_future(stub.RuntimeStatus(status_request(), timeout=30))
    await asyncio.sleep(0.3)

    await set_ready(kube, "kre-demo", "False", reason, "the Secret kre-runtime-credentials has no key password")
    error = await rpc_error(waiting)

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == (
        f"Runtime 'kre-demo' cannot become ready: {reason}: the Secret kre-runtime-credentials has no key password"
    )


@pytest.mark.cluster
async def test_a_runtime_deleted_while_waiting_is_not_found(stub, kube):
    await stub.Create(create_request(), timeout=20)
    waiting = asyncio.ensure_future(stub.RuntimeStatus(status_request(), timeout=30))
    await asyncio.sleep(0.3)

    await kube.delete(RUNTIMES, "kre-demo")
    error = await rpc_error(waiting)

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "deleted while waiting" in error.details()


@pytest.mark.cluster
async def test_the_server_maximum_bounds_a_call_without_deadline(kube, facade_kubeconfig):
    server = FacadeServer(facade_config(facade_kubeconfig, runtime_status_timeout=0.5))
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = RuntimeStub(channel)
            await stub.Create(create_request(), timeout=20)
            error = await rpc_error(stub.RuntimeStatus(status_request()))
    finally:
        await server.stop()

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "not ready after 0.5 s (the server's limit, KRE_RUNTIME_STATUS_TIMEOUT)" in error.details()


async def test_many_waiting_calls_share_one_watch(stub, kube, emulator):
    watches = add_fault(emulator, method="GET", path=RUNTIMES_COLLECTION, watch=True, times=None)
    lists = add_fault(emulator, method="GET", path=RUNTIMES_COLLECTION, watch=False, times=None)
    await stub.Create(create_request(), timeout=20)
    calls = [asyncio.ensure_future(stub.RuntimeStatus(status_request(), timeout=30)) for _ in range(50)]
    await asyncio.sleep(1.0)

    await set_ready(kube, "kre-demo", "True", "Ready")
    replies = await asyncio.gather(*calls)
    later = await asyncio.gather(*(stub.RuntimeStatus(status_request(), timeout=5) for _ in range(10)))

    assert {reply.Status for reply in [*replies, *later]} == {"STARTED"}
    assert hits(emulator, watches) == 1
    assert hits(emulator, lists) == 1


async def test_waiting_calls_survive_a_broken_watch(stub, kube, emulator):
    await stub.Create(create_request(), timeout=20)
    add_fault(emulator, method="GET", path=RUNTIMES_COLLECTION, watch=True, break_watch_after=1, times=1)
    waiting = asyncio.ensure_future(stub.RuntimeStatus(status_request(), timeout=30))
    await asyncio.sleep(0.3)
    await set_ready(kube, "kre-demo", "False", "Progressing", "creating the namespace")  # the event that breaks it
    await asyncio.sleep(0.3)

    await set_ready(kube, "kre-demo", "True", "Ready")

    assert (await waiting).Status == "STARTED"


class FailingOnceKube(KubeApi):
    """Its first observe fails with a bug-like error: the hub must start the watch again."""

    failures = 0

    async def observe(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:  # type: ignore[override]
        if FailingOnceKube.failures == 0:
            FailingOnceKube.failures += 1
            raise RuntimeError("observe failed")
        async for event in super().observe(*args, **kwargs):
            yield event


@pytest.mark.cluster
async def test_the_watch_is_started_again_after_it_fails(kube, facade_kubeconfig, monkeypatch):
    monkeypatch.setattr("k8s_manager_facade.status_hub.RESTART_DELAY", 0.1)
    failing = await FailingOnceKube.connect(str(facade_kubeconfig))
    server = FacadeServer(facade_config(facade_kubeconfig), failing)
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = RuntimeStub(channel)
            await stub.Create(create_request(), timeout=20)
            waiting = asyncio.ensure_future(stub.RuntimeStatus(status_request(), timeout=30))
            await asyncio.sleep(0.5)
            await set_ready(kube, "kre-demo", "True", "Ready")
            reply = await waiting
    finally:
        await server.stop()
        await failing.close()

    assert FailingOnceKube.failures == 1
    assert reply.Status == "STARTED"


@pytest.mark.cluster
async def test_shutdown_ends_waiting_calls_with_unavailable(kube, facade_kubeconfig):
    server = FacadeServer(facade_config(facade_kubeconfig, shutdown_grace_period=5))
    port = await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = RuntimeStub(channel)
        await stub.Create(create_request(), timeout=20)
        waiting = asyncio.ensure_future(stub.RuntimeStatus(status_request(), timeout=30))
        await asyncio.sleep(0.3)
        started = asyncio.get_running_loop().time()
        await server.stop()
        error = await rpc_error(waiting)
        elapsed = asyncio.get_running_loop().time() - started

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "shutting down" in error.details()
    assert elapsed < 4  # not held for the whole grace period


# ------------------------------------------------------------------------------- the rest of the server


@pytest.mark.cluster
async def test_reflection_lists_the_three_services_and_health(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="runtime.RuntimeService"),
    ]
    replies = [reply async for reply in stub.ServerReflectionInfo(iter(requests), timeout=5)]

    names = {service.name for service in replies[0].list_services_response.service}
    assert names == {
        "runtime.RuntimeService",
        "version.VersionService",
        "resourcemetrics.ResourceMetricsService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    assert replies[1].file_descriptor_response.file_descriptor_proto  # grpcurl needs no .proto files


async def test_services_are_not_serving_until_the_crd_is_installed(emulator, kubeconfig, facade_kubeconfig):
    # No CRDs yet: the API answers (the server is SERVING), but listing Runtimes fails (its services are not).
    admin = await KubeApi.connect(str(kubeconfig))
    server = FacadeServer(facade_config(facade_kubeconfig))
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)

            async def status(service: str) -> int:
                reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
                return int(reply.status)

            await asyncio.sleep(0.3)
            before = [await status(name) for name in ("", "runtime.RuntimeService", "version.VersionService")]
            await install_crds(admin)
            await asyncio.wait_for(server.cluster_reached.wait(), 15)
            after = [await status(name) for name in ("", "runtime.RuntimeService", "version.VersionService")]
    finally:
        await server.stop()
        await admin.close()

    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    assert before == [serving, not_serving, not_serving]
    assert after == [serving, serving, serving]


# ------------------------------------------------------------------------------------ the process


@pytest.fixture
def dead_kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig for an API server that is not there (a port nobody listens on)."""
    path = tmp_path / "dead-kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\n"
        "clusters: [{name: dead, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: dead, context: {cluster: dead, user: nobody}}]\n"
        "users: [{name: nobody, user: {token: not-a-secret}}]\n"
    )
    return path


def facade_process(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """`k8s-manager facade` with no cluster settings but the flags; its log goes to tmp_path/facade.log."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("KUBERNETES_", "KRE_"))}
    env.pop("KUBECONFIG", None)
    command = [sys.executable, "-m", "k8s_manager", "facade", "--host", "127.0.0.1", *args]
    with (tmp_path / "facade.log").open("wb") as log:
        return subprocess.Popen(command, env=env, cwd=tmp_path, stderr=log)


@pytest.fixture
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def unreachable_facade(tmp_path: Path, dead_kubeconfig: Path, free_port: int) -> Iterator[str]:
    process = facade_process(tmp_path, "--kubeconfig", str(dead_kubeconfig), "--port", str(free_port))
    yield f"127.0.0.1:{free_port}"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0


async def test_without_a_reachable_cluster_the_facade_serves_and_says_so(unreachable_facade):
    async with grpc.aio.insecure_channel(unreachable_facade) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        own = await health.Check(
            health_pb2.HealthCheckRequest(service="grpc.health.v1.Health"), timeout=20, wait_for_ready=True
        )
        overall = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        error = await rpc_error(RuntimeStub(channel).Create(create_request(), timeout=20))

    assert own.status == health_pb2.HealthCheckResponse.SERVING
    assert overall.status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details().startswith("cannot create Runtime 'kre-demo': the Kubernetes API is unreachable")
    assert_no_credential(error.details())


def test_a_missing_kubeconfig_stops_the_facade_at_start(tmp_path: Path):
    process = facade_process(tmp_path, "--kubeconfig", str(tmp_path / "missing"), "--port", "0")
    code = process.wait(timeout=30)
    stderr = (tmp_path / "facade.log").read_text()

    assert code == 1
    assert "cannot load the Kubernetes configuration" in stderr
    assert str(tmp_path / "missing") in stderr
