"""Runtime benchmark: Create-to-Ready latency against the bare minimum, and 500 Runtimes at once.

    python benchmarks/runtimes.py [--runtimes 500] [--latency-runs 20] [--out benchmarks/results/runtimes.json]

Everything runs on this machine, in one run: the emulator (a thread of this process, with the runtime operator
stand-in on its loop, as in tests/e2e/system.py), the operator (`python -m k8s_manager operator`) and the facade
(`python -m k8s_manager facade`) as subprocesses.

(a) Latency, over N sequential Runtimes, from the Create call to this script's watch seeing Ready=True:
    - bare minimum: a plain KubeApi client issues the writes the operator issues (Namespace, Secret, the spec patch
      moving the credentials, ServiceAccount, Role, RoleBinding, ClusterRole, ClusterRoleBinding, Deployment), one
      after another and built with the operator's own functions; waits (on watches) for the Deployment to become
      available; creates the component Deployments the stand-in would; waits for their pods; writes the Ready
      status computed by the operator's own function. Run before the operator and the stand-in start, so nothing
      else touches those Runtimes.
    - the system: a gRPC Create through the facade (or a create through the API when the facade's RuntimeService
      does not work; the results say which), then the operator and the stand-in do the rest.
    Reported as the ratio system / bare minimum of the medians and of the 95th percentiles. Target: <= 2x.
(b) Scale: M Runtimes created at once (concurrently, through the API): time until all are Ready, and the operator
    process's peak RSS (itself and its children, sampled every 0.1 s). Targets: < 60 s and < 250 MB.

Both halves use the same emulator settings (workloads become available `--workload-ready-after` seconds after
they are observed). `--profile-operator FILE` runs the operator under cProfile and writes its stats there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks.common

import grpc  # noqa: E402
from k8s_manager import dev  # noqa: E402
from k8s_manager.runtime_standin import COMPONENTS, RUNTIME_OPERATOR, component_deployment  # noqa: E402
from k8s_manager_api.kube import DELETED, KubeApi, WatchEvent  # noqa: E402
from k8s_manager_api.names import DEPLOYMENTS, NAMESPACES, PODS, RUNTIMES, SECRETS  # noqa: E402
from k8s_manager_facade.config import load_config  # noqa: E402
from k8s_manager_facade.generated import runtime_pb2, runtime_pb2_grpc  # noqa: E402
from k8s_manager_facade.runtime_requests import build_runtime, validate_create  # noqa: E402
from k8s_manager_operator.config import OperatorConfig  # noqa: E402
from k8s_manager_operator.runtime import credentials, desired, status  # noqa: E402
from kube_emulator import EmulatorSettings  # noqa: E402
from kube_emulator.threaded import ThreadedEmulator  # noqa: E402

from benchmarks.common import (  # noqa: E402
    MB,
    RESULTS_DIR,
    STARTUP_TIMEOUT,
    Processes,
    RssSampler,
    child_environment,
    cpu_seconds,
    create_request,
    keep_logs,
    machine_info,
    percentile,
    standin_running,
    start_facade,
    start_operator,
    stop_on_sigterm,
    write_results,
)

DEFAULT_OUT: Final = RESULTS_DIR / "runtimes.json"

LATENCY_RATIO_TARGET: Final = 2.0
SCALE_SECONDS_TARGET: Final = 60.0
PEAK_RSS_MB_TARGET: Final = 250.0
RSS_SAMPLE_INTERVAL: Final = 0.1
WARMUP_RUNS: Final = 2
# Per Runtime in the latency runs; the scale run has its own (--scale-timeout).
READY_TIMEOUT: Final = 60.0

# The generated stubs are untyped.
RuntimeStub: Any = runtime_pb2_grpc.RuntimeServiceStub


# ---------------------------------------------------------------------------------------------- pure helpers


@dataclass(frozen=True)
class Summary:
    median_s: float
    p95_s: float
    min_s: float
    max_s: float
    samples_s: list[float]

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        return cls(
            median_s=statistics.median(samples),
            p95_s=percentile(samples, 0.95),
            min_s=min(samples),
            max_s=max(samples),
            samples_s=[round(sample, 4) for sample in samples],
        )


@dataclass(frozen=True)
class Target:
    name: str
    measured: float | None  # None: not reached (the scale run timed out)
    limit: float
    unit: str
    inclusive: bool  # `<=` rather than `<`

    @property
    def passed(self) -> bool:
        if self.measured is None:
            return False
        return self.measured <= self.limit if self.inclusive else self.measured < self.limit

    def as_dict(self) -> dict[str, Any]:
        comparison = "<=" if self.inclusive else "<"
        return {
            "measured": None if self.measured is None else round(self.measured, 3),
            "target": f"{comparison} {self.limit:g}{self.unit}",
            "pass": self.passed,
        }


def is_ready(runtime: Mapping[str, Any]) -> bool:
    condition = status.find_condition(runtime.get("status"), status.READY)
    return condition is not None and condition.get("status") == "True"


def is_available(deployment: Mapping[str, Any]) -> bool:
    condition = status.find_condition(deployment.get("status"), "Available")
    return condition is not None and condition.get("status") == "True"


def runtime_body(request: runtime_pb2.Request, environ: Mapping[str, str]) -> dict[str, Any]:
    """The Runtime the facade writes for `request`, with the facade's configuration from `environ`."""
    return build_runtime(validate_create(request), load_config(environ))


