"""A real Prometheus for the metrics tests, over data with known answers.

Three parts:
- a model of what a cluster's pods consumed (`Scenario` of `PodSeries`) and `openmetrics(scenario)`, which renders it
  as cAdvisor and kube-state-metrics series in OpenMetrics text (timestamps in seconds, ending with `# EOF`);
- `backfill(text, data_dir)`: `promtool tsdb create-blocks-from openmetrics`, so the data is in blocks before the
  server starts (blocks copied into a running server only appear at its next reload);
- `PrometheusServer`: `/usr/bin/prometheus` on 127.0.0.1, an empty scrape config, over a backfilled data directory.

Known answers. Every series has a sample every `sample_interval_seconds` from `start` to `end` inclusive. CPU counters
grow at a constant rate, so `rate(...[5m])` equals that rate exactly (up to float rounding) at every evaluation time in
[start + 5m, end]: Prometheus extrapolates a window's first and last samples to its edges, which is exact for a
straight line, including across a counter reset (`rate` adds back the value before the drop). Outside that interval the
answer is NOT the constant rate: in the first 5 minutes the window is partial (it starts before the first sample, so
Prometheus extrapolates only half an interval), and for 5 minutes after `end` the window holds ever fewer samples.
Gauges (memory) answer with the latest sample at or before the evaluation time, up to 5 minutes (the lookback delta)
after `end`; backfilled data has no staleness markers, so every series stays visible until `end + 5m`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Self

import requests

PROMETHEUS_BINARY = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL_BINARY = shutil.which("promtool") or "/usr/bin/promtool"

SAMPLE_INTERVAL_SECONDS = 15
RATE_WINDOW = "5m"
RATE_WINDOW_SECONDS = 300
# Prometheus' default --query.lookback-delta: how long after its last sample an instant vector still sees a series.
LOOKBACK_DELTA_SECONDS = 300
MIB = 1024 * 1024

# What a pause (sandbox) container and the kubelet's cAdvisor look like in the series.
PAUSE_CONTAINER = "POD"
CADVISOR_JOB = "kubelet"
KUBE_STATE_METRICS_JOB = "kube-state-metrics"
# Counters start here rather than at 0, as they would on a node that has been up for a while.
COUNTER_INITIAL_SECONDS = 1000.0

# The pod filter every correct usage query needs: no pod-level cgroup series (no `container` label, which PromQL
# sees as container="") and no pause container.
CONTAINER_FILTER = f'container!="",container!="{PAUSE_CONTAINER}"'


@dataclass(frozen=True)
class PodSeries:
    """One pod's usage as cAdvisor reports it, and its `version-name` label as kube-state-metrics exports it.

    `cpu_rate_cores` and `memory_bytes` are totals over the pod's `containers` (split evenly between them; the
    first container gets the bytes that do not divide), excluding the pause container, whose own usage is
    `pause_cpu_rate_cores` and `pause_memory_bytes`. The pod-level cgroup series (no `container` label) reports the
    sum of all of them, as the kubelet's does.

    `version` None: the pod has no `version-name` label (kube_pod_labels without `label_version_name`).
    `memory_growth_bytes_per_second`: the working set grows linearly, so answers differ per timestamp.
    `counter_reset_after_seconds`: the containers restart this long after the scenario's start (a multiple of the
    sample interval): their CPU counters drop and start again from zero, still at the same rate.
    """

    namespace: str
    pod: str
    version: str | None
    cpu_rate_cores: float
    memory_bytes: int
    memory_growth_bytes_per_second: int = 0
    containers: tuple[str, ...] = ("app",)
    counter_reset_after_seconds: int | None = None
    pause_cpu_rate_cores: float = 1 / 1024
    pause_memory_bytes: int = MIB
    node: str = "node-1"

    def __post_init__(self) -> None:
        if not self.containers or PAUSE_CONTAINER in self.containers or "" in self.containers:
            raise ValueError(f"{self.pod}: containers must be named and must not include {PAUSE_CONTAINER!r}")
        if self.cpu_rate_cores < 0 or self.memory_bytes < 0 or self.pause_cpu_rate_cores < 0:
            raise ValueError(f"{self.pod}: usage cannot be negative")

    @property
    def uid(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pod/{self.namespace}/{self.pod}"))

    def memory_at_sample(self, seconds_since_start: int) -> int:
        """The pod's working set (pause container excluded) in the sample taken this long after the start."""
        return self.memory_bytes + self.memory_growth_bytes_per_second * seconds_since_start


