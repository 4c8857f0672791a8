"""Resource-metrics benchmark: GetVersion against the bare Prometheus call, and 500 WatchVersion streams at once.

    python benchmarks/metrics.py [--latency-runs 200] [--streams 500] [--versions 50] [--ticks 6]
                                 [--out benchmarks/results/metrics.json]

Everything runs on this machine, in one run: a real Prometheus (the Debian package) over data backfilled with
promtool from the metrics tests' scenario generator (`--versions` versions of 2 pods each in one namespace, two
kube-state-metrics replicas, data ending on the last whole minute), the emulator as the cluster (a thread of this
process; the metrics calls do not use it), and the facade as a subprocess (`python -m k8s_manager facade`).

(a) Latency, over N calls alternating between the two (order swapped every call):
    - bare: the query_range HTTP call GetVersion makes (same PromQL, window and step; POST with a pooled
      `requests` session, the JSON body decoded), from this process straight to Prometheus;
    - GetVersion: the gRPC call through the facade (a blocking stub on one channel), as the Admin API makes it
      for the last hour (step = ⌊3600 / 60⌋ = 60 s, 60 points on the grid).
    Reported: medians and 95th percentiles, and their ratios GetVersion / bare. Target: median ratio <= 1.3.
(b) Scale: `--streams` WatchVersion streams spread evenly over `--versions` versions, as the Admin API opens them
    for the last 5 minutes (step = ⌊300 / 60⌋ = 5 s, so every 5-second tick has a new point), all read
    concurrently. Over `--ticks` refresh intervals: Prometheus' query_range requests (its own
    prometheus_http_requests_total), per tick; the facade's RSS before the streams, with them open, and its peak;
    its CPU time. Targets: queries per tick = versions (50, not 500); RSS reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import grpc
import psutil
import requests

ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks.common, and the Prometheus harness of the metrics tests

from k8s_manager_facade.generated import resourcemetrics_pb2, resourcemetrics_pb2_grpc  # noqa: E402
from k8s_manager_facade.metrics.promql import version_usage_query  # noqa: E402
from k8s_manager_facade.metrics.validation import grid_window  # noqa: E402
from kube_emulator import EmulatorSettings  # noqa: E402
from kube_emulator.threaded import ThreadedEmulator  # noqa: E402

from benchmarks.common import (  # noqa: E402
    RssSampler,
    free_port,
    percentile,
    rfc3339,
    version_name,
    versions_scenario,
)
from tests.metrics.prometheus import PrometheusData  # noqa: E402

DEFAULT_OUT: Final = ROOT / "benchmarks" / "results" / "metrics.json"
NAMESPACE: Final = "kre-bench"
LATENCY_RATIO_TARGET: Final = 1.3
WARMUP_CALLS: Final = 20
REFRESH_INTERVAL: Final = 5.0  # the facade's default, as the original
WATCH_SPAN: Final = 300  # the streams watch the last 5 minutes: step ⌊300 / 60⌋ = 5 s
LATENCY_SPAN: Final = 3600  # GetVersion over the last hour: step 60 s
CHANNELS: Final = 10  # the streams are spread over this many HTTP/2 connections
RSS_SAMPLE_INTERVAL: Final = 0.1
STARTUP_TIMEOUT: Final = 60.0
MB: Final = 1_000_000

ResourceMetricsStub: Any = resourcemetrics_pb2_grpc.ResourceMetricsServiceStub


# ------------------------------------------------------------------------------------------- processes


@contextlib.contextmanager
def facade_process(prometheus_url: str, kubeconfig: Path, work: Path) -> Iterator[tuple[str, psutil.Process]]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "k8s_manager",
        "facade",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--prometheus-url",
        prometheus_url,
        "--kubeconfig",
        str(kubeconfig),
        "--metrics-refresh-interval",
        str(REFRESH_INTERVAL),
    ]
    log_path = work / "facade.log"
    with log_path.open("ab") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=sink, stdin=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    try:
        wait_until_answering(address, process, log_path)
        yield address, psutil.Process(process.pid)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_answering(address: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Until a GetVersion call gets any answer from the facade's servicer (even INVALID_ARGUMENT)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with grpc.insecure_channel(address) as channel:
        stub = ResourceMetricsStub(channel)
        while True:
            try:
                stub.GetVersion(resourcemetrics_pb2.VersionRequest(), timeout=2)
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                    return
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the facade did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)


# --------------------------------------------------------------------------------------------- latency


@dataclass
class LatencyResult:
    calls: int
    points_per_call: int
    bare_median_ms: float
    bare_p95_ms: float
    get_version_median_ms: float
    get_version_p95_ms: float
    median_ratio: float
    p95_ratio: float
    target_median_ratio: float
    meets_target: bool


def measure_latency(address: str, prometheus_url: str, runs: int) -> LatencyResult:
    now = time.time()
    since, until = now - LATENCY_SPAN, now
    step = LATENCY_SPAN // 60
    window = grid_window(since, until, step)
    version = version_name(0)
    form = {
        "query": version_usage_query(NAMESPACE, version),
        "start": str(window.start),
        "end": str(window.end),
        "step": str(step),
        "timeout": "10",
    }
    request = resourcemetrics_pb2.VersionRequest(
        versionName=version, namespace=NAMESPACE, fromDate=rfc3339(since), toDate=rfc3339(until), step=step
    )
    session = requests.Session()
    bare_times: list[float] = []
    rpc_times: list[float] = []
    points = 0

    def bare() -> float:
        started = time.perf_counter()
        response = session.post(f"{prometheus_url}/api/v1/query_range", data=form, timeout=10)
        body = response.json()
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or body["status"] != "success":
            raise RuntimeError(f"the bare query failed: {response.text[:300]}")
        return elapsed

    with grpc.insecure_channel(address) as channel:
        stub = ResourceMetricsStub(channel)

        def rpc() -> float:
            nonlocal points
            started = time.perf_counter()
            reply = stub.GetVersion(request, timeout=10)
            elapsed = time.perf_counter() - started
            points = len(reply.versionResourceMetrics)
            return elapsed

        for _ in range(WARMUP_CALLS):
            bare()
            rpc()
        for index in range(runs):
            if index % 2:
                bare_times.append(bare())
                rpc_times.append(rpc())
            else:
                rpc_times.append(rpc())
                bare_times.append(bare())
    session.close()
    bare_median, rpc_median = statistics.median(bare_times), statistics.median(rpc_times)
    bare_p95, rpc_p95 = percentile(bare_times, 0.95), percentile(rpc_times, 0.95)
    return LatencyResult(
        calls=runs,
        points_per_call=points,
        bare_median_ms=round(bare_median * 1000, 3),
        bare_p95_ms=round(bare_p95 * 1000, 3),
        get_version_median_ms=round(rpc_median * 1000, 3),
        get_version_p95_ms=round(rpc_p95 * 1000, 3),
        median_ratio=round(rpc_median / bare_median, 3),
        p95_ratio=round(rpc_p95 / bare_p95, 3),
        target_median_ratio=LATENCY_RATIO_TARGET,
        meets_target=rpc_median / bare_median <= LATENCY_RATIO_TARGET,
    )


# ----------------------------------------------------------------------------------------------- scale


@dataclass
class ScaleResult:
    streams: int
    versions: int
    step_seconds: int
    refresh_interval_seconds: float
    seconds_to_open_all: float
    ticks_measured: float
    query_range_requests: int
    queries_per_tick: float
    target_queries_per_tick: int
    meets_target: bool
    messages_per_stream_per_tick: float
    facade_rss_idle_mb: float
    facade_rss_streaming_mb: float
    facade_rss_peak_mb: float
    facade_rss_per_stream_kb: float
    facade_cpu_percent_while_streaming: float


def query_range_requests(prometheus_url: str) -> int:
    """Prometheus' own count of answered query_range requests."""
    text = requests.get(f"{prometheus_url}/metrics", timeout=5).text
    total = 0
    for line in text.splitlines():
        if line.startswith("prometheus_http_requests_total{") and 'handler="/api/v1/query_range"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


