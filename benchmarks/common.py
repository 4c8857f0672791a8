"""What the benchmarks share: machine info, the cluster, the system's processes, RSS sampling, Prometheus data,
results files.

The scripts run as `python benchmarks/NAME.py`; they put the repository root on sys.path and import this module
as `benchmarks.common` (and the metrics tests' Prometheus harness as `tests.metrics.prometheus`, the real control
plane's launcher as `tests.cluster.controlplane`).
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
from k8s_manager_api.names import CUSTOM_RESOURCE_DEFINITIONS
from k8s_manager_facade.generated import runtime_pb2, runtime_pb2_grpc
from kube_emulator import EmulatorSettings
from kube_emulator.threaded import ThreadedEmulator

from tests.cluster.controlplane import COMPONENT_ORDER, ControlPlane
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


def source_info() -> dict[str, Any]:
    """The commit measured and the files that differed from it (benchmarks/results/ aside), when ROOT is a Git
    checkout: what a results file was measured with."""

    def git(*args: str) -> str | None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            result = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=20)
            if result.returncode == 0:
                return result.stdout
        return None

    commit = git("rev-parse", "HEAD")
    changes = git("status", "--porcelain", "--untracked-files=no") or ""
    modified = sorted(
        line[3:] for line in changes.splitlines() if line[3:] and not line[3:].startswith("benchmarks/results/")
    )
    return {"commit": commit.strip() if commit else None, "modified": modified}


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
        "source": source_info(),
    }
    if with_prometheus:
        info["prometheus"] = prometheus_version()
    return info


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (its exited children's included)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system + times.children_user + times.children_system)


def split(total: int, parts: int) -> list[int]:
    """`total` in `parts` as even as can be, the larger parts first."""
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


async def settled(pid: int, within: float = 30.0) -> None:
    """Return once the process has used under a tenth of a core over half a second (a restarted operator done
    with the objects it found), or after `within` seconds."""
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(0.5)
        if cpu_seconds(pid) - before < 0.05:
            return


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


async def install_crds(api: KubeApi) -> None:
    """The CRDs of crds/, created or replaced as dev mode does, once each is Established.

    Awaited here rather than with `dev.apply_crds`, whose wait reads `status.conditions` as a list: a real API
    server answers `null` there until the CRD has conditions."""

    async def established(name: str) -> None:
        while True:
            crd = await api.find(CUSTOM_RESOURCE_DEFINITIONS, name) or {}
            conditions = (crd.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                return
            await asyncio.sleep(0.05)

    async def install() -> None:
        crds = dev.load_crds(dev.default_crds_dir())
        for crd in crds:
            await dev.create_or_replace(api, CUSTOM_RESOURCE_DEFINITIONS, crd)
        for crd in crds:
            await established(crd["metadata"]["name"])

    await asyncio.wait_for(install(), STARTUP_TIMEOUT)


async def admin_client(kubeconfig: Path) -> KubeApi:
    """A client with the cluster's admin kubeconfig, the CRDs installed and Established."""
    api = await KubeApi.connect(str(kubeconfig), request_timeout=60)
    try:
        await install_crds(api)
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


# ------------------------------------------------------------------------------------------------ the cluster

CLUSTER_KINDS: Final = ("emulator", "real")
# Pods a fake kwok Node takes (tests/cluster/controlplane.py NODE_CAPACITY); a benchmark asks for enough Nodes.
PODS_PER_REAL_NODE: Final = 250
MIN_REAL_NODES: Final = 3