@dataclass(frozen=True)
class Scenario:
    """Pods' usage from `start` to `end` (unix seconds, both sampled), scraped by the given kube-state-metrics
    replicas (two or more make every kube_pod_labels series appear once per replica, differing in `instance`)."""

    pods: tuple[PodSeries, ...]
    start: int
    end: int
    sample_interval_seconds: int = SAMPLE_INTERVAL_SECONDS
    kube_state_metrics_instances: tuple[str, ...] = ("10.0.0.1:8080",)

    def __post_init__(self) -> None:
        if self.end <= self.start or (self.end - self.start) % self.sample_interval_seconds:
            raise ValueError("end must come after start by a whole number of sample intervals")
        if not self.kube_state_metrics_instances:
            raise ValueError("at least one kube-state-metrics instance is needed")
        keys = [(pod.namespace, pod.pod) for pod in self.pods]
        if len(set(keys)) != len(keys):
            raise ValueError("pods must be unique per namespace")
        for pod in self.pods:
            reset = pod.counter_reset_after_seconds
            if reset is None:
                continue
            if not 0 < reset <= self.end - self.start or reset % self.sample_interval_seconds:
                raise ValueError(f"{pod.pod}: the counter reset must fall on a sample after the start")
            before = COUNTER_INITIAL_SECONDS + _container_cpu_rate(pod) * (reset - self.sample_interval_seconds)
            if _container_cpu_rate(pod) * self.sample_interval_seconds >= before:
                raise ValueError(f"{pod.pod}: the counter would not drop at its reset")

    @classmethod
    def ending_before_now(
        cls,
        pods: Sequence[PodSeries],
        *,
        duration_seconds: int = 3600,
        end_before_now_seconds: int = 120,
        now: float | None = None,
        sample_interval_seconds: int = SAMPLE_INTERVAL_SECONDS,
        kube_state_metrics_instances: tuple[str, ...] = ("10.0.0.1:8080",),
    ) -> Scenario:
        """A scenario whose last sample is at least `end_before_now_seconds` in the past (blocks must not end in
        the future), on a whole minute, so query_range steps that divide 60 s land on samples."""
        now = time.time() if now is None else now
        end = int(now - end_before_now_seconds) // 60 * 60
        return cls(
            pods=tuple(pods),
            start=end - duration_seconds,
            end=end,
            sample_interval_seconds=sample_interval_seconds,
            kube_state_metrics_instances=kube_state_metrics_instances,
        )

    @property
    def sample_times(self) -> range:
        return range(self.start, self.end + 1, self.sample_interval_seconds)

    @property
    def exact_cpu_from(self) -> int:
        """The first evaluation time whose `rate(...[5m])` is the exact constant rate (the window is full)."""
        return self.start + RATE_WINDOW_SECONDS

    def pods_of(self, namespace: str, version: str) -> tuple[PodSeries, ...]:
        return tuple(pod for pod in self.pods if pod.namespace == namespace and pod.version == version)

    def expected_cpu_cores(self, namespace: str, version: str, at: float) -> float:
        """The version's CPU (cores, pause containers excluded) that `rate(...[5m])` gives at `at`."""
        if not self.exact_cpu_from <= at <= self.end:
            raise ValueError(
                f"rate() over [{RATE_WINDOW}] is exact only from {self.exact_cpu_from} (start + {RATE_WINDOW}) "
                f"to {self.end} (end); {at} is outside"
            )
        return sum(pod.cpu_rate_cores for pod in self._pods_or_fail(namespace, version))

    def expected_memory_bytes(self, namespace: str, version: str, at: float) -> int:
        """The version's working set (bytes, pause containers excluded) that an instant vector sees at `at`."""
        if not self.start <= at < self.end + LOOKBACK_DELTA_SECONDS:
            raise ValueError(f"no memory sample is visible at {at}: data from {self.start} to {self.end} + lookback")
        sampled_at = min(int(at), self.end)
        since_start = (sampled_at - self.start) // self.sample_interval_seconds * self.sample_interval_seconds
        return sum(pod.memory_at_sample(since_start) for pod in self._pods_or_fail(namespace, version))

    def _pods_or_fail(self, namespace: str, version: str) -> tuple[PodSeries, ...]:
        pods = self.pods_of(namespace, version)
        if not pods:
            raise LookupError(f"the scenario has no pod of version {version!r} in namespace {namespace!r}")
        return pods


