"""The facade's own Prometheus metrics, scraped over HTTP from a real server called through real stubs.

The cluster is the emulator with the project's CRDs; nothing here needs Prometheus (WatchVersion streams are
covered with a real Prometheus in tests/metrics/test_facade_rpc_metrics.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
import prometheus_client
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from k8s_manager import dev
from k8s_manager_api.kube import KubeApi
from k8s_manager_facade.config import FacadeConfig
from k8s_manager_facade.generated import runtime_pb2, runtime_pb2_grpc
from k8s_manager_facade.observability import split_method
from k8s_manager_facade.server import FacadeServer, StartupError
from kube_emulator import Fault
from prometheus_client.parser import text_string_to_metric_families

RuntimeStub: Any = runtime_pb2_grpc.RuntimeServiceStub
PASSWORD = "Xq3vL9pa"
HEALTH = "grpc.health.v1.Health"
RUNTIME = "runtime.RuntimeService"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def create_request(namespace: str = "kre-demo", password: str = PASSWORD) -> runtime_pb2.Request:
    return runtime_pb2.Request(
        runtime=runtime_pb2.Runtime(
            name="Demo",
            namespace=namespace,
            mongo=runtime_pb2.Runtime.MongoConf(username="admin", password=password, sharedKey="Tm7wQ2zk"),
            minio=runtime_pb2.Runtime.MinioConf(accessKey="admin", secretKey="Hb5nR8cy"),
        )
    )


@pytest.fixture
async def facade(emulator, kubeconfig) -> AsyncIterator[FacadeServer]:
    api = await KubeApi.connect(str(kubeconfig))
    try:
        await asyncio.wait_for(dev.apply_crds(api, dev.load_crds(dev.default_crds_dir())), 30)
    finally:
        await api.close()
    config = FacadeConfig(
        host="127.0.0.1", port=0, metrics_port=0, shutdown_grace_period=0.5, kubeconfig=str(kubeconfig)
    )
    server = FacadeServer(config)
    await server.start()
    await asyncio.wait_for(server.cluster_reached.wait(), 10)
    yield server
    await server.stop()


@pytest.fixture
async def channel(facade: FacadeServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{facade.port}") as opened:
        yield opened


async def scrape(port: int | None) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return await response.text()


async def samples(facade: FacadeServer) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(await scrape(facade.metrics_port)):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((f"k8s_manager_facade_{name}", frozenset(labels.items())), 0.0)


def handled(found: Samples, service: str, method: str, rpc_type: str, code: str) -> float:
    return value(found, "rpcs_handled_total", service=service, method=method, type=rpc_type, code=code)


async def eventually_handled(facade: FacadeServer, *labels: str) -> Samples:
    """The samples once the server has counted the call ending as `labels` (it may end after the client's side)."""
    for _ in range(250):
        found = await samples(facade)
        if handled(found, *labels):
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"no call ended as {labels}")


def test_full_method_names_split_into_service_and_method():
    assert split_method("/runtime.RuntimeService/Create") == ("runtime.RuntimeService", "Create")
    assert split_method("/grpc.health.v1.Health/Check") == ("grpc.health.v1.Health", "Check")


async def test_unary_calls_are_counted_by_status_code_and_timed(facade, channel):
    health = health_pb2_grpc.HealthStub(channel)
    runtimes = RuntimeStub(channel)
    await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    await health.Check(health_pb2.HealthCheckRequest(service=HEALTH), timeout=5)
    with pytest.raises(grpc.aio.AioRpcError):
        await health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
    await runtimes.Create(create_request(), timeout=20)
    with pytest.raises(grpc.aio.AioRpcError):
        await runtimes.Create(create_request(namespace="Not A Namespace"), timeout=20)

    # context.abort() sends the status before the handler ends: the server may count it a moment later.
    await eventually_handled(facade, HEALTH, "Check", "unary", "NOT_FOUND")
    found = await eventually_handled(facade, RUNTIME, "Create", "unary", "INVALID_ARGUMENT")

    unary = {"type": "unary"}
    assert value(found, "rpcs_started_total", service=HEALTH, method="Check", **unary) == 3
    assert handled(found, HEALTH, "Check", "unary", "OK") == 2
    assert handled(found, HEALTH, "Check", "unary", "NOT_FOUND") == 1
    assert value(found, "rpcs_started_total", service=RUNTIME, method="Create", **unary) == 2
    assert handled(found, RUNTIME, "Create", "unary", "OK") == 1
    assert handled(found, RUNTIME, "Create", "unary", "INVALID_ARGUMENT") == 1
    assert value(found, "rpc_duration_seconds_count", service=RUNTIME, method="Create", **unary) == 2
    assert value(found, "rpc_duration_seconds_bucket", service=RUNTIME, method="Create", le="+Inf", **unary) == 2


