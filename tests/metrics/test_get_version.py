"""GetVersion through a real facade (grpc.aio, the generated stub) against a real Prometheus over known data.

The standard scenario (prometheus.py) gives the answers: per-version sums over containers, with two kube-state-metrics
replicas, a counter reset, pause containers and pod-level cgroup series that must not count, a version in another
namespace and a version whose name starts with another's.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from k8s_manager_facade.metrics.prometheus import PrometheusClient, PrometheusUnavailableError, QueryRejectedError
from k8s_manager_facade.metrics.promql import promql_string
from k8s_manager_facade.metrics.validation import Window

from .facade import (
    Facade,
    canned_http_server,
    free_port,
    rpc_error,
    running_facade,
    silent_server,
    version_request,
)
from .prometheus import (
    DEMO_NAMESPACE,
    GREETER_V1,
    GREETER_V1_CANARY,
    GREETER_V2,
    OTHER_NAMESPACE,
    RunningPrometheus,
    Scenario,
)

VERSIONS = [
    (DEMO_NAMESPACE, GREETER_V1),
    (DEMO_NAMESPACE, GREETER_V2),
    (OTHER_NAMESPACE, GREETER_V1),
    (DEMO_NAMESPACE, GREETER_V1_CANARY),
]


def rfc3339(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds(date: str) -> float:
    return datetime.datetime.fromisoformat(date).timestamp()


def exactly(expected: float) -> Any:
    return pytest.approx(expected, rel=1e-9)


@pytest.fixture
async def facade(prometheus: RunningPrometheus, facade_kubeconfig: Path) -> AsyncIterator[Facade]:
    async with running_facade(facade_kubeconfig, prometheus.server.url) as running:
        yield running


def exact_range(scenario: Scenario, **fields: Any) -> Any:
    """A request over the whole interval where the scenario's answers are exact, at the Admin API's step."""
    start, end = scenario.exact_cpu_from, scenario.end
    defaults: dict[str, Any] = {"fromDate": rfc3339(start), "toDate": rfc3339(end), "step": (end - start) // 60}
    return version_request(**{**defaults, **fields})


def grid_points(start: int, end: int, step: int) -> int:
    """How many multiples of `step` (seconds since the epoch: the service's grid) lie in [start, end]."""
    return end // step - (start - 1) // step


# ------------------------------------------------------------------------------------------- the answers


@pytest.mark.parametrize(("namespace", "version"), VERSIONS)
async def test_cpu_and_memory_of_each_version_are_exact(facade, prometheus, namespace, version):
    scenario = prometheus.scenario

    response = await facade.stub.GetVersion(exact_range(scenario, namespace=namespace, versionName=version), timeout=10)

    points = response.versionResourceMetrics
    step = (scenario.end - scenario.exact_cpu_from) // 60
    assert [seconds(point.date) for point in points] == [
        t for t in range(scenario.exact_cpu_from, scenario.end + 1) if t % step == 0
    ]
    for point in points:
        at = seconds(point.date)
        assert point.cpu == exactly(scenario.expected_cpu_cores(namespace, version, at)), point.date
        assert point.mem == exactly(scenario.expected_memory_bytes(namespace, version, at)), point.date


async def test_greeter_v1_counts_only_its_own_containers(facade, prometheus):
    """Both its pods (one restarted half way, one with two containers); not the pause containers, not the pod-level
    series, not greeter-v1 of the other namespace, not greeter-v1-canary; each pod once despite two KSM replicas."""
    scenario = prometheus.scenario
    at = scenario.end

    response = await facade.stub.GetVersion(
        version_request(
            namespace=DEMO_NAMESPACE, versionName=GREETER_V1, fromDate=rfc3339(at - 60), toDate=rfc3339(at), step=60
        ),
        timeout=10,
    )

    last = response.versionResourceMetrics[-1]
    assert (last.date, last.cpu, last.mem) == (rfc3339(at), 0.375, (96 + 160) * 1024 * 1024)


async def test_the_counter_reset_does_not_show(facade, prometheus):
    scenario = prometheus.scenario
    reset = scenario.start + 1800  # the restarted pod's counters drop here

    response = await facade.stub.GetVersion(
        version_request(
            namespace=DEMO_NAMESPACE,
            versionName=GREETER_V1,
            fromDate=rfc3339(reset - 300),
            toDate=rfc3339(reset + 300),
            step=15,
        ),
        timeout=10,
    )

    assert {point.cpu for point in response.versionResourceMetrics} == {0.375}


async def test_dates_are_rfc3339_utc_on_the_step_grid(facade, prometheus):
    scenario = prometheus.scenario
    # Off-grid bounds with an offset: the answer starts at the first multiple of the step after fromDate.
    start = datetime.datetime.fromtimestamp(scenario.end - 600 + 7, datetime.timezone(datetime.timedelta(hours=2)))
    request = version_request(
        namespace=DEMO_NAMESPACE,
        versionName=GREETER_V2,
        fromDate=start.isoformat(),
        toDate=rfc3339(scenario.end),
        step=120,
    )

    response = await facade.stub.GetVersion(request, timeout=10)

    dates = [point.date for point in response.versionResourceMetrics]
    first = -(-(scenario.end - 593) // 120) * 120  # the first multiple of 120 s at or after fromDate
    assert dates == [rfc3339(t) for t in range(first, scenario.end + 1, 120)]
    assert len(dates) == 5


async def test_step_zero_for_a_range_under_a_minute_gives_points_a_second_apart(facade, prometheus):
    """The Admin API sends step = ⌊range / 60⌋, so 0 for less than a minute; the facade picks 1 s."""
    scenario = prometheus.scenario
    request = version_request(
        namespace=DEMO_NAMESPACE,
        versionName=GREETER_V1,
        fromDate=rfc3339(scenario.end - 30),
        toDate=rfc3339(scenario.end),
        step=0,
    )

    response = await facade.stub.GetVersion(request, timeout=10)

    assert len(response.versionResourceMetrics) == 31
    assert {point.mem for point in response.versionResourceMetrics} == {(96 + 160) * 1024 * 1024}


@pytest.mark.parametrize(
    ("namespace", "version"),
    [
        (DEMO_NAMESPACE, "greeter-v3"),
        ("kre-nowhere", GREETER_V1),
        (OTHER_NAMESPACE, GREETER_V2),
        ("kre-demo", "greeter"),
    ],
)
async def test_a_version_without_pods_answers_an_empty_list(facade, prometheus, namespace, version):
    response = await facade.stub.GetVersion(
        exact_range(prometheus.scenario, namespace=namespace, versionName=version), timeout=10
    )

    assert list(response.versionResourceMetrics) == []


async def test_a_range_with_data_at_one_end_only_still_has_both_metrics_where_they_exist(facade, prometheus):
    """Before the data starts there is nothing; in the first minutes memory is there before CPU has two samples."""
    scenario = prometheus.scenario
    request = version_request(
        namespace=DEMO_NAMESPACE,
        versionName=GREETER_V1,
        fromDate=rfc3339(scenario.start - 120),
        toDate=rfc3339(scenario.start + 120),
        step=15,
    )

    response = await facade.stub.GetVersion(request, timeout=10)

    points = {seconds(point.date): point for point in response.versionResourceMetrics}
    assert min(points) == scenario.start  # nothing before the first sample
    first = points[scenario.start]
    assert (first.cpu, first.mem) == (0.0, (96 + 160) * 1024 * 1024)  # one sample: memory, but no rate yet
    assert points[scenario.start + 120].cpu > 0


# ------------------------------------------------------------------------------------------ bad requests


BAD_REQUESTS: list[dict[str, Any]] = [
    {"versionName": 'greeter-v1"} or vector(1) or {"'},
    {"versionName": "greeter-.*"},
    {"namespace": 'kre-demo",namespace=~".+'},
    {"namespace": "kre-demo'} or up or {x='"},
    {"fromDate": "yesterday"},
    {"toDate": ""},
    {"step": -1},
    {"step": 1},  # 3,300 s at 1 s is fine; see the next one
    {"fromDate": "2020-01-01T00:00:00Z", "step": 1},  # millions of points
]


async def test_bad_requests_are_refused_without_asking_prometheus(facade, prometheus):
    scenario = prometheus.scenario
    before = prometheus.server.request_count()
    codes = []
    for fields in BAD_REQUESTS:
        call = facade.stub.GetVersion(
            exact_range(scenario, **{"namespace": DEMO_NAMESPACE, "versionName": GREETER_V1, **fields}), timeout=10
        )
        try:
            await call
            codes.append(grpc.StatusCode.OK)
        except grpc.aio.AioRpcError as error:
            codes.append(error.code())

    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert codes == [invalid] * 7 + [grpc.StatusCode.OK, invalid]
    assert prometheus.server.request_count() == before + 1  # the one valid request


async def test_an_injection_attempt_is_answered_naming_the_field(facade, prometheus):
    request = exact_range(prometheus.scenario, namespace=DEMO_NAMESPACE, versionName='x"} or vector(1) or {"')

    error = await rpc_error(facade.stub.GetVersion(request, timeout=10))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("versionName: ")


# ------------------------------------------------------------------------------------ Prometheus failing


def any_request() -> Any:
    return version_request(
        namespace=DEMO_NAMESPACE, versionName=GREETER_V1, fromDate="2024-05-01T12:00:00Z", toDate="2024-05-01T13:00:00Z"
    )


async def test_the_facade_starts_with_prometheus_down_and_answers_unavailable(facade_kubeconfig):
    url = f"http://127.0.0.1:{free_port()}"
    async with running_facade(facade_kubeconfig, url) as facade:
        error = await rpc_error(facade.stub.GetVersion(any_request(), timeout=10))

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details() == (
        f"metrics of version 'greeter-v1' in namespace 'kre-demo': Prometheus at {url} is unreachable "
        "(Connection refused)"
    )


async def test_prometheus_stopped_after_start_gives_unavailable(fresh_prometheus, facade_kubeconfig):
    server, scenario = fresh_prometheus
    async with running_facade(facade_kubeconfig, server.url) as facade:
        request = exact_range(scenario, namespace=DEMO_NAMESPACE, versionName=GREETER_V1)
        answered = await facade.stub.GetVersion(request, timeout=10)
        server.stop()
        error = await rpc_error(facade.stub.GetVersion(request, timeout=10))

    assert len(answered.versionResourceMetrics) == grid_points(scenario.exact_cpu_from, scenario.end, request.step)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "is unreachable (Connection refused)" in error.details()


async def test_a_prometheus_that_does_not_answer_gives_unavailable_after_the_timeout(facade_kubeconfig):
    with silent_server() as url:
        async with running_facade(facade_kubeconfig, url, prometheus_timeout=0.5) as facade:
            loop = asyncio.get_running_loop()
            started = loop.time()
            error = await rpc_error(facade.stub.GetVersion(any_request(), timeout=10))
            elapsed = loop.time() - started

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details().endswith(f"Prometheus at {url} did not answer within 0.5 s")
    assert 0.4 < elapsed < 3


def prometheus_error(error_type: str, message: str) -> str:
    return json.dumps({"status": "error", "errorType": error_type, "error": message})


@pytest.mark.parametrize(
    ("status", "body", "code", "detail"),
    [
        (
            400,
            prometheus_error("bad_data", 'invalid parameter "query": 1:1: parse error'),
            grpc.StatusCode.INVALID_ARGUMENT,
            'Prometheus rejected the query: invalid parameter "query": 1:1: parse error',
        ),
        (
            422,
            prometheus_error("execution", "found duplicate series for the match group"),
            grpc.StatusCode.UNAVAILABLE,
            "answered HTTP 422 (execution): found duplicate series for the match group",
        ),
        (
            503,
            prometheus_error("timeout", "query timed out in expression evaluation"),
            grpc.StatusCode.UNAVAILABLE,
            "answered HTTP 503 (timeout): query timed out in expression evaluation",
        ),
        (502, "<html>bad gateway</html>", grpc.StatusCode.UNAVAILABLE, "answered HTTP 502 without a Prometheus API"),
    ],
)
async def test_prometheus_error_answers_map_to_codes(facade_kubeconfig, status, body, code, detail):
    with canned_http_server(status, body) as url:
        async with running_facade(facade_kubeconfig, url) as facade:
            error = await rpc_error(facade.stub.GetVersion(any_request(), timeout=10))

    assert error.code() == code
    assert error.details().startswith("metrics of version 'greeter-v1' in namespace 'kre-demo': ")
    assert detail in error.details()


# ---------------------------------------------------------------------- the client against the real server


@pytest.fixture
async def client(prometheus: RunningPrometheus) -> AsyncIterator[PrometheusClient]:
    running = PrometheusClient(prometheus.server.url, timeout=5)
    yield running
    running.close()


@pytest.mark.parametrize(
    "value",
    ['a"b', "back\\slash\\", "new\nline", "control\x01\x1f\x7f", "ünïcödé €😀", '"} or vector(2) or {"', "'single'"],
)
async def test_escaped_label_values_reach_prometheus_unchanged(client, prometheus, value):
    query = f'label_replace(vector(1), "echo", {promql_string(value)}, "", "")'
    at = prometheus.scenario.end

    [series] = await client.query_range(query, Window(at, at, 60))

    assert series.labels["echo"] == value


async def test_real_bad_data_is_a_rejected_query_with_prometheus_reason(client, prometheus):
    at = prometheus.scenario.end

    with pytest.raises(QueryRejectedError, match=r"^Prometheus rejected the query: .*parse error"):
        await client.query_range("sum(", Window(at, at, 60))


async def test_a_real_many_to_many_match_is_unavailable_with_prometheus_reason(client, prometheus):
    """Two kube-state-metrics replicas without `max by`: the mistake the query avoids."""
    at = prometheus.scenario.end
    query = "container_memory_working_set_bytes * on (namespace, pod) group_left kube_pod_labels"

    with pytest.raises(PrometheusUnavailableError, match=r"answered HTTP 422 \(execution\): .*duplicate series"):
        await client.query_range(query, Window(at, at, 60))
