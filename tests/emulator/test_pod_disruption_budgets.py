"""PodDisruptionBudgets (policy/v1) through kubectl: apply, get, patch, and the status subresource.

The emulator stores and serves them only: no disruption controller computes their status (tests marked `cluster`
hold on a real cluster as well, where one does, so they look at what each write answers).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any, Protocol

import pytest
import yaml
from kube_emulator import openapi
from kube_emulator.resources import Registry

pytestmark = pytest.mark.kubectl

NAME = "web"


class Kubectl(Protocol):
    """The `kubectl` fixture of tests/conftest.py."""

    def in_namespace(self, namespace: str) -> Kubectl: ...

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]: ...

    def json(self, *args: str) -> Any: ...


@pytest.fixture
def kubectl(kubectl: Kubectl, namespace: str) -> Kubectl:
    """kubectl working in the test's own namespace."""
    return kubectl.in_namespace(namespace)


def budget(spec: dict[str, Any], **extra: Any) -> str:
    return yaml.safe_dump(
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": NAME}, "spec": spec, **extra}
    )


def apply(kubectl: Kubectl, manifest: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return kubectl.run("apply", "-f", "-", *args, input=manifest, check=check)


def eventually(check: Callable[[], bool], what: str, deadline: float = 10.0) -> bool:
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.1)
    return True


MIN_ONE = {"minAvailable": 1, "selector": {"matchLabels": {"app": NAME, "tier": "front"}}}


@pytest.mark.cluster
def test_apply_creates_and_get_prints_the_budget(kubectl: Kubectl) -> None:
    created = apply(kubectl, budget(MIN_ONE))
    header, row = [line.split() for line in kubectl.run("get", "pdb").stdout.strip().splitlines()]
    stored = kubectl.json("get", "poddisruptionbudget", NAME)

    assert created.stdout.strip() == f"poddisruptionbudget.policy/{NAME} created"
    assert header == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE"]
    assert row[:4] == [NAME, "1", "N/A", "0"]  # no pod is selected: nothing may be disrupted
    assert stored["spec"] == MIN_ONE
    assert stored["metadata"]["generation"] == 1


@pytest.mark.cluster
def test_reapply_reports_configured_yet_changes_nothing(kubectl: Kubectl) -> None:
    """spec.selector's patch strategy is `replace`: kubectl's patch always holds it, so never "unchanged"."""
    apply(kubectl, budget(MIN_ONE))
    before = kubectl.json("get", "pdb", NAME)["metadata"]

    again = apply(kubectl, budget(MIN_ONE))
    after = kubectl.json("get", "pdb", NAME)["metadata"]

    assert again.stdout.strip() == f"poddisruptionbudget.policy/{NAME} configured"
    assert (after["resourceVersion"], after["generation"]) == (before["resourceVersion"], before["generation"])


@pytest.mark.cluster
def test_api_resources_lists_the_kind_with_its_short_name(kubectl: Kubectl) -> None:
    listed = kubectl.run("api-resources", "--api-group=policy", "--no-headers").stdout.splitlines()

    assert ["poddisruptionbudgets", "pdb", "policy/v1", "true", "PodDisruptionBudget"] in [r.split() for r in listed]


@pytest.mark.cluster
def test_apply_rejects_unknown_fields(kubectl: Kubectl) -> None:
    rejected = apply(kubectl, budget({**MIN_ONE, "minimumAvailable": 1}), check=False)

    assert rejected.returncode != 0
    assert 'unknown field "spec.minimumAvailable"' in rejected.stderr
    assert kubectl.run("get", "pdb", NAME, check=False).returncode != 0


@pytest.mark.cluster
def test_reapply_switches_to_max_unavailable_and_bumps_the_generation(kubectl: Kubectl) -> None:
    apply(kubectl, budget(MIN_ONE))
    changed = {"maxUnavailable": "25%", "selector": MIN_ONE["selector"]}

    configured = apply(kubectl, budget(changed))
    _, row = [line.split() for line in kubectl.run("get", "pdb", NAME).stdout.strip().splitlines()]
    stored = kubectl.json("get", "pdb", NAME)

    assert configured.stdout.strip() == f"poddisruptionbudget.policy/{NAME} configured"
    assert row[:3] == [NAME, "N/A", "25%"]
    assert stored["spec"] == changed  # apply removed minAvailable, which it had set before
    assert stored["metadata"]["generation"] == 2


@pytest.mark.cluster
def test_a_strategic_merge_patch_replaces_the_selector_whole(kubectl: Kubectl) -> None:
    apply(kubectl, budget(MIN_ONE))

    kubectl.run("patch", "pdb", NAME, "-p", json.dumps({"spec": {"selector": {"matchLabels": {"app": "api"}}}}))

    assert kubectl.json("get", "pdb", NAME)["spec"]["selector"] == {"matchLabels": {"app": "api"}}


@pytest.mark.cluster
def test_status_is_ignored_on_the_main_resource_and_written_through_the_subresource(kubectl: Kubectl) -> None:
    # The answers of the writes themselves: on a real cluster the disruption controller rewrites the status after.
    created = json.loads(apply(kubectl, budget(MIN_ONE, status={"disruptionsAllowed": 5}), "-o", "json").stdout)
    status = {"currentHealthy": 2, "desiredHealthy": 1, "disruptionsAllowed": 1, "expectedPods": 2}
    written = kubectl.json(
        "patch", "pdb", NAME, "--subresource=status", "--type=merge", "-p", json.dumps({"status": status})
    )
    ignored = kubectl.json(
        "patch", "pdb", NAME, "--type=merge", "-p", json.dumps({"status": {"disruptionsAllowed": 7}})
    )

    # What the real strategy stores on create: an empty status, whose counters are not omitted.
    assert created["status"] == {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0}
    assert status.items() <= written["status"].items()
    assert ignored["status"]["disruptionsAllowed"] != 7

    def allowed_column_matches() -> bool:
        _, row = [line.split() for line in kubectl.run("get", "pdb", NAME).stdout.strip().splitlines()]
        return row[3] == str(kubectl.json("get", "pdb", NAME)["status"]["disruptionsAllowed"])

    assert eventually(allowed_column_matches, "ALLOWED to print status.disruptionsAllowed")


def test_the_published_schema_carries_the_kind_and_its_patch_strategies() -> None:
    document = openapi.v3_document(Registry(), "apis/policy/v1")
    assert document is not None
    schemas = document["components"]["schemas"]
    spec = schemas["io.k8s.api.policy.v1.PodDisruptionBudgetSpec"]["properties"]
    conditions = schemas["io.k8s.api.policy.v1.PodDisruptionBudgetStatus"]["properties"]["conditions"]
    item = "/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{name}"

    assert schemas["io.k8s.api.policy.v1.PodDisruptionBudget"]["x-kubernetes-group-version-kind"] == [
        {"group": "policy", "kind": "PodDisruptionBudget", "version": "v1"}
    ]
    assert spec["minAvailable"]["x-kubernetes-int-or-string"] is True
    assert spec["selector"]["x-kubernetes-patch-strategy"] == "replace"
    assert (conditions["x-kubernetes-patch-strategy"], conditions["x-kubernetes-patch-merge-key"]) == ("merge", "type")
    assert {item, item + "/status"} <= set(document["paths"])
