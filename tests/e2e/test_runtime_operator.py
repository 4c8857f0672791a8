"""The Runtime operator end to end: real operator process, kubectl, the emulator or a real cluster.

What a user of `kubectl apply` sees: the objects of docs/runtime.md with their names, labels, owners and
security settings; credentials only in the Secret; Ready once the runtime operator and the components are
ready (the components deployed by the stand-in, tests/e2e/system.py, until the runtime operator exists); drift
corrected; deletion removing everything; a SIGKILL'd operator converging, and on the emulator API faults too.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kube_emulator import Fault
from kube_emulator.threaded import ThreadedEmulator

from .system import (
    System,
    emulator_or_none,
    eventually,
    expected_objects,
    owned_objects,
    random_credential,
    ready,
    running_system,
    runtime_manifest,
    unique_name,
)

# Whole-system tests: processes start, reconcile and converge; on a loaded 2-core CI machine that takes time.
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def system(tmp_path: Path, request: pytest.FixtureRequest, kubeconfig: Path) -> Iterator[System]:
    with running_system(tmp_path, emulator_or_none(request), kubeconfig, facade=False) as running:
        yield running


def new_credentials() -> dict[str, str]:
    return {"password": random_credential(), "sharedKey": random_credential(), "secretKey": random_credential()}


@pytest.mark.cluster
def test_kubectl_apply_builds_the_runtime_and_it_becomes_ready(system: System) -> None:
    name = unique_name()
    credentials = {"password": random_credential(), "sharedKey": random_credential(), "secretKey": random_credential()}

    system.kubectl("apply", "-f", "-", stdin=runtime_manifest(name, credentials))
    system.kubectl("wait", "--for=condition=Ready", f"runtime/{name}", "--timeout=120s")

    assert owned_objects(system, name) == expected_objects(name)
    runtime = system.get("runtime", name)
    uid = runtime["metadata"]["uid"]
    namespace = system.get("namespace", name)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "k8s-manager"
    for kind, names in expected_objects(name).items():
        for object_name in names:
            args = [kind.lower(), object_name] + (
                [] if kind.startswith("Cluster") or kind == "Namespace" else ["-n", name]
            )
            owners = system.get(*args)["metadata"]["ownerReferences"]
            assert owners == [
                {
                    "apiVersion": "kre.konstellation.io/v1alpha1",
                    "kind": "Runtime",
                    "name": name,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ], (kind, object_name)

    deployment = system.get("deployment", "kre-operator", "-n", name)
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["name"] == "kre-operator"
    container = pod["spec"]["containers"][0]
    assert container["image"].startswith("konstellation/kre-operator:")
    assert not container["image"].endswith(":latest")
    assert container["imagePullPolicy"] == "Always"
    assert {e["name"] for e in container["env"]} == {"WATCH_NAMESPACE", "POD_NAME", "OPERATOR_NAME"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["serviceAccountName"] == "kre-operator"
    assert container["resources"]["limits"]
    assert container["resources"]["requests"]

    # The credentials live only in the Secret; the spec refers to it.
    secret = system.get("secret", "kre-runtime-credentials", "-n", name)
    decoded = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert decoded == {"username": "admin", "accessKey": "admin", **credentials}
    assert runtime["spec"]["mongo"]["credentials"] == {"secretRef": {"name": "kre-runtime-credentials"}}
    assert runtime["spec"]["minio"]["credentials"] == {"secretRef": {"name": "kre-runtime-credentials"}}
    readable = json.dumps(runtime) + json.dumps(system.get("events", "-A")) + system.log("operator")
    for value in credentials.values():
        assert value not in readable


@pytest.mark.cluster
def test_a_spec_change_rolls_through_and_drift_is_corrected(system: System) -> None:
    name = unique_name()
    creds = {"password": random_credential(), "sharedKey": random_credential(), "secretKey": random_credential()}
    system.kubectl("apply", "-f", "-", stdin=runtime_manifest(name, creds))
    eventually(lambda: ready(system, name), f"runtime {name} Ready", timeout=120)

    system.kubectl("patch", "runtime", name, "--type=merge", "-p", '{"spec": {"developmentMode": true}}')
    eventually(
        lambda: (
            system.get("deployment", "kre-operator", "-n", name)["spec"]["template"]["spec"]["containers"][0][
                "imagePullPolicy"
            ]
            == "IfNotPresent"
        ),
        "the runtime operator's pull policy to follow developmentMode",
    )

    system.kubectl("delete", "deployment", "kre-operator", "-n", name, "--wait=false")
    system.kubectl("patch", "role", "kre-operator", "-n", name, "--type=merge", "-p", '{"rules": []}')
    system.kubectl("delete", "clusterrolebinding", f"kre-runtime-{name}")
    eventually(lambda: owned_objects(system, name) == expected_objects(name), "the deleted objects to come back")
    eventually(lambda: system.get("role", "kre-operator", "-n", name)["rules"], "the Role's rules to be restored")
    eventually(lambda: ready(system, name), f"runtime {name} Ready again", timeout=120)


@pytest.mark.cluster
def test_deleting_the_runtime_removes_everything(system: System) -> None:
    name = unique_name()
    creds = {"password": random_credential(), "sharedKey": random_credential(), "secretKey": random_credential()}
    system.kubectl("apply", "-f", "-", stdin=runtime_manifest(name, creds))
    eventually(lambda: ready(system, name), f"runtime {name} Ready", timeout=120)

    system.kubectl("delete", "runtime", name, "--timeout=120s")

    eventually(lambda: system.get("namespace", name) is None, "the namespace to be gone", timeout=120)
    eventually(lambda: owned_objects(system, name) == {}, "every owned object to be gone", timeout=120)


def test_an_invalid_runtime_is_a_terminal_failure_that_names_the_field(
    system: System, emulator: ThreadedEmulator
) -> None:
    # Both credential forms at once: the CRD's CEL rule refuses it, so write it as the emulator would accept
    # it were CEL absent — straight into the store — to prove the operator re-validates.
    manifest = json.loads(
        runtime_manifest("kre-both", {"password": "p4ssw0rd", "sharedKey": "k3yk3y", "secretKey": "s3cr3tk3y"})
    )
    manifest["spec"]["minio"]["credentials"]["secretRef"] = {"name": "elsewhere"}
    runtimes = emulator.emulator.cluster.rtype("kre.konstellation.io", "v1alpha1", "runtimes")
    emulator.run_sync(lambda: emulator.emulator.cluster.strategies.set_schema(runtimes, None))
    emulator.run_sync(lambda: emulator.emulator.cluster.store.create(runtimes, None, manifest))

    failed = eventually(lambda: system.get("runtime", "kre-both").get("status"), "a status", timeout=60)
    condition = next(c for c in failed["conditions"] if c["type"] == "Ready")
    assert (condition["status"], condition["reason"]) == ("False", "InvalidSpec")
    assert "spec.minio.credentials" in condition["message"]
    assert "s3cr3tk3y" not in json.dumps(failed)
    assert system.get("namespace", "kre-both") is None  # nothing half-made


@pytest.mark.cluster
def test_an_operator_killed_mid_reconcile_is_resumed_by_the_next_without_duplicates(system: System) -> None:
    name = unique_name()
    system.kubectl("apply", "-f", "-", stdin=runtime_manifest(name, new_credentials()))

    # SIGKILL as soon as it has started working on the runtime (nothing to let it finish), then start another.
    eventually(lambda: system.get("namespace", name), "the operator to start on the runtime", timeout=60)
    system.kill_operator()
    system.start_operator()

    eventually(lambda: ready(system, name), f"runtime {name} Ready after a SIGKILL", timeout=120)
    assert owned_objects(system, name) == expected_objects(name)
    replica_sets = system.get("replicasets", "-n", name, "-l", "name=kre-operator")["items"]
    assert len(replica_sets) == 1


def test_api_faults_and_a_killed_operator_converge_without_duplicates(
    system: System, emulator: ThreadedEmulator
) -> None:
    faults = emulator.emulator.faults
    faults.add(Fault(method="POST", path=r"/namespaces/kre-[a-z]+/(serviceaccounts|roles)$", status=500, times=3))
    faults.add(
        Fault(
            method="POST", path=r"/apis/apps/v1/namespaces/kre-[a-z]+/deployments$", status=429, retry_after=1, times=2
        )
    )
    faults.add(Fault(method="PATCH", path=r"/runtimes/kre-[a-z]+$", status=409, times=1))
    name = unique_name()
    creds = {"password": random_credential(), "sharedKey": random_credential(), "secretKey": random_credential()}
    system.kubectl("apply", "-f", "-", stdin=runtime_manifest(name, creds))

    # Kill the operator as soon as it has started working on the runtime, then start it again.
    eventually(lambda: system.get("namespace", name), "the operator to start on the runtime", timeout=60)
    system.kill_operator()
    system.start_operator()

    eventually(lambda: ready(system, name), f"runtime {name} Ready after faults and a SIGKILL", timeout=120)
    assert owned_objects(system, name) == expected_objects(name)
    assert all(fault.hits == fault.times for fault in faults.list()), [f.public() for f in faults.list()]
    replica_sets = system.get("replicasets", "-n", name, "-l", "name=kre-operator")["items"]
    assert len(replica_sets) == 1
