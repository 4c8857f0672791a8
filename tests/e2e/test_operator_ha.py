"""Two operator replicas coordinated by kopf's peering: one reconciles, the other takes over when it dies.

`k8s-manager operator --peering=k8s-manager` with different priorities, against the emulator or a real cluster:
the first replica creates the ClusterKopfPeering `k8s-manager` and both write their heartbeats into it; only the
higher-priority replica reconciles (its reconcile counter moves, the other's stays at zero) while both answer their
liveness probe. After a SIGKILL of the active replica the other resumes once the dead one's record has outlived its
lifetime, and converges Runtimes created and changed after the kill.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from .operator_endpoints import Endpoints
from .system import (
    PEERING,
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

# Short, so that the take-over comes soon; kopf then renews each record every second or two.
LIFETIME_SECONDS = 8


@pytest.fixture
def system(tmp_path: Path, request: pytest.FixtureRequest, kubeconfig: Path) -> Iterator[System]:
    with running_system(tmp_path, emulator_or_none(request), kubeconfig, facade=False) as running:
        running.kill_operator()  # standalone; the test runs two peered replicas instead
        yield running


def new_runtime(system: System) -> str:
    name = unique_name()
    credentials = {"password": random_credential(), "sharedKey": random_credential(), "secretKey": random_credential()}
    system.kubectl("apply", "-f", "-", stdin=runtime_manifest(name, credentials))
    return name


def peers(system: System) -> dict[str, dict[str, object]]:
    """The replicas' records in the peering object's status, by identity."""
    return dict((system.get("clusterkopfpeering", PEERING) or {}).get("status") or {})


def pull_policy(system: System, name: str) -> str | None:
    deployment = system.get("deployment", "kre-operator", "-n", name)
    return None if deployment is None else deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"]


@pytest.mark.cluster
def test_one_replica_reconciles_and_the_other_takes_over_after_a_sigkill(system: System) -> None:
    assert system.get("clusterkopfpeering", PEERING) is None  # the first replica creates it
    peering = [f"--peering={PEERING}", f"--peering-lifetime={LIFETIME_SECONDS}"]
    first, second = Endpoints.pick(), Endpoints.pick()
    active = system.spawn_operator("active", *peering, "--priority=20", *first.args)
    eventually(lambda: len(peers(system)) == 1, "the first replica's heartbeat", timeout=60)
    eventually(first.metrics, "the first replica's metrics", timeout=60)
    standby = system.spawn_operator("standby", *peering, "--priority=10", *second.args)
    eventually(lambda: len(peers(system)) == 2, "the second replica's heartbeat", timeout=60)
    eventually(second.metrics, "the second replica's metrics", timeout=60)

    before_kill = new_runtime(system)
    eventually(lambda: ready(system, before_kill), f"runtime {before_kill} Ready", timeout=120)
    assert (first.reconciles() or 0) > 0
    assert second.reconciles() == 0, system.log("standby")[-4000:]
    # The waiting replica is alive all the same: Kubernetes must not restart it.
    assert second.liveness() is not None
    assert standby.poll() is None

    active.send_signal(signal.SIGKILL)
    active.wait(timeout=30)
    after_kill = new_runtime(system)
    system.kubectl("patch", "runtime", before_kill, "--type=merge", "-p", '{"spec": {"developmentMode": true}}')

    eventually(lambda: ready(system, after_kill), f"runtime {after_kill} Ready after the take-over", timeout=120)
    assert owned_objects(system, after_kill) == expected_objects(after_kill)
    eventually(
        lambda: pull_policy(system, before_kill) == "IfNotPresent",
        "the change made after the kill to reach the runtime operator's Deployment",
        timeout=60,
    )
    assert (second.reconciles() or 0) > 0
    assert standby.poll() is None
    # The dead replica's record is cleaned up by the survivor.
    eventually(lambda: len(peers(system)) == 1, "the dead replica's record to be removed", timeout=60)
