"""Runtime benchmark: Create-to-Ready latency and Runtimes at once, each against the bare minimum.

    python benchmarks/runtimes.py [--cluster emulator|real] [--runtimes 500] [--latency-runs 20]
                                  [--out benchmarks/results/runtimes.json]

Everything runs on this machine, in one run: the cluster, the operator (`python -m k8s_manager operator`) and the
facade (`python -m k8s_manager facade`) as subprocesses with the admin kubeconfig, and the runtime operator
stand-in (k8s_manager.runtime_standin: it deploys MongoDB, NATS and Minio as Deployments of pods that run nothing,
and Minio's claim), since nothing else deploys those components on either cluster. The cluster is
    - `--cluster emulator` (the default): the emulator, a thread of this process, the stand-in on its loop (as in
      tests/e2e/system.py); workloads become available `--workload-ready-after` seconds after they are observed;
      results in benchmarks/results/runtimes.json;
    - `--cluster real`: the upstream control plane of tests/cluster/ (etcd, kube-apiserver,
      kube-controller-manager, kube-scheduler as processes; kwok's fake Nodes make each scheduled Pod Running and
      Ready without running it), enough Nodes for every Pod of the run (250 each), the stand-in on a loop of its
      own in a thread of this process; results in benchmarks/results/runtimes-real.json. Smaller default sizes
      (--runtimes 50 --latency-runs 10), so that it finishes in a few minutes on 2 cores.
Every measurement runs on the same cluster in the same run, so the ratios absorb the cluster and the machine's load.

The bare minimum is a plain KubeApi client in a process of its own, as the operator is (`bare_client`: this script
run with --bare-client), started only while it is measured: with neither the operator nor the stand-in running,
so nothing else touches its Runtimes. It is told when to start; this script's watch says when it is done.

(a) Latency, over N sequential Runtimes, from the Create call (or the request to the bare minimum's client) to
    this script's watch seeing Ready=True:
    - bare minimum: the client creates the Runtime and issues the writes the operator issues
      (Namespace, Secret, the spec patch moving the credentials, ServiceAccount, Role, RoleBinding, ClusterRole,
      ClusterRoleBinding, Deployment), one after another and built with the operator's own functions; waits (on
      one watch of Deployments and one of Pods) for the Deployment to become Available, the stand-in's cue;
      reads the Runtime and creates Minio's claim (the emulator refuses it: it serves none) and the component
      Deployments as the stand-in does; waits until the operator's own `compute_status` says Ready (the
      Deployment rolled out and Available, each component's pod ready) and writes that status.
    - the system: a gRPC Create through the facade (or a create through the API when the facade's RuntimeService
      does not work; the results say which), then the operator and the stand-in do the rest.
    The series alternate in `--rounds` rounds (default 2: bare minimum, system, bare minimum, system), each part
    after WARMUP_RUNS unmeasured Runtimes, the operator, the facade and the stand-in started again for each
    system part (measured once the operator is idle), so that a change in the machine's load during the run
    weighs on both. Reported as the ratio system / bare minimum of the medians and of the 95th percentiles.
    Target: <= 2x.
(b) Scale: M Runtimes created at once (concurrently, through the API): time until all are Ready, and the operator
    process's peak RSS (itself and its children, sampled every 0.1 s). Targets (500 Runtimes): < 60 s and
    < 250 MB. Then, with the operator, the facade and the stand-in stopped, the bare minimum of the same: its
    client creates M other Runtimes at once, then makes (a)'s writes for at most RECONCILE_WORKERS of them at a
    time (the operator's reconcile workers) and the stand-in's for one at a time (it handles its events in turn),
    with the same waits; timed from the request to this script's watch seeing them all Ready. Reported with the
    ratio system / bare minimum (no target). On the real cluster both report the kube-apiserver's requests by
    verb and resource, where the time goes.

`--profile-operator FILE` runs the operator under cProfile and writes its stats there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import functools
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks.common

import grpc  # noqa: E402
from k8s_manager.runtime_standin import (  # noqa: E402
    COMPONENTS,
    PERSISTENT_VOLUME_CLAIMS,
    RUNTIME_OPERATOR,
    component_deployment,
    minio_claim,
)
from k8s_manager_api.errors import NotFound  # noqa: E402
from k8s_manager_api.kube import DELETED, KubeApi  # noqa: E402
from k8s_manager_api.names import (  # noqa: E402
    DEPLOYMENTS,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    NAMESPACES,
    PODS,
    RUNTIMES,
    SECRETS,
)
from k8s_manager_facade.config import load_config  # noqa: E402
from k8s_manager_facade.generated import runtime_pb2, runtime_pb2_grpc  # noqa: E402
from k8s_manager_facade.runtime_requests import build_runtime, validate_create  # noqa: E402
from k8s_manager_operator.config import OperatorConfig  # noqa: E402
from k8s_manager_operator.handlers import RECONCILE_WORKERS  # noqa: E402
from k8s_manager_operator.runtime import credentials, desired, status  # noqa: E402

from benchmarks.common import (  # noqa: E402
    BARE_WORKER_FLAG,
    CLUSTER_KINDS,
    MB,
    RESULTS_DIR,
    STARTUP_TIMEOUT,
    BareWorker,
    Cluster,
    Processes,
    RssSampler,
    child_environment,
    cluster_running,
    cpu_seconds,
    cpu_seconds_of,
    cpu_since,
    create_request,
    install_crds,
    keep_logs,
    machine_info,
    percentile,
    real_nodes_for,
    requests_since,
    serve_bare_requests,
    settled,
    split,
    start_facade,
    start_operator,
    stop_on_sigterm,
    write_results,
)

DEFAULT_OUT: Final = {"emulator": RESULTS_DIR / "runtimes.json", "real": RESULTS_DIR / "runtimes-real.json"}
# (--runtimes, --latency-runs) by cluster: the real control plane takes longer per object on 2 cores.
DEFAULT_SIZES: Final = {"emulator": (500, 20), "real": (50, 10)}
# Pods per Runtime: the runtime operator's and one per component (MongoDB, NATS, Minio).
PODS_PER_RUNTIME: Final = 1 + len(COMPONENTS)

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


def _named(name: str, objects: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    return objects.get(name)


class NamespacedWatch:
    """One watch on a kind in every namespace, as a minimal controller's informer: the latest state of each
    object by namespace, and waits for a condition on a namespace's objects. The bare minimum's only view."""

    def __init__(self, api: KubeApi, resource: Any, labels: str = "") -> None:
        self._api, self._resource, self._labels = api, resource, labels
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}
        self._waiters: dict[str, list[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start watching; returns once everything there was when called has been seen (the watch is synced)."""
        listed, _ = await self._api.list(self._resource, labels=self._labels)
        self._task = asyncio.create_task(self._run(), name=f"watch-{self._resource.plural}")
        for item in listed:
            metadata = item["metadata"]
            await self.wait(metadata.get("namespace", ""), functools.partial(_named, metadata["name"]), STARTUP_TIMEOUT)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        async with contextlib.aclosing(self._api.observe(self._resource, labels=self._labels)) as events:
            async for event in events:
                metadata = event.object["metadata"]
                namespace = metadata.get("namespace", "")
                if event.type == DELETED:
                    self.objects.get(namespace, {}).pop(metadata["name"], None)
                else:
                    self.objects.setdefault(namespace, {})[metadata["name"]] = event.object
                for waiter in self._waiters.pop(namespace, []):
                    waiter.set()

    async def wait(self, namespace: str, accept: Callable[[dict[str, dict[str, Any]]], Any], within: float) -> Any:
        """The first non-None `accept(objects of the namespace by name)`; TimeoutError after `within` seconds."""
        deadline = time.perf_counter() + within
        while True:
            found = accept(self.objects.get(namespace, {}))
            if found is not None:
                return found
            changed = asyncio.Event()
            self._waiters.setdefault(namespace, []).append(changed)
            await asyncio.wait_for(changed.wait(), deadline - time.perf_counter())


