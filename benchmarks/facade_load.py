"""Facade under load: RuntimeStatus and GetVersion against a no-op call on the same gRPC server.

    python benchmarks/facade_load.py [--seconds 5] [--rounds 5] [--warmup 1] [--concurrency 1,16,64]
                                     [--runtimes 20] [--versions 20] [--channels 4] [--quick]
                                     [--out benchmarks/results/facade_load.json]

Everything runs on this machine, in one run: a real Prometheus over data backfilled with promtool (`--versions`
versions of 2 pods, the last hour up to the last whole minute, as benchmarks/metrics.py), the emulator (a thread of
this process, with the runtime operator stand-in on its loop), the operator and the facade as subprocesses
(`python -m k8s_manager operator|facade`). `--runtimes` Runtimes are created through the facade's Create and
waited for with RuntimeStatus until all are Ready. Then, for each concurrency N, a client in a separate process
(benchmarks/load_client.py: `--channels` grpc.aio channels on loopback, N concurrent callers calling in a loop)
measures the same facade under three calls, `--seconds` seconds each after `--warmup` seconds of each, taking
turns in `--rounds` slices so that a burst of other load on this shared machine hits all three alike:

- no-op: grpc.health.v1 Health/Check. It is served by the same grpc.aio server, through the same HTTP/2, framing and
  (de)serialisation machinery, and its handler does nothing but a dictionary lookup: what remains is what any call
  costs, client included. (The facade has no method of its own that does nothing.)
- RuntimeStatus of Ready Runtimes, the callers taking the Runtimes round-robin. The Admin API's call: the facade
  subscribes to its shared Runtime watch, finds the Runtime there already Ready and answers STARTED without asking
  the Kubernetes API.
- GetVersion over the last hour (step 60 s, 60 points), the callers taking the versions round-robin: one
  query_range to Prometheus per call (the facade runs at most 8 at once).

For each: p50, p99 (nearest rank) of the calls started in the measured slices, throughput (calls completed within
them per second), their ratios to the no-op at the same concurrency, and the facade's and Prometheus' CPU time per
call. The client shares the machine's two cores with the facade, Prometheus and the emulator: absolute throughputs
are this machine's; the ratios are the result. `--quick` (for CI): 2.5 s per call and concurrency after 0.5 s of
warm-up, under a minute in all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks.common, and the Prometheus harness of the metrics tests

from kube_emulator import EmulatorSettings  # noqa: E402
from kube_emulator.threaded import ThreadedEmulator  # noqa: E402

from benchmarks.common import (  # noqa: E402
    RESULTS_DIR,
    Processes,
    admin_client,
    child_environment,
    create_request,
    create_until_ready,
    keep_logs,
    machine_info,
    standin_running,
    start_facade,
    start_operator,
    stop_on_sigterm,
    version_name,
    versions_scenario,
    write_results,
)
from benchmarks.load_client import Cell, Summary  # noqa: E402
from tests.metrics.prometheus import PrometheusData, PrometheusServer  # noqa: E402

DEFAULT_OUT: Final = RESULTS_DIR / "facade_load.json"
CLIENT: Final = ROOT / "benchmarks" / "load_client.py"
NAMESPACE: Final = "kre-bench"
NO_OP: Final = "health"
METHODS: Final = (NO_OP, "runtime_status", "get_version")
METHOD_LABELS: Final = {
    NO_OP: "no-op (Health/Check)",
    "runtime_status": "RuntimeStatus",
    "get_version": "GetVersion",
}
GET_VERSION_SPAN: Final = 3600  # the last hour: step 60 s, 60 points
READY_TIMEOUT: Final = 120.0
CLIENT_TIMEOUT_MARGIN: Final = 60.0  # the client process's own start-up and shut-down


@dataclass(frozen=True)
class Options:
    seconds: float
    rounds: int
    warmup: float
    concurrency: tuple[int, ...]
    runtimes: int
    versions: int
    channels: int
    quick: bool
    out: Path
    keep_logs: Path | None


async def run_client(cell: Cell, work: Path) -> list[Summary]:
    """One concurrency in a client process of its own; a summary per method from stdout."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CLIENT),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    budget = (cell["warmup_s"] + cell["seconds"]) * len(cell["methods"]) + CLIENT_TIMEOUT_MARGIN
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(json.dumps(cell).encode()), budget)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"the load client for {cell['callers']} callers did not finish") from None
    with (work / "client.log").open("ab") as log:
        log.write(stderr)
    if process.returncode != 0:
        raise RuntimeError(f"the load client failed ({process.returncode}):\n{stderr.decode(errors='replace')}")
    summaries: list[Summary] = json.loads(stdout)
    return summaries