# The standard scenario: what the `prometheus` fixture serves.
DEMO_NAMESPACE = "kre-demo"
OTHER_NAMESPACE = "kre-other"
GREETER_V1 = "greeter-v1"
GREETER_V2 = "greeter-v2"
# A version whose name starts with another's: a regex or prefix match would wrongly include it.
GREETER_V1_CANARY = "greeter-v1-canary"
GREETER_V1_RESTARTED_POD = "greeter-v1-6d8f9b7c4-p9kzt"
KUBE_STATE_METRICS_REPLICAS = ("10.0.0.1:8080", "10.0.0.2:8080")


def standard_scenario(now: float | None = None) -> Scenario:
    """kre-demo: greeter-v1 with 2 pods (one with two containers and a counter reset half way), greeter-v2 with 1 pod
    whose memory grows; decoys: greeter-v1 in kre-other, greeter-v1-canary and an unlabelled pod in kre-demo.
    Two kube-state-metrics replicas; every pod has a pod-level series and a pause container.
    The rates are powers of two, so sums are exact in binary floating point."""
    pods = [
        PodSeries(DEMO_NAMESPACE, "greeter-v1-6d8f9b7c4-x2x7q", GREETER_V1, cpu_rate_cores=0.25, memory_bytes=96 * MIB),
        PodSeries(
            DEMO_NAMESPACE,
            GREETER_V1_RESTARTED_POD,
            GREETER_V1,
            cpu_rate_cores=0.125,
            memory_bytes=160 * MIB,
            containers=("app", "sidecar"),
            counter_reset_after_seconds=1800,
            node="node-2",
        ),
        PodSeries(
            DEMO_NAMESPACE,
            "greeter-v2-5c7b8d9f6-kq4mz",
            GREETER_V2,
            cpu_rate_cores=0.5,
            memory_bytes=200 * MIB,
            memory_growth_bytes_per_second=4096,
        ),
        PodSeries(
            OTHER_NAMESPACE, "greeter-v1-84c5f6d7b-zt6wr", GREETER_V1, cpu_rate_cores=1.0, memory_bytes=512 * MIB
        ),
        PodSeries(
            DEMO_NAMESPACE, "greeter-v1-canary-7f9c-bb2lm", GREETER_V1_CANARY, cpu_rate_cores=2.0, memory_bytes=MIB
        ),
        PodSeries(DEMO_NAMESPACE, "redis-0", None, cpu_rate_cores=0.75, memory_bytes=64 * MIB, node="node-2"),
    ]
    return Scenario.ending_before_now(pods, now=now, kube_state_metrics_instances=KUBE_STATE_METRICS_REPLICAS)


# --- OpenMetrics -------------------------------------------------------------------------------------------------


