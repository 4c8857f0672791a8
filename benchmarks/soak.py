"""Soak: the operator's and the facade's memory under steady status churn, open WatchVersion streams and calls.

    python benchmarks/soak.py [--minutes 30] [--runtimes 200] [--streams 100] [--versions 20] [--churn-rate 10]
                              [--churn-hold 2] [--status-rate 5] [--sample-interval 5]
                              [--out benchmarks/results/soak.json]

`--minutes 30` (the default) is the full soak; `--minutes 3` is the short one for CI smoke runs, which can only
catch a fast leak (see the verdict below).

Everything runs on this machine: a real Prometheus over data backfilled with promtool (`--versions` versions of 2
pods, from an hour before the start until well after the planned end: blocks ahead of Prometheus' clock are served
as time reaches them, so the streams keep getting a new point every tick without anything scraping), the emulator
(a thread of this process, workloads available 0.05 s after they are observed, the runtime operator stand-in on its
loop), the operator and the facade as subprocesses (`python -m k8s_manager operator|facade`).

Set-up: `--runtimes` Runtimes created through the facade's Create, each waited for with RuntimeStatus until Ready.
Then, for `--minutes`:
- status churn: `--churn-rate` times a second the next Runtime (round-robin) has its kre-minio Deployment made not
  ready, and ready again `--churn-hold` seconds later, as POST /_emulator/workloads/NS/NAME does (called
  in-process: `Controllers.set_workload_ready`). Minio is the component whose pod must be Ready (the others only
  Running, by the operator's default KRE_RUNTIME_COMPONENTS), so each flip changes the Runtime's status (the
  component's `ready` and the Ready condition): two status patches per knock-out, with no object created or
  deleted, so the operator's status writes, and kopf's handling of the watch events they cause, are what the load
  is made of. Counted in the emulator's store: every change of a Runtime whose status differs from the one before.
  When the operator has `--metrics-port`, its k8s_manager_operator_reconciles_total is reported too.
- `--streams` WatchVersion streams, held open (spread over the versions, the last 5 minutes at a 5-second step, so
  each 5-second tick normally carries one new point); a stream that ends is opened again and counted.
- RuntimeStatus calls, `--status-rate` a second, on the Runtimes round-robin (some wait out a knock-out).

The operator's and the facade's RSS (psutil) are sampled every `--sample-interval` seconds. After a warm-up (the
first 20 % of the run), a least-squares line through the samples gives each one's slope in MB per hour (and, for
a look past one-off steps, another through the second half of those samples).

Verdict: pass if both slopes are below 20 MB/h. Why 20: at the default churn (about 20 status patches a second,
72,000 an hour) a leak that kept as little as 0.3 KB per status patch (a Runtime object is several KB) would grow
by 20 MB/h or more, while a process that does not leak drifts by a few MB over a run as the allocator's arenas
settle, which over the 24 fitted minutes of the full soak is well under 20 MB/h. The 3-minute run fits about 2.3
minutes: one arena step of 1 MB is about 25 MB/h there, so its verdict is a smoke test for fast leaks only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks.common, and the Prometheus harness of the metrics tests

import grpc  # noqa: E402
import requests  # noqa: E402
from k8s_manager_api.names import RUNTIMES  # noqa: E402
from k8s_manager_facade.generated import (  # noqa: E402
    resourcemetrics_pb2,
    resourcemetrics_pb2_grpc,
    runtime_pb2,
    runtime_pb2_grpc,
)
from kube_emulator import EmulatorSettings  # noqa: E402
from kube_emulator.store import MODIFIED, Change  # noqa: E402
from kube_emulator.threaded import ThreadedEmulator  # noqa: E402

from benchmarks.common import (  # noqa: E402
    MB,
    RESULTS_DIR,
    Processes,
    RssSampler,
    admin_client,
    child_environment,
    cpu_seconds,
    create_request,
    create_until_ready,
    free_port,
    keep_logs,
    machine_info,
    percentile,
    rfc3339,
    standin_running,
    start_facade,
    start_operator,
    stop_on_sigterm,
    version_name,
    versions_scenario,
    write_results,
)
from tests.metrics.prometheus import PrometheusData  # noqa: E402

DEFAULT_OUT: Final = RESULTS_DIR / "soak.json"
NAMESPACE: Final = "kre-bench"
SLOPE_THRESHOLD_MB_PER_HOUR: Final = 20.0
WARMUP_FRACTION: Final = 0.2
WATCH_SPAN: Final = 300  # the streams watch the last 5 minutes: step ⌊300 / 60⌋ = 5 s, one point per 5-second tick
STREAM_CHANNELS: Final = 4
STREAM_REOPEN_DELAY: Final = 1.0
STATUS_CALL_TIMEOUT: Final = 30.0
STATUS_CALLS_IN_FLIGHT: Final = 50
READY_TIMEOUT: Final = 300.0
# Prometheus data beyond the planned end: set-up and tear-down time.
DATA_MARGIN_SECONDS: Final = 900
PROGRESS_EVERY: Final = 60.0
OPERATOR_RECONCILES: Final = "k8s_manager_operator_reconciles_total"
# The stand-in's component whose pod the Ready condition needs Ready, not just Running (KRE_RUNTIME_COMPONENTS'
# default): knocking it out changes the status; knocking out the others would only cause reconciles.
CHURNED_COMPONENT: Final = "kre-minio"

RuntimeStub: Any = runtime_pb2_grpc.RuntimeServiceStub
ResourceMetricsStub: Any = resourcemetrics_pb2_grpc.ResourceMetricsServiceStub


@dataclass(frozen=True)
class Options:
    minutes: float
    runtimes: int
    streams: int
    versions: int
    churn_rate: float
    churn_hold: float
    status_rate: float
    sample_interval: float
    out: Path
    keep_logs: Path | None


# ------------------------------------------------------------------------------------------------ counting


class StatusPatchCounter:
    """A listener on the emulator's store: every committed change of a Runtime whose status differs from the one
    before. It runs on the emulator's thread; the count is read from this one (an int: no lock needed)."""

    RUNTIMES_KEY: Final = (RUNTIMES.group, RUNTIMES.plural)

    def __init__(self) -> None:
        self.patches = 0

    def __call__(self, change: Change) -> None:
        if (
            change.type == MODIFIED
            and change.storage_key == self.RUNTIMES_KEY
            and change.old is not None
            and change.object.get("status") != change.old.get("status")
        ):
            self.patches += 1