async def measure(
    options: Options, emulator: ThreadedEmulator, prometheus: PrometheusServer, work: Path
) -> dict[str, Any]:
    kubeconfig = emulator.write_kubeconfig(work / "kubeconfig")
    processes = Processes(work, child_environment(kubeconfig))
    api = await admin_client(kubeconfig)
    try:
        with standin_running(emulator, kubeconfig):
            start_operator(processes)
            address = await start_facade(processes, ["--prometheus-url", prometheus.url])
            prometheus_pid = prometheus.pid
            assert prometheus_pid is not None  # started
            facade_pid = processes.started["facade"].pid
            requests = [create_request(f"Load{index:03d}") for index in range(options.runtimes)]
            print(f"creating {options.runtimes} runtimes through the facade ...", file=sys.stderr, flush=True)
            ready_s = await create_until_ready(address, requests, parallel=8, within=READY_TIMEOUT)
            runtimes = [request.runtime.namespace for request in requests]
            cells: list[Summary] = []
            for callers in options.concurrency:
                cell = Cell(
                    target=address,
                    server_pid=facade_pid,
                    prometheus_pid=prometheus_pid,
                    methods=list(METHODS),
                    callers=callers,
                    channels=options.channels,
                    warmup_s=options.warmup,
                    seconds=options.seconds,
                    rounds=options.rounds,
                    runtimes=runtimes,
                    namespace=NAMESPACE,
                    versions=[version_name(index) for index in range(options.versions)],
                    span_s=GET_VERSION_SPAN,
                )
                for summary in await run_client(cell, work):
                    cells.append(summary)
                    print(
                        f"{METHOD_LABELS[summary['method']]:>20} x {callers:>2}: p50 {summary['p50_ms']:.2f} ms, "
                        f"p99 {summary['p99_ms']:.2f} ms, {summary['throughput_per_s']:.0f}/s"
                        + (f", errors {summary['errors']}" if summary["errors"] else ""),
                        file=sys.stderr,
                        flush=True,
                    )
            processes.check_running("operator", "facade")
    finally:
        processes.stop()
        await api.close()
    return results(options, ready_s, cells)


def compare(cells: Sequence[Summary]) -> dict[str, dict[str, Any]]:
    """Per concurrency, per method: p50, p99, throughput and their ratios to the no-op's."""
    table: dict[str, dict[str, Summary]] = {}
    for cell in cells:
        table.setdefault(str(cell["callers"]), {})[cell["method"]] = cell
    compared: dict[str, dict[str, Any]] = {}
    for callers, methods in table.items():
        base = methods[NO_OP]
        compared[callers] = {
            method: {
                "p50_ms": cell["p50_ms"],
                "p99_ms": cell["p99_ms"],
                "throughput_per_s": cell["throughput_per_s"],
                "p50_ratio": round(cell["p50_ms"] / base["p50_ms"], 2),
                "p99_ratio": round(cell["p99_ms"] / base["p99_ms"], 2),
                "throughput_ratio": round(cell["throughput_per_s"] / base["throughput_per_s"], 3),
                "facade_cpu_us_per_call": cell["server_cpu_us_per_call"],
                "prometheus_cpu_us_per_call": cell["prometheus_cpu_us_per_call"],
                "errors": cell["errors"],
            }
            for method, cell in methods.items()
        }
    return compared