# ---------------------------------------------------------------------------------------------- observation


class ReadyTracker:
    """One watch on every Runtime: when each was first seen Ready=True (time.perf_counter())."""

    def __init__(self, api: KubeApi) -> None:
        self._api = api
        self.ready_at: dict[str, float] = {}
        self._waiters: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ready-tracker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        async with contextlib.aclosing(self._api.observe(RUNTIMES)) as events:
            async for event in events:
                name = event.object["metadata"]["name"]
                if event.type != DELETED and name not in self.ready_at and is_ready(event.object):
                    self.ready_at[name] = time.perf_counter()
                    waiter = self._waiters.pop(name, None)
                    if waiter is not None:
                        waiter.set()

    async def wait(self, name: str, within: float) -> float:
        """When `name` became Ready; TimeoutError after `within` seconds."""
        if name not in self.ready_at:
            waiter = self._waiters.setdefault(name, asyncio.Event())
            await asyncio.wait_for(waiter.wait(), within)
        return self.ready_at[name]

    async def wait_all(self, names: Sequence[str], within: float) -> int:
        """Wait until every one of `names` is Ready or `within` seconds pass; how many are Ready."""
        deadline = time.perf_counter() + within
        while time.perf_counter() < deadline:
            if all(name in self.ready_at for name in names):
                break
            await asyncio.sleep(0.05)
        return sum(name in self.ready_at for name in names)


async def first_matching(events: AsyncIterator[WatchEvent], accept: Callable[[dict[str, Any]], bool]) -> Any:
    async for event in events:
        if event.type != DELETED and accept(event.object):
            return event.object
    raise RuntimeError("the watch ended before the awaited state")


async def wait_available(api: KubeApi, namespace: str, name: str, resource_version: str) -> dict[str, Any]:
    """The Deployment once it is Available, watched from `resource_version`."""
    stream = api.watch(
        DEPLOYMENTS, namespace, fields=f"metadata.name={name}", resource_version=resource_version, timeout_seconds=60
    )
    async with contextlib.aclosing(stream):
        found: dict[str, Any] = await first_matching(stream, is_available)
        return found


async def wait_component_pods(api: KubeApi, namespace: str, config: OperatorConfig) -> list[dict[str, Any]]:
    """The namespace's pods once every component the operator waits for is ready (its own criterion)."""
    pods: dict[str, dict[str, Any]] = {}
    async with contextlib.aclosing(api.watch(PODS, namespace, timeout_seconds=60)) as stream:
        async for event in stream:
            name = event.object["metadata"]["name"]
            if event.type == DELETED:
                pods.pop(name, None)
            else:
                pods[name] = event.object
            current = list(pods.values())
            if all(status.component_readiness(component, current)["ready"] for component in config.components):
                return current
    raise RuntimeError(f"the watch of the pods in {namespace} ended before the components were ready")


# ---------------------------------------------------------------------------------------------- the system