def operator_reconciles(metrics_url: str | None) -> dict[str, float] | None:
    """The operator's reconciles_total by kind, from its metrics endpoint; None without one."""
    if metrics_url is None:
        return None
    try:
        text = requests.get(metrics_url, timeout=5).text
    except requests.RequestException:
        return None
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(OPERATOR_RECONCILES + "{"):
            labels, _, value = line.rpartition(" ")
            kind = labels.partition('kind="')[2].partition('"')[0]
            counts[kind] = counts.get(kind, 0.0) + float(value)
    return counts


def operator_metrics_flag() -> bool:
    """Whether this operator has `--metrics-port` (added while these benchmarks were written)."""
    command = [sys.executable, "-m", "k8s_manager", "operator", "--help"]
    return "--metrics-port" in subprocess.run(command, capture_output=True, text=True, check=False).stdout


# ------------------------------------------------------------------------------------------------ the load


@dataclass
class ChurnStats:
    knockouts: int = 0
    flips: int = 0


async def churn(emulator: ThreadedEmulator, runtimes: Sequence[str], options: Options, stats: ChurnStats) -> None:
    """Knock minio of the next Runtime out, `churn_rate` times a second; each comes back `churn_hold` later."""
    controllers = emulator.emulator.controllers
    restores: set[asyncio.Task[None]] = set()

    async def flip(namespace: str, ready: bool) -> None:
        # On the emulator's loop (its store is not thread-safe), waited for in a thread so this loop keeps going.
        await asyncio.to_thread(
            emulator.run_sync, lambda: controllers.set_workload_ready(namespace, CHURNED_COMPONENT, ready)
        )
        stats.flips += 1

    async def restore(namespace: str) -> None:
        await asyncio.sleep(options.churn_hold)
        await flip(namespace, True)

    loop = asyncio.get_running_loop()
    next_at = loop.time()
    try:
        for index in range(sys.maxsize):
            namespace = runtimes[index % len(runtimes)]
            await flip(namespace, False)
            stats.knockouts += 1
            task = asyncio.create_task(restore(namespace))
            restores.add(task)
            task.add_done_callback(restores.discard)
            next_at += 1 / options.churn_rate
            await asyncio.sleep(max(0.0, next_at - loop.time()))
    finally:
        for task in restores:
            task.cancel()


