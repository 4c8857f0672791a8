"""The facade's gRPC server in-process: health, reflection (v1 and v1alpha), graceful shutdown, a busy port, message
limits.

The cluster is the emulator with the project's CRDs: the server is SERVING once it has listed Runtimes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FileDescriptor
from google.protobuf.descriptor_pb2 import FileDescriptorProto
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from k8s_manager import dev
from k8s_manager_api.kube import KubeApi
from k8s_manager_api.names import RUNTIMES
from k8s_manager_facade import server as server_module
from k8s_manager_facade.config import FacadeConfig
from k8s_manager_facade.generated import reflection_v1_pb2, reflection_v1_pb2_grpc, runtime_pb2, runtime_pb2_grpc
from k8s_manager_facade.runtime_requests import build_runtime, validate_create
from k8s_manager_facade.server import FacadeServer, StartupError
from kube_emulator import Fault
from kube_emulator.threaded import ThreadedEmulator

RuntimeStub: Any = runtime_pb2_grpc.RuntimeServiceStub
ReflectionV1Stub: Any = reflection_v1_pb2_grpc.ServerReflectionStub
PASSWORD = "Xq3vL9pa"


@pytest.fixture
async def config(emulator, kubeconfig):
    api = await KubeApi.connect(str(kubeconfig))
    try:
        await asyncio.wait_for(dev.apply_crds(api, dev.load_crds(dev.default_crds_dir())), 30)
    finally:
        await api.close()
    return FacadeConfig(host="127.0.0.1", port=0, shutdown_grace_period=0.5, kubeconfig=str(kubeconfig))


@pytest.fixture
async def facade(config):
    server = FacadeServer(config)
    await server.start()
    await asyncio.wait_for(server.cluster_reached.wait(), 10)
    yield server
    await server.stop()


async def test_health_answers_serving_for_the_server_and_its_services(facade):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{facade.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        overall = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        health = await stub.Check(health_pb2.HealthCheckRequest(service="grpc.health.v1.Health"), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)

    assert overall.status == health_pb2.HealthCheckResponse.SERVING
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


SERVED = {
    "runtime.RuntimeService",
    "version.VersionService",
    "resourcemetrics.ResourceMetricsService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
}


async def test_reflection_lists_the_services(facade):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{facade.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        replies = [reply async for reply in stub.ServerReflectionInfo(iter([request]), timeout=5)]

    names = {service.name for service in replies[0].list_services_response.service}
    assert names == SERVED


async def test_reflection_v1_lists_the_services_and_describes_them(facade):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{facade.port}") as channel:
        stub = ReflectionV1Stub(channel)
        requests = [
            reflection_v1_pb2.ServerReflectionRequest(list_services=""),
            reflection_v1_pb2.ServerReflectionRequest(file_containing_symbol="runtime.RuntimeService"),
            reflection_v1_pb2.ServerReflectionRequest(file_containing_symbol="grpc.reflection.v1.ServerReflection"),
            reflection_v1_pb2.ServerReflectionRequest(file_containing_symbol="no.such.Symbol"),
        ]
        listed, runtime, reflection_v1, unknown = [
            reply async for reply in stub.ServerReflectionInfo(iter(requests), timeout=5)
        ]
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="grpc.reflection.v1.ServerReflection"), timeout=5
        )

    def services(reply: reflection_v1_pb2.ServerReflectionResponse) -> set[str]:
        files = [FileDescriptorProto.FromString(raw) for raw in reply.file_descriptor_response.file_descriptor_proto]
        return {f"{file.package}.{service.name}" for file in files for service in file.service}

    assert {service.name for service in listed.list_services_response.service} == SERVED
    assert listed.original_request.list_services == ""
    assert services(runtime) == {"runtime.RuntimeService"}
    assert services(reflection_v1) == {"grpc.reflection.v1.ServerReflection"}
    assert unknown.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def message_shapes(file: FileDescriptor) -> dict[str, list[tuple[str, int, int, bool, str, str]]]:
    """Per message: (name, number, type, repeated, message type, oneof) of each field, the package left out."""

    def relative(name: str) -> str:
        return name.removeprefix(file.package + ".")

    return {
        name: [
            (
                field.name,
                field.number,
                field.type,
                field.is_repeated,
                relative(field.message_type.full_name) if field.message_type else "",
                field.containing_oneof.name if field.containing_oneof else "",
            )
            for field in message.fields
        ]
        for name, message in file.message_types_by_name.items()
    }


def test_reflection_v1_is_v1alpha_under_another_package():
    # What lets the v1alpha servicer answer v1 through the wire format: the same messages, fields and numbers.
    v1, v1alpha = reflection_v1_pb2.DESCRIPTOR, reflection_pb2.DESCRIPTOR
    methods = [
        [(m.name, m.client_streaming, m.server_streaming) for m in file.services_by_name["ServerReflection"].methods]
        for file in (v1, v1alpha)
    ]

    assert (v1.package, v1alpha.package) == ("grpc.reflection.v1", "grpc.reflection.v1alpha")
    assert message_shapes(v1) == message_shapes(v1alpha)
    assert methods[0] == methods[1] == [("ServerReflectionInfo", True, True)]


async def test_stop_turns_health_not_serving_and_closes_the_port(config):
    server = FacadeServer(config)
    port = await server.start()
    await asyncio.wait_for(server.cluster_reached.wait(), 10)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""))
        first = await watch.read()
        await server.health.enter_graceful_shutdown()
        second = await watch.read()
        await server.stop()
        with pytest.raises(grpc.aio.AioRpcError) as after:
            await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)

    assert first.status == health_pb2.HealthCheckResponse.SERVING
    assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert after.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_busy_port_is_a_clear_startup_error(facade):
    second = FacadeServer(FacadeConfig(host="127.0.0.1", port=facade.port), facade.kube)

    with pytest.raises(StartupError, match=f"cannot listen on 127.0.0.1:{facade.port}"):
        await second.start()


# ------------------------------------------------------------------------------------- graceful shutdown


def runtime_request(namespace: str = "kre-demo", **runtime: Any) -> runtime_pb2.Request:
    fields: dict[str, Any] = {
        "name": "Demo",
        "namespace": namespace,
        "mongo": runtime_pb2.Runtime.MongoConf(username="admin", password=PASSWORD, sharedKey="Tm7wQ2zk"),
        "minio": runtime_pb2.Runtime.MinioConf(accessKey="admin", secretKey="Hb5nR8cy"),
        **runtime,
    }
    return runtime_pb2.Request(runtime=runtime_pb2.Runtime(**fields))


def delay_runtime_creation(emulator: ThreadedEmulator, seconds: float) -> Fault:
    """The next create of a Runtime is answered `seconds` late (and then served normally)."""
    faults = emulator.emulator.faults
    rule = Fault(method="POST", path=r"/runtimes$", delay=seconds)
    return emulator.run_sync(lambda: faults.add(rule))


async def eventually(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("still not true after 10 s")


async def test_shutdown_refuses_new_calls_ends_waits_and_lets_calls_in_flight_finish(emulator, config):
    server = FacadeServer(dataclasses.replace(config, shutdown_grace_period=30))
    port = await server.start()
    await asyncio.wait_for(server.cluster_reached.wait(), 10)
    kube = await KubeApi.connect(config.kubeconfig)
    try:
        await kube.create(RUNTIMES, build_runtime(validate_create(runtime_request("kre-waiting")), config))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            runtimes = RuntimeStub(channel)
            health_watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
            serving = await health_watch.read()
            status_wait = asyncio.ensure_future(runtimes.RuntimeStatus(runtime_request("kre-waiting"), timeout=60))
            slow_create = delay_runtime_creation(emulator, 2.0)
            in_flight = asyncio.ensure_future(runtimes.Create(runtime_request(), timeout=60))
            await eventually(lambda: emulator.run_sync(lambda: slow_create.hits) == 1)

            stopping = asyncio.create_task(server.stop())
            not_serving = await health_watch.read()
            health_watch.cancel()
            # The waits end once the server refuses new calls (see FacadeServer.stop).
            with pytest.raises(grpc.aio.AioRpcError) as waited:
                await status_wait
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            created = await in_flight
            await stopping
        runtime = await kube.get(RUNTIMES, "kre-demo")
    finally:
        await kube.close()

    assert serving.status == health_pb2.HealthCheckResponse.SERVING
    assert not_serving.status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert waited.value.code() == grpc.StatusCode.UNAVAILABLE
    assert waited.value.details().startswith("the facade is shutting down; Runtime 'kre-waiting'")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert created.message == "Runtime 'Demo' created"
    assert runtime["spec"]["displayName"] == "Demo"


class HoldingRelay:
    """A TCP relay to `port` that holds what clients send while `held`: a call sent then is still on its way."""

    def __init__(self, port: int) -> None:
        self._port = port
        self.open = asyncio.Event()
        self.open.set()
        self.held_bytes = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self._port)
        except OSError:  # the server has stopped listening: so does the relay, for this client
            client_writer.close()
            return

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, holds: bool) -> None:
            try:
                while data := await reader.read(65536):
                    if holds and not self.open.is_set():
                        self.held_bytes += len(data)
                        await self.open.wait()
                    writer.write(data)
                    await writer.drain()
            finally:
                writer.close()

        await asyncio.gather(
            pipe(client_reader, server_writer, True), pipe(server_reader, client_writer, False), return_exceptions=True
        )


async def test_a_call_on_its_way_when_the_shutdown_begins_is_answered_unavailable_by_the_server(
    emulator, config, monkeypatch
):
    # The call is sent, held on its way, and reaches the server once its shutdown has begun. grpc's own stop
    # cancels such a call (the client saw CANCELLED); the facade still receives calls for its drain period,
    # lengthened here so that the held call surely arrives within it, and answers them UNAVAILABLE itself.
    monkeypatch.setattr(server_module, "DRAIN_PERIOD", 5.0)
    server = FacadeServer(dataclasses.replace(config, shutdown_grace_period=60))
    port = await server.start()
    await asyncio.wait_for(server.cluster_reached.wait(), 10)
    relay = HoldingRelay(port)
    kube = await KubeApi.connect(config.kubeconfig)
    try:
        await kube.create(RUNTIMES, build_runtime(validate_create(runtime_request("kre-waiting")), config))
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{port}") as direct,
            grpc.aio.insecure_channel(f"127.0.0.1:{await relay.start()}") as relayed,
        ):
            health_watch = health_pb2_grpc.HealthStub(direct).Watch(health_pb2.HealthCheckRequest(service=""))
            serving = await health_watch.read()
            runtimes = RuntimeStub(relayed)
            await health_pb2_grpc.HealthStub(relayed).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            relay.open.clear()
            on_its_way = asyncio.ensure_future(runtimes.RuntimeStatus(runtime_request("kre-waiting"), timeout=60))
            await eventually(lambda: relay.held_bytes > 0)

            stopping = asyncio.create_task(server.stop())
            not_serving = await health_watch.read()
            relay.open.set()
            with pytest.raises(grpc.aio.AioRpcError) as waited:
                await on_its_way
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await runtimes.Create(runtime_request(), timeout=5)
            health_watch.cancel()
            await stopping
        created = await kube.find(RUNTIMES, "kre-demo")
    finally:
        await relay.close()
        await kube.close()

    refused_labels = {"service": "runtime.RuntimeService", "method": "Create", "type": "unary", "code": "UNAVAILABLE"}
    assert serving.status == health_pb2.HealthCheckResponse.SERVING
    assert not_serving.status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert waited.value.code() == grpc.StatusCode.UNAVAILABLE
    assert waited.value.details().startswith("the facade is shutting down; Runtime 'kre-waiting'")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert refused.value.details() == "the facade is shutting down; it takes no new calls"
    assert created is None
    assert server.registry.get_sample_value("k8s_manager_facade_rpcs_handled_total", refused_labels) == 1


async def test_calls_still_running_when_the_grace_period_ends_are_cancelled(emulator, config):
    server = FacadeServer(dataclasses.replace(config, shutdown_grace_period=0.2))
    port = await server.start()
    await asyncio.wait_for(server.cluster_reached.wait(), 10)
    slow_create = delay_runtime_creation(emulator, 5.0)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        in_flight = asyncio.ensure_future(RuntimeStub(channel).Create(runtime_request(), timeout=60))
        await eventually(lambda: emulator.run_sync(lambda: slow_create.hits) == 1)
        await server.stop()
        with pytest.raises(grpc.aio.AioRpcError) as cut:
            await in_flight

    labels = {"service": "runtime.RuntimeService", "method": "Create", "type": "unary", "code": "CANCELLED"}
    assert cut.value.code() == grpc.StatusCode.UNAVAILABLE
    assert server.registry.get_sample_value("k8s_manager_facade_rpcs_handled_total", labels) == 1


# ------------------------------------------------------------------------------------------ message limits


async def test_a_request_over_the_receive_limit_is_resource_exhausted(config):
    server = FacadeServer(dataclasses.replace(config, max_receive_message_size=1024))
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            runtimes = RuntimeStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as too_large:
                await runtimes.Create(runtime_request(name="x" * 2048), timeout=10)
            small = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="grpc.health.v1.Health"), timeout=5
            )
    finally:
        await server.stop()

    assert too_large.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "1024" in too_large.value.details()
    assert small.status == health_pb2.HealthCheckResponse.SERVING