@contextlib.contextmanager
def emulator_running(workload_ready_after: float) -> Iterator[ThreadedEmulator]:
    with ThreadedEmulator(EmulatorSettings(workload_ready_after=workload_ready_after)) as running:
        yield running


# ---------------------------------------------------------------------------------------------- measurements


async def bare_minimum_once(api: KubeApi, tracker: ReadyTracker, body: dict[str, Any], config: OperatorConfig) -> float:
    """One Runtime made Ready by hand with the operator's writes, one after another; seconds to Ready."""
    name = body["metadata"]["name"]
    started = time.perf_counter()
    runtime = await api.create(RUNTIMES, body)
    namespace = await api.create(NAMESPACES, desired.namespace(runtime))
    values = credentials.inline_credentials(runtime["spec"])
    if values is None:
        raise RuntimeError("the Runtime has no inline credentials to move")
    secret = await api.create(SECRETS, credentials.credentials_secret(runtime, values), name)
    runtime = await api.patch(RUNTIMES, name, credentials.secret_ref_patch(runtime["metadata"]["resourceVersion"]))
    children = {"Namespace": namespace}
    for wanted in desired.desired_objects(runtime, config):
        if wanted["kind"] != "Namespace":
            resource = desired.resource_of(wanted)
            children[wanted["kind"]] = await api.create(resource, wanted, wanted["metadata"].get("namespace"))
    operator = children["Deployment"]
    operator = await wait_available(api, name, RUNTIME_OPERATOR, operator["metadata"]["resourceVersion"])
    for component, pod_labels in COMPONENTS.items():
        await api.create(DEPLOYMENTS, component_deployment(name, component, pod_labels), name)
    pods = await wait_component_pods(api, name, config)
    observed = status.ObservedChildren(
        namespace=namespace,
        service_account=children["ServiceAccount"],
        role=children["Role"],
        role_binding=children["RoleBinding"],
        cluster_role=children["ClusterRole"],
        cluster_role_binding=children["ClusterRoleBinding"],
        deployment=operator,
        secrets={credentials.CREDENTIALS_SECRET_NAME: secret},
    )
    now = status.format_timestamp(datetime.datetime.now(datetime.UTC))
    new_status = status.compute_status(runtime, observed, pods, config, now=now)
    if not is_ready({"status": new_status}):
        raise RuntimeError(f"the bare-minimum run left {name} not Ready: {status.find_condition(new_status, 'Ready')}")
    await api.patch(RUNTIMES, name, {"status": new_status}, subresource="status")
    return await tracker.wait(name, READY_TIMEOUT) - started


@dataclass
class Creator:
    """Creates Runtimes through the facade's gRPC Create, or through the API when that does not work."""

    api: KubeApi
    environ: Mapping[str, str]
    stub: Any = None
    path: str = "api"
    note: str = ""

    async def create(self, request: runtime_pb2.Request) -> None:
        if self.stub is not None:
            await self.stub.Create(request, timeout=30)
        else:
            await self.api.create(RUNTIMES, runtime_body(request, self.environ))

    async def try_facade(self, stub: Any, request: runtime_pb2.Request) -> None:
        """Create `request` through the facade; on failure fall back to the API for it and every later one."""
        try:
            await stub.Create(request, timeout=30)
        except grpc.RpcError as error:
            self.note = f"the facade's Create failed ({error.code().name}: {error.details()}); used the API"
            await self.create(request)
            return
        self.stub, self.path = stub, "facade gRPC Create"


async def system_once(creator: Creator, tracker: ReadyTracker, request: runtime_pb2.Request) -> float:
    started = time.perf_counter()
    await creator.create(request)
    return await tracker.wait(request.runtime.namespace, READY_TIMEOUT) - started


@dataclass
class ScaleResult:
    runtimes: int
    ready: int
    all_ready_s: float | None
    created_s: float
    ready_p50_s: float | None
    ready_p90_s: float | None
    slowest: list[str]  # the last Runtimes to become Ready, for a look at the operator's log
    peak_rss_bytes: int
    idle_rss_bytes: int
    rss_samples: int
    # CPU seconds spent during the run: where the time goes (2 cores: more than all_ready_s each is impossible).
    operator_cpu_s: float
    emulator_process_cpu_s: float  # the emulator, the stand-in and this script's client share this process


