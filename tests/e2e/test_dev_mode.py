"""`k8s-manager dev` end to end: a real process tree, a real gRPC client and kubectl."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from .dev_process import READY_TIMEOUT, DevProcess, free_port, processes_using, start_dev, stop

KUBECTL = shutil.which("kubectl")
ACCOUNTS = ("k8s-manager-operator", "k8s-manager-facade")
KOPF_HANDLERS = "k8s_manager_operator.handlers"


def kubeconfig_server(kubeconfig: Path) -> str:
    document = yaml.safe_load(kubeconfig.read_text())
    return str(document["clusters"][0]["cluster"]["server"])


def health_status(port: int) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    return int(reply.status)


@pytest.fixture
def running_dev(tmp_path: Path) -> Iterator[tuple[DevProcess, int, Path]]:
    port = free_port()
    kubeconfig = tmp_path / "out" / "kubeconfig"
    dev = start_dev(tmp_path, "--grpc-port", str(port), "--kubeconfig-out", str(kubeconfig))
    try:
        yield dev, port, kubeconfig
    finally:
        stop(dev)


def test_dev_mode_serves_grpc_and_kubectl_then_stops_cleanly(running_dev):
    dev, port, kubeconfig = running_dev

    lines = dev.read_until_ready()

    assert lines == [f"gRPC facade: 127.0.0.1:{port}", f"kubeconfig: {kubeconfig.resolve()}", "ready"]
    children = dev.descendants()
    assert len(children) >= 2  # the operator and the facade

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert "grpc.health.v1.Health" in services

    assert KUBECTL is not None, "kubectl is part of the contract"
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "get", "namespaces", "-o", "name"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert {"namespace/default", "namespace/kube-system"} <= set(result.stdout.split())

    dev.process.send_signal(signal.SIGTERM)

    assert dev.process.wait(timeout=30) == 0, dev.log()
    _, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
    assert processes_using(kubeconfig) == []
    assert [account for account in ACCOUNTS if kubeconfig.with_name(f"{account}.kubeconfig").exists()] == []
    assert not kubeconfig.exists()  # it pointed at the emulator, which is gone
    assert not kubeconfig.parent.exists()  # out/ was the dev mode's: the lock gone, it is removed too
    assert "operator | " in dev.log()
    assert "facade | " in dev.log()


@pytest.mark.kubectl
def test_kubectl_reaches_the_emulator_through_the_written_kubeconfig(running_dev):
    dev, _, kubeconfig = running_dev
    dev.read_until_ready()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    assert KUBECTL is not None

    result = subprocess.run(
        [KUBECTL, "get", "namespace", "kube-system", "-o", "jsonpath={.status.phase}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "Active"


CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  names: {{plural: gadgets, singular: gadget, kind: Gadget, shortNames: [{short_name}]}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


@pytest.mark.kubectl
def test_crds_are_created_or_updated_and_served(tmp_path: Path):
    crds = tmp_path / "crds"
    crds.mkdir()
    (crds / "1-gadgets.yaml").write_text(CRD.format(short_name="gd"))
    (crds / "2-gadgets-again.yaml").write_text(CRD.format(short_name="gdg"))  # same CRD: an update
    kubeconfig = tmp_path / "kubeconfig"
    dev = start_dev(tmp_path, "--grpc-port", str(free_port()), "--kubeconfig-out", str(kubeconfig), "--crds", str(crds))
    try:
        dev.read_until_ready()
        assert KUBECTL is not None
        kubectl = [KUBECTL, "--kubeconfig", str(kubeconfig)]
        names = subprocess.run(
            [*kubectl, "get", "crd", "gadgets.example.com", "-o", "jsonpath={.spec.names.shortNames}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        listed = subprocess.run([*kubectl, "get", "gdg", "-A"], capture_output=True, text=True, timeout=30)
    finally:
        stop(dev)

    assert names.returncode == 0, names.stderr
    assert names.stdout == '["gdg"]'
    assert listed.returncode == 0, listed.stderr
    assert "No resources found" in listed.stderr


def test_a_child_that_dies_stops_everything_with_an_error(running_dev):
    dev, _, kubeconfig = running_dev
    dev.read_until_ready()
    children = dev.descendants()
    facade = next(child for child in children if "facade" in child.cmdline())

    facade.kill()

    assert dev.process.wait(timeout=30) == 1
    _, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
    assert "facade exited unexpectedly (killed by SIGKILL); stopping" in dev.log()
    assert processes_using(kubeconfig) == []
    assert not kubeconfig.exists()


@pytest.mark.parametrize("flag", ["--grpc-port", "--api-port"])
def test_a_busy_port_stops_it_before_anything_is_written_or_started(tmp_path: Path, flag: str):
    out = tmp_path / "out"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        grpc_port = port if flag == "--grpc-port" else free_port()
        ports = ["--grpc-port", str(grpc_port)] + (["--api-port", str(port)] if flag == "--api-port" else [])
        dev = start_dev(tmp_path, *ports, "--kubeconfig-out", str(out / "kubeconfig"))
        try:
            code = dev.process.wait(timeout=READY_TIMEOUT)
        finally:
            stop(dev)

    assert code == 1
    assert f"{flag} {port}: 127.0.0.1:{port} is in use" in dev.log()
    assert "started" not in dev.log()  # neither child, nor the emulator
    assert not out.exists()  # no kubeconfig, and the lock and its folder gone
    assert dev.stdout_lines.get(timeout=5) is None  # nothing on stdout: never ready


def test_a_second_dev_mode_in_the_same_folder_fails_at_once_and_leaves_the_first_alone(tmp_path: Path):
    folder = tmp_path / "project"
    port = free_port()
    first = start_dev(folder, "--grpc-port", str(port))
    try:
        first.read_until_ready()
        written = (folder / ".k8s-manager").resolve()
        before = {path.name: path.read_bytes() for path in written.iterdir()}
        # Same working directory, so the same default --kubeconfig-out; a port of its own.
        second = start_dev(tmp_path / "second", "--grpc-port", str(free_port()), cwd=folder)
        try:
            code = second.process.wait(timeout=READY_TIMEOUT)
        finally:
            stop(second)
        after = {path.name: path.read_bytes() for path in written.iterdir()}
        assert KUBECTL is not None
        reached = subprocess.run(
            [KUBECTL, "--kubeconfig", str(written / "kubeconfig"), "get", "namespace", "kube-system", "-o", "name"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        serving = health_status(port)
        first_running = first.process.poll() is None
    finally:
        stop(first)

    assert code == 1
    assert (
        f"another k8s-manager dev (pid {first.process.pid}) is running with its kubeconfigs in {written}"
        in second.log()
    )
    assert "started" not in second.log()
    assert second.stdout_lines.get(timeout=5) is None
    assert sorted(before) == sorted(["k8s-manager-dev.lock", "kubeconfig", *(f"{a}.kubeconfig" for a in ACCOUNTS)])
    assert after == before  # not one byte of the first one's files changed
    assert reached.stdout.strip() == "namespace/kube-system", reached.stderr  # kubectl still reaches the first
    assert serving == health_pb2.HealthCheckResponse.SERVING
    assert first_running


def test_grpc_port_zero_is_chosen_and_printed_and_api_port_is_the_https_port_kubectl_uses(tmp_path: Path):
    api_port = free_port()
    kubeconfig = tmp_path / "kubeconfig"
    dev = start_dev(tmp_path, "--grpc-port", "0", "--api-port", str(api_port), "--kubeconfig-out", str(kubeconfig))
    try:
        lines = dev.read_until_ready()
        chosen = re.fullmatch(r"gRPC facade: 127\.0\.0\.1:(\d+)", lines[0])
        assert chosen is not None, lines
        serving = health_status(int(chosen[1]))
        server = kubeconfig_server(kubeconfig)
        assert KUBECTL is not None
        reached = subprocess.run(
            [KUBECTL, "--kubeconfig", str(kubeconfig), "get", "namespace", "default", "-o", "name"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        stop(dev)

    assert int(chosen[1]) != 0
    assert lines[1:] == [f"kubeconfig: {kubeconfig.resolve()}", "ready"]
    assert serving == health_pb2.HealthCheckResponse.SERVING
    assert server == f"https://127.0.0.1:{api_port}"
    assert f"Kubernetes API emulator at https://127.0.0.1:{api_port}, kubeconfig {kubeconfig.resolve()}" in dev.log()
    assert reached.stdout.strip() == "namespace/default", reached.stderr


def test_a_startup_timeout_says_what_was_not_ready(tmp_path: Path):
    kubeconfig = tmp_path / "silent.kubeconfig"
    with socket.socket() as silent:  # the kernel accepts connections; nothing ever answers on them
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        server = f"https://127.0.0.1:{silent.getsockname()[1]}"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "silent", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
                    "users": [{"name": "admin", "user": {"token": "t"}}],
                    "contexts": [{"name": "silent", "context": {"cluster": "silent", "user": "admin"}}],
                    "current-context": "silent",
                }
            )
        )
        dev = start_dev(
            tmp_path, "--kubeconfig", str(kubeconfig), "--grpc-port", str(free_port()), "--startup-timeout", "3"
        )
        try:
            code = dev.process.wait(timeout=READY_TIMEOUT)
        finally:
            stop(dev)

    assert code == 1
    assert (
        "not ready within 3s (--startup-timeout): still installing the CRDs and waiting until they are Established, "
        f"at {server}"
    ) in dev.log()
    assert "started" not in dev.log()
    assert not (tmp_path / ".k8s-manager").exists()


def test_no_operator_runs_the_rest_for_an_operator_run_with_kopf(tmp_path: Path):
    from k8s_manager_facade.generated import runtime_pb2, runtime_pb2_grpc

    port = free_port()
    kubeconfig = tmp_path / "out" / "kubeconfig"
    dev = start_dev(tmp_path, "--no-operator", "--grpc-port", str(port), "--kubeconfig-out", str(kubeconfig))
    kopf_log = tmp_path / "kopf.log"
    kopf: subprocess.Popen[bytes] | None = None
    runtime = runtime_pb2.Runtime(
        name="Solo",
        namespace="kre-solo",
        mongo=runtime_pb2.Runtime.MongoConf(username="admin", password="Xq3vL9pa", sharedKey="Tm7wQ2zk"),
        minio=runtime_pb2.Runtime.MinioConf(accessKey="admin", secretKey="Hb5nR8cy"),
    )
    try:
        lines = dev.read_until_ready()
        commands = [child.cmdline()[3] for child in psutil.Process(dev.process.pid).children()]
        with kopf_log.open("wb") as sink:  # as the README's kopf path has it
            kopf = subprocess.Popen(
                [sys.executable, "-m", "kopf", "run", "--standalone", "--all-namespaces", "-m", KOPF_HANDLERS],
                env={**os.environ, "KUBECONFIG": str(kubeconfig)},
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub: Any = runtime_pb2_grpc.RuntimeServiceStub(channel)  # type: ignore[no-untyped-call]
            created = stub.Create(runtime_pb2.Request(runtime=runtime), timeout=20)
            status = stub.RuntimeStatus(
                runtime_pb2.Request(runtime=runtime_pb2.Runtime(namespace="kre-solo")), timeout=90
            )
        kopf.send_signal(signal.SIGTERM)
        kopf_code = kopf.wait(timeout=60)
        serving = health_status(port)  # the operator gone, the dev mode goes on
        running_on = dev.process.poll() is None
        dev.process.send_signal(signal.SIGTERM)
        code = dev.process.wait(timeout=30)
    finally:
        if kopf is not None and kopf.poll() is None:
            kopf.kill()
        stop(dev)

    assert lines == [f"gRPC facade: 127.0.0.1:{port}", f"kubeconfig: {kubeconfig.resolve()}", "ready"]
    assert commands == ["facade"]
    assert "no operator (--no-operator): run your own" in dev.log()
    assert created.message == "Runtime 'Solo' created"
    assert status.Status == "STARTED", kopf_log.read_text(errors="replace")
    assert kopf_code == 0
    assert serving == health_pb2.HealthCheckResponse.SERVING
    assert running_on
    assert code == 0, dev.log()
    assert "operator | " not in dev.log()


def test_a_second_ctrl_c_kills_only_the_children_still_running(running_dev):
    dev, _, kubeconfig = running_dev
    dev.read_until_ready()
    children = psutil.Process(dev.process.pid).children()
    names = {child.pid: child.cmdline()[3] for child in children}

    def ended(child: psutil.Process) -> bool:
        try:
            return bool(child.status() == psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return True

    dev.process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 30
    while not any(ended(child) for child in children):
        assert time.monotonic() < deadline, "no child stopped on the first Ctrl-C"
        time.sleep(0.005)
    stopped_first = {names[child.pid] for child in children if ended(child)}
    dev.process.send_signal(signal.SIGINT)  # a second Ctrl-C while the other child, if any, is still stopping
    code = dev.process.wait(timeout=30)

    _, alive = psutil.wait_procs(children, timeout=5)
    killed = re.findall(r"killing (\w+): still stopping at the second signal", dev.log())
    assert code == 0, dev.log()
    assert alive == []
    assert "did not stop in time" not in dev.log()
    assert set(killed) <= set(names.values()) - stopped_first  # only one that was still running, if any
    assert not kubeconfig.exists()


GADGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.example.com
spec:
  group: example.com
  names: {plural: gizmos, singular: gizmo, kind: Gizmo}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      additionalPrinterColumns:
        - {name: Size, type: integer, jsonPath: .spec.size}
        - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer, minimum: 1}
            status:
              type: object
              x-kubernetes-preserve-unknown-fields: true
"""

