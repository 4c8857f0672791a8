"""The client half of benchmarks/facade_load.py, run as a separate process so that it does not share an
interpreter (and its GIL) with the server it measures.

    echo '{"target": "127.0.0.1:PORT", "methods": ["health"], "callers": 16, ...}' | python benchmarks/load_client.py

Reads one JSON `Cell` on stdin, opens `channels` grpc.aio channels to `target` on loopback and runs `callers`
concurrent callers (spread round-robin over the channels), each calling one method in a loop. The methods take
turns in `rounds` rounds (each round in a different order), `seconds / rounds` seconds each, after `warmup_s`
unrecorded seconds of each: on a shared machine, a burst of someone else's load then hits every method alike.
Writes one `Summary` per method as a JSON list on stdout.

Methods: "health" (grpc.health.v1 Health/Check of the server as a whole), "runtime_status" (RuntimeStatus, the
callers taking `runtimes` round-robin), "get_version" (GetVersion over the last `span_s` seconds, the callers taking
`versions` of `namespace` round-robin). The CPU time per call of the server (`server_pid`) and of Prometheus
(`prometheus_pid`) comes from psutil.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypedDict

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc
from k8s_manager_facade.generated import resourcemetrics_pb2, resourcemetrics_pb2_grpc, runtime_pb2, runtime_pb2_grpc

CALL_TIMEOUT: Final = 30.0
# Separate HTTP/2 connections per channel: grpc otherwise shares one subchannel between identical channels.
CHANNEL_OPTIONS: Final = (("grpc.use_local_subchannel_pool", 1),)

# The generated stubs are untyped.
HealthStub: Any = health_pb2_grpc.HealthStub
RuntimeStub: Any = runtime_pb2_grpc.RuntimeServiceStub
ResourceMetricsStub: Any = resourcemetrics_pb2_grpc.ResourceMetricsServiceStub

Call = Callable[[Any, int], Any]  # (channel, call number) -> the awaitable of one call


class Cell(TypedDict):
    target: str
    server_pid: int
    prometheus_pid: int
    methods: list[str]
    callers: int
    channels: int
    warmup_s: float
    seconds: float  # measured seconds per method, over all rounds
    rounds: int
    runtimes: list[str]
    namespace: str
    versions: list[str]
    span_s: int


class Summary(TypedDict):
    method: str
    callers: int
    channels: int
    calls: int  # measured: started within the method's measured slices
    errors: dict[str, int]  # gRPC status code name -> count, measured calls only
    measured_s: float
    throughput_per_s: float  # calls completed within the slices / their seconds
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    server_cpu_us_per_call: float
    prometheus_cpu_us_per_call: float


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    completed_in_time: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0
    prometheus_cpu: float = 0.0


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (as benchmarks.common's, repeated here to keep this process's imports light)."""
    ordered = sorted(samples)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def rfc3339(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def call_for(method: str, cell: Cell) -> Call:
    if method == "health":
        request = health_pb2.HealthCheckRequest()
        return lambda channel, _: HealthStub(channel).Check(request, timeout=CALL_TIMEOUT)
    if method == "runtime_status":
        requests = [
            runtime_pb2.Request(runtime=runtime_pb2.Runtime(namespace=name, name=name)) for name in cell["runtimes"]
        ]
        return lambda channel, n: RuntimeStub(channel).RuntimeStatus(requests[n % len(requests)], timeout=CALL_TIMEOUT)
    if method == "get_version":
        span = cell["span_s"]
        step = span // 60  # the Admin API's step: 60 points over the span

        def get_version(channel: Any, n: int) -> Any:
            now = time.time()
            request = resourcemetrics_pb2.VersionRequest(
                versionName=cell["versions"][n % len(cell["versions"])],
                namespace=cell["namespace"],
                fromDate=rfc3339(now - span),
                toDate=rfc3339(now),
                step=step,
            )
            return ResourceMetricsStub(channel).GetVersion(request, timeout=CALL_TIMEOUT)

        return get_version
    raise ValueError(f"unknown method {method!r}")


def cpu_seconds(process: Any) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def run_slice(call: Call, channels: Sequence[Any], callers: int, seconds: float, tally: Tally | None) -> None:
    """`callers` callers calling for `seconds`; recorded in `tally` unless it is None (a warm-up)."""
    numbers = itertools.count()
    until = time.perf_counter() + seconds

    async def caller(index: int) -> None:
        channel = channels[index % len(channels)]
        while (begun := time.perf_counter()) < until:
            code = "OK"
            try:
                await call(channel, next(numbers))
            except grpc.aio.AioRpcError as error:
                code = error.code().name
            if tally is not None:
                ended = time.perf_counter()
                tally.latencies.append(ended - begun)
                tally.completed_in_time += ended <= until
                if code != "OK":
                    tally.errors[code] += 1

    await asyncio.gather(*(caller(index) for index in range(callers)))


async def run_cell(cell: Cell) -> list[Summary]:
    server, prometheus = psutil.Process(cell["server_pid"]), psutil.Process(cell["prometheus_pid"])
    calls = {method: call_for(method, cell) for method in cell["methods"]}
    tallies = {method: Tally() for method in cell["methods"]}
    channels = [
        grpc.aio.insecure_channel(cell["target"], options=CHANNEL_OPTIONS)
        for _ in range(max(1, min(cell["channels"], cell["callers"])))
    ]
    try:
        await asyncio.gather(*(channel.channel_ready() for channel in channels))
        for call in calls.values():
            await run_slice(call, channels, cell["callers"], cell["warmup_s"], None)
        methods = list(calls)
        for round_index in range(cell["rounds"]):
            shift = round_index % len(methods)
            for method in methods[shift:] + methods[:shift]:
                tally = tallies[method]
                seconds = cell["seconds"] / cell["rounds"]
                server_before, prometheus_before = cpu_seconds(server), cpu_seconds(prometheus)
                await run_slice(calls[method], channels, cell["callers"], seconds, tally)
                tally.seconds += seconds
                tally.server_cpu += cpu_seconds(server) - server_before
                tally.prometheus_cpu += cpu_seconds(prometheus) - prometheus_before
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))
    return [summary(method, tally, cell, len(channels)) for method, tally in tallies.items()]


def summary(method: str, tally: Tally, cell: Cell, channels: int) -> Summary:
    latencies = tally.latencies
    if not latencies:
        raise RuntimeError(f"no {method} call completed in the measured time")
    return Summary(
        method=method,
        callers=cell["callers"],
        channels=channels,
        calls=len(latencies),
        errors=dict(tally.errors),
        measured_s=round(tally.seconds, 3),
        throughput_per_s=round(tally.completed_in_time / tally.seconds, 1),
        p50_ms=round(percentile(latencies, 0.50) * 1000, 3),
        p90_ms=round(percentile(latencies, 0.90) * 1000, 3),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 3),
        mean_ms=round(sum(latencies) / len(latencies) * 1000, 3),
        max_ms=round(max(latencies) * 1000, 3),
        server_cpu_us_per_call=round(tally.server_cpu / len(latencies) * 1e6, 1),
        prometheus_cpu_us_per_call=round(tally.prometheus_cpu / len(latencies) * 1e6, 1),
    )


def main() -> int:
    cell: Cell = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(run_cell(cell))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
