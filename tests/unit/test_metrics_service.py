"""The ResourceMetricsService servicer over a fake Prometheus: invalid requests never reach Prometheus, answers and
errors become responses and codes."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from k8s_manager_facade.generated import resourcemetrics_pb2
from k8s_manager_facade.metrics.prometheus import PrometheusUnavailableError, QueryRejectedError
from k8s_manager_facade.metrics.service import ResourceMetricsServicer, metrics_hub
from k8s_manager_facade.metrics.usage import RangeSeries
from k8s_manager_facade.metrics.validation import Window

NOW = 1714568400.0  # 2024-05-01T13:00:00Z


class AbortedError(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class FakeContext:
    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise AbortedError(code, details)


class FakePrometheus:
    def __init__(self, answer: list[RangeSeries] | Exception | None = None) -> None:
        self.queries: list[tuple[str, Window]] = []
        self.answer = answer or []

    async def query_range(self, query: str, window: Window) -> list[RangeSeries]:
        self.queries.append((query, window))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
async def servicer_for():
    hubs = []

    def make(prometheus: FakePrometheus) -> ResourceMetricsServicer:
        hub = metrics_hub(prometheus, 0.01, lambda: NOW)
        hubs.append(hub)
        return ResourceMetricsServicer(prometheus, hub, lambda: NOW)

    yield make
    for hub in hubs:
        await hub.stop()


def request(**fields: Any) -> resourcemetrics_pb2.VersionRequest:
    defaults: dict[str, Any] = {
        "versionName": "greeter-v1",
        "namespace": "kre-demo",
        "fromDate": "2024-05-01T12:00:00Z",
        "toDate": "2024-05-01T12:02:00Z",
        "step": 60,
    }
    return resourcemetrics_pb2.VersionRequest(**{**defaults, **fields})


async def get_version(servicer: ResourceMetricsServicer, message: resourcemetrics_pb2.VersionRequest) -> Any:
    return await servicer.GetVersion(message, FakeContext())


async def watch_version(servicer: ResourceMetricsServicer, message: resourcemetrics_pb2.VersionRequest) -> list[Any]:
    return [response async for response in servicer.WatchVersion(message, FakeContext())]


INJECTIONS = [
    {"versionName": 'greeter-v1"} or vector(1) or {"'},
    {"versionName": 'greeter-v1",label_version_name=~".+'},
    {"versionName": "greeter-v1') or sum(up"},
    {"namespace": 'kre-demo"} or up or {namespace="'},
    {"namespace": 'kre-demo",namespace=~".*'},
    {"namespace": "kre-demo\\"},
]


@pytest.mark.parametrize("fields", INJECTIONS)
async def test_injection_attempts_are_refused_without_asking_prometheus(servicer_for, fields):
    prometheus = FakePrometheus()
    servicer = servicer_for(prometheus)

    with pytest.raises(AbortedError) as get:
        await get_version(servicer, request(**fields))
    with pytest.raises(AbortedError) as watch:
        await watch_version(servicer, request(toDate="", **fields))

    assert get.value.code == watch.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert get.value.details.startswith(next(iter(fields)) + ": ")
    assert prometheus.queries == []


async def test_get_version_answers_one_point_per_timestamp_with_rfc3339_dates(servicer_for):
    prometheus = FakePrometheus(
        [
            RangeSeries({"metric": "mem"}, [(1714564800, "1048576"), (1714564860, "2097152")]),
            RangeSeries({"metric": "cpu"}, [(1714564860, "0.375")]),
        ]
    )

    response = await get_version(servicer_for(prometheus), request())

    assert [(m.date, m.cpu, m.mem) for m in response.versionResourceMetrics] == [
        ("2024-05-01T12:00:00Z", 0.0, 1048576.0),
        ("2024-05-01T12:01:00Z", 0.375, 2097152.0),
    ]
    [(query, window)] = prometheus.queries
    assert window == Window(1714564800, 1714564920, 60)
    assert 'label_version_name="greeter-v1"' in query


async def test_a_window_without_grid_point_answers_empty_without_asking(servicer_for):
    prometheus = FakePrometheus()

    response = await get_version(
        servicer_for(prometheus), request(fromDate="2024-05-01T12:00:10Z", toDate="2024-05-01T12:00:50Z")
    )

    assert list(response.versionResourceMetrics) == []
    assert prometheus.queries == []


@pytest.mark.parametrize(
    ("error", "code", "details"),
    [
        (
            QueryRejectedError("Prometheus rejected the query: parse error"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "metrics of version 'greeter-v1' in namespace 'kre-demo': Prometheus rejected the query: parse error",
        ),
        (
            PrometheusUnavailableError("Prometheus at http://p:9090 is unreachable (Connection refused)"),
            grpc.StatusCode.UNAVAILABLE,
            "metrics of version 'greeter-v1' in namespace 'kre-demo': "
            "Prometheus at http://p:9090 is unreachable (Connection refused)",
        ),
    ],
)
async def test_prometheus_errors_become_status_codes(servicer_for, error, code, details):
    servicer = servicer_for(FakePrometheus(error))

    with pytest.raises(AbortedError) as get:
        await get_version(servicer, request())
    with pytest.raises(AbortedError) as watch:
        await watch_version(servicer, request(toDate=""))

    assert (get.value.code, get.value.details) == (code, details)
    assert (watch.value.code, watch.value.details) == (code, details)


async def test_a_watch_whose_to_date_has_passed_sends_one_message_and_ends(servicer_for):
    prometheus = FakePrometheus([RangeSeries({"metric": "cpu"}, [(1714564800, "1"), (1714564860, "2")])])

    responses = await watch_version(servicer_for(prometheus), request())

    assert [[m.date for m in r.versionResourceMetrics] for r in responses] == [
        ["2024-05-01T12:00:00Z", "2024-05-01T12:01:00Z"]
    ]
