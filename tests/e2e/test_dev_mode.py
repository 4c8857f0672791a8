"""`k8s-manager dev` end to end: a real process tree, a real gRPC client and kubectl."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from .dev_process import READY_TIMEOUT, DevProcess, free_port, processes_using, start_dev, stop

KUBECTL = shutil.which("kubectl")
ACCOUNTS = ("k8s-manager-operator", "k8s-manager-facade")


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


def test_a_busy_grpc_port_is_reported_and_nothing_is_left_running(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        dev = start_dev(tmp_path, "--grpc-port", str(port), "--kubeconfig-out", str(tmp_path / "kubeconfig"))
        try:
            code = dev.process.wait(timeout=READY_TIMEOUT)
        finally:
            stop(dev)

    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in dev.log()
    assert "facade exited while starting (exit code 1)" in dev.log()
    assert processes_using(tmp_path / "kubeconfig") == []
    assert dev.stdout_lines.get(timeout=5) is None  # nothing on stdout: never ready


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