def results(options: Options, ready_s: float, cells: list[Summary]) -> dict[str, Any]:
    return {
        "benchmark": "facade_load",
        "machine": machine_info(with_prometheus=True),
        "settings": {
            "mode": "quick" if options.quick else "normal",
            "seconds_per_call_and_concurrency": options.seconds,
            "rounds": options.rounds,
            "warmup_seconds_per_call_and_concurrency": options.warmup,
            "concurrency": list(options.concurrency),
            "client_channels": options.channels,
            "runtimes": options.runtimes,
            "versions": options.versions,
            "get_version_span_s": GET_VERSION_SPAN,
            "no_op": "grpc.health.v1.Health/Check on the facade's own grpc.aio server (service '')",
            "client": "a separate process (benchmarks/load_client.py), grpc.aio on loopback",
        },
        "setup": {"runtimes_created_and_ready_s": round(ready_s, 2), "create_path": "facade gRPC Create"},
        "cells": cells,
        "by_concurrency": compare(cells),
    }


def table(report: Mapping[str, Any]) -> str:
    header = ("callers", "call", "p50 ms", "p99 ms", "calls/s", "p50 /no-op", "p99 /no-op", "calls/s /no-op")
    rows = [header]
    for callers, methods in report["by_concurrency"].items():
        for method in METHODS:
            cell = methods[method]
            rows.append(
                (
                    callers,
                    METHOD_LABELS[method],
                    f"{cell['p50_ms']:.2f}",
                    f"{cell['p99_ms']:.2f}",
                    f"{cell['throughput_per_s']:.0f}",
                    f"{cell['p50_ratio']:.2f}",
                    f"{cell['p99_ratio']:.2f}",
                    f"{cell['throughput_ratio']:.3f}",
                )
            )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per call and concurrency")
    parser.add_argument("--rounds", type=int, default=5, help="slices the measured seconds are cut into (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unrecorded seconds per call and concurrency")
    parser.add_argument("--concurrency", default="1,16,64", help="concurrent callers, comma-separated")
    parser.add_argument("--runtimes", type=int, default=20, help="Ready Runtimes RuntimeStatus asks about")
    parser.add_argument("--versions", type=int, default=20, help="versions in Prometheus GetVersion asks about")
    parser.add_argument("--channels", type=int, default=4, help="client channels (connections) per cell")
    parser.add_argument("--quick", action="store_true", help="CI mode: --seconds 2.5 --warmup 0.5")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results file (JSON)")
    parser.add_argument("--keep-logs", type=Path, default=None, help="keep the processes' logs here")
    args = parser.parse_args(argv)
    concurrency = tuple(int(value) for value in args.concurrency.split(","))
    if min(*concurrency, args.rounds, args.runtimes, args.versions, args.channels) < 1:
        parser.error("--concurrency, --rounds, --runtimes, --versions and --channels must be at least 1")
    return Options(
        seconds=2.5 if args.quick else args.seconds,
        rounds=args.rounds,
        warmup=0.5 if args.quick else args.warmup,
        concurrency=concurrency,
        runtimes=args.runtimes,
        versions=args.versions,
        channels=args.channels,
        quick=args.quick,
        out=args.out,
        keep_logs=args.keep_logs,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    stop_on_sigterm()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="k8s-manager-facade-load-") as work_dir:
        work = Path(work_dir)
        print(f"backfilling {options.versions} versions into Prometheus ...", file=sys.stderr, flush=True)
        data = PrometheusData.create(versions_scenario(NAMESPACE, options.versions), work / "prometheus")
        with (
            data.server() as (prometheus, _),
            ThreadedEmulator(EmulatorSettings(workload_ready_after=0.05)) as emulator,
        ):
            try:
                report = asyncio.run(measure(options, emulator, prometheus, work))
            finally:
                keep_logs(work, options.keep_logs)
    report["setup"]["total_run_s"] = round(time.perf_counter() - started, 1)
    write_results(options.out, report)
    print(table(report))
    print(f"results: {options.out} ({report['setup']['total_run_s']} s)")
    return 1 if any(cell["errors"] for cell in report["cells"]) else 0


if __name__ == "__main__":
    sys.exit(main())
