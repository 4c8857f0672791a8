"""What operations see of a running operator: the liveness probe, Prometheus metrics and JSON log lines.

`k8s-manager operator` as the Deployment runs it (liveness at /healthz, metrics on their own port, JSON logs),
against the emulator or a real cluster: the probe answers 200, the reconcile counters follow a Runtime created with
kubectl, and the log lines of its reconcile name it in a structured field without showing its credentials.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .operator_endpoints import Endpoints
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

KINDS = ("Runtime", "RuntimeVersion")


@pytest.fixture
def system(tmp_path: Path, request: pytest.FixtureRequest, kubeconfig: Path) -> Iterator[System]:
    with running_system(tmp_path, emulator_or_none(request), kubeconfig, facade=False) as running:
        running.kill_operator()  # the test runs its own, with the endpoints and the log format it checks
        yield running


def json_lines(log: str) -> list[dict[str, Any]]:
    lines = [line for line in log.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # fails on any line that is not JSON


@pytest.mark.cluster
def test_liveness_metrics_and_json_logs_of_a_runtime_reconcile(system: System) -> None:
    endpoints = Endpoints.pick()
    operator = system.spawn_operator("observed", *endpoints.args, "--log-format=json")

    probe = eventually(endpoints.liveness, "the liveness probe at /healthz to answer 200", timeout=60)
    assert "started_at" in probe
    before = eventually(endpoints.metrics, "the metrics endpoint", timeout=60)
    for kind in KINDS:
        for name in (
            "k8s_manager_operator_reconciles_total",
            "k8s_manager_operator_reconcile_failures_total",
            "k8s_manager_operator_reconcile_duration_seconds_count",
            "k8s_manager_operator_queue_depth",
            "k8s_manager_operator_reconciles_active",
        ):
            assert (name, kind) in before, (name, kind)

    name = unique_name()
    credentials = {"password": random_credential(), "sharedKey": random_credential(), "secretKey": random_credential()}
    system.kubectl("apply", "-f", "-", stdin=runtime_manifest(name, credentials))
    eventually(lambda: ready(system, name), f"runtime {name} Ready", timeout=120)
    assert owned_objects(system, name) == expected_objects(name)

    after = eventually(endpoints.metrics, "the metrics endpoint", timeout=30)
    reconciles = after[("k8s_manager_operator_reconciles_total", "Runtime")]
    assert reconciles > before[("k8s_manager_operator_reconciles_total", "Runtime")]
    assert after[("k8s_manager_operator_reconcile_duration_seconds_count", "Runtime")] == reconciles
    assert after[("k8s_manager_operator_reconcile_duration_seconds_sum", "Runtime")] > 0
    assert after[("k8s_manager_operator_reconcile_failures_total", "Runtime")] <= reconciles
    assert operator.poll() is None

    lines = json_lines(system.log("observed"))
    about_it = [line for line in lines if (line.get("object") or {}).get("name") == name]
    ours = [line for line in about_it if "Ready=True" in line["message"]]
    assert ours, "the reconciler's Ready line carries the runtime as its object"
    assert ours[0]["object"]["kind"] == "Runtime"
    kopfs = [line for line in about_it if "Handler 'runtime_changed'" in line["message"]]
    assert kopfs, "kopf's lines about the runtime's handler carry the runtime as its object"
    readable = system.log("observed")
    for value in credentials.values():
        assert value not in readable