async def measure_scale(
    address: str, facade: psutil.Process, prometheus_url: str, streams: int, versions: int, ticks: int
) -> ScaleResult:
    idle_rss = int(facade.memory_info().rss)
    step = WATCH_SPAN // 60
    channels = [grpc.aio.insecure_channel(address) for _ in range(CHANNELS)]
    messages = [0] * streams
    calls: list[Any] = []
    try:
        with RssSampler(facade.pid, RSS_SAMPLE_INTERVAL, children=False) as sampler:
            opening = time.monotonic()
            since = rfc3339(time.time() - WATCH_SPAN)
            for index in range(streams):
                stub = ResourceMetricsStub(channels[index % CHANNELS])
                request = resourcemetrics_pb2.VersionRequest(
                    versionName=version_name(index % versions), namespace=NAMESPACE, fromDate=since, step=step
                )
                calls.append(stub.WatchVersion(request))
            await asyncio.gather(*(asyncio.wait_for(call.read(), 60) for call in calls))
            opened = time.monotonic() - opening

            async def read(index: int) -> None:
                while True:
                    message = await calls[index].read()
                    if message is grpc.aio.EOF:
                        raise RuntimeError(f"stream {index} ended: {await calls[index].code()}")
                    messages[index] += 1

            readers = [asyncio.create_task(read(index)) for index in range(streams)]
            # Start on a tick boundary of no one in particular: the pollers tick independently, so count over a
            # whole number of intervals and divide.
            await asyncio.sleep(REFRESH_INTERVAL / 2)
            messages[:] = [0] * streams
            cpu_before = facade.cpu_times()
            before, started = query_range_requests(prometheus_url), time.monotonic()
            await asyncio.sleep(ticks * REFRESH_INTERVAL)
            requests_made = query_range_requests(prometheus_url) - before
            elapsed = time.monotonic() - started
            cpu_after = facade.cpu_times()
            streaming_rss = int(facade.memory_info().rss)
            failed = [task for task in readers if task.done()]
            for task in readers:
                task.cancel()
            if failed:
                raise RuntimeError(f"{len(failed)} streams ended early: {failed[0].exception()}")
        peak_rss = sampler.peak_bytes
    finally:
        for call in calls:
            call.cancel()
        for channel in channels:
            await channel.close()
    ticks_measured = elapsed / REFRESH_INTERVAL
    cpu_seconds = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    per_tick = requests_made / ticks_measured
    return ScaleResult(
        streams=streams,
        versions=versions,
        step_seconds=step,
        refresh_interval_seconds=REFRESH_INTERVAL,
        seconds_to_open_all=round(opened, 3),
        ticks_measured=round(ticks_measured, 2),
        query_range_requests=requests_made,
        queries_per_tick=round(per_tick, 2),
        target_queries_per_tick=versions,
        meets_target=per_tick <= versions * 1.1,
        messages_per_stream_per_tick=round(sum(messages) / streams / ticks_measured, 3),
        facade_rss_idle_mb=round(idle_rss / MB, 1),
        facade_rss_streaming_mb=round(streaming_rss / MB, 1),
        facade_rss_peak_mb=round(peak_rss / MB, 1),
        facade_rss_per_stream_kb=round((streaming_rss - idle_rss) / streams / 1000, 1),
        facade_cpu_percent_while_streaming=round(100 * cpu_seconds / elapsed, 1),
    )


