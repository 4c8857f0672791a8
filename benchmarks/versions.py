"""RuntimeVersion benchmark: Start-to-applied latency against the bare minimum, and 100 versions at once.

    python benchmarks/versions.py [--nodes 20] [--latency-runs 5] [--versions 100]
                                  [--out benchmarks/results/versions.json]

Everything runs on this machine, in one run: the emulator (a thread of this process) and the operator
(`python -m k8s_manager operator`) as a subprocess.

(a) Latency, over N sequential versions of `--nodes` nodes (one workflow, the nodes a chain), from the create of the
    RuntimeVersion to this script's watch seeing it applied (status.observedGeneration == metadata.generation and
    Ready=True):
    - bare minimum: a plain KubeApi client creates the RuntimeVersion, then the objects the operator would make
      (its own `desired_objects`), one after another, then waits (on a watch) until every Deployment is
      Available. Run before the operator starts, in a namespace of its own.
    - the system: the RuntimeVersion is created through the API, the operator does the rest.
    Reported as the ratio system / bare minimum of the medians. Target: <= 2x.
(b) Scale: `--versions` versions of 2 nodes each created at once (concurrently, through the API): time until all
    are applied, and the operator process's peak RSS (itself and its children, sampled every 0.1 s).

Both halves use the same emulator settings (workloads become available `--workload-ready-after` seconds after they
are observed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
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

from k8s_manager import dev  # noqa: E402
from k8s_manager_api.kube import DELETED, KubeApi  # noqa: E402
from k8s_manager_api.names import DEPLOYMENTS, NAMESPACES, RUNTIME_VERSIONS  # noqa: E402
from k8s_manager_operator.version.desired import VersionConfig, desired_objects, resource_of  # noqa: E402
from k8s_manager_operator.version.validation import validate_version  # noqa: E402
from kube_emulator import EmulatorSettings  # noqa: E402
from kube_emulator.threaded import ThreadedEmulator  # noqa: E402

from benchmarks.common import MB, RssSampler, child_environment, machine_info  # noqa: E402

DEFAULT_OUT: Final = ROOT / "benchmarks" / "results" / "versions.json"
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


# ---------------------------------------------------------------------------------------------- observation


class Tracker:
    """One watch on a kind in a namespace: when each object was first seen meeting `accept` (perf_counter)."""

    def __init__(self, api: KubeApi, namespace: str, resource: Any, accept: Any) -> None:
        self._api, self._namespace, self._resource, self._accept = api, namespace, resource, accept
        self.seen_at: dict[str, float] = {}
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


async def bare_minimum_once(api: KubeApi, available: Tracker, name: str, nodes: int, config: VersionConfig) -> float:
    """The version's objects made by hand, one after another; seconds until every Deployment is available."""
    body = version_body(name, BARE_NAMESPACE, nodes)
    started = time.perf_counter()
    version = await api.create(RUNTIME_VERSIONS, body, BARE_NAMESPACE)
    deployments = []
    for wanted in desired_objects(version, config):
        await api.create(resource_of(wanted), wanted, BARE_NAMESPACE)
        if wanted["kind"] == "Deployment":
            deployments.append(wanted["metadata"]["name"])
    if await available.wait_all(deployments, APPLIED_TIMEOUT) != len(deployments):
        raise RuntimeError(f"the Deployments of {name} did not become available")
    return max(available.seen_at[deployment] for deployment in deployments) - started


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


async def scale_run(api: KubeApi, applied: Tracker, operator_pid: int, count: int, within: float) -> ScaleResult:
    names = [f"scale-{index:03d}" for index in range(count)]
    sampler = RssSampler(operator_pid, RSS_SAMPLE_INTERVAL)
    idle = sampler.sample() or 0
    with sampler:
        started = time.perf_counter()
        await asyncio.gather(
            *(api.create(RUNTIME_VERSIONS, version_body(name, SYSTEM_NAMESPACE, 2), SYSTEM_NAMESPACE) for name in names)
        )
        created = time.perf_counter() - started
        done = await applied.wait_all(names, within)
    times = [applied.seen_at[name] - started for name in names if name in applied.seen_at]
    return ScaleResult(
        versions=count,
        applied=done,
        all_applied_s=round(max(times), 3) if done == count else None,
        applied_p50_s=round(statistics.median(times), 3) if times else None,
        created_s=round(created, 3),
        peak_rss_mb=round(max(sampler.peak_bytes, idle) / MB, 1),
        idle_rss_mb=round(idle / MB, 1),
    )


# ---------------------------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Options:
    nodes: int
    latency_runs: int
    versions: int
    workload_ready_after: float
    scale_timeout: float
    out: Path


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