GIZMO = """
apiVersion: example.com/v1
kind: Gizmo
metadata:
  name: small
  namespace: default
  labels: {tier: {tier}}
spec:
  size: {size}
"""


def test_kubectl_drives_the_dev_mode_emulator_through_a_custom_resource_life(running_dev, tmp_path: Path):
    dev, _, kubeconfig = running_dev
    dev.read_until_ready()
    assert KUBECTL is not None
    base = [KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache")]

    def kubectl(*args: str, stdin: str | None = None) -> str:
        result = subprocess.run([*base, *args], input=stdin, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout

    def gizmo(size: int) -> str:
        return GIZMO.replace("{tier}", "gold").replace("{size}", str(size))

    assert "created" in kubectl("apply", "-f", "-", stdin=GADGET_CRD)
    kubectl("wait", "--for=condition=Established", "crd/gizmos.example.com", "--timeout=30s")
    assert kubectl("apply", "-f", "-", stdin=gizmo(1)).strip() == "gizmo.example.com/small created"
    assert kubectl("apply", "-f", "-", stdin=gizmo(3)).strip() == "gizmo.example.com/small configured"
    assert kubectl("get", "gizmo", "small", "-o", "jsonpath={.spec.size} {.metadata.generation}") == "3 2"
    table = kubectl("get", "gizmos", "-l", "tier=gold").splitlines()
    assert table[0].split() == ["NAME", "SIZE", "READY"]
    assert table[1].split() == ["small", "3"]  # no Ready condition yet: kubectl prints an empty cell
    assert kubectl("get", "gizmos", "-l", "tier in (silver)", "-o", "name") == ""

    waiting = subprocess.Popen(
        [*base, "wait", "--for=condition=Ready", "gizmo/small", "--timeout=60s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)  # let kubectl start watching before the condition appears (it also works if it has not)
    assert waiting.poll() is None, "kubectl wait returned before the condition was set"
    status = '{"status": {"conditions": [{"type": "Ready", "status": "True"}]}}'
    kubectl("patch", "gizmo", "small", "--subresource=status", "--type=merge", "-p", status)
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert out.strip() == "gizmo.example.com/small condition met"
    assert kubectl("get", "gizmo", "small", "--no-headers").split() == ["small", "3", "True"]

    assert kubectl("delete", "gizmo", "small").strip() == 'gizmo.example.com "small" deleted'
    assert kubectl("get", "gizmos", "-o", "name") == ""


def test_the_admin_api_path_reaches_started_in_dev_mode(running_dev):
    """Through the operator and the facade running as the manifests' ServiceAccounts, as in a cluster."""
    from k8s_manager_facade.generated import runtime_pb2, runtime_pb2_grpc

    dev, port, kubeconfig = running_dev
    dev.read_until_ready()
    runtime = runtime_pb2.Runtime(
        name="Demo",
        namespace="kre-demo",
        mongo=runtime_pb2.Runtime.MongoConf(username="admin", password="Xq3vL9pa", sharedKey="Tm7wQ2zk"),
        minio=runtime_pb2.Runtime.MinioConf(accessKey="admin", secretKey="Hb5nR8cy"),
    )
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub: Any = runtime_pb2_grpc.RuntimeServiceStub(channel)  # type: ignore[no-untyped-call]
        created = stub.Create(runtime_pb2.Request(runtime=runtime), timeout=20)
        status = stub.RuntimeStatus(runtime_pb2.Request(runtime=runtime_pb2.Runtime(namespace="kre-demo")), timeout=60)

    assert created.message == "Runtime 'Demo' created"
    assert status.Status == "STARTED"
    assert KUBECTL is not None
    subject = "jsonpath={.subjects[0].namespace}/{.subjects[0].name}"
    binding = subprocess.run(
        [
            KUBECTL,
            "--kubeconfig",
            str(kubeconfig),
            "-n",
            "kre-demo",
            "get",
            "rolebinding/k8s-manager-operator",
            "-o",
            subject,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert binding.stdout == "kre/k8s-manager-operator", binding.stderr  # the operator knew its identity
    for account in ACCOUNTS:  # neither may read Secrets cluster-wide
        as_account = subprocess.run(
            [KUBECTL, "--kubeconfig", str(kubeconfig.with_name(f"{account}.kubeconfig")), "get", "secrets", "-A"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert as_account.returncode != 0
        assert f'User "system:serviceaccount:kre:{account}" cannot list resource "secrets"' in as_account.stderr