@dataclass
class Cluster:
    """The cluster a benchmark runs on, with an admin kubeconfig:

    - `emulator`: kube_emulator in a thread of this process; its controllers make workloads available
      `workload_ready_after` seconds after they are observed;
    - `real`: the upstream control plane of tests/cluster/ (etcd, kube-apiserver, kube-controller-manager,
      kube-scheduler as processes on loopback, kwok's fake Nodes making each scheduled Pod Running and Ready).
    """

    kind: str
    kubeconfig: Path
    emulator: ThreadedEmulator | None = None
    plane: ControlPlane | None = None
    workload_ready_after: float | None = None

    def standin(self) -> contextlib.AbstractContextManager[None]:
        """The runtime operator stand-in (cmd/k8s_manager/runtime_standin.py) while the block runs: on the
        emulator's loop, or, on the real cluster, on a loop of its own in a thread of this process. Nothing else
        deploys MongoDB, NATS and Minio on either cluster (kwok runs no containers, so no runtime operator)."""
        if self.emulator is not None:
            return standin_running(self.emulator, self.kubeconfig)
        return standin_thread(self.kubeconfig)

    def control_plane_pids(self) -> dict[str, int]:
        """The real control plane's processes by component (none on the emulator: it is this process)."""
        if self.plane is None:
            return {}
        pids: dict[str, int] = {}
        for name, component in self.plane.components.items():
            if component.process is not None and component.process.poll() is None:
                pids[name] = component.process.pid
        return pids

    def api_requests(self) -> dict[str, int] | None:
        """The real kube-apiserver's request counts so far (`apiserver_request_total`) by verb and resource (with
        its subresource, and the status code unless 2xx), every client's; None on the emulator, which counts none."""
        if self.plane is None:
            return None
        with self.plane.api() as api:
            method, url, headers, _, _ = api.param_serialize("GET", "/metrics")
            text = api.call_api(method, url, header_params=headers, _request_timeout=30).read().decode()
        counts: dict[str, int] = {}
        for line in text.splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels_text, _, value = line[len("apiserver_request_total{") :].rpartition("} ")
            labels = dict(
                (key, raw.strip('"')) for key, _, raw in (part.partition("=") for part in labels_text.split('",'))
            )
            resource = labels.get("resource", "")
            if labels.get("subresource"):
                resource = f"{resource}/{labels['subresource']}"
            code = labels.get("code", "")
            key = f"{labels.get('verb', '?')} {resource}" + ("" if code.startswith("2") else f" ({code})")
            counts[key] = counts.get(key, 0) + round(float(value))
        return counts

    def describe(self) -> dict[str, Any]:
        if self.plane is None:
            return {"kind": self.kind, "workload_ready_after_s": self.workload_ready_after}
        return {
            "kind": self.kind,
            "nodes": self.plane.nodes,
            "pods_per_node": PODS_PER_REAL_NODE,
            "versions": real_cluster_versions(self.plane),
            "workloads": "kwok: a scheduled Pod is made Running and Ready at once; no container runs",
        }


def real_nodes_for(pods: int) -> int:
    """kwok Nodes enough for `pods` Pods with a fifth to spare (at least MIN_REAL_NODES)."""
    return max(MIN_REAL_NODES, math.ceil(pods * 1.2 / PODS_PER_REAL_NODE))


def real_cluster_versions(plane: ControlPlane) -> dict[str, str]:
    """Each binary's own `--version` line (kubectl's client version)."""
    versions: dict[str, str] = {}
    for name in (*COMPONENT_ORDER, "kubectl"):
        argv = [plane.binary(name), "version", "--client"] if name == "kubectl" else [plane.binary(name), "--version"]
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            output = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False).stdout
            versions[name] = output.strip().splitlines()[0] if output.strip() else "?"
    return versions


@contextlib.contextmanager
def cluster_running(
    kind: str, work: Path, *, workload_ready_after: float, nodes: int, keep_logs_in: Path | None = None
) -> Iterator[Cluster]:
    """The cluster of `kind` (CLUSTER_KINDS) with its admin kubeconfig in `work`; `workload_ready_after` is the
    emulator's, `nodes` the real cluster's kwok Nodes, whose components' logs are copied to `keep_logs_in`."""
    if kind == "emulator":
        with ThreadedEmulator(EmulatorSettings(workload_ready_after=workload_ready_after)) as emulator:
            kubeconfig = emulator.write_kubeconfig(work / "kubeconfig")
            yield Cluster(kind, kubeconfig, emulator=emulator, workload_ready_after=workload_ready_after)
        return
    if kind != "real":
        raise ValueError(f"cluster kind {kind!r}: one of {', '.join(CLUSTER_KINDS)}")
    print(f"real cluster: starting the control plane with {nodes} kwok Nodes", flush=True)
    plane = ControlPlane.create(nodes=nodes)
    plane.start()
    try:
        yield Cluster(kind, plane.kubeconfig, plane=plane)
    finally:
        if keep_logs_in is not None:
            with contextlib.suppress(OSError):
                shutil.copytree(plane.workdir / "logs", keep_logs_in / "control-plane", dirs_exist_ok=True)
        plane.stop()