async def measure(options: Options, emulator: ThreadedEmulator, work: Path) -> dict[str, Any]:
    kubeconfig = emulator.write_kubeconfig(work / "kubeconfig")
    env = child_environment(kubeconfig)
    version_config = VersionConfig.from_env(env)
    problems = validate_version(version_body("check", SYSTEM_NAMESPACE, options.nodes))
    if problems:
        raise RuntimeError(f"the benchmark's version is invalid: {problems}")
    api = await KubeApi.connect(str(kubeconfig), request_timeout=60)
    available = Tracker(api, BARE_NAMESPACE, DEPLOYMENTS, lambda obj: is_true(obj, "Available"))
    applied = Tracker(api, SYSTEM_NAMESPACE, RUNTIME_VERSIONS, is_applied)
    operator: subprocess.Popen[bytes] | None = None
    log_path = work / "operator.log"
    try:
        await asyncio.wait_for(dev.apply_crds(api, dev.load_crds(dev.default_crds_dir())), STARTUP_TIMEOUT)
        for namespace in (BARE_NAMESPACE, SYSTEM_NAMESPACE):
            await api.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        available.start()
        applied.start()

        runs = WARMUP_RUNS + options.latency_runs
        print(f"bare minimum: {runs} versions of {options.nodes} nodes, one after another", flush=True)
        baseline = [
            await bare_minimum_once(api, available, f"bare-{index:02d}", options.nodes, version_config)
            for index in range(runs)
        ][WARMUP_RUNS:]

        operator = start_operator(env, log_path)
        print(f"system: {runs} versions of {options.nodes} nodes, one after another", flush=True)
        system = [await system_once(api, applied, f"lat-{index:02d}", options.nodes) for index in range(runs)]
        system = system[WARMUP_RUNS:]

        print(f"scale: {options.versions} versions of 2 nodes at once", flush=True)
        scale = await scale_run(api, applied, operator.pid, options.versions, options.scale_timeout)
        if operator.poll() is not None:
            raise RuntimeError(f"the operator exited:\n{log_tail(log_path)}")
    except Exception:
        print(log_tail(log_path), file=sys.stderr)
        raise
    finally:
        if operator is not None:
            stop_process(operator)
        await available.stop()
        await applied.stop()
        await api.close()
    ratio = statistics.median(system) / statistics.median(baseline)
    return {
        "machine": machine_info(),
        "settings": {
            "nodes": options.nodes,
            "latency_runs": options.latency_runs,
            "warmup_runs": WARMUP_RUNS,
            "scale_versions": options.versions,
            "scale_nodes_per_version": 2,
            "workload_ready_after_s": options.workload_ready_after,
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
    }


def table(report: Mapping[str, Any]) -> str:
    latency, scale = report["latency"], report["scale"]
    nodes = report["settings"]["nodes"]
    all_applied = f"{scale['all_applied_s']} s" if scale["all_applied_s"] is not None else "not all applied"
    rows = [
        (f"{nodes} nodes, bare minimum (median)", f"{latency['bare_minimum_median_s']:.3f} s"),
        (f"{nodes} nodes, operator (median)", f"{latency['system_median_s']:.3f} s"),
        (
            "ratio (target <= 2x)",
            f"{latency['ratio_median']:.2f}x {'pass' if latency['pass'] else 'FAIL'}",
        ),
        (f"{scale['versions']} versions at once: all applied ({scale['applied']} applied)", all_applied),
        ("operator peak RSS (idle before)", f"{scale['peak_rss_mb']} MB ({scale['idle_rss_mb']} MB)"),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=20, help="nodes of a latency-run version (default 20)")
    parser.add_argument("--latency-runs", type=int, default=5, help="sequential versions per latency series")
    parser.add_argument("--versions", type=int, default=100, help="versions created at once (default 100)")
    parser.add_argument(
        "--workload-ready-after", type=float, default=0.05, help="emulator: seconds until a workload is available"
    )
    parser.add_argument("--scale-timeout", type=float, default=90.0, help="give up on the scale run after this")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results file (JSON)")
    args = parser.parse_args(argv)
    if args.nodes < 1 or args.latency_runs < 1 or args.versions < 1:
        parser.error("--nodes, --latency-runs and --versions must be at least 1")
    return Options(
        nodes=args.nodes,
        latency_runs=args.latency_runs,
        versions=args.versions,
        workload_ready_after=args.workload_ready_after,
        scale_timeout=args.scale_timeout,
        out=args.out,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    settings = EmulatorSettings(workload_ready_after=options.workload_ready_after)
    with tempfile.TemporaryDirectory(prefix="k8s-manager-bench-") as work_dir, ThreadedEmulator(settings) as emulator:
        report = asyncio.run(measure(options, emulator, Path(work_dir)))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"results: {options.out}")
    scale_done = report["scale"]["all_applied_s"] is not None
    return 0 if report["latency"]["pass"] and scale_done else 1


if __name__ == "__main__":
    sys.exit(main())
