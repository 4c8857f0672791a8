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
import importlib.metadata
import json
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc
from k8s_manager import dev
from k8s_manager.runtime_standin import COMPONENTS, RUNTIME_OPERATOR, component_deployment, run_standin_forever
from k8s_manager_api.kube import DELETED, KubeApi, WatchEvent
from k8s_manager_api.names import DEPLOYMENTS, NAMESPACES, PODS, RUNTIMES, SECRETS
from k8s_manager_facade.config import load_config
from k8s_manager_facade.generated import runtime_pb2, runtime_pb2_grpc
from k8s_manager_facade.runtime_requests import build_runtime, validate_create
from k8s_manager_operator.config import OperatorConfig
from k8s_manager_operator.runtime import credentials, desired, status
from kube_emulator import EmulatorSettings
from kube_emulator.threaded import ThreadedEmulator

ROOT: Final = Path(__file__).resolve().parents[1]
DEFAULT_OUT: Final = ROOT / "benchmarks" / "results" / "runtimes.json"
IN_CLUSTER_VARIABLES: Final = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBERNETES_PORT")
CREDENTIAL_ALPHABET: Final = string.ascii_letters + string.digits

LATENCY_RATIO_TARGET: Final = 2.0
SCALE_SECONDS_TARGET: Final = 60.0
PEAK_RSS_MB_TARGET: Final = 250.0
MB: Final = 1_000_000
RSS_SAMPLE_INTERVAL: Final = 0.1
WARMUP_RUNS: Final = 2
# Per Runtime in the latency runs; the scale run has its own (--scale-timeout).
READY_TIMEOUT: Final = 60.0
STARTUP_TIMEOUT: Final = 60.0
STOP_GRACE: Final = 20.0

# The generated stubs are untyped.
RuntimeStub: Any = runtime_pb2_grpc.RuntimeServiceStub
HealthStub: Any = health_pb2_grpc.HealthStub


# ---------------------------------------------------------------------------------------------- pure helpers


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest sample at or above `fraction` of them."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


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


def random_credential() -> str:
    return "".join(secrets.choice(CREDENTIAL_ALPHABET) for _ in range(8))


def create_request(display_name: str) -> runtime_pb2.Request:
    """A Create request as the Admin API sends it: namespace kre-<lowercase name>, random credentials."""
    runtime = runtime_pb2.Runtime(
        name=display_name,
        namespace=f"kre-{display_name.lower()}",
        mongo=runtime_pb2.Runtime.MongoConf(
            username="admin", password=random_credential(), sharedKey=random_credential()
        ),
        minio=runtime_pb2.Runtime.MinioConf(accessKey="admin", secretKey=random_credential()),
    )
    return runtime_pb2.Request(runtime=runtime)


def runtime_body(request: runtime_pb2.Request, environ: Mapping[str, str]) -> dict[str, Any]:
    """The Runtime the facade writes for `request`, with the facade's configuration from `environ`."""
    return build_runtime(validate_create(request), load_config(environ))


def child_environment(kubeconfig: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in IN_CLUSTER_VARIABLES}
    env["KUBECONFIG"] = str(kubeconfig)
    return env


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_mb": round(psutil.virtual_memory().total / MB),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "kopf": importlib.metadata.version("kopf"),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


class RssSampler:
    """Peak resident memory of a process and its children, sampled in a thread (the event loop may be busy).

    Children are listed again only every `CHILDREN_REFRESH` seconds: listing them scans every process on the
    machine, which would take CPU from the emulator this process also runs.
    """

    CHILDREN_REFRESH: Final = 1.0

    def __init__(self, pid: int, interval: float = RSS_SAMPLE_INTERVAL) -> None:
        self._process: Any = psutil.Process(pid)
        self._interval = interval
        self._children: list[Any] = []
        self._children_listed_at = -math.inf
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.peak_bytes = 0
        self.samples = 0

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            total = self.sample()
            if total is not None:
                self.peak_bytes = max(self.peak_bytes, total)
                self.samples += 1
            if self._stopped.wait(self._interval):
                return

    def sample(self) -> int | None:
        """RSS of the process and its children now; None once the process is gone."""
        now = time.monotonic()
        if now - self._children_listed_at >= self.CHILDREN_REFRESH:
            with contextlib.suppress(psutil.Error):
                self._children = self._process.children(recursive=True)
                self._children_listed_at = now
        try:
            total = int(self._process.memory_info().rss)
        except psutil.Error:
            return None
        for child in self._children:
            with contextlib.suppress(psutil.Error):  # a child may have exited since it was listed
                total += int(child.memory_info().rss)
        return total


# ---------------------------------------------------------------------------------------------- the system


@dataclass
class Processes:
    """The subprocesses this script started; `stop` ends them all."""

    work: Path
    env: dict[str, str]
    started: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with (self.work / f"{name}.log").open("ab") as sink:
            process = subprocess.Popen(args, env=self.env, stdout=sink, stderr=sink, stdin=subprocess.DEVNULL)
        self.started[name] = process
        return process

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.work / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        for process in self.started.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started.values():
            try:
                process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextlib.contextmanager
def emulator_running(workload_ready_after: float) -> Iterator[ThreadedEmulator]:
    with ThreadedEmulator(EmulatorSettings(workload_ready_after=workload_ready_after)) as running:
        yield running


@contextlib.contextmanager
def standin_running(emulator: ThreadedEmulator, kubeconfig: Path) -> Iterator[None]:
    """The runtime operator stand-in on the emulator's loop, as the end-to-end tests run it."""
    handles: dict[str, Any] = {}

    async def boot() -> None:
        handles["api"] = await KubeApi.connect(str(kubeconfig))
        handles["task"] = asyncio.get_running_loop().create_task(run_standin_forever(handles["api"]))

    async def shutdown() -> None:
        task: asyncio.Task[None] = handles["task"]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await handles["api"].close()

    emulator.call(boot)
    try:
        yield
    finally:
        emulator.call(shutdown)


async def facade_serving(address: str) -> bool:
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            reply = await HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


async def start_facade(processes: Processes) -> str:
    port = free_port()
    address = f"127.0.0.1:{port}"
    command = [sys.executable, "-m", "k8s_manager", "facade", "--host", "127.0.0.1", "--port", str(port)]
    facade = processes.spawn("facade", command)
    deadline = time.perf_counter() + STARTUP_TIMEOUT
    while not await facade_serving(address):
        if facade.poll() is not None or time.perf_counter() > deadline:
            raise RuntimeError(f"the facade did not start serving:\n{processes.log_tail('facade')}")
        await asyncio.sleep(0.2)
    return address


def start_operator(processes: Processes, profile: Path | None) -> subprocess.Popen[bytes]:
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
    return processes.spawn("operator", [sys.executable, *profiler, "-m", "k8s_manager", "operator"])


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
    sampler = RssSampler(operator_pid)
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


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (its exited children's included)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system + times.children_user + times.children_system)


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
    # SIGTERM unwinds like Ctrl-C, so that the subprocesses and the emulator are stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with (
        tempfile.TemporaryDirectory(prefix="k8s-manager-bench-") as work_dir,
        emulator_running(options.workload_ready_after) as emulator,
    ):
        try:
            report = asyncio.run(measure(options, emulator, Path(work_dir)))
        finally:
            if options.keep_logs is not None:
                options.keep_logs.mkdir(parents=True, exist_ok=True)
                for log_file in Path(work_dir).glob("*.log"):
                    shutil.copy(log_file, options.keep_logs / log_file.name)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"results: {options.out}")
    return 0 if all(target["pass"] for target in report["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
