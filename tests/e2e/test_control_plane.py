"""`tests/cluster/up`, the launcher of the suites' real control plane, as a user runs it.

It must print its kubeconfig and `ready` only once workloads work, serve a real kube-apiserver there, and leave no
process behind when stopped with SIGTERM or Ctrl-C. These tests start their own control plane (about a minute on
2 cores), so they run in the emulator pass only; the real pass uses the same launcher for everything it runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
UP = ROOT / "tests" / "cluster" / "up"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")

pytestmark = pytest.mark.timeout(600)


def _read_line(process: subprocess.Popen[str], deadline: float) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise AssertionError(f"tests/cluster/up exited ({process.wait()}) before `ready`")
    if time.monotonic() > deadline:
        raise AssertionError("tests/cluster/up took too long to become ready")
    return line.rstrip("\n")


@pytest.mark.skipif(bool(os.environ.get("K8S_MANAGER_TEST_KUBECONFIG")), reason="starts a control plane of its own")
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_up_serves_a_real_control_plane_and_stops_without_leftovers(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    kubeconfig = tmp_path / "out" / "kubeconfig"
    process = subprocess.Popen(
        [str(UP), "--kubeconfig-out", str(kubeconfig), "--nodes", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 400
        lines: dict[str, str] = {}
        while (line := _read_line(process, deadline)) != "ready":
            key, _, value = line.partition(": ")
            lines[key] = value
        assert lines["kubeconfig"] == str(kubeconfig)
        kubectl = lines["kubectl"]
        children = psutil.Process(process.pid).children(recursive=True)
        names = sorted(Path(child.cmdline()[0]).name for child in children)
        assert names == sorted(COMPONENTS)

        version = json.loads(
            subprocess.run(
                [kubectl, "--kubeconfig", str(kubeconfig), "version", "-o", "json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        assert version["serverVersion"]["gitVersion"] == version["clientVersion"]["gitVersion"]
        assert version["serverVersion"]["gitVersion"].startswith("v1.")
        nodes = json.loads(
            subprocess.run(
                [kubectl, "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )["items"]
        assert len(nodes) == 2
        for node in nodes:
            conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
            assert conditions["Ready"] == "True"
            assert not [t for t in node["spec"].get("taints", []) if t["key"] == "node.kubernetes.io/not-ready"]

        process.send_signal(stop_signal)
        assert process.wait(timeout=90) == 0
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"left running: {[child.name() for child in alive]}"
        assert not kubeconfig.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.cluster
def test_statefulset_claims_bind_and_their_volumes_go_with_them(kubeconfig: Path, namespace: str) -> None:
    """The harness's provisioner: claims from a StatefulSet's templates bind, its pods run, deleting the claims
    deletes their volumes. The emulator has no StatefulSet controller nor volumes (docs/emulator.md)."""
    if not os.environ.get("K8S_MANAGER_TEST_KUBECONFIG"):
        pytest.skip("the emulator has no StatefulSet controller nor PersistentVolumes; the real control plane has")
    import kubernetes

    client: Any = kubernetes.client
    config: Any = kubernetes.config
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        labels = {"app": "claims"}
        apps.create_namespaced_stateful_set(
            namespace,
            {
                "metadata": {"name": "claims"},
                "spec": {
                    "replicas": 2,
                    "serviceName": "claims",
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [
                                {
                                    "name": "c",
                                    "image": "registry.invalid/c:1",
                                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                                }
                            ]
                        },
                    },
                    "volumeClaimTemplates": [
                        {
                            "metadata": {"name": "data"},
                            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                        }
                    ],
                },
            },
        )

        def ready_replicas() -> int:
            return apps.read_namespaced_stateful_set("claims", namespace).status.ready_replicas or 0

        _until(lambda: ready_replicas() == 2, "both StatefulSet pods Ready")
        claims = core.list_namespaced_persistent_volume_claim(namespace).items
        assert sorted(c.metadata.name for c in claims) == ["data-claims-0", "data-claims-1"]
        assert {c.status.phase for c in claims} == {"Bound"}
        volumes = {c.spec.volume_name for c in claims}
        for volume in volumes:
            assert core.read_persistent_volume(volume).spec.claim_ref.namespace == namespace

        apps.delete_namespaced_stateful_set("claims", namespace)
        for claim in claims:
            core.delete_namespaced_persistent_volume_claim(claim.metadata.name, namespace)

        def volumes_left() -> set[str]:
            return {v.metadata.name for v in core.list_persistent_volume().items} & volumes

        _until(lambda: not volumes_left(), "the released volumes deleted")


def _until(check: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for: {what}")
        time.sleep(0.5)
