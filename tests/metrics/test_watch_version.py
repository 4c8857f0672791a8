"""WatchVersion through a real facade against a real Prometheus whose data reaches the present.

The data of these tests ends on the last whole minute before they start (the session's `prometheus` data may be
minutes old by now): a gauge stays visible for 5 minutes after its last sample, so every grid point between now and
then has a memory value, and the exact answer is known. CPU after the last sample is extrapolated by Prometheus,
so only memory is compared there.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from k8s_manager_facade.metrics.prometheus import DEFAULT_CONCURRENCY

from .facade import Facade, eventually, rpc_error, running_facade, stream_error, version_request
from .prometheus import (
    DEMO_NAMESPACE,
    GREETER_V1,
    GREETER_V2,
    KUBE_STATE_METRICS_REPLICAS,
    PrometheusData,
    RunningPrometheus,
    Scenario,
    standard_scenario,
)

REFRESH = 0.5  # seconds between messages in these tests (5 s by default); a 1 s step has a new point every 2nd


def rfc3339(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat().replace("+00:00", "Z")


def seconds(date: str) -> float:
    return datetime.datetime.fromisoformat(date).timestamp()


def timestamps(response: Any) -> list[float]:
    return [seconds(point.date) for point in response.versionResourceMetrics]


@pytest.fixture(scope="module")
def recent_data(tmp_path_factory: pytest.TempPathFactory) -> PrometheusData:
    scenario = Scenario.ending_before_now(
        standard_scenario().pods, end_before_now_seconds=0, kube_state_metrics_instances=KUBE_STATE_METRICS_REPLICAS
    )
    return PrometheusData.create(scenario, tmp_path_factory.mktemp("recent-prometheus"))


@pytest.fixture(scope="module")
def recent_prometheus(recent_data: PrometheusData) -> Iterator[RunningPrometheus]:
    with recent_data.server() as running:
        yield running


@pytest.fixture
async def facade(recent_prometheus: RunningPrometheus, facade_kubeconfig: Path) -> AsyncIterator[Facade]:
    async with running_facade(
        facade_kubeconfig, recent_prometheus.server.url, metrics_refresh_interval=REFRESH
    ) as running:
        yield running


def watch_request(since: float, version: str = GREETER_V1, step: int = 1, **fields: Any) -> Any:
    """As the Admin API sends it: no toDate."""
    defaults = {"namespace": DEMO_NAMESPACE, "versionName": version, "fromDate": rfc3339(since), "step": step}
    return version_request(**{**defaults, **fields})


def memory(scenario: Scenario, version: str, at: float) -> int:
    return scenario.expected_memory_bytes(DEMO_NAMESPACE, version, at)


# ----------------------------------------------------------------------------------------------- messages


async def test_the_first_message_comes_at_once_with_the_back_fill_window(recent_prometheus, facade_kubeconfig):
    scenario = recent_prometheus.scenario
    # A refresh interval far longer than the test: the first message cannot be a tick's.
    async with running_facade(facade_kubeconfig, recent_prometheus.server.url, metrics_refresh_interval=60) as facade:
        since = scenario.end - 600
        started = time.monotonic()
        call = facade.stub.WatchVersion(watch_request(since, step=60))
        first = await asyncio.wait_for(call.read(), 5)
        elapsed = time.monotonic() - started
        call.cancel()

    now = time.time()
    assert elapsed < 1
    assert timestamps(first) == list(range(since, int(now) // 60 * 60 + 1, 60))
    for point in first.versionResourceMetrics:
        at = seconds(point.date)
        assert point.mem == memory(scenario, GREETER_V1, at)
        if at <= scenario.end:
            assert point.cpu == pytest.approx(0.375, rel=1e-9)


async def test_later_messages_carry_only_new_points_without_gaps(facade, recent_prometheus):
    scenario = recent_prometheus.scenario
    since = scenario.end - 30
    call = facade.stub.WatchVersion(watch_request(since, version=GREETER_V2))

    messages = [await asyncio.wait_for(call.read(), 5) for _ in range(8)]
    call.cancel()

    sent = [timestamps(message) for message in messages]
    everything = [t for batch in sent for t in batch]
    assert everything == list(range(int(since), int(everything[-1]) + 1))  # each second once, in order
    assert everything[-1] > sent[0][-1] + 1  # later messages brought new points
    for earlier, later in itertools.pairwise(sent):
        assert not earlier or not later or later[0] == earlier[-1] + 1
    assert sum(1 for batch in sent[1:] if batch) >= 3
    for point in (point for message in messages for point in message.versionResourceMetrics):
        assert point.mem == memory(scenario, GREETER_V2, seconds(point.date))


async def test_messages_follow_the_refresh_interval(facade, recent_prometheus):
    call = facade.stub.WatchVersion(watch_request(recent_prometheus.scenario.end - 30))
    await call.read()
    arrivals = []
    for _ in range(5):
        await asyncio.wait_for(call.read(), 5)
        arrivals.append(time.monotonic())
    call.cancel()

    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert all(REFRESH * 0.5 < gap < REFRESH * 3 for gap in gaps), gaps


async def test_a_stream_with_a_to_date_ends_with_ok_after_its_last_point(facade, recent_prometheus):
    since = recent_prometheus.scenario.end - 10
    until = time.time() + 1.5
    call = facade.stub.WatchVersion(watch_request(since, toDate=rfc3339(until)))

    messages = [message async for message in call]

    everything = [t for message in messages for t in timestamps(message)]
    assert everything == list(range(int(since), int(until) + 1))
    assert await call.code() == grpc.StatusCode.OK


# ---------------------------------------------------------------------------------------- sharing, cleanup


async def test_streams_of_the_same_series_share_one_query_per_tick(facade, recent_prometheus):
    server, scenario = recent_prometheus
    calls = [facade.stub.WatchVersion(watch_request(scenario.end - 60)) for _ in range(6)]
    other = facade.stub.WatchVersion(watch_request(scenario.end - 60, version=GREETER_V2))
    for call in [*calls, other]:
        await asyncio.wait_for(call.read(), 5)
    assert (facade.hub.pollers, facade.hub.subscribers) == (2, 7)

    before, started = server.request_count(), time.monotonic()
    for _ in range(6):
        await asyncio.gather(*(asyncio.wait_for(call.read(), 5) for call in [*calls, other]))
    queries, new_points = server.request_count() - before, time.monotonic() - started  # a point per second
    for call in [*calls, other]:
        call.cancel()

    # Two series, each asked once per tick that has a new point: not once per stream (7 streams).
    assert 2 * 2 <= queries <= 2 * (new_points + 1)


async def test_cancelled_streams_leave_no_task_poller_or_thread(facade, recent_prometheus):
    since = recent_prometheus.scenario.end - 60

    async def open_and_cancel(count: int) -> None:
        calls = [facade.stub.WatchVersion(watch_request(since, step=1 + n % 3)) for n in range(count)]
        for call in calls:
            await asyncio.wait_for(call.read(), 5)
            await asyncio.wait_for(call.read(), 5)  # a tick's message too: the pollers have run
        assert facade.hub.subscribers == count
        for call in calls:
            call.cancel()
        await eventually(lambda: facade.hub.subscribers == 0 and facade.hub.pollers == 0)

    def threads() -> tuple[set[str], int]:
        """Threads other than the Prometheus client's pool, and the pool's size."""
        names = [thread.name for thread in threading.enumerate()]
        pool = [name for name in names if name.startswith("prometheus_")]
        return set(names) - set(pool), len(pool)

    await open_and_cancel(12)  # warms up gRPC's own machinery
    await asyncio.sleep(REFRESH)
    tasks, (other_threads, _) = len(asyncio.all_tasks()), threads()

    await open_and_cancel(12)
    await eventually(lambda: len(asyncio.all_tasks()) <= tasks)

    assert not [task for task in asyncio.all_tasks() if task.get_name().startswith("metrics-poller")]
    assert threads()[0] == other_threads  # no thread or timer per stream
    assert threads()[1] <= DEFAULT_CONCURRENCY  # the bounded pool of the client, reused


async def test_a_slow_reader_does_not_hold_the_others(facade, recent_prometheus):
    since = recent_prometheus.scenario.end - 60
    idle = facade.stub.WatchVersion(watch_request(since))
    await idle.read()  # then never read again
    busy = facade.stub.WatchVersion(watch_request(since))
    await busy.read()

    arrived = [await asyncio.wait_for(busy.read(), 5) for _ in range(4)]
    idle.cancel()
    busy.cancel()

    assert sum(len(message.versionResourceMetrics) for message in arrived) > 0


# ------------------------------------------------------------------------------------------------- failures


async def test_prometheus_stopped_mid_stream_ends_it_with_unavailable(recent_data, facade_kubeconfig):
    with recent_data.server() as (server, scenario):
        async with running_facade(facade_kubeconfig, server.url, metrics_refresh_interval=REFRESH) as facade:
            call = facade.stub.WatchVersion(watch_request(scenario.end - 60))
            await asyncio.wait_for(call.read(), 5)
            server.stop()
            error = await asyncio.wait_for(stream_error(call), 5)
            await eventually(lambda: facade.hub.pollers == 0)

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details() == (
        f"metrics of version 'greeter-v1' in namespace 'kre-demo': Prometheus at {server.url} is unreachable "
        "(Connection refused)"
    )


async def test_prometheus_down_at_the_start_ends_the_stream_with_unavailable(facade_kubeconfig):
    async with running_facade(facade_kubeconfig, "http://127.0.0.1:1", metrics_refresh_interval=REFRESH) as facade:
        error = await asyncio.wait_for(stream_error(facade.stub.WatchVersion(watch_request(time.time() - 60))), 5)
        assert (facade.hub.pollers, facade.hub.subscribers) == (0, 0)

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "is unreachable (Connection refused)" in error.details()


async def test_server_shutdown_ends_streams_with_unavailable_at_once(recent_prometheus, facade_kubeconfig):
    async with running_facade(
        facade_kubeconfig, recent_prometheus.server.url, metrics_refresh_interval=REFRESH, shutdown_grace_period=10
    ) as facade:
        call = facade.stub.WatchVersion(watch_request(recent_prometheus.scenario.end - 60))
        await asyncio.wait_for(call.read(), 5)
        started = time.monotonic()
        stopping = asyncio.create_task(facade.server.stop())
        try:
            error = await asyncio.wait_for(stream_error(call), 5)
        finally:
            await stopping  # a gRPC server left half-stopped would hold the interpreter at exit
        elapsed = time.monotonic() - started

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details().endswith("the facade is shutting down")
    assert elapsed < 3  # not held for the 10 s grace period


async def test_bad_watch_requests_are_refused_without_asking_prometheus(facade, recent_prometheus):
    server = recent_prometheus.server
    before = server.request_count()
    since = time.time() - 60
    bad: list[dict[str, Any]] = [
        {"versionName": 'greeter-v1"} or vector(1) or {"'},
        {"namespace": 'kre-demo",namespace!="'},
        {"versionName": ""},
        {"step": -5},
    ]
    errors = [await rpc_error(facade.stub.WatchVersion(watch_request(since, **fields)).read()) for fields in bad]
    errors.append(await rpc_error(facade.stub.WatchVersion(watch_request(since, fromDate="not a date")).read()))

    assert [error.code() for error in errors] == [grpc.StatusCode.INVALID_ARGUMENT] * 5
    assert [error.details().split(":")[0] for error in errors] == [
        "versionName",
        "namespace",
        "versionName",
        "step",
        "fromDate",
    ]
    assert server.request_count() == before