def openmetrics(scenario: Scenario) -> str:
    """The scenario as OpenMetrics text: each series' samples in time order, one metric family after the other."""
    lines: list[str] = []
    lines += _family_header("container_cpu_usage_seconds", "counter", "Cumulative cpu time consumed in seconds.")
    for pod in scenario.pods:
        lines += _cpu_lines(scenario, pod)
    lines += _family_header("container_memory_working_set_bytes", "gauge", "Current working set in bytes.")
    for pod in scenario.pods:
        lines += _memory_lines(scenario, pod)
    lines += _family_header("kube_pod_labels", "gauge", "Kubernetes labels converted to Prometheus labels.")
    for instance in scenario.kube_state_metrics_instances:
        for pod in scenario.pods:
            labels = _labels(
                job=KUBE_STATE_METRICS_JOB,
                instance=instance,
                namespace=pod.namespace,
                pod=pod.pod,
                uid=pod.uid,
                label_version_name=pod.version or "",
            )
            lines += (f"kube_pod_labels{labels} 1 {t}" for t in scenario.sample_times)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _family_header(name: str, metric_type: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {metric_type}"]


def _container_cpu_rate(pod: PodSeries) -> float:
    return pod.cpu_rate_cores / len(pod.containers)


def _container_memory(pod: PodSeries, index: int, pod_memory: int) -> int:
    share, remainder = divmod(pod_memory, len(pod.containers))
    return share + (remainder if index == 0 else 0)


def _cpu_lines(scenario: Scenario, pod: PodSeries) -> Iterator[str]:
    interval = scenario.sample_interval_seconds
    reset = pod.counter_reset_after_seconds
    for name in pod.containers:
        labels = _cadvisor_labels(pod, name)
        rate = _container_cpu_rate(pod)
        for t in scenario.sample_times:
            since_start = t - scenario.start
            if reset is not None and since_start >= reset:
                # Restarted just after the sample before the reset: it has run one interval by the next sample.
                value = rate * (since_start - reset + interval)
            else:
                value = COUNTER_INITIAL_SECONDS + rate * since_start
            yield f"container_cpu_usage_seconds_total{labels} {value!r} {t}"
    for labels, rate in (
        (_cadvisor_labels(pod, PAUSE_CONTAINER), pod.pause_cpu_rate_cores),
        (_cadvisor_labels(pod, None), pod.cpu_rate_cores + pod.pause_cpu_rate_cores),
    ):
        for t in scenario.sample_times:
            value = COUNTER_INITIAL_SECONDS + rate * (t - scenario.start)
            yield f"container_cpu_usage_seconds_total{labels} {value!r} {t}"


def _memory_lines(scenario: Scenario, pod: PodSeries) -> Iterator[str]:
    for index, name in enumerate(pod.containers):
        labels = _cadvisor_labels(pod, name)
        for t in scenario.sample_times:
            memory = _container_memory(pod, index, pod.memory_at_sample(t - scenario.start))
            yield f"container_memory_working_set_bytes{labels} {memory} {t}"
    pause_labels = _cadvisor_labels(pod, PAUSE_CONTAINER)
    yield from (
        f"container_memory_working_set_bytes{pause_labels} {pod.pause_memory_bytes} {t}" for t in scenario.sample_times
    )
    pod_labels = _cadvisor_labels(pod, None)
    for t in scenario.sample_times:
        memory = pod.memory_at_sample(t - scenario.start) + pod.pause_memory_bytes
        yield f"container_memory_working_set_bytes{pod_labels} {memory} {t}"


def _cadvisor_labels(pod: PodSeries, container: str | None) -> str:
    """cAdvisor's labels; `container` None is the pod-level cgroup, which has no container, image or name labels."""
    cgroup = f"/kubepods/burstable/pod{pod.uid}"
    if container is None:
        return _labels(
            job=CADVISOR_JOB,
            instance=pod.node,
            metrics_path="/metrics/cadvisor",
            id=cgroup,
            namespace=pod.namespace,
            pod=pod.pod,
        )
    container_id = uuid.uuid5(uuid.NAMESPACE_URL, f"container/{pod.uid}/{container}").hex
    image = "registry.k8s.io/pause:3.9" if container == PAUSE_CONTAINER else f"registry.example/{container}:1.0"
    return _labels(
        job=CADVISOR_JOB,
        instance=pod.node,
        metrics_path="/metrics/cadvisor",
        id=f"{cgroup}/{container_id}",
        name=container_id,
        image=image,
        namespace=pod.namespace,
        pod=pod.pod,
        container=container,
    )


def _labels(**labels: str) -> str:
    """`{a="x",b="y"}`; empty values are left out, as Prometheus drops empty labels."""
    return "{" + ",".join(f"{name}={promql_string(value)}" for name, value in labels.items() if value) + "}"


def promql_string(value: str) -> str:
    """A double-quoted string literal, valid in PromQL and in the OpenMetrics text format."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


# --- Reference queries -------------------------------------------------------------------------------------------


def reference_cpu_query(namespace: str, version: str) -> str:
    """The version's CPU in cores, per the findings' verified shape (plus the pause-container filter)."""
    selector = f"container_cpu_usage_seconds_total{{namespace={promql_string(namespace)},{CONTAINER_FILTER}}}"
    usage = f"rate({selector}[{RATE_WINDOW}])"
    return f"sum by (label_version_name) ({usage} * {_version_join(namespace, version)})"


def reference_memory_query(namespace: str, version: str) -> str:
    """The version's working set in bytes: the same join over the gauge, without rate()."""
    usage = f"container_memory_working_set_bytes{{namespace={promql_string(namespace)},{CONTAINER_FILTER}}}"
    return f"sum by (label_version_name) ({usage} * {_version_join(namespace, version)})"


def reference_usage_query(namespace: str, version: str) -> str:
    """CPU and memory in one query, told apart by a `metric` label ("cpu" or "memory")."""
    cpu = f'label_replace({reference_cpu_query(namespace, version)}, "metric", "cpu", "", "")'
    memory = f'label_replace({reference_memory_query(namespace, version)}, "metric", "memory", "", "")'
    return f"{cpu} or {memory}"


def _version_join(namespace: str, version: str) -> str:
    # max by: with two kube-state-metrics replicas each pod's labels series exists twice (differing in `instance`),
    # which a one-to-one join rejects as a many-to-many match.
    pod_labels = f"kube_pod_labels{{namespace={promql_string(namespace)},label_version_name={promql_string(version)}}}"
    return (
        "on (namespace, pod) group_left (label_version_name) "
        f"max by (namespace, pod, label_version_name) ({pod_labels})"
    )


# --- promtool and the server -------------------------------------------------------------------------------------


def backfill(openmetrics_text: str, data_dir: Path) -> None:
    """Write the samples as TSDB blocks into `data_dir` (created if missing) with promtool. Do it before the server
    starts: a running server only picks new blocks up at its next reload."""
    if not openmetrics_text.rstrip().endswith("# EOF"):
        raise ValueError("OpenMetrics text must end with '# EOF'")
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="openmetrics-") as scratch:
        source = Path(scratch) / "data.om"
        source.write_text(openmetrics_text)
        result = subprocess.run(
            [PROMTOOL_BINARY, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"promtool failed with exit code {result.returncode}: {result.stderr or result.stdout}")


def backfill_scenario(scenario: Scenario, data_dir: Path) -> None:
    backfill(openmetrics(scenario), data_dir)


EMPTY_CONFIG = "global:\n  scrape_interval: 15s\nscrape_configs: []\n"
_ADDRESS_IN_USE = re.compile(r"address already in use", re.IGNORECASE)


class PrometheusServer:
    """`/usr/bin/prometheus` over `data_dir`, on 127.0.0.1 at a free port, scraping nothing.

    `start()` returns once `GET /-/ready` answers 200; `stop()` (idempotent) terminates the process and waits for
    it, then removes the config and log. Use it as a context manager; `stop()` may also be called mid-test. The
    server owns `data_dir` while it runs (it writes a WAL and may compact blocks): give each server its own copy.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        retention: str = "3650d",
        extra_args: Sequence[str] = (),
        ready_timeout_seconds: float = 15.0,
    ) -> None:
        self.data_dir = data_dir
        self.retention = retention
        self.extra_args = tuple(extra_args)
        self.ready_timeout_seconds = ready_timeout_seconds
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._scratch: Path | None = None
        self._session = requests.Session()

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT (no trailing slash)."""
        if not self.port:
            raise RuntimeError("the server has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError("the server is already started")
        self._scratch = Path(tempfile.mkdtemp(prefix="prometheus-"))
        config = self._scratch / "prometheus.yml"
        config.write_text(EMPTY_CONFIG)
        # A port picked free can be taken before Prometheus binds it (another xdist worker): then try another.
        for _attempt in range(3):
            self.port = _free_port()
            if self._launch(config):
                return
            if not _ADDRESS_IN_USE.search(self.log_text()):
                break
        log = self.log_text()
        self.stop()
        raise RuntimeError(f"Prometheus did not become ready:\n{log[-3000:]}")

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 10 s) and wait for it; safe to call again."""
        process, self._process = self._process, None
        if process is not None:
            _terminate(process)
        self._session.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def log_text(self) -> str:
        """What the server has logged so far (empty once stopped)."""
        if self._scratch is None:
            return ""
        with contextlib.suppress(FileNotFoundError):
            return (self._scratch / "prometheus.log").read_text(errors="replace")
        return ""

    def request_count(self, handler: str = "/api/v1/query_range") -> int:
        """How many requests the server has answered on `handler` (any status), from its own /metrics."""
        response = self._session.get(f"{self.url}/metrics", timeout=5)
        response.raise_for_status()
        pattern = re.compile(r"^prometheus_http_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.MULTILINE)
        wanted = f"handler={promql_string(handler)}"
        return sum(int(float(m["value"])) for m in pattern.finditer(response.text) if wanted in m["labels"].split(","))

    def _launch(self, config: Path) -> bool:
        assert self._scratch is not None
        command = [
            PROMETHEUS_BINARY,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            *self.extra_args,
        ]
        with (self._scratch / "prometheus.log").open("wb") as log:
            # Its own session: a Ctrl-C meant for pytest reaches the fixture's teardown, which stops the server.
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + self.ready_timeout_seconds
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            with contextlib.suppress(requests.ConnectionError):
                if self._session.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return True
            time.sleep(0.01)
        _terminate(self._process)
        self._process = None
        return False

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RunningPrometheus(NamedTuple):
    """What the fixtures give: the server and the scenario its data came from (unpacks as a pair)."""

    server: PrometheusServer
    scenario: Scenario


@dataclass
class PrometheusData:
    """A backfilled data directory kept as a template; each server gets a fresh copy of it."""

    scenario: Scenario
    template_dir: Path
    _copies: int = field(default=0, init=False)

    @classmethod
    def create(cls, scenario: Scenario, directory: Path) -> PrometheusData:
        template = directory / "template"
        backfill_scenario(scenario, template)
        return cls(scenario=scenario, template_dir=template)

    def fresh_copy(self) -> Path:
        self._copies += 1
        copy = self.template_dir.with_name(f"server-{os.getpid()}-{self._copies}")
        shutil.copytree(self.template_dir, copy)
        return copy

    @contextlib.contextmanager
    def server(self, *, extra_args: Sequence[str] = ()) -> Iterator[RunningPrometheus]:
        """A started server over a fresh copy of the data; stopped and its copy removed on exit."""
        data_dir = self.fresh_copy()
        try:
            with PrometheusServer(data_dir, extra_args=extra_args) as server:
                yield RunningPrometheus(server, self.scenario)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
