"""No unused privilege: every permission `manifests/` grants the operator and the facade is used.

The whole system runs under the manifests' identities (as every whole-system suite does, so a missing permission
fails there) through everything the two processes do: the Admin API's runtime and version lifecycle, kubectl edits
of the custom resources, drift of every kind the operator owns, new credentials, kopf peering, a Runtime's
deletion. Every RBAC rule that allowed a request or covered a permission the operator granted (escalation
prevention) is recorded; every cell (a rule's API group, resource and verb) of the manifests' roles must be among
them. The two processes reach the API server through a recording proxy (tests/e2e/api_proxy.py) that attributes
their requests to the rules, on a real cluster as on the emulator; there the emulator's authorizer records the same
requests too, and the two records must agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from k8s_manager_facade.generated import runtime_pb2

from tests.identities import operator_peering_flag, rbac_objects, rendered_manifests

from .api_proxy import ApiProxy
from .system import System, emulator_or_none, eventually, random_credential, ready, running_system, unique_name
from .test_runtime_system import RuntimeStub, admin_api_create, drive_versions_through_their_lifecycle

pytestmark = [pytest.mark.timeout(300), pytest.mark.cluster]

Cell = tuple[str, str, int, str, str, str]  # role kind, role name, rule index, API group, resource, verb


def granted_cells() -> set[Cell]:
    """Every cell of every rule of the manifests' roles."""
    cells: set[Cell] = set()
    for role in rendered_manifests():
        if role["kind"] not in ("ClusterRole", "Role"):
            continue
        for index, rule in enumerate(role.get("rules") or []):
            for group in rule.get("apiGroups") or [""]:
                for resource in rule.get("resources") or []:
                    for verb in rule["verbs"]:
                        cells.add((role["kind"], role["metadata"]["name"], index, group, resource, verb))
    return cells


def used_cells(usage: list[dict[str, str]]) -> set[Cell]:
    return {
        (u["roleKind"], u["roleName"], int(u["ruleIndex"]), u["apiGroup"], u["resource"], u["verb"])
        for u in usage
        if not u.get("nonResourceURL")
    }


@pytest.fixture
def system(tmp_path: Path, request: pytest.FixtureRequest, kubeconfig: Path) -> Iterator[System]:
    proxy = ApiProxy(kubeconfig)
    proxy.start()
    try:
        emulator = emulator_or_none(request)
        args = (operator_peering_flag(),)
        with running_system(tmp_path, emulator, kubeconfig, operator_args=args, proxy=proxy) as running:
            yield running
    finally:
        proxy.stop()


def restored(system: System, kind: str, name: str, namespace: str | None, check: Any) -> Any:
    scope = ["-n", namespace] if namespace else []
    return eventually(lambda: check(system.get(kind, name, *scope)), f"the operator to repair {kind} {name}", 60)


def test_every_permission_the_manifests_grant_is_used(system: System) -> None:
    namespace = drive_versions_through_their_lifecycle(system)

    # Drift of each kind the operator owns is repaired with a patch.
    drifts: list[tuple[str, str, str | None, dict[str, Any], Any]] = [
        (
            "namespace",
            namespace,
            None,
            {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}},
            lambda o: o["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted",
        ),
        (
            "serviceaccount",
            "kre-operator",
            namespace,
            {"metadata": {"labels": {"app.kubernetes.io/managed-by": "someone"}}},
            lambda o: o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "k8s-manager",
        ),
        (
            "role",
            "kre-operator",
            namespace,
            {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]},
            lambda o: len(o["rules"]) > 1,
        ),
        (
            "rolebinding",
            "kre-operator",
            namespace,
            {"subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}]},
            lambda o: o["subjects"][0]["name"] == "kre-operator",
        ),
        (
            "clusterrole",
            f"kre-runtime-{namespace}",
            None,
            {"rules": [{"apiGroups": ["kre.konstellation.io"], "resources": ["runtimes"], "verbs": ["get"]}]},
            lambda o: "watch" in o["rules"][0]["verbs"],
        ),
        (
            "clusterrolebinding",
            f"kre-runtime-{namespace}",
            None,
            {"subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}]},
            lambda o: o["subjects"][0]["name"] == "kre-operator",
        ),
        (
            "deployment",
            "kre-operator",
            namespace,
            {"spec": {"replicas": 3}},
            lambda o: o["spec"]["replicas"] == 1,
        ),
    ]
    for kind, name, scope, patch, check in drifts:
        args = ["patch", kind, name, "--type=merge", "-p", json.dumps(patch)]
        system.kubectl(*args, *(["-n", scope] if scope else []))
        restored(system, kind, name, scope, check)

    # New inline credentials for a running Runtime: the operator rewrites its Secret.
    fresh = {"password": random_credential(), "sharedKey": random_credential(), "secretKey": random_credential()}
    inline = {
        "mongo": {"username": "admin", "password": fresh["password"], "sharedKey": fresh["sharedKey"]},
        "minio": {"accessKey": "admin", "secretKey": fresh["secretKey"]},
    }
    credentials = {"spec": {block: {"credentials": {"secretRef": None, **values}} for block, values in inline.items()}}
    system.kubectl("patch", "runtime", namespace, "--type=merge", "-p", json.dumps(credentials))
    eventually(
        lambda: "secretRef" in system.get("runtime", namespace)["spec"]["mongo"]["credentials"], "the new secretRef"
    )
    eventually(lambda: ready(system, namespace), "the runtime Ready again")

    # The Admin API's view of a runtime, then its deletion through kubectl: kopf releases its finalizer.
    with grpc.insecure_channel(system.grpc_address) as channel:
        request, _ = admin_api_create("Spare-" + unique_name().removeprefix("kre-"))
        RuntimeStub(channel).Create(request, timeout=20)
        status = RuntimeStub(channel).RuntimeStatus(runtime_pb2.Request(runtime=request.runtime), timeout=120)
        assert status.Status == "STARTED"
    system.kubectl("delete", "runtime", request.runtime.namespace, "--wait=true", "--timeout=120s")

    assert system.proxy is not None
    granted = granted_cells()
    used = used_cells(system.proxy.rbac_usage(rbac_objects()))
    if system.emulator is not None:
        assert used & granted == used_cells(system.emulator.rbac_usage()) & granted
    unused = granted - used
    assert not unused, "granted by manifests/ but never used:\n" + "\n".join(
        f"  {kind} {name} rule {index}: {verb} {resource} in API group {group!r}"
        for kind, name, index, group, resource, verb in sorted(unused)
    )