@contextlib.contextmanager
def standin_thread(kubeconfig: Path) -> Iterator[None]:
    """The runtime operator stand-in on an event loop of its own, in a thread of this process."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="runtime-operator-standin", daemon=True)
    thread.start()
    handles: dict[str, Any] = {}

    async def boot() -> None:
        handles["api"] = await KubeApi.connect(str(kubeconfig))
        handles["task"] = asyncio.get_running_loop().create_task(run_standin_forever(handles["api"]))

    async def shutdown() -> None:
        task: asyncio.Task[None] | None = handles.get("task")
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if "api" in handles:
            await handles["api"].close()

    try:
        asyncio.run_coroutine_threadsafe(boot(), loop).result(STARTUP_TIMEOUT)
        yield
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(STOP_GRACE)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=STOP_GRACE)
        loop.close()


# ------------------------------------------------------------------------------------------------ the bare client

# `python benchmarks/NAME.py BARE_WORKER_FLAG ARGS_JSON` runs a benchmark's bare-minimum client in a process of its
# own, as the operator runs in its own (on the emulator, the script's process is the cluster's).
BARE_WORKER_FLAG: Final = "--bare-client"
WORKER_READY: Final = "ready"


@dataclass
class BareWorker:
    """A benchmark script run as its bare-minimum client. It connects and prepares, says `ready`, then answers
    each request (a line of JSON on its stdin) with a line of JSON on its stdout, in turn, until its stdin ends."""

    process: asyncio.subprocess.Process
    log: Path

    @classmethod
    async def spawn(cls, script: Path, arguments: Mapping[str, Any], env: Mapping[str, str], work: Path) -> BareWorker:
        log = work / "bare-client.log"
        with log.open("ab") as sink:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(script),
                BARE_WORKER_FLAG,
                json.dumps(dict(arguments)),
                env=dict(env),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=sink,
            )
        worker = cls(process, log)
        try:
            line = await worker._line(STARTUP_TIMEOUT)
        except BaseException:
            await worker.close()
            raise
        if line != WORKER_READY:
            await worker.close()
            raise RuntimeError(f"the bare-minimum client did not start ({line!r}):\n{worker.log_tail()}")
        return worker

    def send(self, request: Mapping[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(dict(request)) + "\n").encode())

    async def reply(self, within: float) -> dict[str, Any]:
        """The answer to the oldest request not answered yet; RuntimeError with the client's error if it failed."""
        line = await self._line(within)
        try:
            answer: dict[str, Any] = json.loads(line)
        except ValueError:
            raise RuntimeError(f"the bare-minimum client failed ({line!r}):\n{self.log_tail()}") from None
        if "error" in answer:
            raise RuntimeError(f"the bare-minimum client: {answer['error']}")
        return answer

    async def _line(self, within: float) -> str:
        assert self.process.stdout is not None
        return (await asyncio.wait_for(self.process.stdout.readline(), within)).decode().strip()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    async def close(self) -> None:
        """End its stdin and wait for it to exit (killed after STOP_GRACE)."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), STOP_GRACE)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def serve_bare_requests(handle: Any) -> None:
    """The client's side of BareWorker: `await handle(request)` for each request line, its JSON-serializable answer
    (or `{"error": ...}`) printed as a line, until stdin ends."""
    print(WORKER_READY, flush=True)
    while line := await asyncio.to_thread(sys.stdin.readline):
        try:
            answer = await handle(json.loads(line))
        except Exception as error:
            answer = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer), flush=True)


def cpu_seconds_of(pids: Mapping[str, int]) -> dict[str, float]:
    """`cpu_seconds` of each process still there."""
    seconds: dict[str, float] = {}
    for name, pid in pids.items():
        with contextlib.suppress(psutil.Error):
            seconds[name] = cpu_seconds(pid)
    return seconds


def requests_since(before: Mapping[str, int] | None, after: Mapping[str, int] | None) -> dict[str, int] | None:
    """What `Cluster.api_requests` counted between two readings, largest first, with their `total`."""
    if before is None or after is None:
        return None
    delta = {key: count - before.get(key, 0) for key, count in after.items() if count > before.get(key, 0)}
    ordered = dict(sorted(delta.items(), key=lambda item: -item[1]))
    return {"total": sum(ordered.values()), **ordered}


def cpu_since(before: Mapping[str, float], pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds each process spent since `before` (cpu_seconds_of), rounded to 0.1 s."""
    now = cpu_seconds_of(pids)
    return {name: round(now[name] - before[name], 1) for name in before if name in now}


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
