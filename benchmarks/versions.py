"""RuntimeVersion benchmark: Start-to-applied latency and versions at once, each against the bare minimum.

    python benchmarks/versions.py [--cluster emulator|real] [--nodes 20] [--latency-runs 6] [--versions 100]
                                  [--out benchmarks/results/versions.json]

Everything runs on this machine, in one run: the cluster and the operator (`python -m k8s_manager operator`, admin
kubeconfig) as a subprocess. The cluster is
    - `--cluster emulator` (the default): the emulator, a thread of this process; workloads become available
      `--workload-ready-after` seconds after they are observed; results in benchmarks/results/versions.json;
    - `--cluster real`: the upstream control plane of tests/cluster/ (etcd, kube-apiserver,
      kube-controller-manager, kube-scheduler as processes; kwok's fake Nodes make each scheduled Pod Running and
      Ready without running it), enough Nodes for every Pod of the run; results in
      benchmarks/results/versions-real.json; `--versions 30` by default. Each benchmark namespace gets, before
      anything is measured, the bound claim the version pods mount (in a runtime namespace Minio's StatefulSet,
      or the runtime operator stand-in, makes it), or the scheduler would leave every pod Pending.
Every measurement runs on the same cluster in the same run, so the ratios absorb the cluster and the machine's load.

The bare minimum is a plain KubeApi client in a process of its own, as the operator is (`bare_client`: this script
run with --bare-client), started only while it is measured, without the operator, in a namespace of its own. It is
told when to start; this script's watch says when it is done.

(a) Latency, over N sequential versions of `--nodes` nodes (one workflow, the nodes a chain), from the create of the
    RuntimeVersion (or the request to the bare minimum's client) to this script's watch seeing it applied
    (status.observedGeneration == metadata.generation and Ready=True):
    - bare minimum: the client creates the RuntimeVersion, then the objects the operator would make
      (its own `desired_objects`), one after another as the operator does; waits (on one watch) until every
      Deployment is ready by the operator's own criterion (`deployment_readiness`: rolled out and Available);
      writes the status the operator's `compute_status` makes of them.
    - the system: the RuntimeVersion is created through the API, the operator does the rest.
    The series alternate in `--rounds` rounds (default 2: bare minimum, operator, bare minimum, operator), each
    part after WARMUP_RUNS unmeasured versions, the operator started again for each of its parts (measured once
    it is idle), so that a change in the machine's load during the run weighs on both. Reported as the ratio
    system / bare minimum of the medians. Target: <= 2x.
(b) Scale: `--versions` versions of 2 nodes each created at once (concurrently, through the API): time until all
    are applied, and the operator process's peak RSS (itself and its children, sampled every 0.1 s). Then, with
    the operator stopped, the bare minimum of the same: its client creates as many other versions at once, then
    makes (a)'s writes for at most RECONCILE_WORKERS of them at a time (the operator's reconcile workers), with
    the same waits and status. Reported with the ratio system / bare minimum (no target). On the real cluster
    both report the kube-apiserver's requests by verb and resource, where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks.common

from k8s_manager.runtime_standin import PERSISTENT_VOLUME_CLAIMS, minio_claim  # noqa: E402
from k8s_manager_api.errors import NotFound  # noqa: E402
from k8s_manager_api.kube import DELETED, KubeApi  # noqa: E402
from k8s_manager_api.names import DEPLOYMENTS, NAMESPACES, RUNTIME_VERSIONS, SERVICE_ACCOUNTS  # noqa: E402
from k8s_manager_operator.config import OperatorConfig  # noqa: E402
from k8s_manager_operator.handlers import RECONCILE_WORKERS  # noqa: E402
from k8s_manager_operator.runtime.status import format_timestamp  # noqa: E402
from k8s_manager_operator.version.desired import (  # noqa: E402
    VERSION_LABEL,
    VersionConfig,
    deployment_annotations,
    desired_objects,
    resource_of,
)
from k8s_manager_operator.version.status import compute_status, deployment_readiness  # noqa: E402
from k8s_manager_operator.version.validation import validate_version  # noqa: E402

from benchmarks.common import (  # noqa: E402
    BARE_WORKER_FLAG,
    CLUSTER_KINDS,
    MB,
    RESULTS_DIR,
    BareWorker,
    Cluster,
    RssSampler,
    child_environment,
    cluster_running,
    cpu_seconds,
    cpu_seconds_of,
    cpu_since,
    install_crds,
    keep_logs,
    machine_info,
    real_nodes_for,
    requests_since,
    serve_bare_requests,
    settled,
    split,
    stop_on_sigterm,
    write_results,
)

DEFAULT_OUT: Final = {"emulator": RESULTS_DIR / "versions.json", "real": RESULTS_DIR / "versions-real.json"}
DEFAULT_VERSIONS: Final = {"emulator": 100, "real": 30}
SCALE_NODES: Final = 2  # nodes of each version of the scale run
BARE_NAMESPACE: Final = "kre-bench-bare"
SYSTEM_NAMESPACE: Final = "kre-bench"
LATENCY_RATIO_TARGET: Final = 2.0
WARMUP_RUNS: Final = 1
APPLIED_TIMEOUT: Final = 60.0  # per version in the latency runs
STARTUP_TIMEOUT: Final = 60.0
STOP_GRACE: Final = 20.0
RSS_SAMPLE_INTERVAL: Final = 0.1
IMAGE: Final = "konstellation/kre-runtime-runner:0.9.0"


# ---------------------------------------------------------------------------------------------- pure helpers


def version_body(name: str, namespace: str, nodes: int) -> dict[str, Any]:
    """A started version with one workflow whose `nodes` nodes form a chain, as the facade writes it."""
    node_ids = [f"node{index:06d}" for index in range(nodes)]
    return {
        "apiVersion": RUNTIME_VERSIONS.api_version,
        "kind": "RuntimeVersion",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "id": f"bench-{name}",
            "entrypoint": {
                "protoFile": "public_input.proto",
                "image": "konstellation/kre-entrypoint:0.9.0",
                "src": "src/entrypoint/entrypoint.py",
            },
            "config": [{"key": "LOG_LEVEL", "value": "INFO"}],
            "workflows": [
                {
                    "id": "wf-chain",
                    "name": "chain",
                    "entrypoint": "Chain",
                    "nodes": [
                        {"id": node_id, "name": f"step{index}", "image": IMAGE, "src": f"src/step{index}.py"}
                        for index, node_id in enumerate(node_ids)
                    ],
                    "edges": [
                        {"id": f"edge{index:06d}", "fromNode": source, "toNode": target}
                        for index, (source, target) in enumerate(itertools.pairwise(node_ids))
                    ],
                }
            ],
            "desiredState": "Started",
            "published": False,
        },
    }


def is_true(obj: Mapping[str, Any], kind: str) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def is_applied(version: Mapping[str, Any]) -> bool:
    observed = (version.get("status") or {}).get("observedGeneration")
    return observed == version["metadata"].get("generation") and is_true(version, "Ready")


def deployments_per_version(nodes: int) -> int:
    return nodes + 1  # one per node and the entrypoint's


class BareReadiness:
    """The operator's criterion for one Deployment of a version (`deployment_readiness`), for the bare minimum's
    Deployments: the versions they belong to are registered as the bare minimum creates them."""

    def __init__(self) -> None:
        self._versions: dict[str, tuple[dict[str, Any], dict[str, dict[str, str]]]] = {}

    def register(self, version: dict[str, Any]) -> None:
        self._versions[version["metadata"]["name"]] = (version, deployment_annotations(version))

    def __call__(self, deployment: Mapping[str, Any]) -> bool:
        metadata = deployment["metadata"]
        registered = self._versions.get((metadata.get("labels") or {}).get(VERSION_LABEL, ""))
        if registered is None:
            return False
        version, annotations = registered
        return deployment_readiness(version, metadata["name"], deployment, annotations).holds


# ---------------------------------------------------------------------------------------------- observation


class Tracker:
    """One watch on a kind in a namespace: when each object was first seen meeting `accept` (perf_counter)."""

    def __init__(self, api: KubeApi, namespace: str, resource: Any, accept: Any) -> None:
        self._api, self._namespace, self._resource, self._accept = api, namespace, resource, accept
        self.seen_at: dict[str, float] = {}
        self.latest: dict[str, dict[str, Any]] = {}  # each object as last seen
        self._seen = asyncio.Event()  # set whenever an object is newly seen
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        async with contextlib.aclosing(self._api.observe(self._resource, self._namespace)) as events:
            async for event in events:
                name = event.object["metadata"]["name"]
                if event.type == DELETED:
                    self.latest.pop(name, None)
                else:
                    self.latest[name] = event.object
                if event.type != DELETED and name not in self.seen_at and self._accept(event.object):
                    self.seen_at[name] = time.perf_counter()
                    self._seen.set()

    async def wait_all(self, names: Sequence[str], within: float) -> int:
        """Wait until every one of `names` is seen or `within` seconds pass; how many were seen."""
        deadline = time.perf_counter() + within
        while not all(name in self.seen_at for name in names):
            self._seen.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._seen.wait(), remaining)
        return sum(name in self.seen_at for name in names)


# ---------------------------------------------------------------------------------------------- measurements


@dataclass
class Bare:
    """What the bare-minimum client needs: an API client, a watch of its Deployments (ready by the operator's
    criterion), and how many versions it writes at once (the operator's reconcile workers)."""

    api: KubeApi
    config: VersionConfig
    readiness: BareReadiness
    available: Tracker
    writers: contextlib.AbstractAsyncContextManager[Any] = dataclasses.field(default_factory=contextlib.nullcontext)

    @classmethod
    def started(cls, api: KubeApi, config: VersionConfig) -> Bare:
        readiness = BareReadiness()
        bare = cls(api, config, readiness, Tracker(api, BARE_NAMESPACE, DEPLOYMENTS, readiness))
        bare.available.start()
        return bare

    def limited(self, writers: int) -> Bare:
        return dataclasses.replace(self, writers=asyncio.Semaphore(writers))


async def bare_converge(bare: Bare, version: dict[str, Any]) -> None:
    """After the version's create: its objects (the operator's `desired_objects`, one after another), the wait
    until every Deployment is ready by the operator's criterion, and the status the operator's `compute_status`
    makes of them (observedGeneration, Ready=True)."""
    api, name = bare.api, version["metadata"]["name"]
    bare.readiness.register(version)
    deployments = []
    async with bare.writers:
        for wanted in desired_objects(version, bare.config):
            await api.create(resource_of(wanted), wanted, BARE_NAMESPACE)
            if wanted["kind"] == "Deployment":
                deployments.append(wanted["metadata"]["name"])
    if await bare.available.wait_all(deployments, APPLIED_TIMEOUT) != len(deployments):
        raise RuntimeError(f"the Deployments of {name} did not become ready")
    observed = {deployment: bare.available.latest.get(deployment) for deployment in deployments}
    new_status = compute_status(version, observed, None, now=format_timestamp(datetime.datetime.now(datetime.UTC)))
    if not is_applied({"metadata": version["metadata"], "status": new_status}):
        raise RuntimeError(f"the bare minimum left {name} not applied: {new_status.get('conditions')}")
    async with bare.writers:
        await api.patch(RUNTIME_VERSIONS, name, {"status": new_status}, BARE_NAMESPACE, subresource="status")


async def system_once(api: KubeApi, applied: Tracker, name: str, nodes: int) -> float:
    started = time.perf_counter()
    await api.create(RUNTIME_VERSIONS, version_body(name, SYSTEM_NAMESPACE, nodes), SYSTEM_NAMESPACE)
    if not await applied.wait_all([name], APPLIED_TIMEOUT):
        raise RuntimeError(f"{name} was not applied within {APPLIED_TIMEOUT:g} s")
    return applied.seen_at[name] - started


@dataclass
class ScaleResult:
    versions: int
    applied: int
    all_applied_s: float | None
    applied_p50_s: float | None
    created_s: float
    peak_rss_mb: float
    idle_rss_mb: float
    # CPU seconds spent during the run: the operator, this script's process (its client, and on the emulator the
    # emulator itself) and the real control plane's processes (none on the emulator).
    operator_cpu_s: float
    script_process_cpu_s: float
    control_plane_cpu_s: dict[str, float]
    # The real kube-apiserver's requests during the run by verb and resource, every client's (None: emulator).
    api_requests: dict[str, int] | None


async def scale_run(
    api: KubeApi, applied: Tracker, operator_pid: int, count: int, within: float, cluster: Cluster
) -> ScaleResult:
    names = [f"scale-{index:03d}" for index in range(count)]
    sampler = RssSampler(operator_pid, RSS_SAMPLE_INTERVAL)
    idle = sampler.sample() or 0
    operator_cpu, own_cpu = cpu_seconds(operator_pid), cpu_seconds(os.getpid())
    control_plane = cluster.control_plane_pids()
    plane_cpu = cpu_seconds_of(control_plane)
    requests_before = await asyncio.to_thread(cluster.api_requests)
    with sampler:
        started = time.perf_counter()
        await asyncio.gather(
            *(
                api.create(RUNTIME_VERSIONS, version_body(name, SYSTEM_NAMESPACE, SCALE_NODES), SYSTEM_NAMESPACE)
                for name in names
            )
        )
        created = time.perf_counter() - started
        done = await applied.wait_all(names, within)
    operator_cpu, own_cpu = cpu_seconds(operator_pid) - operator_cpu, cpu_seconds(os.getpid()) - own_cpu
    plane_used = cpu_since(plane_cpu, control_plane)
    times = [applied.seen_at[name] - started for name in names if name in applied.seen_at]
    return ScaleResult(
        versions=count,
        applied=done,
        all_applied_s=round(max(times), 3) if done == count else None,
        applied_p50_s=round(statistics.median(times), 3) if times else None,
        created_s=round(created, 3),
        peak_rss_mb=round(max(sampler.peak_bytes, idle) / MB, 1),
        idle_rss_mb=round(idle / MB, 1),
        operator_cpu_s=round(operator_cpu, 1),
        script_process_cpu_s=round(own_cpu, 1),
        control_plane_cpu_s=plane_used,
        api_requests=requests_since(requests_before, await asyncio.to_thread(cluster.api_requests)),
    )


@dataclass
class BareScaleResult:
    versions: int
    applied: int
    all_applied_s: float | None
    applied_p50_s: float | None
    created_s: float
    writers: int  # versions written at once: the operator's reconcile workers
    failures: list[str]  # the first few errors, if any version could not be applied by hand
    # CPU seconds spent during the run: the bare-minimum client's process, this script's (on the emulator the
    # emulator itself) and the real control plane's processes (none on the emulator).
    client_cpu_s: float
    script_process_cpu_s: float
    control_plane_cpu_s: dict[str, float]
    # The real kube-apiserver's requests during the run by verb and resource, every client's (None: emulator).
    api_requests: dict[str, int] | None


def bare_latency_name(index: int) -> str:
    return f"bare-{index:02d}"


def bare_scale_name(index: int) -> str:
    return f"bare-scale-{index:03d}"


async def bare_latency_run(client: BareWorker, applied: Tracker, first: int, runs: int, nodes: int) -> list[float]:
    """`runs` versions (numbered from `first`) applied by the bare-minimum client one after another; seconds from
    each request to this script's watch seeing it applied."""
    samples: list[float] = []
    for index in range(first, first + runs):
        name = bare_latency_name(index)
        started = time.perf_counter()
        client.send({"op": "one", "name": name, "nodes": nodes})
        await client.reply(APPLIED_TIMEOUT)
        if not await applied.wait_all([name], APPLIED_TIMEOUT):
            raise RuntimeError(f"the bare minimum's {name} was not seen applied within {APPLIED_TIMEOUT:g} s")
        samples.append(applied.seen_at[name] - started)
    return samples


async def bare_scale_run(
    client: BareWorker, applied: Tracker, count: int, within: float, cluster: Cluster
) -> BareScaleResult:
    """The scale run's bare minimum by the bare-minimum client; timed from the request to this script's watch
    seeing every one of its versions applied."""
    names = [bare_scale_name(index) for index in range(count)]
    control_plane = cluster.control_plane_pids()
    own_cpu, plane_cpu = cpu_seconds(os.getpid()), cpu_seconds_of(control_plane)
    requests_before = await asyncio.to_thread(cluster.api_requests)
    started = time.perf_counter()
    client.send({"op": "scale", "count": count, "within": within})
    report = await client.reply(within + STARTUP_TIMEOUT)
    done = await applied.wait_all(names, max(within - (time.perf_counter() - started), 1.0))
    own_cpu = cpu_seconds(os.getpid()) - own_cpu
    times = [applied.seen_at[name] - started for name in names if name in applied.seen_at]
    return BareScaleResult(
        versions=count,
        applied=done,
        all_applied_s=round(max(times), 3) if done == count else None,
        applied_p50_s=round(statistics.median(times), 3) if times else None,
        created_s=report["created_s"],
        writers=RECONCILE_WORKERS,
        failures=report["failures"],
        client_cpu_s=report["client_cpu_s"],
        script_process_cpu_s=round(own_cpu, 1),
        control_plane_cpu_s=cpu_since(plane_cpu, control_plane),
        api_requests=requests_since(requests_before, await asyncio.to_thread(cluster.api_requests)),
    )


async def bare_client(arguments: Mapping[str, Any]) -> None:
    """The bare-minimum client (a process of its own, as the operator is), serving the script's requests:

    - `one`: a version created, then `bare_converge`;
    - `scale`: versions all created at once, as the scale run creates them, then `bare_converge` for at most
      RECONCILE_WORKERS of them at a time."""
    config = VersionConfig.from_env(os.environ)
    api = await KubeApi.connect(arguments["kubeconfig"], request_timeout=60)
    bare = Bare.started(api, config)
    limited = bare.limited(RECONCILE_WORKERS)

    async def one(name: str, nodes: int) -> dict[str, Any]:
        version = await api.create(RUNTIME_VERSIONS, version_body(name, BARE_NAMESPACE, nodes), BARE_NAMESPACE)
        await bare_converge(bare, version)
        return {}

    async def scale(count: int, within: float) -> dict[str, Any]:
        bodies = [version_body(bare_scale_name(index), BARE_NAMESPACE, SCALE_NODES) for index in range(count)]
        cpu = cpu_seconds(os.getpid())
        started = time.perf_counter()
        versions = await asyncio.gather(*(api.create(RUNTIME_VERSIONS, body, BARE_NAMESPACE) for body in bodies))
        created = time.perf_counter() - started
        outcomes = await asyncio.gather(
            *(asyncio.wait_for(bare_converge(limited, version), within) for version in versions),
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
            return await one(request["name"], request["nodes"])
        return await scale(request["count"], request["within"])

    try:
        await serve_bare_requests(handle)
    finally:
        await bare.available.stop()
        await api.close()


# ---------------------------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Options:
    cluster: str
    nodes: int
    latency_runs: int
    rounds: int
    versions: int
    workload_ready_after: float
    scale_timeout: float
    out: Path
    keep_logs: Path | None


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def start_operator(env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as sink:
        command = [sys.executable, "-m", "k8s_manager", "operator"]
        return subprocess.Popen(command, env=dict(env), stdout=sink, stderr=sink, stdin=subprocess.DEVNULL)


def log_tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


async def wait_for(check: Any, what: str, within: float = STARTUP_TIMEOUT) -> None:
    """Poll the coroutine function `check` until it returns True; RuntimeError naming `what` after `within` s."""
    deadline = time.perf_counter() + within
    while not await check():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{what} not within {within:g} s")
        await asyncio.sleep(0.1)


async def prepare_namespace(api: KubeApi, namespace: str, version_config: VersionConfig, real: bool) -> None:
    """The namespace, once it holds its `default` ServiceAccount (the pods' identity) and, on the real cluster,
    the bound claim every version pod mounts (the scheduler leaves a pod Pending while its claim is missing or
    unbound; in a runtime namespace, Minio's StatefulSet or the stand-in makes it; the emulator serves none)."""
    await api.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})

    async def has_account() -> bool:
        return await api.find(SERVICE_ACCOUNTS, "default", namespace) is not None

    await wait_for(has_account, f"the default ServiceAccount of {namespace}")
    if not real:
        return
    claim = minio_claim(namespace, {})  # as the runtime operator stand-in makes it in a runtime namespace
    claim["metadata"]["name"] = version_config.shared_claim
    await api.create(PERSISTENT_VOLUME_CLAIMS, claim, namespace)

    async def bound() -> bool:
        try:
            found = await api.get(PERSISTENT_VOLUME_CLAIMS, version_config.shared_claim, namespace)
        except NotFound:
            return False
        return bool((found.get("status") or {}).get("phase") == "Bound")

    await wait_for(bound, f"the claim {version_config.shared_claim} in {namespace} bound")


async def measure(options: Options, cluster: Cluster, work: Path) -> dict[str, Any]:
    kubeconfig = cluster.kubeconfig
    env = child_environment(kubeconfig)
    version_config = VersionConfig.from_env(env)
    problems = validate_version(version_body("check", SYSTEM_NAMESPACE, options.nodes))
    if problems:
        raise RuntimeError(f"the benchmark's version is invalid: {problems}")
    api = await KubeApi.connect(str(kubeconfig), request_timeout=60)
    applied = Tracker(api, SYSTEM_NAMESPACE, RUNTIME_VERSIONS, is_applied)
    bare_applied = Tracker(api, BARE_NAMESPACE, RUNTIME_VERSIONS, is_applied)
    operator: subprocess.Popen[bytes] | None = None
    log_path = work / "operator.log"
    try:
        await install_crds(api)
        for namespace in (BARE_NAMESPACE, SYSTEM_NAMESPACE):
            await prepare_namespace(api, namespace, version_config, cluster.kind == "real")
        applied.start()
        bare_applied.start()

        # The bare-minimum client runs without the operator, in a process of its own, and only then. The latency
        # series alternate between the two in rounds, so that a change in the machine's load over the run weighs
        # on both; the operator starts again for each round.
        baseline: list[float] = []
        system: list[float] = []
        first = 0
        for round_index, runs in enumerate(split(options.latency_runs, options.rounds)):
            label = f"round {round_index + 1}: {WARMUP_RUNS} warm-up + {runs} versions of {options.nodes} nodes"
            print(f"{label}, bare minimum", flush=True)
            client = await BareWorker.spawn(Path(__file__), {"kubeconfig": str(kubeconfig)}, env, work)
            try:
                samples = await bare_latency_run(client, bare_applied, first, WARMUP_RUNS + runs, options.nodes)
                baseline += samples[WARMUP_RUNS:]
            finally:
                await client.close()
            operator = start_operator(env, log_path)
            await settled(operator.pid)
            print(f"{label}, operator", flush=True)
            for index in range(first, first + WARMUP_RUNS + runs):
                seconds = await system_once(api, applied, f"lat-{index:02d}", options.nodes)
                if index >= first + WARMUP_RUNS:
                    system.append(seconds)
            first += WARMUP_RUNS + runs
            if round_index == options.rounds - 1:
                print(f"scale: {options.versions} versions of {SCALE_NODES} nodes at once", flush=True)
                scale = await scale_run(api, applied, operator.pid, options.versions, options.scale_timeout, cluster)
            if operator.poll() is not None:
                raise RuntimeError(f"the operator exited:\n{log_tail(log_path)}")
            stop_process(operator)

        print(f"bare minimum: {options.versions} versions of {SCALE_NODES} nodes at once, no operator", flush=True)
        client = await BareWorker.spawn(Path(__file__), {"kubeconfig": str(kubeconfig)}, env, work)
        try:
            bare_scale = await bare_scale_run(client, bare_applied, options.versions, options.scale_timeout, cluster)
        finally:
            await client.close()
    except Exception:
        print(log_tail(log_path), file=sys.stderr)
        raise
    finally:
        if operator is not None:
            stop_process(operator)
        await applied.stop()
        await bare_applied.stop()
        await api.close()
    ratio = statistics.median(system) / statistics.median(baseline)
    return {
        "cluster": cluster.describe(),
        "machine": machine_info(),
        "settings": {
            "cluster": options.cluster,
            "nodes": options.nodes,
            "latency_runs": options.latency_runs,
            "rounds": options.rounds,
            "warmup_runs_per_round_and_series": WARMUP_RUNS,
            "scale_versions": options.versions,
            "scale_nodes_per_version": SCALE_NODES,
            "workload_ready_after_s": options.workload_ready_after if options.cluster == "emulator" else None,
            "bare_minimum_readiness": "the operator's deployment_readiness for each Deployment",
            # Every version is reconciled this often besides its events (KRE_RUNTIME_RESYNC_INTERVAL).
            "operator_resync_interval_s": OperatorConfig.from_env(os.environ).resync_interval,
        },
        "latency": {
            "bare_minimum_median_s": round(statistics.median(baseline), 3),
            "system_median_s": round(statistics.median(system), 3),
            "bare_minimum_samples_s": [round(sample, 3) for sample in baseline],
            "system_samples_s": [round(sample, 3) for sample in system],
            "ratio_median": round(ratio, 3),
            "target": f"<= {LATENCY_RATIO_TARGET:g}x",
            "pass": ratio <= LATENCY_RATIO_TARGET,
        },
        "scale": asdict(scale),
        "scale_bare_minimum": asdict(bare_scale),
        "scale_ratio": {
            "all_applied": ratio_of(scale.all_applied_s, bare_scale.all_applied_s),
            "p50": ratio_of(scale.applied_p50_s, bare_scale.applied_p50_s),
        },
    }


def ratio_of(system: float | None, baseline: float | None) -> float | None:
    return None if system is None or not baseline else round(system / baseline, 3)


def table(report: Mapping[str, Any]) -> str:
    latency, scale, bare_scale = report["latency"], report["scale"], report["scale_bare_minimum"]
    nodes = report["settings"]["nodes"]

    def seconds(value: float | None) -> str:
        return "not all applied" if value is None else f"{value} s"

    rows = [
        ("cluster", report["settings"]["cluster"]),
        (f"{nodes} nodes, bare minimum (median)", f"{latency['bare_minimum_median_s']:.3f} s"),
        (f"{nodes} nodes, operator (median)", f"{latency['system_median_s']:.3f} s"),
        (
            "ratio (target <= 2x)",
            f"{latency['ratio_median']:.2f}x {'pass' if latency['pass'] else 'FAIL'}",
        ),
        (
            f"{bare_scale['versions']} versions at once, bare minimum: all applied ({bare_scale['applied']})",
            seconds(bare_scale["all_applied_s"]),
        ),
        (
            f"{scale['versions']} versions at once, operator: all applied ({scale['applied']})",
            seconds(scale["all_applied_s"]),
        ),
        ("scale ratio, all applied", f"{report['scale_ratio']['all_applied']}"),
        ("operator peak RSS (idle before)", f"{scale['peak_rss_mb']} MB ({scale['idle_rss_mb']} MB)"),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--cluster", choices=CLUSTER_KINDS, default="emulator", help="the emulator (default) or the real control plane"
    )
    parser.add_argument("--nodes", type=int, default=20, help="nodes of a latency-run version (default 20)")
    parser.add_argument("--latency-runs", type=int, default=6, help="sequential versions per latency series")
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of bare minimum then operator the latency runs are split into"
    )
    parser.add_argument(
        "--versions", type=int, default=None, help="versions created at once (default 100; 30 on --cluster real)"
    )
    parser.add_argument(
        "--workload-ready-after", type=float, default=0.05, help="emulator: seconds until a workload is available"
    )
    parser.add_argument("--scale-timeout", type=float, default=300.0, help="give up on each scale run after this")
    parser.add_argument(
        "--out", type=Path, default=None, help="results file (JSON; default versions.json, versions-real.json on real)"
    )
    parser.add_argument("--keep-logs", type=Path, default=None, help="keep the operator's (and cluster's) logs here")
    args = parser.parse_args(argv)
    versions = DEFAULT_VERSIONS[args.cluster] if args.versions is None else args.versions
    if args.nodes < 1 or versions < 1 or args.rounds < 1 or args.latency_runs < args.rounds:
        parser.error("--nodes, --versions and --rounds must be at least 1, --latency-runs at least --rounds")
    return Options(
        cluster=args.cluster,
        nodes=args.nodes,
        latency_runs=args.latency_runs,
        rounds=args.rounds,
        versions=versions,
        workload_ready_after=args.workload_ready_after,
        scale_timeout=args.scale_timeout,
        out=args.out or DEFAULT_OUT[args.cluster],
        keep_logs=args.keep_logs,
    )


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == [BARE_WORKER_FLAG]:
        asyncio.run(bare_client(json.loads(arguments[1])))
        return 0
    options = parse_options(argv)
    stop_on_sigterm()
    # Every version of the run keeps its Pods: both latency series with their warm-ups, both scale runs.
    latency_pods = 2 * (options.rounds * WARMUP_RUNS + options.latency_runs) * deployments_per_version(options.nodes)
    pods = latency_pods + 2 * options.versions * deployments_per_version(SCALE_NODES)
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
    scale_done = report["scale"]["all_applied_s"] is not None
    return 0 if report["latency"]["pass"] and scale_done else 1


if __name__ == "__main__":
    sys.exit(main())
