"""The Prometheus harness itself, and the per-version query shape of the findings, against the real server."""

from __future__ import annotations

import re
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from .prometheus import (
    CONTAINER_FILTER,
    DEMO_NAMESPACE,
    GREETER_V1,
    GREETER_V1_CANARY,
    GREETER_V1_RESTARTED_POD,
    GREETER_V2,
    KUBE_STATE_METRICS_REPLICAS,
    LOOKBACK_DELTA_SECONDS,
    OTHER_NAMESPACE,
    PAUSE_CONTAINER,
    PodSeries,
    PrometheusData,
    RunningPrometheus,
    Scenario,
    openmetrics,
    reference_cpu_query,
    reference_memory_query,
    reference_usage_query,
    standard_scenario,
)

VERSIONS = [
    (DEMO_NAMESPACE, GREETER_V1),
    (DEMO_NAMESPACE, GREETER_V2),
    (OTHER_NAMESPACE, GREETER_V1),
    (DEMO_NAMESPACE, GREETER_V1_CANARY),
]


def exactly(expected: float) -> Any:
    """Equal up to float rounding (rate() divides; sums of series may add in any order)."""
    return pytest.approx(expected, rel=1e-9)


def instant_query(url: str, query: str, at: float) -> requests.Response:
    return requests.get(f"{url}/api/v1/query", params={"query": query, "time": str(at)}, timeout=10)


def range_query(url: str, query: str, start: float, end: float, step: float) -> requests.Response:
    params: dict[str, str | float] = {"query": query, "start": start, "end": end, "step": step}
    return requests.get(f"{url}/api/v1/query_range", params=params, timeout=10)


