"""The facade's own RPC metrics for ResourceMetricsService against a real Prometheus: streams and their ends.

The metrics are read from the facade's registry after the calls (the unit tests scrape the HTTP endpoint).
"""

from __future__ import annotations

import datetime

import grpc
import pytest

from .facade import eventually, running_facade, version_request
from .prometheus import DEMO_NAMESPACE, GREETER_V1, RunningPrometheus

SERVICE = "resourcemetrics.ResourceMetricsService"


def rfc3339(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sample(server, name: str, **labels: str) -> float:
    return server.registry.get_sample_value(f"k8s_manager_facade_{name}", {"service": SERVICE, **labels}) or 0.0


async def test_a_stream_that_ends_counts_its_messages_and_ok(prometheus: RunningPrometheus, kubeconfig):
    scenario = prometheus.scenario
    request = version_request(
        namespace=DEMO_NAMESPACE,
        versionName=GREETER_V1,
        fromDate=rfc3339(scenario.exact_cpu_from),
        toDate=rfc3339(scenario.end),
        step=60,
    )
    async with running_facade(kubeconfig, prometheus.server.url) as facade:
        call = facade.stub.WatchVersion(request, timeout=20)
        messages = [message async for message in call]
        server = facade.server
        await eventually(lambda: sample(server, "streams_open", method="WatchVersion") == 0)

        stream = {"method": "WatchVersion", "type": "server_stream"}
        assert len(messages) == 1
        assert await call.code() == grpc.StatusCode.OK
        assert sample(server, "rpcs_started_total", **stream) == 1
        assert sample(server, "rpcs_handled_total", code="OK", **stream) == 1
        assert sample(server, "stream_messages_sent_total", method="WatchVersion") == 1
        assert sample(server, "rpc_duration_seconds_count", **stream) == 1


async def test_a_cancelled_stream_ends_as_cancelled_and_a_refused_one_with_its_code(
    prometheus: RunningPrometheus, kubeconfig
):
    since = prometheus.scenario.end
    watch = version_request(namespace=DEMO_NAMESPACE, versionName=GREETER_V1, fromDate=rfc3339(since), step=60)
    backwards = version_request(
        namespace=DEMO_NAMESPACE, versionName=GREETER_V1, fromDate=rfc3339(since), toDate=rfc3339(since - 60)
    )
    async with running_facade(kubeconfig, prometheus.server.url, metrics_refresh_interval=0.2) as facade:
        server = facade.server
        call = facade.stub.WatchVersion(watch)
        await call.read()
        await call.read()
        open_streams = sample(server, "streams_open", method="WatchVersion")
        call.cancel()
        refused = facade.stub.WatchVersion(backwards)
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await refused.read()

        stream = {"method": "WatchVersion", "type": "server_stream"}
        await eventually(lambda: sample(server, "rpcs_handled_total", code="CANCELLED", **stream) == 1)
        # context.abort() sends the status before the handler ends: the server may count it a moment later.
        await eventually(lambda: sample(server, "rpcs_handled_total", code="INVALID_ARGUMENT", **stream) == 1)
        assert open_streams == 1
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert sample(server, "stream_messages_sent_total", method="WatchVersion") >= 1  # the 2nd may be in flight
        assert sample(server, "streams_open", method="WatchVersion") == 0
