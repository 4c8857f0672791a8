"""The operator's Prometheus metrics: reconcile queues observed, scraped over HTTP in Prometheus' text format."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import pytest
from k8s_manager_operator.metrics import MetricsServer, OperatorMetrics
from k8s_manager_operator.operations import KindObserver, runtime_reference, version_reference
from k8s_manager_operator.queue import ReconcileQueue
from prometheus_client.parser import text_string_to_metric_families

KINDS = ("Runtime", "RuntimeVersion")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def samples(metrics: OperatorMetrics) -> dict[tuple[str, str], float]:
    text = metrics.exposition().decode()
    return {
        (sample.name, sample.labels["kind"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if "le" not in sample.labels and "kind" in sample.labels
    }


async def settle(queue: ReconcileQueue[Any]) -> None:
    for _ in range(200):
        if not queue.pending():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the queue did not drain")


async def test_every_series_exists_at_zero_before_any_reconcile() -> None:
    metrics = OperatorMetrics(KINDS)

    found = samples(metrics)

    for kind in KINDS:
        assert found[("k8s_manager_operator_reconciles_total", kind)] == 0
        assert found[("k8s_manager_operator_reconcile_failures_total", kind)] == 0
        assert found[("k8s_manager_operator_reconcile_duration_seconds_count", kind)] == 0


async def test_reconciles_failures_and_durations_are_counted_by_kind() -> None:
    metrics = OperatorMetrics(KINDS)

    async def reconcile(key: str) -> bool | None:
        await asyncio.sleep(0.01)
        if key == "raises":
            raise RuntimeError("a bug")
        if key == "reports":
            return False  # as reconcile_safely after an API error it logged
        return True if key == "true" else None

    queue = ReconcileQueue(reconcile, workers=2, observer=KindObserver("Runtime", metrics, runtime_reference))
    metrics.track_queue("Runtime", queue)
    queue.start()
    try:
        for key in ("raises", "reports", "true", "none"):
            queue.request(key)
        await settle(queue)
    finally:
        await queue.stop()

    found = samples(metrics)
    assert found[("k8s_manager_operator_reconciles_total", "Runtime")] == 4
    assert found[("k8s_manager_operator_reconcile_failures_total", "Runtime")] == 2
    assert found[("k8s_manager_operator_reconcile_duration_seconds_count", "Runtime")] == 4
    assert found[("k8s_manager_operator_reconcile_duration_seconds_sum", "Runtime")] >= 4 * 0.01
    assert found[("k8s_manager_operator_reconciles_total", "RuntimeVersion")] == 0


async def test_queue_depth_and_active_reconciles_are_read_when_scraped() -> None:
    metrics = OperatorMetrics(KINDS)
    release = asyncio.Event()

    async def reconcile(key: tuple[str, str]) -> None:
        await release.wait()

    queue = ReconcileQueue(reconcile, workers=1)
    queue.observer = KindObserver("RuntimeVersion", metrics, version_reference)  # set after creation, as on start-up
    metrics.track_queue("RuntimeVersion", queue)
    queue.start()
    try:
        for name in ("a", "b", "c"):
            queue.request(("kre-demo", name))
        await asyncio.sleep(0.05)

        busy = samples(metrics)
        assert busy[("k8s_manager_operator_reconciles_active", "RuntimeVersion")] == 1
        assert busy[("k8s_manager_operator_queue_depth", "RuntimeVersion")] == 2

        release.set()
        await settle(queue)
        idle = samples(metrics)
        assert idle[("k8s_manager_operator_reconciles_active", "RuntimeVersion")] == 0
        assert idle[("k8s_manager_operator_queue_depth", "RuntimeVersion")] == 0
        assert idle[("k8s_manager_operator_reconciles_total", "RuntimeVersion")] == 3
    finally:
        await queue.stop()


async def test_a_reconcile_interrupted_by_stop_is_neither_a_success_nor_a_failure() -> None:
    metrics = OperatorMetrics(KINDS)
    started = asyncio.Event()

    async def reconcile(key: str) -> None:
        started.set()
        await asyncio.Event().wait()

    queue = ReconcileQueue(reconcile, workers=1, observer=KindObserver("Runtime", metrics, runtime_reference))
    queue.start()
    queue.request("kre-demo")
    await asyncio.wait_for(started.wait(), 5)
    await queue.stop()

    found = samples(metrics)
    assert found[("k8s_manager_operator_reconciles_total", "Runtime")] == 0
    assert found[("k8s_manager_operator_reconcile_failures_total", "Runtime")] == 0


async def test_the_endpoint_serves_prometheus_text_without_object_names_and_stops() -> None:
    metrics = OperatorMetrics(KINDS)
    metrics.record_reconcile("Runtime", 0.2, failed=False)
    port = free_port()
    server = MetricsServer(metrics, "127.0.0.1", port)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=")
            text = await response.text()
    finally:
        await server.stop()

    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert families["k8s_manager_operator_reconciles"].type == "counter"
    assert families["k8s_manager_operator_reconcile_duration_seconds"].type == "histogram"
    assert families["k8s_manager_operator_queue_depth"].type == "gauge"
    assert {label for family in families.values() for sample in family.samples for label in sample.labels} <= {
        "kind",
        "le",
    }
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_a_port_in_use_is_an_error_at_start() -> None:
    metrics = OperatorMetrics(KINDS)
    port = free_port()
    first = MetricsServer(metrics, "127.0.0.1", port)
    await first.start()
    try:
        with pytest.raises(OSError, match="in use"):
            await MetricsServer(metrics, "127.0.0.1", port).start()
    finally:
        await first.stop()
