"""What the benchmarks share: machine info, the system's processes, RSS sampling, Prometheus data, results files.

The scripts run as `python benchmarks/NAME.py`; they put the repository root on sys.path and import this module
as `benchmarks.common` (and the metrics tests' Prometheus harness as `tests.metrics.prometheus`).
"""

from __future__ import annotations

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
import string
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc
from k8s_manager import dev
from k8s_manager.runtime_standin import run_standin_forever
from k8s_manager_api.kube import KubeApi
from k8s_manager_facade.generated import runtime_pb2, runtime_pb2_grpc
from kube_emulator.threaded import ThreadedEmulator

from tests.metrics.prometheus import KUBE_STATE_METRICS_REPLICAS, MIB, PodSeries, Scenario

ROOT: Final = Path(__file__).resolve().parents[1]
RESULTS_DIR: Final = ROOT / "benchmarks" / "results"
MB: Final = 1_000_000
IN_CLUSTER_VARIABLES: Final = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBERNETES_PORT")
STARTUP_TIMEOUT: Final = 60.0
STOP_GRACE: Final = 20.0
CREDENTIAL_ALPHABET: Final = string.ascii_letters + string.digits

# The generated stubs are untyped.
HealthStub: Any = health_pb2_grpc.HealthStub
RuntimeStub: Any = runtime_pb2_grpc.RuntimeServiceStub


# ------------------------------------------------------------------------------------------------ small helpers


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest sample at or above `fraction` of them."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def child_environment(kubeconfig: Path) -> dict[str, str]:
    """This process's environment for the operator and the facade: the emulator's kubeconfig, never in-cluster."""
    env = {key: value for key, value in os.environ.items() if key not in IN_CLUSTER_VARIABLES}
    env["KUBECONFIG"] = str(kubeconfig)
    return env


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def prometheus_version() -> str | None:
    binary = shutil.which("prometheus")
    if binary is None:
        return None
    lines = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout.splitlines()
    return lines[0] if lines else None


def machine_info(with_prometheus: bool = False) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_mb": round(psutil.virtual_memory().total / MB),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "kopf": importlib.metadata.version("kopf"),
        "grpcio": grpc.__version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        # The machine may be shared: its load over 1, 5 and 15 minutes when the results were taken (this run included).
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }
    if with_prometheus:
        info["prometheus"] = prometheus_version()
    return info


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (its exited children's included)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system + times.children_user + times.children_system)


def write_results(path: Path, report: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def keep_logs(work: Path, destination: Path | None) -> None:
    """Copy the subprocesses' logs out of the scratch directory before it goes."""
    if destination is None:
        return
    destination.mkdir(parents=True, exist_ok=True)
    for log_file in work.glob("*.log"):
        shutil.copy(log_file, destination / log_file.name)


def stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so that the subprocesses and the emulator are stopped on the way out."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


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


# ------------------------------------------------------------------------------------------------ RSS


class RssSampler:
    """Resident memory of a process (and, with `children`, its children), sampled in a thread (the event loop may
    be busy): `peak_bytes`, and every sample as (time.monotonic(), bytes) in `series` when `record` is set.

    Children are listed again only every `CHILDREN_REFRESH` seconds: listing them scans every process on the
    machine, which would take CPU from the emulator this process also runs.
    """

    CHILDREN_REFRESH: Final = 1.0

    def __init__(self, pid: int, interval: float, *, children: bool = True, record: bool = False) -> None:
        self._process: Any = psutil.Process(pid)
        self._interval = interval
        self._with_children = children
        self._record = record
        self._children: list[Any] = []
        self._children_listed_at = -math.inf
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-sampler-{pid}", daemon=True)
        self.peak_bytes = 0
        self.samples = 0
        self.series: list[tuple[float, int]] = []

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
                if self._record:
                    self.series.append((time.monotonic(), total))
            if self._stopped.wait(self._interval):
                return

    def sample(self) -> int | None:
        """RSS of the process (and its children) now; None once the process is gone."""
        if self._with_children:
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


# ------------------------------------------------------------------------------------------------ the system


@dataclass
class Processes:
    """The subprocesses a benchmark started, each logging to `work/NAME.log`; `stop` ends them all."""

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

    def check_running(self, *names: str) -> None:
        """RuntimeError with the log's tail if one of `names` has exited."""
        for name in names:
            if self.started[name].poll() is not None:
                raise RuntimeError(f"the {name} exited:\n{self.log_tail(name)}")

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


async def admin_client(kubeconfig: Path) -> KubeApi:
    """A client with the emulator's admin kubeconfig, the CRDs installed and Established."""
    api = await KubeApi.connect(str(kubeconfig), request_timeout=60)
    try:
        await asyncio.wait_for(dev.apply_crds(api, dev.load_crds(dev.default_crds_dir())), STARTUP_TIMEOUT)
    except BaseException:
        await api.close()
        raise
    return api


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


async def start_facade(processes: Processes, extra_args: Sequence[str] = ()) -> str:
    """`python -m k8s_manager facade` on a free loopback port; its address once health says SERVING."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    command = [sys.executable, "-m", "k8s_manager", "facade", "--host", "127.0.0.1", "--port", str(port)]
    facade = processes.spawn("facade", [*command, *extra_args])
    deadline = time.perf_counter() + STARTUP_TIMEOUT
    while not await facade_serving(address):
        if facade.poll() is not None or time.perf_counter() > deadline:
            raise RuntimeError(f"the facade did not start serving:\n{processes.log_tail('facade')}")
        await asyncio.sleep(0.2)
    return address


def start_operator(
    processes: Processes, profile: Path | None = None, extra_args: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
    return processes.spawn("operator", [sys.executable, *profiler, "-m", "k8s_manager", "operator", *extra_args])


async def create_until_ready(
    address: str, requests: Sequence[runtime_pb2.Request], parallel: int, within: float
) -> float:
    """Create the Runtimes through the facade (at most `parallel` Create calls at once), each followed by a
    RuntimeStatus call that returns once it is Ready, as the Admin API does; seconds until all are Ready."""
    started = time.perf_counter()
    limit = asyncio.Semaphore(parallel)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = RuntimeStub(channel)

        async def one(request: runtime_pb2.Request) -> None:
            async with limit:
                await stub.Create(request, timeout=30)
            await stub.RuntimeStatus(request, timeout=within)

        await asyncio.gather(*(one(request) for request in requests))
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------------ Prometheus


def version_name(index: int) -> str:
    return f"service-v{index}"


def versions_scenario(
    namespace: str, versions: int, *, duration_seconds: int = 3600, end_after_now_seconds: int = 0
) -> Scenario:
    """`versions` versions of 2 pods (two containers each) in `namespace`, scraped by two kube-state-metrics
    replicas; the data ends on a whole minute `end_after_now_seconds` from now (0: the last whole minute).

    Data ending in the future is served as time reaches it (Prometheus takes backfilled blocks ahead of its
    clock), so a long run can keep getting new points without anything scraping."""
    pods = [
        PodSeries(
            namespace,
            f"{version_name(v)}-pod-{p}",
            version_name(v),
            cpu_rate_cores=0.125 * (p + 1),
            memory_bytes=(64 + v) * MIB,
            containers=("app", "sidecar"),
        )
        for v in range(versions)
        for p in range(2)
    ]
    return Scenario.ending_before_now(
        pods,
        duration_seconds=duration_seconds,
        end_before_now_seconds=-end_after_now_seconds,
        kube_state_metrics_instances=KUBE_STATE_METRICS_REPLICAS,
    )


def rfc3339(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
