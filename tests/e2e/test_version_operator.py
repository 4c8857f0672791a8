"""RuntimeVersions end to end through the real operator process and kubectl (the kubectl/patch path).

On the emulator or a real cluster, in a Runtime of its own (its components deployed by the stand-in of
tests/e2e/system.py until the runtime operator exists); API faults on the emulator only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kube_emulator
import pytest
import yaml
from kube_emulator.threaded import ThreadedEmulator

from .system import (
    ROOT,
    System,
    emulator_or_none,
    eventually,
    random_credential,
    ready,
    running_system,
    runtime_manifest,
    unique_name,
)

# Whole-system tests: processes start, reconcile and converge; on a loaded 2-core CI machine that takes time.
pytestmark = pytest.mark.timeout(300)

SAMPLE = ROOT / "crds" / "examples" / "runtimeversion.yaml"
RESYNC_SECONDS = 2  # running_system's KRE_RUNTIME_RESYNC_INTERVAL


@dataclass
class Runtime:
    """The running system and the Ready runtime (its name is its namespace) the versions go into."""

    system: System
    namespace: str

    def get(self, *args: str) -> Any:
        return self.system.get(*args, "-n", self.namespace)

    def patch_version(self, name: str, patch: str) -> None:
        self.system.kubectl("patch", "runtimeversion", name, "-n", self.namespace, "--type=merge", "-p", patch)


@pytest.fixture
def runtime(tmp_path: Path, request: pytest.FixtureRequest, kubeconfig: Path) -> Iterator[Runtime]:
    with running_system(tmp_path, emulator_or_none(request), kubeconfig, facade=False) as running:
        name = unique_name()
        credentials = {
            "password": random_credential(),
            "sharedKey": random_credential(),
            "secretKey": random_credential(),
        }
        running.kubectl("apply", "-f", "-", stdin=runtime_manifest(name, credentials))
        eventually(lambda: ready(running, name), "the runtime to be Ready", timeout=120)
        yield Runtime(running, name)


def version_manifest(runtime: Runtime, name: str, **spec: Any) -> str:
    version = yaml.safe_load(SAMPLE.read_text())
    version["metadata"]["name"] = name
    version["metadata"]["namespace"] = runtime.namespace
    version["spec"].update(spec)
    return json.dumps(version)


def condition(runtime: Runtime, name: str, kind: str) -> tuple[str, str] | None:
    version = runtime.get("runtimeversion", name)
    status = (version or {}).get("status") or {}
    if status.get("observedGeneration") != version["metadata"]["generation"]:
        return None
    found = next((c for c in status.get("conditions") or [] if c["type"] == kind), None)
    return (found["status"], found["reason"]) if found else None


def version_objects(runtime: Runtime, name: str) -> set[tuple[str, str]]:
    listed = runtime.get("configmaps,deployments", "-l", f"version-name={name}")
    return {(item["kind"], item["metadata"]["name"]) for item in listed["items"]}


def expected_objects(name: str) -> set[tuple[str, str]]:
    nodes = [("greeter", "qmzhfkxzbn"), ("greeter", "tbwfojcjyx"), ("formatter", "hsqkdnzwpa")]
    found = {(kind, f"{name}-{node}-{node_id}") for node, node_id in nodes for kind in ("ConfigMap", "Deployment")}
    found |= {("ConfigMap", f"{name}-{suffix}") for suffix in ("global", "conf-files", "entrypoint-env")}
    found.add(("Deployment", f"{name}-entrypoint"))
    return found


@pytest.mark.cluster
def test_a_version_is_started_published_moved_reconfigured_and_stopped(runtime: Runtime) -> None:
    system = runtime.system
    system.kubectl("apply", "-f", "-", stdin=version_manifest(runtime, "greeter-v1"))
    eventually(lambda: condition(runtime, "greeter-v1", "Ready") == ("True", "Started"), "greeter-v1 Ready", 120)
    assert version_objects(runtime, "greeter-v1") == expected_objects("greeter-v1")

    # Once all is ready no part's status still says why it was not, and the operator leaves both resources alone
    # at its resyncs (KRE_RUNTIME_RESYNC_INTERVAL, 2 s here).
    settled = runtime.get("runtimeversion", "greeter-v1")
    assert [part for part in [settled["status"]["entrypoint"], *settled["status"]["nodes"]] if "message" in part] == []
    runtime_version = system.get("runtime", runtime.namespace)["metadata"]["resourceVersion"]
    time.sleep(3 * RESYNC_SECONDS)
    assert (
        runtime.get("runtimeversion", "greeter-v1")["metadata"]["resourceVersion"]
        == (settled["metadata"]["resourceVersion"])
    )
    assert system.get("runtime", runtime.namespace)["metadata"]["resourceVersion"] == runtime_version

    # The wiring of the original: first node listens on the entrypoint subject, edges are subjects.
    first = runtime.get("configmap", "greeter-v1-greeter-tbwfojcjyx")["data"]
    last = runtime.get("configmap", "greeter-v1-formatter-hsqkdnzwpa")["data"]
    assert first["KRT_NATS_INPUT"] == "greeter-v1-Salute-entrypoint"
    assert first["KRT_NATS_OUTPUT"] == last["KRT_NATS_INPUT"] == "ykvnsgzuqe"
    assert last.get("KRT_NATS_OUTPUT", "") == ""
    subjects = json.loads(runtime.get("configmap", "greeter-v1-conf-files")["data"]["nats_subject.json"])
    assert subjects == {"Greet": "greeter-v1-Greet-entrypoint", "Salute": "greeter-v1-Salute-entrypoint"}

    runtime.patch_version("greeter-v1", '{"spec":{"published":true}}')
    eventually(lambda: condition(runtime, "greeter-v1", "Published") == ("True", "Published"), "greeter-v1 published")
    service = runtime.get("service", "active-entrypoint")
    assert service["spec"]["selector"] == {"type": "entrypoint", "version-name": "greeter-v1"}
    assert sorted((p["name"], p["port"]) for p in service["spec"]["ports"]) == [("grpc", 9000), ("web", 80)]

    # Publishing another version moves the Service; the first reports it.
    system.kubectl("apply", "-f", "-", stdin=version_manifest(runtime, "greeter-v2", published=True))
    eventually(
        lambda: condition(runtime, "greeter-v2", "Published") == ("True", "Published"), "greeter-v2 published", 120
    )
    eventually(
        lambda: (condition(runtime, "greeter-v1", "Published") or ("", ""))[0] == "False", "greeter-v1 unpublished"
    )
    assert runtime.get("service", "active-entrypoint")["spec"]["selector"]["version-name"] == "greeter-v2"

    # A config change rolls the Deployments through a template annotation, without deleting them.
    before = runtime.get("deployment", "greeter-v1-greeter-qmzhfkxzbn")
    runtime.patch_version("greeter-v1", '{"spec":{"config":[{"key":"GREETING_PREFIX","value":"Hi"}]}}')
    eventually(
        lambda: runtime.get("configmap", "greeter-v1-global").get("data") == {"GREETING_PREFIX": "Hi"},
        "the global ConfigMap to hold the new config",
    )

    def rolled() -> dict[str, Any] | None:
        now = runtime.get("deployment", "greeter-v1-greeter-qmzhfkxzbn")
        annotations = now["spec"]["template"]["metadata"]["annotations"]
        return now if annotations != before["spec"]["template"]["metadata"]["annotations"] else None

    after = eventually(rolled, "the pod template's config hash to change")
    assert after["metadata"]["uid"] == before["metadata"]["uid"]

    # Stop removes exactly this version's objects and nothing of the other.
    runtime.patch_version("greeter-v1", '{"spec":{"desiredState":"Stopped"}}')
    eventually(lambda: condition(runtime, "greeter-v1", "Ready") == ("True", "Stopped"), "greeter-v1 stopped", 120)
    assert version_objects(runtime, "greeter-v1") == set()
    assert version_objects(runtime, "greeter-v2") == expected_objects("greeter-v2")
    assert runtime.get("runtimeversion", "greeter-v1") is not None


def replica_sets_by_deployment(runtime: Runtime) -> dict[str, int]:
    """How many ReplicaSets each Deployment of the namespace controls."""
    counts: dict[str, int] = {}
    for replica_set in runtime.get("replicasets")["items"]:
        for owner in replica_set["metadata"].get("ownerReferences") or []:
            if owner["kind"] == "Deployment" and owner.get("controller"):
                counts[owner["name"]] = counts.get(owner["name"], 0) + 1
    return counts


def test_a_version_started_through_api_faults_converges_without_duplicates(
    runtime: Runtime, emulator: ThreadedEmulator
) -> None:
    # Injected after the runtime is Ready, so only the version's writes meet them.
    faults = emulator.emulator.faults
    failing_config_maps = faults.add(kube_emulator.Fault(method="POST", path=r"/configmaps$", status=500, times=3))
    throttled_deployments = faults.add(
        kube_emulator.Fault(method="POST", path=r"/deployments$", status=429, retry_after=1, times=2)
    )
    try:
        runtime.system.kubectl("apply", "-f", "-", stdin=version_manifest(runtime, "greeter-v1"))
        eventually(lambda: condition(runtime, "greeter-v1", "Ready") == ("True", "Started"), "greeter-v1 Ready", 120)
    finally:
        faults.remove(failing_config_maps.id)
        faults.remove(throttled_deployments.id)

    assert failing_config_maps.hits == 3
    assert throttled_deployments.hits == 2
    assert version_objects(runtime, "greeter-v1") == expected_objects("greeter-v1")
    deployments = sorted(name for kind, name in expected_objects("greeter-v1") if kind == "Deployment")
    replica_sets = replica_sets_by_deployment(runtime)
    assert {name: replica_sets.get(name, 0) for name in deployments} == dict.fromkeys(deployments, 1)