# ------------------------------------------------------------------------------------------------- main


def machine() -> dict[str, Any]:
    prometheus_version = subprocess.run(
        ["prometheus", "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[:1]
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "prometheus": prometheus_version[0] if prometheus_version else "unknown",
        "grpcio": grpc.__version__,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--ticks", type=int, default=6, help="refresh intervals to count queries over")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="metrics-benchmark-") as scratch:
        work = Path(scratch)
        print(f"backfilling {args.versions} versions into Prometheus ...", file=sys.stderr)
        data = PrometheusData.create(versions_scenario(NAMESPACE, args.versions), work / "prometheus")
        with (
            data.server() as (prometheus, _),
            ThreadedEmulator(EmulatorSettings()) as emulator,
        ):
            kubeconfig = emulator.write_kubeconfig(work / "kubeconfig")
            with facade_process(prometheus.url, kubeconfig, work) as (address, facade):
                print(f"latency: {args.latency_runs} calls each ...", file=sys.stderr)
                latency = measure_latency(address, prometheus.url, args.latency_runs)
                print(json.dumps(asdict(latency)), file=sys.stderr)
                print(f"scale: {args.streams} streams on {args.versions} versions ...", file=sys.stderr)
                scale = asyncio.run(
                    measure_scale(address, facade, prometheus.url, args.streams, args.versions, args.ticks)
                )
                print(json.dumps(asdict(scale)), file=sys.stderr)
    results = {
        "benchmark": "metrics",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "latency": asdict(latency),
        "scale": asdict(scale),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0 if latency.meets_target and scale.meets_target else 1


if __name__ == "__main__":
    sys.exit(main())