async def scale_run(
    api: KubeApi, tracker: ReadyTracker, operator_pid: int, count: int, within: float, environ: Mapping[str, str]
) -> ScaleResult:
    bodies = [runtime_body(create_request(f"S{index:04d}"), environ) for index in range(count)]
    names = [body["metadata"]["name"] for body in bodies]
    sampler = RssSampler(operator_pid, RSS_SAMPLE_INTERVAL)
    idle = sampler.sample() or 0
    operator_cpu, own_cpu = cpu_seconds(operator_pid), cpu_seconds(os.getpid())
    with sampler:
        started = time.perf_counter()
        await asyncio.gather(*(api.create(RUNTIMES, body) for body in bodies))
        created = time.perf_counter() - started
        ready = await tracker.wait_all(names, within)
    operator_cpu, own_cpu = cpu_seconds(operator_pid) - operator_cpu, cpu_seconds(os.getpid()) - own_cpu
    times = [tracker.ready_at[name] - started for name in names if name in tracker.ready_at]
    by_time = sorted(names, key=lambda name: tracker.ready_at.get(name, math.inf))
    return ScaleResult(
        runtimes=count,
        ready=ready,
        all_ready_s=max(times) if ready == count else None,
        created_s=created,
        ready_p50_s=statistics.median(times) if times else None,
        ready_p90_s=percentile(times, 0.9) if times else None,
        slowest=by_time[-5:],
        peak_rss_bytes=sampler.peak_bytes,
        idle_rss_bytes=idle,
        rss_samples=sampler.samples,
        operator_cpu_s=round(operator_cpu, 1),
        emulator_process_cpu_s=round(own_cpu, 1),
    )


# ---------------------------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Options:
    runtimes: int
    latency_runs: int
    workload_ready_after: float
    scale_timeout: float
    out: Path
    profile_operator: Path | None
    keep_logs: Path | None


async def measure(options: Options, emulator: ThreadedEmulator, work: Path) -> dict[str, Any]:
    kubeconfig = emulator.write_kubeconfig(work / "kubeconfig")
    env = child_environment(kubeconfig)
    operator_config = OperatorConfig.from_env(env)
    api = await KubeApi.connect(str(kubeconfig), request_timeout=60)
    tracker = ReadyTracker(api)
    processes = Processes(work, env)
    try:
        await asyncio.wait_for(dev.apply_crds(api, dev.load_crds(dev.default_crds_dir())), STARTUP_TIMEOUT)
        tracker.start()

        print(f"bare minimum: {WARMUP_RUNS} warm-up + {options.latency_runs} runtimes, one after another", flush=True)
        baseline: list[float] = []
        for index in range(WARMUP_RUNS + options.latency_runs):
            body = runtime_body(create_request(f"Base{index:03d}"), env)
            seconds = await bare_minimum_once(api, tracker, body, operator_config)
            if index >= WARMUP_RUNS:
                baseline.append(seconds)

        with standin_running(emulator, kubeconfig):
            operator = start_operator(processes, options.profile_operator)
            address = await start_facade(processes)
            print(f"system: {WARMUP_RUNS} warm-up + {options.latency_runs} runtimes, one after another", flush=True)
            system: list[float] = []
            async with grpc.aio.insecure_channel(address) as channel:
                creator = Creator(api, env)
                for index in range(WARMUP_RUNS + options.latency_runs):
                    request = create_request(f"Lat{index:03d}")
                    if index == 0:
                        await creator.try_facade(RuntimeStub(channel), request)
                        await tracker.wait(request.runtime.namespace, STARTUP_TIMEOUT)
                        continue
                    seconds = await system_once(creator, tracker, request)
                    if index >= WARMUP_RUNS:
                        system.append(seconds)

            print(f"scale: {options.runtimes} runtimes at once", flush=True)
            scale = await scale_run(api, tracker, operator.pid, options.runtimes, options.scale_timeout, env)
            if operator.poll() is not None:
                raise RuntimeError(f"the operator exited:\n{processes.log_tail('operator')}")
            processes.stop()
    finally:
        processes.stop()
        await tracker.stop()
        await api.close()
    return results(options, Summary.of(baseline), Summary.of(system), scale, creator)