@dataclass
class StatusCallStats:
    latencies: list[float] = field(default_factory=list)
    codes: Counter[str] = field(default_factory=Counter)
    skipped: int = 0  # not made: STATUS_CALLS_IN_FLIGHT calls were waiting already


async def status_calls(address: str, runtimes: Sequence[str], rate: float, stats: StatusCallStats) -> None:
    """RuntimeStatus calls, `rate` a second, on the Runtimes round-robin, without waiting for one to end."""
    in_flight: set[asyncio.Task[None]] = set()

    async def one(stub: Any, name: str) -> None:
        started = time.perf_counter()
        code = "OK"
        try:
            await stub.RuntimeStatus(
                runtime_pb2.Request(runtime=runtime_pb2.Runtime(name=name, namespace=name)),
                timeout=STATUS_CALL_TIMEOUT,
            )
        except grpc.aio.AioRpcError as error:
            code = error.code().name
        stats.codes[code] += 1
        stats.latencies.append(time.perf_counter() - started)

    async with grpc.aio.insecure_channel(address) as channel:
        stub = RuntimeStub(channel)
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        try:
            for index in range(sys.maxsize):
                if len(in_flight) < STATUS_CALLS_IN_FLIGHT:
                    task = asyncio.create_task(one(stub, runtimes[index % len(runtimes)]))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                else:
                    stats.skipped += 1
                next_at += 1 / rate
                await asyncio.sleep(max(0.0, next_at - loop.time()))
        finally:
            for task in in_flight:
                task.cancel()


@dataclass
class StreamStats:
    opened: int = 0
    messages: int = 0  # after each stream's first (back-fill) message: one per refresh tick
    ticks_with_points: int = 0
    points: int = 0
    backfill_points: int = 0
    ended: Counter[str] = field(default_factory=Counter)  # how streams ended (then opened again), by status


async def hold_stream(channel: grpc.aio.Channel, version: str, stats: StreamStats) -> None:
    """One WatchVersion stream for the last WATCH_SPAN seconds, read until cancelled; opened again if it ends."""
    stub = ResourceMetricsStub(channel)
    while True:
        request = resourcemetrics_pb2.VersionRequest(
            versionName=version, namespace=NAMESPACE, fromDate=rfc3339(time.time() - WATCH_SPAN), step=WATCH_SPAN // 60
        )
        call = stub.WatchVersion(request)
        stats.opened += 1
        first = True
        try:
            async for message in call:
                points = len(message.versionResourceMetrics)
                if first:
                    stats.backfill_points += points
                    first = False
                    continue
                stats.messages += 1
                stats.points += points
                stats.ticks_with_points += points > 0
            stats.ended["OK"] += 1
        except grpc.aio.AioRpcError as error:
            stats.ended[error.code().name] += 1
        await asyncio.sleep(STREAM_REOPEN_DELAY)


# ------------------------------------------------------------------------------------------------ analysis


def slope_mb_per_hour(series: Sequence[tuple[float, int]]) -> float:
    """Least-squares slope of RSS over time, in MB per hour."""
    times = [t for t, _ in series]
    values = [rss / MB for _, rss in series]
    mean_t, mean_v = statistics.fmean(times), statistics.fmean(values)
    spread = sum((t - mean_t) ** 2 for t in times)
    if spread == 0:
        return math.nan
    return sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values, strict=True)) / spread * 3600


