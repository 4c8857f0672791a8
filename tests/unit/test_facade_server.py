"""The facade's gRPC server in-process: health, reflection, graceful shutdown, a busy port.

The cluster is the emulator with the project's CRDs: the server is SERVING once it has listed Runtimes.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from k8s_manager import dev
from k8s_manager_api.kube import KubeApi
from k8s_manager_facade.config import FacadeConfig
from k8s_manager_facade.server import FacadeServer, StartupError


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


async def test_reflection_lists_the_services(facade):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{facade.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        replies = [reply async for reply in stub.ServerReflectionInfo(iter([request]), timeout=5)]

    names = {service.name for service in replies[0].list_services_response.service}
    assert names == {
        "runtime.RuntimeService",
        "version.VersionService",
        "resourcemetrics.ResourceMetricsService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


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