async def test_a_wait_that_runs_out_of_time_is_counted_as_deadline_exceeded(facade, channel):
    runtimes = RuntimeStub(channel)
    await runtimes.Create(create_request(), timeout=20)
    status = runtime_pb2.Request(runtime=runtime_pb2.Runtime(namespace="kre-demo"))
    with pytest.raises(grpc.aio.AioRpcError) as waited:
        await runtimes.RuntimeStatus(status, timeout=1)

    found = await eventually_handled(facade, RUNTIME, "RuntimeStatus", "unary", "DEADLINE_EXCEEDED")

    assert waited.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert value(found, "rpcs_started_total", service=RUNTIME, method="RuntimeStatus", type="unary") == 1


async def test_unary_calls_cut_by_the_client_or_its_deadline_are_counted_as_such(emulator, facade, channel):
    faults = emulator.emulator.faults
    slow = emulator.run_sync(lambda: faults.add(Fault(method="POST", path=r"/runtimes$", delay=3.0, times=2)))
    runtimes = RuntimeStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await runtimes.Create(create_request("kre-late"), timeout=0.5)
    cancelled = runtimes.Create(create_request("kre-cancelled"), timeout=20)
    for _ in range(500):  # until the call is in the server, waiting for the API
        if emulator.run_sync(lambda: slow.hits) == 2:
            break
        await asyncio.sleep(0.02)
    cancelled.cancel()

    await eventually_handled(facade, RUNTIME, "Create", "unary", "DEADLINE_EXCEEDED")
    found = await eventually_handled(facade, RUNTIME, "Create", "unary", "CANCELLED")

    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert value(found, "rpcs_started_total", service=RUNTIME, method="Create", type="unary") == 2


async def test_a_cancelled_server_stream_counts_its_messages_and_ends_as_cancelled(facade, channel):
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
    first = await watch.read()
    while_open = await samples(facade)
    watch.cancel()

    found = await eventually_handled(facade, HEALTH, "Watch", "server_stream", "CANCELLED")

    assert first.status == health_pb2.HealthCheckResponse.SERVING
    assert value(while_open, "streams_open", service=HEALTH, method="Watch") == 1
    assert value(found, "streams_open", service=HEALTH, method="Watch") == 0
    assert value(found, "stream_messages_sent_total", service=HEALTH, method="Watch") == 1
    assert value(found, "rpc_duration_seconds_count", service=HEALTH, method="Watch", type="server_stream") == 1


async def test_a_bidirectional_stream_that_ends_is_counted_as_ok_with_its_messages(facade, channel):
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [reflection_pb2.ServerReflectionRequest(list_services="")] * 3
    replies = [reply async for reply in reflection.ServerReflectionInfo(iter(requests), timeout=5)]

    service = "grpc.reflection.v1alpha.ServerReflection"
    found = await eventually_handled(facade, service, "ServerReflectionInfo", "bidi_stream", "OK")

    assert len(replies) == 3
    assert value(found, "stream_messages_sent_total", service=service, method="ServerReflectionInfo") == 3
    assert value(found, "streams_open", service=service, method="ServerReflectionInfo") == 0


async def test_unknown_methods_and_request_contents_never_become_labels(facade, channel):
    unknown = channel.unary_unary("/runtime.RuntimeService/NoSuchMethod")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await unknown(b"", timeout=5)
    with pytest.raises(grpc.aio.AioRpcError):
        await RuntimeStub(channel).Create(create_request(password="bad password!"), timeout=20)

    await eventually_handled(facade, RUNTIME, "Create", "unary", "INVALID_ARGUMENT")
    text = await scrape(facade.metrics_port)

    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "NoSuchMethod" not in text
    assert "kre-demo" not in text
    assert "bad password" not in text
    assert 'code="INVALID_ARGUMENT"' in text


async def test_each_server_has_its_own_registry_and_the_endpoint_closes_with_it(facade, channel):
    await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    port = facade.metrics_port
    assert "process_cpu_seconds_total" in await scrape(port)
    await facade.stop()

    global_text = prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
    assert "k8s_manager_facade_" not in global_text
    with pytest.raises(aiohttp.ClientConnectionError):
        await scrape(port)


async def test_a_busy_metrics_port_is_a_clear_startup_error(facade):
    config = dataclasses.replace(facade.config, port=0, metrics_port=facade.metrics_port)
    second = FacadeServer(config)

    with pytest.raises(StartupError, match=f"cannot serve metrics on 127.0.0.1:{facade.metrics_port}: "):
        await second.start()
    assert second.kube is None  # the connection it made was closed