@dataclass
class Bare:
    """What the bare minimum needs: a client, its two watches, and how many Runtimes it writes at once (the
    operator's reconcile workers) and how many Runtimes' components (one at a time, as the stand-in, which
    handles its watch's events in turn)."""

    api: KubeApi
    config: OperatorConfig
    deployments: NamespacedWatch
    pods: NamespacedWatch
    writers: contextlib.AbstractAsyncContextManager[Any] = dataclasses.field(default_factory=contextlib.nullcontext)
    standin: contextlib.AbstractAsyncContextManager[Any] = dataclasses.field(default_factory=contextlib.nullcontext)

    @classmethod
    async def started(cls, api: KubeApi, config: OperatorConfig) -> Bare:
        bare = cls(
            api,
            config,
            NamespacedWatch(api, DEPLOYMENTS, labels=f"{MANAGED_BY_LABEL}={MANAGED_BY}"),
            NamespacedWatch(api, PODS),
        )
        await bare.deployments.start()
        await bare.pods.start()
        return bare

    def limited(self, writers: int) -> Bare:
        return dataclasses.replace(self, writers=asyncio.Semaphore(writers), standin=asyncio.Semaphore(1))

    async def stop(self) -> None:
        await self.deployments.stop()
        await self.pods.stop()


async def bare_converge(bare: Bare, runtime: dict[str, Any]) -> None:
    """After the Runtime's create: the operator's writes, the stand-in's, the waits, the Ready status.

    The waits are the operator's and the stand-in's own criteria: the stand-in deploys the components once the
    runtime operator's Deployment is Available, and the Runtime is Ready once the operator's `compute_status`
    says so (that Deployment rolled out and Available, every component's pod ready)."""
    api, config, name = bare.api, bare.config, runtime["metadata"]["name"]
    async with bare.writers:
        namespace = await api.create(NAMESPACES, desired.namespace(runtime))
        values = credentials.inline_credentials(runtime["spec"])
        if values is None:
            raise RuntimeError("the Runtime has no inline credentials to move")
        secret = await api.create(SECRETS, credentials.credentials_secret(runtime, values), name)
        patch = credentials.secret_ref_patch(runtime["metadata"]["resourceVersion"])
        runtime = await api.patch(RUNTIMES, name, patch)
        wanted = {obj["kind"]: obj for obj in desired.desired_objects(runtime, config)}
        children = {"Namespace": namespace}
        for kind, obj in wanted.items():
            if kind != "Namespace":
                children[kind] = await api.create(desired.resource_of(obj), obj, obj["metadata"].get("namespace"))

    def operator_available(deployments: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
        found = deployments.get(RUNTIME_OPERATOR)
        return found if found is not None and is_available(found) else None

    await bare.deployments.wait(name, operator_available, READY_TIMEOUT)
    async with bare.standin:  # the stand-in's reads and writes (k8s_manager.runtime_standin.run_standin)
        current = await api.find(RUNTIMES, name)
        if current is not None:
            with contextlib.suppress(NotFound):  # the emulator serves no claims; the stand-in goes on too
                await api.create(PERSISTENT_VOLUME_CLAIMS, minio_claim(name, current), name)
        for component, pod_labels in COMPONENTS.items():
            await api.create(DEPLOYMENTS, component_deployment(name, component, pod_labels), name)

    def ready_state(pods: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        current = list(pods.values())
        if not all(status.component_readiness(component, current)["ready"] for component in config.components):
            return None
        operator = bare.deployments.objects.get(name, {}).get(RUNTIME_OPERATOR)
        if operator is None or not status.check_operator(runtime, operator, wanted["Deployment"]).holds:
            return None
        return operator, current

    operator, pods = await bare.pods.wait(name, ready_state, READY_TIMEOUT)
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
    async with bare.writers:
        await api.patch(RUNTIMES, name, {"status": new_status}, subresource="status")


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
        """Create `request` through the facade (`stub`, a new one's); on failure fall back to the API for it and
        every later one."""
        if self.note:
            await self.create(request)
            return
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
    # This script's process: the stand-in and the client, and on the emulator the emulator itself.
    script_process_cpu_s: float
    # The real control plane's processes (none on the emulator, which is this process).
    control_plane_cpu_s: dict[str, float]
    # The real kube-apiserver's requests during the run by verb and resource, every client's (None: emulator).
    api_requests: dict[str, int] | None


async def scale_run(
    api: KubeApi,
    tracker: ReadyTracker,
    operator_pid: int,
    count: int,
    within: float,
    environ: Mapping[str, str],
    cluster: Cluster,
) -> ScaleResult:
    bodies = [runtime_body(create_request(f"S{index:04d}"), environ) for index in range(count)]
    names = [body["metadata"]["name"] for body in bodies]
    sampler = RssSampler(operator_pid, RSS_SAMPLE_INTERVAL)
    idle = sampler.sample() or 0
    operator_cpu, own_cpu = cpu_seconds(operator_pid), cpu_seconds(os.getpid())
    control_plane = cluster.control_plane_pids()
    plane_cpu = cpu_seconds_of(control_plane)
    requests_before = await asyncio.to_thread(cluster.api_requests)
    with sampler:
        started = time.perf_counter()
        await asyncio.gather(*(api.create(RUNTIMES, body) for body in bodies))
        created = time.perf_counter() - started
        ready = await tracker.wait_all(names, within)
    operator_cpu, own_cpu = cpu_seconds(operator_pid) - operator_cpu, cpu_seconds(os.getpid()) - own_cpu
    plane_used = cpu_since(plane_cpu, control_plane)
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
        script_process_cpu_s=round(own_cpu, 1),
        control_plane_cpu_s=plane_used,
        api_requests=requests_since(requests_before, await asyncio.to_thread(cluster.api_requests)),
    )


@dataclass
class BareScaleResult:
    runtimes: int
    ready: int
    all_ready_s: float | None
    created_s: float
    ready_p50_s: float | None
    ready_p90_s: float | None
    writers: int  # Runtimes written at once: the operator's reconcile workers
    failures: list[str]  # the first few errors, if any Runtime could not be made Ready by hand
    # CPU seconds spent during the run: the bare-minimum client's process, and this script's (on the emulator
    # the emulator itself) and the real control plane's processes (none on the emulator).
    client_cpu_s: float
    script_process_cpu_s: float
    control_plane_cpu_s: dict[str, float]
    # The real kube-apiserver's requests during the run by verb and resource, every client's (None: emulator).
    api_requests: dict[str, int] | None


def bare_latency_name(index: int) -> str:
    return f"Base{index:03d}"


def bare_scale_name(index: int) -> str:
    return f"B{index:04d}"


def runtime_name(display_name: str) -> str:
    return str(create_request(display_name).runtime.namespace)  # a Runtime is named after its namespace


async def bare_latency_run(client: BareWorker, tracker: ReadyTracker, first: int, runs: int) -> list[float]:
    """`runs` Runtimes (numbered from `first`) made Ready by the bare-minimum client one after another; seconds
    from each request to this script's watch seeing it Ready."""
    samples: list[float] = []
    for index in range(first, first + runs):
        started = time.perf_counter()
        client.send({"op": "one", "index": index})
        await client.reply(READY_TIMEOUT)
        samples.append(await tracker.wait(runtime_name(bare_latency_name(index)), READY_TIMEOUT) - started)
    return samples


async def bare_scale_run(
    client: BareWorker, tracker: ReadyTracker, count: int, within: float, cluster: Cluster
) -> BareScaleResult:
    """The scale run's bare minimum by the bare-minimum client; timed from the request to this script's watch
    seeing every one of its Runtimes Ready."""
    names = [runtime_name(bare_scale_name(index)) for index in range(count)]
    control_plane = cluster.control_plane_pids()
    own_cpu, plane_cpu = cpu_seconds(os.getpid()), cpu_seconds_of(control_plane)
    requests_before = await asyncio.to_thread(cluster.api_requests)
    started = time.perf_counter()
    client.send({"op": "scale", "count": count, "within": within})
    report = await client.reply(within + STARTUP_TIMEOUT)
    ready = await tracker.wait_all(names, max(within - (time.perf_counter() - started), 1.0))
    own_cpu = cpu_seconds(os.getpid()) - own_cpu
    times = [tracker.ready_at[name] - started for name in names if name in tracker.ready_at]
    return BareScaleResult(
        runtimes=count,
        ready=ready,
        all_ready_s=max(times) if ready == count else None,
        created_s=report["created_s"],
        ready_p50_s=statistics.median(times) if times else None,
        ready_p90_s=percentile(times, 0.9) if times else None,
        writers=RECONCILE_WORKERS,
        failures=report["failures"],
        client_cpu_s=report["client_cpu_s"],
        script_process_cpu_s=round(own_cpu, 1),
        control_plane_cpu_s=cpu_since(plane_cpu, control_plane),
        api_requests=requests_since(requests_before, await asyncio.to_thread(cluster.api_requests)),
    )


async def bare_client(arguments: Mapping[str, Any]) -> None:
    """The bare-minimum client (a process of its own, as the operator is), serving the script's requests:

    - `one`: a Runtime created, then `bare_converge`;
    - `scale`: Runtimes all created at once, as the scale run creates them, then `bare_converge` for at most
      RECONCILE_WORKERS of them at a time (the stand-in's part for one at a time)."""
    config = OperatorConfig.from_env(os.environ)
    api = await KubeApi.connect(arguments["kubeconfig"], request_timeout=60)
    bare = await Bare.started(api, config)
    limited = bare.limited(RECONCILE_WORKERS)

    async def one(index: int) -> dict[str, Any]:
        runtime = await api.create(RUNTIMES, runtime_body(create_request(bare_latency_name(index)), os.environ))
        await bare_converge(bare, runtime)
        return {}

    async def scale(count: int, within: float) -> dict[str, Any]:
        bodies = [runtime_body(create_request(bare_scale_name(index)), os.environ) for index in range(count)]
        cpu = cpu_seconds(os.getpid())
        started = time.perf_counter()
        runtimes = await asyncio.gather(*(api.create(RUNTIMES, body) for body in bodies))
        created = time.perf_counter() - started
        outcomes = await asyncio.gather(
            *(asyncio.wait_for(bare_converge(limited, runtime), within) for runtime in runtimes),
            return_exceptions=True,
        )
        failures = [f"{type(error).__name__}: {error}" for error in outcomes if isinstance(error, BaseException)]
        return {
            "created_s": round(created, 3),
            "failures": failures[:5],
            "client_cpu_s": round(cpu_seconds(os.getpid()) - cpu, 1),
        }

    async def handle(request: dict[str, Any]) -> dict[str, Any]:
        if request["op"] == "one":
            return await one(request["index"])
        return await scale(request["count"], request["within"])

    try:
        await serve_bare_requests(handle)
    finally:
        await bare.stop()
        await api.close()


# ---------------------------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Options:
    cluster: str
    runtimes: int
    latency_runs: int
    rounds: int
    workload_ready_after: float
    scale_timeout: float
    out: Path
    profile_operator: Path | None
    keep_logs: Path | None


async def measure(options: Options, cluster: Cluster, work: Path) -> dict[str, Any]:
    kubeconfig = cluster.kubeconfig
    env = child_environment(kubeconfig)
    api = await KubeApi.connect(str(kubeconfig), request_timeout=60)
    tracker = ReadyTracker(api)
    processes = Processes(work, env)
    try:
        await install_crds(api)
        tracker.start()

        # The bare-minimum client runs with neither the operator nor the stand-in, in a process of its own, and
        # only then. The latency series alternate between the two in rounds, so that a change in the machine's
        # load over the run weighs on both; the operator starts again for each round.
        baseline: list[float] = []
        system: list[float] = []
        creator = Creator(api, env)
        first = 0
        for round_index, runs in enumerate(split(options.latency_runs, options.rounds)):
            last_round = round_index == options.rounds - 1
            print(f"round {round_index + 1}: bare minimum, {WARMUP_RUNS} warm-up + {runs} runtimes", flush=True)
            client = await BareWorker.spawn(Path(__file__), {"kubeconfig": str(kubeconfig)}, env, work)
            try:
                baseline += (await bare_latency_run(client, tracker, first, WARMUP_RUNS + runs))[WARMUP_RUNS:]
            finally:
                await client.close()
            with cluster.standin():
                operator = start_operator(processes, options.profile_operator)
                address = await start_facade(processes)
                await settled(operator.pid)
                print(f"round {round_index + 1}: system, {WARMUP_RUNS} warm-up + {runs} runtimes", flush=True)
                async with grpc.aio.insecure_channel(address) as channel:
                    for index in range(WARMUP_RUNS + runs):
                        request = create_request(f"Lat{first + index:03d}")
                        if index == 0:  # a new facade: its Create is tried again
                            await creator.try_facade(RuntimeStub(channel), request)
                            await tracker.wait(request.runtime.namespace, STARTUP_TIMEOUT)
                            continue
                        seconds = await system_once(creator, tracker, request)
                        if index >= WARMUP_RUNS:
                            system.append(seconds)
                first += WARMUP_RUNS + runs
                if last_round:
                    print(f"scale: {options.runtimes} runtimes at once", flush=True)
                    scale = await scale_run(
                        api,
                        tracker,
                        operator.pid,
                        options.runtimes,
                        options.scale_timeout,
                        env,
                        cluster,
                    )
                if operator.poll() is not None:
                    raise RuntimeError(f"the operator exited:\n{processes.log_tail('operator')}")
                processes.stop()

        print(f"bare minimum: {options.runtimes} runtimes at once (operator and stand-in stopped)", flush=True)
        client = await BareWorker.spawn(Path(__file__), {"kubeconfig": str(kubeconfig)}, env, work)
        try:
            bare_scale = await bare_scale_run(client, tracker, options.runtimes, options.scale_timeout, cluster)
        finally:
            await client.close()
    finally:
        processes.stop()
        await tracker.stop()
        await api.close()
    return results(options, cluster, Summary.of(baseline), Summary.of(system), scale, bare_scale, creator)


def ratio(system: float | None, baseline: float | None) -> float | None:
    return None if system is None or not baseline else round(system / baseline, 3)


def results(
    options: Options,
    cluster: Cluster,
    baseline: Summary,
    system: Summary,
    scale: ScaleResult,
    bare_scale: BareScaleResult,
    creator: Creator,
) -> dict[str, Any]:
    targets = [
        Target("latency_median_ratio", system.median_s / baseline.median_s, LATENCY_RATIO_TARGET, "x", True),
        Target("latency_p95_ratio", system.p95_s / baseline.p95_s, LATENCY_RATIO_TARGET, "x", True),
    ]
    # The < 60 s target is for 500 Runtimes; the real cluster's smaller run is compared with its bare minimum only.
    if options.cluster == "emulator" or options.runtimes >= DEFAULT_SIZES["emulator"][0]:
        targets.append(Target("scale_all_ready_seconds", scale.all_ready_s, SCALE_SECONDS_TARGET, " s", False))
    targets.append(Target("scale_operator_peak_rss_mb", scale.peak_rss_bytes / MB, PEAK_RSS_MB_TARGET, " MB", False))
    return {
        "cluster": cluster.describe(),
        "machine": machine_info(),
        "settings": {
            "cluster": options.cluster,
            "latency_runs": options.latency_runs,
            "rounds": options.rounds,
            "warmup_runs_per_round_and_series": WARMUP_RUNS,
            "scale_runtimes": options.runtimes,
            "scale_timeout_s": options.scale_timeout,
            "workload_ready_after_s": options.workload_ready_after if options.cluster == "emulator" else None,
            "create_path": creator.path,
            "create_path_note": creator.note,
            "operator_profiled": options.profile_operator is not None,
            # Every Runtime is reconciled this often besides its events (KRE_RUNTIME_RESYNC_INTERVAL).
            "operator_resync_interval_s": OperatorConfig.from_env(os.environ).resync_interval,
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
        "scale_bare_minimum": asdict(bare_scale),
        "scale_ratio": {
            "all_ready": ratio(scale.all_ready_s, bare_scale.all_ready_s),
            "p50": ratio(scale.ready_p50_s, bare_scale.ready_p50_s),
            "p90": ratio(scale.ready_p90_s, bare_scale.ready_p90_s),
        },
        "targets": {target.name: target.as_dict() for target in targets},
    }


def table(report: Mapping[str, Any]) -> str:
    latency, scale, bare_scale = report["latency"], report["scale"], report["scale_bare_minimum"]
    base, system = latency["bare_minimum"], latency["system"]

    def seconds(value: float | None) -> str:
        return "not reached" if value is None else f"{value:.1f} s"

    rows = [
        (f"cluster: {report['settings']['cluster']}", "", "", ""),
        ("latency, bare minimum (median / p95)", f"{base['median_s']:.3f} s / {base['p95_s']:.3f} s", "", ""),
        ("latency, system (median / p95)", f"{system['median_s']:.3f} s / {system['p95_s']:.3f} s", "", ""),
        (
            f"{bare_scale['runtimes']} at once, bare minimum: all Ready ({bare_scale['ready']} ready)",
            seconds(bare_scale["all_ready_s"]),
            "",
            "",
        ),
        (
            f"{scale['runtimes']} at once, system: all Ready ({scale['ready']} ready)",
            seconds(scale["all_ready_s"]),
            "",
            "",
        ),
        ("scale ratio system / bare minimum, all Ready", f"{report['scale_ratio']['all_ready']}", "", ""),
    ]
    labels = {
        "latency_median_ratio": "latency ratio, median",
        "latency_p95_ratio": "latency ratio, p95",
        "scale_all_ready_seconds": f"{scale['runtimes']} runtimes: all Ready",
        "scale_operator_peak_rss_mb": "operator peak RSS",
    }
    for name, target in report["targets"].items():
        measured = "not reached" if target["measured"] is None else f"{target['measured']:g}"
        rows.append((labels[name], measured, target["target"], "pass" if target["pass"] else "FAIL"))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--cluster", choices=CLUSTER_KINDS, default="emulator", help="the emulator (default) or the real control plane"
    )
    parser.add_argument(
        "--runtimes", type=int, default=None, help="Runtimes created at once (default 500; 50 on --cluster real)"
    )
    parser.add_argument(
        "--latency-runs", type=int, default=None, help="sequential Runtimes per latency series (default 20; 10 real)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of bare minimum then system the latency runs are split into"
    )
    parser.add_argument(
        "--workload-ready-after", type=float, default=0.05, help="emulator: seconds until a workload is available"
    )
    parser.add_argument("--scale-timeout", type=float, default=300.0, help="give up on each scale run after this")
    parser.add_argument(
        "--out", type=Path, default=None, help="results file (JSON; default runtimes.json, runtimes-real.json on real)"
    )
    parser.add_argument("--profile-operator", type=Path, default=None, help="write the operator's cProfile stats")
    parser.add_argument("--keep-logs", type=Path, default=None, help="keep the logs (operator, facade, control plane)")
    args = parser.parse_args(argv)
    default_runtimes, default_latency_runs = DEFAULT_SIZES[args.cluster]
    runtimes = default_runtimes if args.runtimes is None else args.runtimes
    latency_runs = default_latency_runs if args.latency_runs is None else args.latency_runs
    if runtimes < 1 or args.rounds < 1 or latency_runs < args.rounds:
        parser.error("--runtimes and --rounds must be at least 1, --latency-runs at least --rounds")
    return Options(
        cluster=args.cluster,
        runtimes=runtimes,
        latency_runs=latency_runs,
        rounds=args.rounds,
        workload_ready_after=args.workload_ready_after,
        scale_timeout=args.scale_timeout,
        out=args.out or DEFAULT_OUT[args.cluster],
        profile_operator=args.profile_operator.resolve() if args.profile_operator else None,
        keep_logs=args.keep_logs,
    )


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == [BARE_WORKER_FLAG]:
        asyncio.run(bare_client(json.loads(arguments[1])))
        return 0
    options = parse_options(argv)
    stop_on_sigterm()
    # Every Runtime of the run (both latency series with their warm-ups, both scale runs) keeps its Pods.
    pods = PODS_PER_RUNTIME * 2 * (options.runtimes + options.rounds * WARMUP_RUNS + options.latency_runs)
    with (
        tempfile.TemporaryDirectory(prefix="k8s-manager-bench-") as work_dir,
        cluster_running(
            options.cluster,
            Path(work_dir),
            workload_ready_after=options.workload_ready_after,
            nodes=real_nodes_for(pods),
            keep_logs_in=options.keep_logs,
        ) as cluster,
    ):
        try:
            report = asyncio.run(measure(options, cluster, Path(work_dir)))
        finally:
            keep_logs(Path(work_dir), options.keep_logs)
    write_results(options.out, report)
    print(table(report))
    print(f"results: {options.out}")
    return 0 if all(target["pass"] for target in report["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