def results(
    options: Options, baseline: Summary, system: Summary, scale: ScaleResult, creator: Creator
) -> dict[str, Any]:
    targets = [
        Target("latency_median_ratio", system.median_s / baseline.median_s, LATENCY_RATIO_TARGET, "x", True),
        Target("latency_p95_ratio", system.p95_s / baseline.p95_s, LATENCY_RATIO_TARGET, "x", True),
        Target("scale_all_ready_seconds", scale.all_ready_s, SCALE_SECONDS_TARGET, " s", False),
        Target("scale_operator_peak_rss_mb", scale.peak_rss_bytes / MB, PEAK_RSS_MB_TARGET, " MB", False),
    ]
    return {
        "machine": machine_info(),
        "settings": {
            "latency_runs": options.latency_runs,
            "warmup_runs": WARMUP_RUNS,
            "scale_runtimes": options.runtimes,
            "scale_timeout_s": options.scale_timeout,
            "workload_ready_after_s": options.workload_ready_after,
            "create_path": creator.path,
            "create_path_note": creator.note,
            "operator_profiled": options.profile_operator is not None,
        },
        "latency": {
            "bare_minimum": asdict(baseline),
            "system": asdict(system),
            "ratio_median": round(system.median_s / baseline.median_s, 3),
            "ratio_p95": round(system.p95_s / baseline.p95_s, 3),
        },
        "scale": {
            **asdict(scale),
            "peak_rss_mb": round(scale.peak_rss_bytes / MB, 1),
            "idle_rss_mb_before": round(scale.idle_rss_bytes / MB, 1),
        },
        "targets": {target.name: target.as_dict() for target in targets},
    }


def table(report: Mapping[str, Any]) -> str:
    latency, scale = report["latency"], report["scale"]
    base, system = latency["bare_minimum"], latency["system"]
    rows = [
        ("latency, bare minimum (median / p95)", f"{base['median_s']:.3f} s / {base['p95_s']:.3f} s", "", ""),
        ("latency, system (median / p95)", f"{system['median_s']:.3f} s / {system['p95_s']:.3f} s", "", ""),
    ]
    labels = {
        "latency_median_ratio": "latency ratio, median",
        "latency_p95_ratio": "latency ratio, p95",
        "scale_all_ready_seconds": f"{scale['runtimes']} runtimes: all Ready ({scale['ready']} ready)",
        "scale_operator_peak_rss_mb": "operator peak RSS",
    }
    for name, target in report["targets"].items():
        measured = "not reached" if target["measured"] is None else f"{target['measured']:g}"
        rows.append((labels[name], measured, target["target"], "pass" if target["pass"] else "FAIL"))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtimes", type=int, default=500, help="Runtimes created at once (default 500)")
    parser.add_argument("--latency-runs", type=int, default=20, help="sequential Runtimes per latency series")
    parser.add_argument(
        "--workload-ready-after", type=float, default=0.05, help="emulator: seconds until a workload is available"
    )
    parser.add_argument("--scale-timeout", type=float, default=150.0, help="give up on the scale run after this")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results file (JSON)")
    parser.add_argument("--profile-operator", type=Path, default=None, help="write the operator's cProfile stats")
    parser.add_argument("--keep-logs", type=Path, default=None, help="keep the operator's and facade's logs here")
    args = parser.parse_args(argv)
    if args.runtimes < 1 or args.latency_runs < 1:
        parser.error("--runtimes and --latency-runs must be at least 1")
    return Options(
        runtimes=args.runtimes,
        latency_runs=args.latency_runs,
        workload_ready_after=args.workload_ready_after,
        scale_timeout=args.scale_timeout,
        out=args.out,
        profile_operator=args.profile_operator.resolve() if args.profile_operator else None,
        keep_logs=args.keep_logs,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    stop_on_sigterm()
    with (
        tempfile.TemporaryDirectory(prefix="k8s-manager-bench-") as work_dir,
        emulator_running(options.workload_ready_after) as emulator,
    ):
        try:
            report = asyncio.run(measure(options, emulator, Path(work_dir)))
        finally:
            keep_logs(Path(work_dir), options.keep_logs)
    write_results(options.out, report)
    print(table(report))
    print(f"results: {options.out}")
    return 0 if all(target["pass"] for target in report["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