def vector(response: requests.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"]["resultType"] == "vector"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def single_value(response: requests.Response) -> float:
    result = vector(response)
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def pause_cpu_cores(scenario: Scenario, namespace: str, version: str) -> float:
    return sum(pod.pause_cpu_rate_cores for pod in scenario.pods_of(namespace, version))


def test_openmetrics_text_has_second_timestamps_and_ends_with_eof() -> None:
    scenario = standard_scenario()
    lines = openmetrics(scenario).splitlines()

    assert lines[-1] == "# EOF"
    samples = [line for line in lines if not line.startswith("#")]
    timestamps = {int(line.rsplit(" ", 1)[1]) for line in samples}
    assert timestamps == set(scenario.sample_times)
    assert scenario.end < time.time() - 60  # seconds, in the past: blocks must not end in the future
    assert "# TYPE container_cpu_usage_seconds counter" in lines
    assert any(f'container="{PAUSE_CONTAINER}"' in line for line in samples)
    pod_level = [line for line in samples if line.startswith("container_memory") and "container=" not in line]
    assert len(pod_level) == len(scenario.pods) * len(scenario.sample_times)


def test_scenario_refuses_answers_it_cannot_know() -> None:
    scenario = standard_scenario()

    with pytest.raises(ValueError, match="exact only from"):
        scenario.expected_cpu_cores(DEMO_NAMESPACE, GREETER_V1, scenario.start + 60)
    with pytest.raises(ValueError, match="exact only from"):
        scenario.expected_cpu_cores(DEMO_NAMESPACE, GREETER_V1, scenario.end + 15)
    with pytest.raises(ValueError, match="no memory sample"):
        scenario.expected_memory_bytes(DEMO_NAMESPACE, GREETER_V1, scenario.end + LOOKBACK_DELTA_SECONDS)
    with pytest.raises(LookupError):
        scenario.expected_cpu_cores(OTHER_NAMESPACE, GREETER_V2, scenario.end)
    pod = PodSeries("ns", "p", "v", cpu_rate_cores=100.0, memory_bytes=1, counter_reset_after_seconds=15)
    with pytest.raises(ValueError, match="would not drop"):
        Scenario.ending_before_now([pod], duration_seconds=60)


def test_server_serves_the_backfilled_series(prometheus: RunningPrometheus) -> None:
    server, scenario = prometheus

    assert requests.get(f"{server.url}/-/ready", timeout=5).status_code == 200
    labels = single_value(instant_query(server.url, "count(kube_pod_labels)", scenario.end))
    assert labels == len(scenario.pods) * len(KUBE_STATE_METRICS_REPLICAS)
    # Past data is invisible to a query at "now" once the lookback has passed: always send explicit times.
    assert vector(instant_query(server.url, "kube_pod_labels", scenario.end + LOOKBACK_DELTA_SECONDS + 1)) == []


@pytest.mark.parametrize(("namespace", "version"), VERSIONS)
def test_cpu_per_version_is_exact_at_every_step(prometheus: RunningPrometheus, namespace: str, version: str) -> None:
    server, scenario = prometheus

    response = range_query(
        server.url, reference_cpu_query(namespace, version), scenario.exact_cpu_from, scenario.end, 60
    )

    assert response.status_code == 200, response.text
    [series] = response.json()["data"]["result"]
    assert series["metric"] == {"label_version_name": version}
    assert len(series["values"]) == (scenario.end - scenario.exact_cpu_from) // 60 + 1
    for at, value in series["values"]:
        assert float(value) == exactly(scenario.expected_cpu_cores(namespace, version, at))


@pytest.mark.parametrize(("namespace", "version"), VERSIONS)
def test_memory_per_version_is_exact_at_every_step(prometheus: RunningPrometheus, namespace: str, version: str) -> None:
    server, scenario = prometheus

    # A step of 45 s falls between samples, so each point must take the latest sample at or before it.
    response = range_query(server.url, reference_memory_query(namespace, version), scenario.start, scenario.end, 45)

    assert response.status_code == 200, response.text
    [series] = response.json()["data"]["result"]
    assert series["metric"] == {"label_version_name": version}
    values = {at: float(value) for at, value in series["values"]}
    assert len(values) == (scenario.end - scenario.start) // 45 + 1
    assert values == {at: scenario.expected_memory_bytes(namespace, version, at) for at in values}
    if version == GREETER_V2:
        assert len(set(values.values())) == len(values)  # its memory grows: every step has its own answer


def test_cpu_and_memory_in_one_query(prometheus: RunningPrometheus) -> None:
    server, scenario = prometheus
    at = scenario.start + 1234

    result = vector(instant_query(server.url, reference_usage_query(DEMO_NAMESPACE, GREETER_V2), at))

    by_metric = {series["metric"]["metric"]: float(series["value"][1]) for series in result}
    assert by_metric == {
        "cpu": exactly(scenario.expected_cpu_cores(DEMO_NAMESPACE, GREETER_V2, at)),
        "memory": scenario.expected_memory_bytes(DEMO_NAMESPACE, GREETER_V2, at),
    }


def test_counter_reset_is_in_the_data_and_rate_stays_exact(prometheus: RunningPrometheus) -> None:
    server, scenario = prometheus
    [pod] = [pod for pod in scenario.pods if pod.pod == GREETER_V1_RESTARTED_POD]
    assert pod.counter_reset_after_seconds is not None
    reset_at = scenario.start + pod.counter_reset_after_seconds
    selector = f'container_cpu_usage_seconds_total{{pod="{pod.pod}",{CONTAINER_FILTER}}}'

    resets = vector(instant_query(server.url, f"resets({selector}[1h])", scenario.end))
    assert {series["metric"]["container"]: float(series["value"][1]) for series in resets} == {"app": 1, "sidecar": 1}
    # Windows before, across and after the drop.
    for at in (reset_at - 30, reset_at, reset_at + 7, reset_at + 150, reset_at + 600):
        rate = single_value(instant_query(server.url, f"sum(rate({selector}[5m]))", at))
        assert rate == exactly(pod.cpu_rate_cores), at
    # What a naive difference of counter values (no reset handling) would report instead.
    naive = single_value(instant_query(server.url, f"sum(delta({selector}[5m]))", reset_at + 150)) / 300
    assert naive < 0


def test_two_kube_state_metrics_replicas_need_max_by(prometheus: RunningPrometheus) -> None:
    server, scenario = prometheus
    pod_labels = f'kube_pod_labels{{namespace="{DEMO_NAMESPACE}",label_version_name="{GREETER_V1}"}}'
    without_max_by = (
        "sum by (label_version_name) ("
        f'rate(container_cpu_usage_seconds_total{{namespace="{DEMO_NAMESPACE}",{CONTAINER_FILTER}}}[5m])'
        f" * on (namespace, pod) group_left (label_version_name) {pod_labels})"
    )

    response = instant_query(server.url, without_max_by, scenario.end)

    assert response.status_code == 422
    body = response.json()
    assert body["errorType"] == "execution"
    assert "found duplicate series for the match group" in body["error"]
    # The same replicas, deduplicated by the reference query's `max by`.
    assert single_value(instant_query(server.url, reference_cpu_query(DEMO_NAMESPACE, GREETER_V1), scenario.end)) == (
        exactly(scenario.expected_cpu_cores(DEMO_NAMESPACE, GREETER_V1, scenario.end))
    )


@pytest.mark.parametrize(
    ("container_filter", "counts_pod_level", "counts_pause"),
    [
        (f'container!="{PAUSE_CONTAINER}"', True, False),  # pod-level cgroup series counted too: CPU doubles
        ('container!=""', False, True),  # the findings' filter alone: pause containers counted
        (CONTAINER_FILTER, False, False),
    ],
)
def test_container_filter_excludes_pod_level_and_pause_series(
    prometheus: RunningPrometheus, container_filter: str, counts_pod_level: bool, counts_pause: bool
) -> None:
    server, scenario = prometheus
    at = scenario.end - 600
    query = reference_cpu_query(DEMO_NAMESPACE, GREETER_V1).replace(CONTAINER_FILTER, container_filter)
    expected = scenario.expected_cpu_cores(DEMO_NAMESPACE, GREETER_V1, at)
    pause = pause_cpu_cores(scenario, DEMO_NAMESPACE, GREETER_V1)

    value = single_value(instant_query(server.url, query, at))

    # The pod-level series holds the containers and the pause container together; `counts_pause`: the pause
    # container's own series.
    pod_level = expected + pause if counts_pod_level else 0.0
    assert value == exactly(expected + pod_level + (pause if counts_pause else 0.0))


def test_other_namespaces_and_versions_are_excluded(prometheus: RunningPrometheus) -> None:
    server, scenario = prometheus
    at = scenario.start + 2400
    demo = scenario.expected_cpu_cores(DEMO_NAMESPACE, GREETER_V1, at)
    other = scenario.expected_cpu_cores(OTHER_NAMESPACE, GREETER_V1, at)
    canary = scenario.expected_cpu_cores(DEMO_NAMESPACE, GREETER_V1_CANARY, at)
    correct = reference_cpu_query(DEMO_NAMESPACE, GREETER_V1)
    assert demo != other
    assert demo != canary

    assert single_value(instant_query(server.url, correct, at)) == exactly(demo)
    # Without a namespace on either side, greeter-v1 of kre-other leaks in.
    no_namespace = correct.replace(f'namespace="{DEMO_NAMESPACE}",', "")
    assert no_namespace.count("namespace=") == 0
    assert single_value(instant_query(server.url, no_namespace, at)) == exactly(demo + other)
    # A regex on the version name catches greeter-v1-canary too (and sums it under two label values).
    regex = correct.replace(f'label_version_name="{GREETER_V1}"', f'label_version_name=~"{GREETER_V1}.*"')
    leaked = vector(instant_query(server.url, regex, at))
    assert {series["metric"]["label_version_name"] for series in leaked} == {GREETER_V1, GREETER_V1_CANARY}
    assert sum(float(series["value"][1]) for series in leaked) == exactly(demo + canary)


def test_the_first_five_minutes_of_a_rate_window_are_partial(prometheus: RunningPrometheus) -> None:
    server, scenario = prometheus
    constant_rate = scenario.expected_cpu_cores(DEMO_NAMESPACE, GREETER_V1, scenario.exact_cpu_from)

    early = single_value(
        instant_query(server.url, reference_cpu_query(DEMO_NAMESPACE, GREETER_V1), scenario.start + 60)
    )

    assert 0 < early < constant_rate


def test_bad_promql_is_a_400_bad_data(prometheus: RunningPrometheus) -> None:
    server, scenario = prometheus

    response = range_query(server.url, "sum by (", scenario.start, scenario.end, 60)

    assert response.status_code == 400
    assert response.json()["errorType"] == "bad_data"


def test_request_count_counts_query_range_calls(prometheus: RunningPrometheus) -> None:
    server, scenario = prometheus
    before = server.request_count()

    for _ in range(3):
        range_query(server.url, reference_memory_query(DEMO_NAMESPACE, GREETER_V2), scenario.start, scenario.end, 60)
    instant_query(server.url, "up", scenario.end)

    assert server.request_count() - before == 3
    assert server.request_count("/api/v1/query") >= 1


def test_a_fresh_server_can_be_stopped_mid_test(fresh_prometheus: RunningPrometheus) -> None:
    server, scenario = fresh_prometheus
    query = reference_cpu_query(DEMO_NAMESPACE, GREETER_V2)
    assert single_value(instant_query(server.url, query, scenario.end)) == exactly(0.5)
    process_id, port = server.pid, server.port

    server.stop()

    assert not server.running
    assert process_id is not None
    assert not Path(f"/proc/{process_id}").exists()
    with pytest.raises(requests.ConnectionError):
        instant_query(server.url, query, scenario.end)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a restarted server would (TIME_WAIT)
        probe.bind(("127.0.0.1", port))  # the port is free again
    server.stop()  # idempotent: the fixture's teardown stops it again


def test_start_up_from_nothing_is_fast_and_leaves_nothing_behind() -> None:
    with tempfile.TemporaryDirectory() as directory:
        began = time.monotonic()
        data = PrometheusData.create(standard_scenario(), Path(directory))
        with data.server() as (server, scenario):
            started = time.monotonic() - began
            process_id = server.pid
            at = scenario.end
            assert single_value(instant_query(server.url, reference_memory_query(DEMO_NAMESPACE, GREETER_V1), at)) == (
                scenario.expected_memory_bytes(DEMO_NAMESPACE, GREETER_V1, at)
            )
            log_text = server.log_text()

        assert started < 2.0
        assert re.search(r"Server is ready to receive web requests", log_text)
        assert process_id is not None
        assert not Path(f"/proc/{process_id}").exists()
        assert [path.name for path in Path(directory).iterdir()] == ["template"]  # the server's copy is gone