def memory_report(series: Sequence[tuple[float, int]], started: float, warmup_fraction: float) -> dict[str, Any]:
    """Start, end, peak and slopes of an RSS series that began at `started`; fitted after the warm-up."""
    warm_from = started + warmup_fraction * (series[-1][0] - started)
    fitted = [(t, rss) for t, rss in series if t >= warm_from]
    slope = slope_mb_per_hour(fitted) if len(fitted) >= 2 else math.nan
    # A one-off step (the allocator handing memory back) tilts the whole line; the second half shows the trend after.
    late = fitted[len(fitted) // 2 :]
    late_slope = slope_mb_per_hour(late) if len(late) >= 2 else math.nan
    return {
        "start_mb": round(series[0][1] / MB, 1),
        "after_warmup_mb": round(fitted[0][1] / MB, 1) if fitted else None,
        "end_mb": round(series[-1][1] / MB, 1),
        "peak_mb": round(max(rss for _, rss in series) / MB, 1),
        "slope_mb_per_hour": round(slope, 2),
        "late_slope_mb_per_hour": round(late_slope, 2),
        "fitted_minutes": round((fitted[-1][0] - fitted[0][0]) / 60, 2) if fitted else 0,
        "fitted_samples": len(fitted),
        "below_threshold": bool(slope < SLOPE_THRESHOLD_MB_PER_HOUR),
        "series_t_s": [round(t - started, 1) for t, _ in series],
        "series_mb": [round(rss / MB, 2) for _, rss in series],
    }


def verdict_line(memory: Mapping[str, Mapping[str, Any]], minutes: float) -> str:
    parts = [f"{name} {report['slope_mb_per_hour']:+.1f} MB/h" for name, report in memory.items()]
    passed = all(report["below_threshold"] for report in memory.values())
    outcome = "PASS" if passed else "FAIL"
    return (
        f"{outcome}: RSS slope after warm-up {', '.join(parts)} "
        f"(threshold < {SLOPE_THRESHOLD_MB_PER_HOUR:g} MB/h, {minutes:g}-minute run)"
    )


# ------------------------------------------------------------------------------------------------ the run


@contextlib.contextmanager
def tasks_running(*coroutines: Any) -> Iterator[list[asyncio.Task[Any]]]:
    tasks = [asyncio.create_task(coroutine) for coroutine in coroutines]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()


async def soak(
    options: Options,
    emulator: ThreadedEmulator,
    counter: StatusPatchCounter,
    prometheus_url: str,
    work: Path,
) -> dict[str, Any]:
    kubeconfig = emulator.write_kubeconfig(work / "kubeconfig")
    processes = Processes(work, child_environment(kubeconfig))
    api = await admin_client(kubeconfig)
    metrics_url: str | None = None
    operator_args: list[str] = []
    if operator_metrics_flag():
        port = free_port()
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        operator_args = ["--metrics-port", str(port), "--metrics-host", "127.0.0.1"]
    try:
        with standin_running(emulator, kubeconfig):
            operator = start_operator(processes, extra_args=operator_args)
            address = await start_facade(processes, ["--prometheus-url", prometheus_url])
            facade = processes.started["facade"]
            idle = {"operator": RssSampler(operator.pid, 1).sample(), "facade": RssSampler(facade.pid, 1).sample()}

            print(f"creating {options.runtimes} runtimes through the facade ...", file=sys.stderr, flush=True)
            requests_ = [create_request(f"Soak{index:04d}") for index in range(options.runtimes)]
            ready_s = await create_until_ready(address, requests_, parallel=16, within=READY_TIMEOUT)
            runtimes = [request.runtime.namespace for request in requests_]
            setup_patches = counter.patches

            churn_stats, call_stats, stream_stats = ChurnStats(), StatusCallStats(), StreamStats()
            channels = [grpc.aio.insecure_channel(address) for _ in range(STREAM_CHANNELS)]
            seconds = options.minutes * 60
            samplers = {
                name: RssSampler(process.pid, options.sample_interval, children=False, record=True)
                for name, process in (("operator", operator), ("facade", facade))
            }
            try:
                with contextlib.ExitStack() as sampling:
                    for sampler in samplers.values():
                        sampling.enter_context(sampler)
                    started = time.monotonic()
                    patches_before, reconciles_before = counter.patches, operator_reconciles(metrics_url)
                    cpu_before = {"operator": cpu_seconds(operator.pid), "facade": cpu_seconds(facade.pid)}
                    streams = [
                        hold_stream(
                            channels[index % STREAM_CHANNELS], version_name(index % options.versions), stream_stats
                        )
                        for index in range(options.streams)
                    ]
                    with tasks_running(
                        churn(emulator, runtimes, options, churn_stats),
                        status_calls(address, runtimes, options.status_rate, call_stats),
                        *streams,
                    ) as tasks:
                        while (remaining := seconds - (time.monotonic() - started)) > 0:
                            await asyncio.sleep(min(PROGRESS_EVERY, remaining))
                            failed = [task for task in tasks if task.done()]
                            if failed:
                                raise RuntimeError(f"a load task ended: {failed[0].exception()!r}")
                            processes.check_running("operator", "facade")
                            print(
                                progress(
                                    time.monotonic() - started, samplers, counter.patches - patches_before, stream_stats
                                ),
                                file=sys.stderr,
                                flush=True,
                            )
                    ended = time.monotonic()
                    patches = counter.patches - patches_before
                    reconciles_after = operator_reconciles(metrics_url)
                    cpu_used = {
                        "operator": cpu_seconds(operator.pid) - cpu_before["operator"],
                        "facade": cpu_seconds(facade.pid) - cpu_before["facade"],
                    }
            finally:
                for channel in channels:
                    await channel.close()
            processes.check_running("operator", "facade")
    finally:
        processes.stop()
        await api.close()

    return report(
        options,
        Measured(
            ready_s=ready_s,
            setup_patches=setup_patches,
            duration=ended - started,
            patches=patches,
            reconciles=None
            if reconciles_after is None
            else {kind: count - (reconciles_before or {}).get(kind, 0.0) for kind, count in reconciles_after.items()},
            cpu_used=cpu_used,
            idle_rss=idle,
            memory={
                name: memory_report(sampler.series, started, WARMUP_FRACTION) for name, sampler in samplers.items()
            },
            churn=churn_stats,
            calls=call_stats,
            streams=stream_stats,
        ),
    )


@dataclass
class Measured:
    ready_s: float
    setup_patches: int
    duration: float
    patches: int
    reconciles: dict[str, float] | None  # from the operator's metrics endpoint, when it has one
    cpu_used: dict[str, float]
    idle_rss: dict[str, int | None]
    memory: dict[str, dict[str, Any]]
    churn: ChurnStats
    calls: StatusCallStats
    streams: StreamStats


def report(options: Options, measured: Measured) -> dict[str, Any]:
    memory = measured.memory
    for name, entry in memory.items():
        entry["idle_before_runtimes_mb"] = round((measured.idle_rss[name] or 0) / MB, 1)
        entry["cpu_percent"] = round(100 * measured.cpu_used[name] / measured.duration, 1)
    patch_rate = measured.patches / measured.duration
    memory["operator"]["bytes_per_status_patch"] = (
        round(memory["operator"]["slope_mb_per_hour"] * MB / 3600 / patch_rate, 1) if patch_rate else None
    )
    latencies, streams = measured.calls.latencies, measured.streams
    return {
        "benchmark": "soak",
        "machine": machine_info(with_prometheus=True),
        "settings": {
            "minutes": options.minutes,
            "runtimes": options.runtimes,
            "streams": options.streams,
            "versions": options.versions,
            "churn_rate_per_s": options.churn_rate,
            "churn_hold_s": options.churn_hold,
            "churn": f"{CHURNED_COMPONENT} of the next Runtime made not ready, ready again after the hold "
            "(Controllers.set_workload_ready, what POST /_emulator/workloads/NS/NAME does)",
            "status_rate_per_s": options.status_rate,
            "sample_interval_s": options.sample_interval,
            "warmup_fraction": WARMUP_FRACTION,
            "slope_threshold_mb_per_hour": SLOPE_THRESHOLD_MB_PER_HOUR,
            "watch": f"last {WATCH_SPAN} s at a {WATCH_SPAN // 60} s step; Prometheus data runs past the end, so "
            "every tick should carry a new point",
        },
        "setup": {
            "runtimes_created_and_ready_s": round(measured.ready_s, 1),
            "status_patches_during_setup": measured.setup_patches,
        },
        "activity": {
            "duration_s": round(measured.duration, 1),
            "knockouts": measured.churn.knockouts,
            "readiness_flips": measured.churn.flips,
            "status_patches": measured.patches,
            "status_patches_per_s": round(patch_rate, 2),
            "status_patches_counted_by": "the emulator's store: Runtime changes whose status differs from before",
            "operator_reconciles": measured.reconciles,
            "runtime_status_calls": {
                "calls": len(latencies),
                "codes": dict(measured.calls.codes),
                "skipped": measured.calls.skipped,
                "p50_ms": round(percentile(latencies, 0.5) * 1000, 1) if latencies else None,
                "p99_ms": round(percentile(latencies, 0.99) * 1000, 1) if latencies else None,
            },
            "watch_streams": {
                **{key: value for key, value in asdict(streams).items() if key != "ended"},
                "ended_and_reopened": dict(streams.ended),
                "ticks_with_points_percent": round(100 * streams.ticks_with_points / streams.messages, 1)
                if streams.messages
                else None,
            },
        },
        "memory": memory,
        "verdict": {
            "pass": all(report["below_threshold"] for report in memory.values()),
            "line": verdict_line({name: memory[name] for name in ("operator", "facade")}, options.minutes),
        },
    }


def progress(elapsed: float, samplers: Mapping[str, RssSampler], patches: int, streams: StreamStats) -> str:
    memory = ", ".join(
        f"{name} {sampler.series[-1][1] / MB:.1f} MB" for name, sampler in samplers.items() if sampler.series
    )
    return f"{elapsed / 60:5.1f} min: {memory}; {patches} status patches; {streams.messages} stream ticks"


def summary(report: Mapping[str, Any]) -> str:
    activity, memory = report["activity"], report["memory"]
    lines = [
        f"{activity['status_patches']} status patches ({activity['status_patches_per_s']}/s), "
        f"{activity['knockouts']} knock-outs, {activity['runtime_status_calls']['calls']} RuntimeStatus calls "
        f"{activity['runtime_status_calls']['codes']}, {activity['watch_streams']['messages']} stream ticks "
        f"({activity['watch_streams']['ticks_with_points_percent']} % with points), "
        f"streams ended: {activity['watch_streams']['ended_and_reopened']}",
    ]
    for name, entry in memory.items():
        lines.append(
            f"{name}: start {entry['start_mb']} MB, end {entry['end_mb']} MB, peak {entry['peak_mb']} MB, "
            f"slope {entry['slope_mb_per_hour']:+.2f} MB/h over {entry['fitted_minutes']} min "
            f"({entry['late_slope_mb_per_hour']:+.2f} MB/h over its second half), "
            f"CPU {entry['cpu_percent']} %"
        )
    lines.append(report["verdict"]["line"])
    return "\n".join(lines)


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="measured minutes (default 30; CI smoke: 3)")
    parser.add_argument("--runtimes", type=int, default=200, help="Runtimes churned (default 200)")
    parser.add_argument("--streams", type=int, default=100, help="WatchVersion streams held open (default 100)")
    parser.add_argument("--versions", type=int, default=20, help="versions the streams are spread over")
    parser.add_argument("--churn-rate", type=float, default=10.0, help="knock-outs per second (default 10)")
    parser.add_argument("--churn-hold", type=float, default=2.0, help="seconds a component stays out (default 2)")
    parser.add_argument("--status-rate", type=float, default=5.0, help="RuntimeStatus calls per second (default 5)")
    parser.add_argument("--sample-interval", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results file (JSON)")
    parser.add_argument("--keep-logs", type=Path, default=None, help="keep the processes' logs here")
    args = parser.parse_args(argv)
    if min(args.runtimes, args.streams, args.versions) < 1 or min(args.minutes, args.churn_rate, args.status_rate) <= 0:
        parser.error("counts, --minutes and rates must be positive")
    if args.runtimes / args.churn_rate <= 2 * args.churn_hold:
        # Otherwise a Runtime is knocked out again before (or just as) it is back, and the flips cancel out.
        parser.error("--runtimes / --churn-rate must exceed twice --churn-hold")
    return Options(
        minutes=args.minutes,
        runtimes=args.runtimes,
        streams=args.streams,
        versions=args.versions,
        churn_rate=args.churn_rate,
        churn_hold=args.churn_hold,
        status_rate=args.status_rate,
        sample_interval=args.sample_interval,
        out=args.out,
        keep_logs=args.keep_logs,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    stop_on_sigterm()
    future = math.ceil((options.minutes * 60 + DATA_MARGIN_SECONDS) / 60) * 60
    scenario = versions_scenario(
        NAMESPACE, options.versions, duration_seconds=3600 + future, end_after_now_seconds=future
    )
    counter = StatusPatchCounter()
    with tempfile.TemporaryDirectory(prefix="k8s-manager-soak-") as work_dir:
        work = Path(work_dir)
        print(f"backfilling {options.versions} versions into Prometheus ...", file=sys.stderr, flush=True)
        data = PrometheusData.create(scenario, work / "prometheus")
        with (
            data.server() as (prometheus, _),
            ThreadedEmulator(EmulatorSettings(workload_ready_after=0.05)) as emulator,
        ):
            emulator.run_sync(lambda: emulator.emulator.cluster.store.subscribe(counter))
            try:
                report = asyncio.run(soak(options, emulator, counter, prometheus.url, work))
            finally:
                keep_logs(work, options.keep_logs)
    write_results(options.out, report)
    print(summary(report))
    print(f"results: {options.out}")
    return 0 if report["verdict"]["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
