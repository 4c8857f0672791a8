"""RuntimeVersions end to end through the real operator process and kubectl (the kubectl/patch path)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kube_emulator
import pytest
import yaml
from kube_emulator.threaded import ThreadedEmulator

from .system import ROOT, System, eventually, random_credential, ready, running_system, runtime_manifest

# Whole-system tests: processes start, reconcile and converge; on a loaded 2-core CI machine that takes time.
pytestmark = pytest.mark.timeout(300)

SAMPLE = ROOT / "crds" / "examples" / "runtimeversion.yaml"
NAMESPACE = "kre-demo"


@pytest.fixture
def system(tmp_path: Path, emulator: ThreadedEmulator, kubeconfig: Path) -> Iterator[System]:
    with running_system(tmp_path, emulator, kubeconfig, facade=False) as running:
        credentials = {
            "password": random_credential(),
            "sharedKey": random_credential(),
            "secretKey": random_credential(),
        }
        running.kubectl("apply", "-f", "-", stdin=runtime_manifest(NAMESPACE, credentials))
        eventually(lambda: ready(running, NAMESPACE), "the runtime to be Ready", timeout=120)
        yield running


def version_manifest(name: str, **spec: Any) -> str:
    version = yaml.safe_load(SAMPLE.read_text())
    version["metadata"]["name"] = name
    version["spec"].update(spec)
    return json.dumps(version)


def condition(system: System, name: str, kind: str) -> tuple[str, str] | None:
    version = system.get("runtimeversion", name, "-n", NAMESPACE)
    status = (version or {}).get("status") or {}
    if status.get("observedGeneration") != version["metadata"]["generation"]:
        return None
    found = next((c for c in status.get("conditions") or [] if c["type"] == kind), None)
    return (found["status"], found["reason"]) if found else None


def version_objects(system: System, name: str) -> set[tuple[str, str]]:
    listed = system.get("configmaps,deployments", "-n", NAMESPACE, "-l", f"version-name={name}")
    return {(item["kind"], item["metadata"]["name"]) for item in listed["items"]}


def expected_objects(name: str) -> set[tuple[str, str]]:
    nodes = [("greeter", "qmzhfkxzbn"), ("greeter", "tbwfojcjyx"), ("formatter", "hsqkdnzwpa")]
    found = {(kind, f"{name}-{node}-{node_id}") for node, node_id in nodes for kind in ("ConfigMap", "Deployment")}
    found |= {("ConfigMap", f"{name}-{suffix}") for suffix in ("global", "conf-files", "entrypoint-env")}
    found.add(("Deployment", f"{name}-entrypoint"))
    return found


def test_a_version_is_started_published_moved_reconfigured_and_stopped(system: System) -> None:
    system.kubectl("apply", "-f", "-", stdin=version_manifest("greeter-v1"))
    eventually(lambda: condition(system, "greeter-v1", "Ready") == ("True", "Started"), "greeter-v1 Ready", 120)
    assert version_objects(system, "greeter-v1") == expected_objects("greeter-v1")

    # The wiring of the original: first node listens on the entrypoint subject, edges are subjects.
    first = system.get("configmap", "greeter-v1-greeter-tbwfojcjyx", "-n", NAMESPACE)["data"]
    last = system.get("configmap", "greeter-v1-formatter-hsqkdnzwpa", "-n", NAMESPACE)["data"]
    assert first["KRT_NATS_INPUT"] == "greeter-v1-Salute-entrypoint"
    assert first["KRT_NATS_OUTPUT"] == last["KRT_NATS_INPUT"] == "ykvnsgzuqe"
    assert last.get("KRT_NATS_OUTPUT", "") == ""
    subjects = json.loads(
        system.get("configmap", "greeter-v1-conf-files", "-n", NAMESPACE)["data"]["nats_subject.json"]
    )
    assert subjects == {"Greet": "greeter-v1-Greet-entrypoint", "Salute": "greeter-v1-Salute-entrypoint"}

    system.kubectl(
        "patch", "runtimeversion", "greeter-v1", "-n", NAMESPACE, "--type=merge", "-p", '{"spec":{"published":true}}'
    )
    eventually(lambda: condition(system, "greeter-v1", "Published") == ("True", "Published"), "greeter-v1 published")
    service = system.get("service", "active-entrypoint", "-n", NAMESPACE)
    assert service["spec"]["selector"] == {"type": "entrypoint", "version-name": "greeter-v1"}
    assert sorted((p["name"], p["port"]) for p in service["spec"]["ports"]) == [("grpc", 9000), ("web", 80)]

    # Publishing another version moves the Service; the first reports it.
    system.kubectl("apply", "-f", "-", stdin=version_manifest("greeter-v2", published=True))
    eventually(
        lambda: condition(system, "greeter-v2", "Published") == ("True", "Published"), "greeter-v2 published", 120
    )
    eventually(
        lambda: (condition(system, "greeter-v1", "Published") or ("", ""))[0] == "False", "greeter-v1 unpublished"
    )
    assert (
        system.get("service", "active-entrypoint", "-n", NAMESPACE)["spec"]["selector"]["version-name"] == "greeter-v2"
    )

    # A config change rolls the Deployments through a template annotation, without deleting them.
    before = system.get("deployment", "greeter-v1-greeter-qmzhfkxzbn", "-n", NAMESPACE)
    system.kubectl(
        "patch",
        "runtimeversion",
        "greeter-v1",
        "-n",
        NAMESPACE,
        "--type=merge",
        "-p",
        '{"spec":{"config":[{"key":"GREETING_PREFIX","value":"Hi"}]}}',
    )
    eventually(
        lambda: system.get("configmap", "greeter-v1-global", "-n", NAMESPACE).get("data") == {"GREETING_PREFIX": "Hi"},
        "the global ConfigMap to hold the new config",
    )

    def rolled() -> dict[str, Any] | None:
        now = system.get("deployment", "greeter-v1-greeter-qmzhfkxzbn", "-n", NAMESPACE)
        annotations = now["spec"]["template"]["metadata"]["annotations"]
        return now if annotations != before["spec"]["template"]["metadata"]["annotations"] else None

    after = eventually(rolled, "the pod template's config hash to change")
    assert after["metadata"]["uid"] == before["metadata"]["uid"]

    # Stop removes exactly this version's objects and nothing of the other.
    system.kubectl(
        "patch",
        "runtimeversion",
        "greeter-v1",
        "-n",
        NAMESPACE,
        "--type=merge",
        "-p",
        '{"spec":{"desiredState":"Stopped"}}',
    )
    eventually(lambda: condition(system, "greeter-v1", "Ready") == ("True", "Stopped"), "greeter-v1 stopped", 120)
    assert version_objects(system, "greeter-v1") == set()
    assert version_objects(system, "greeter-v2") == expected_objects("greeter-v2")
    assert system.get("runtimeversion", "greeter-v1", "-n", NAMESPACE) is not None


def replica_sets_by_deployment(system: System) -> dict[str, int]:
    """How many ReplicaSets each Deployment of the namespace controls."""
    counts: dict[str, int] = {}
    for replica_set in system.get("replicasets", "-n", NAMESPACE)["items"]:
        for owner in replica_set["metadata"].get("ownerReferences") or []:
            if owner["kind"] == "Deployment" and owner.get("controller"):
                counts[owner["name"]] = counts.get(owner["name"], 0) + 1
    return counts


def test_a_version_started_through_api_faults_converges_without_duplicates(
    system: System, emulator: ThreadedEmulator
) -> None:
    # Injected after the runtime is Ready, so only the version's writes meet them.
    faults = emulator.emulator.faults
    failing_config_maps = faults.add(kube_emulator.Fault(method="POST", path=r"/configmaps$", status=500, times=3))
    throttled_deployments = faults.add(
        kube_emulator.Fault(method="POST", path=r"/deployments$", status=429, retry_after=1, times=2)
    )
    try:
        system.kubectl("apply", "-f", "-", stdin=version_manifest("greeter-v1"))
        eventually(lambda: condition(system, "greeter-v1", "Ready") == ("True", "Started"), "greeter-v1 Ready", 120)
    finally:
        faults.remove(failing_config_maps.id)
        faults.remove(throttled_deployments.id)

    assert failing_config_maps.hits == 3
    assert throttled_deployments.hits == 2
    assert version_objects(system, "greeter-v1") == expected_objects("greeter-v1")
    deployments = sorted(name for kind, name in expected_objects("greeter-v1") if kind == "Deployment")
    replica_sets = replica_sets_by_deployment(system)
    assert {name: replica_sets.get(name, 0) for name in deployments} == dict.fromkeys(deployments, 1)
