"""The operator's Prometheus metrics, and the HTTP endpoint serving them on kopf's event loop.

| metric | type | meaning |
|---|---|---|
| `k8s_manager_operator_reconciles_total{kind}` | counter | reconciles finished |
| `k8s_manager_operator_reconcile_failures_total{kind}` | counter | of those, the ones that failed (retried later) |
| `k8s_manager_operator_reconcile_duration_seconds{kind}` | histogram | how long reconciles took |
| `k8s_manager_operator_queue_depth{kind}` | gauge | objects waiting for a reconcile worker |
| `k8s_manager_operator_reconciles_active{kind}` | gauge | objects being reconciled |

A failed reconcile raised, or met an API error it logged. `kind` is `Runtime` or `RuntimeVersion`; no label names
an object, so the number of series stays fixed. The metrics live in a registry of their own, not prometheus_client's
global one: nothing imported by chance adds to them, and tests can make several.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .queue import ReconcileQueue

PREFIX: Final = "k8s_manager_operator"
METRICS_PATH: Final = "/metrics"
# A reconcile is a handful of API calls: tens of milliseconds when the API answers at once, up to the client's
# retries (about a minute) when it does not.
DURATION_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class OperatorMetrics:
    """The metrics of the reconcile queues of the kinds given, in a registry of their own."""

    def __init__(self, kinds: Iterable[str]) -> None:
        self.registry = CollectorRegistry()
        self._reconciles = Counter(f"{PREFIX}_reconciles", "Reconciles finished.", ["kind"], registry=self.registry)
        self._failures = Counter(
            f"{PREFIX}_reconcile_failures",
            "Reconciles that raised or reported an API error; the object is reconciled again later.",
            ["kind"],
            registry=self.registry,
        )
        self._durations = Histogram(
            f"{PREFIX}_reconcile_duration_seconds",
            "How long reconciles took.",
            ["kind"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self._queues: dict[str, ReconcileQueue[Any]] = {}
        self.registry.register(_QueueCollector(self._queues))
        for kind in kinds:  # every series exists from the start, at zero
            self._reconciles.labels(kind)
            self._failures.labels(kind)
            self._durations.labels(kind)

    def track_queue(self, kind: str, queue: ReconcileQueue[Any]) -> None:
        """Report the depth and activity of `queue` as those of `kind`, read at each scrape."""
        self._queues[kind] = queue

    def record_reconcile(self, kind: str, seconds: float, failed: bool) -> None:
        self._reconciles.labels(kind).inc()
        self._durations.labels(kind).observe(seconds)
        if failed:
            self._failures.labels(kind).inc()

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)


class _QueueCollector(Collector):
    """Reads the queues when scraped, so that nothing has to keep the gauges up to date."""

    def __init__(self, queues: dict[str, ReconcileQueue[Any]]) -> None:
        self._queues = queues

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(f"{PREFIX}_queue_depth", "Objects waiting for a reconcile worker.", labels=["kind"])
        active = GaugeMetricFamily(f"{PREFIX}_reconciles_active", "Objects being reconciled.", labels=["kind"])
        for kind, queue in self._queues.items():
            depth.add_metric([kind], queue.depth)
            active.add_metric([kind], queue.active)
        yield depth
        yield active


class MetricsServer:
    """`GET /metrics` over HTTP, on the running event loop."""

    def __init__(self, metrics: OperatorMetrics, host: str, port: int) -> None:
        self._metrics = metrics
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; raises OSError when the address cannot be bound."""
        app = web.Application()
        app.router.add_get(METRICS_PATH, self._serve)
        runner = web.AppRunner(app, access_log=None)  # a line per scrape would drown the operator's own
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _serve(self, _: web.Request) -> web.Response:
        return web.Response(body=self._metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})
