"""The objects a Runtime stands for: names, labels, owner references, RBAC rules, the runtime operator Deployment."""

from __future__ import annotations

import copy
import json
import random
import string
from typing import Any

import pytest
from k8s_manager_api import names
from k8s_manager_operator.config import OperatorConfig, ResourceAmounts, ServiceAccountRef
from k8s_manager_operator.drift import differences
from k8s_manager_operator.runtime.desired import (
    POD_SECURITY_LABELS,
    desired_objects,
    operator_access_binding,
    operator_deployment,
    resource_of,
)

UID = "6f1c1d4e-2b9a-4c61-9a53-3f0e5f7d2a10"
RANDOM = random.Random(20240501)


def random_secret() -> str:
    """Like the Admin API's: 8 characters of [A-Za-z0-9]."""
    return "".join(RANDOM.choices(string.ascii_letters + string.digits, k=8))


def admin_api_runtime(namespace: str = "kre-demo", **spec: Any) -> dict[str, Any]:
    """The Runtime the facade writes for the Admin API's Create(name "Demo", namespace "kre-demo"), as stored."""
    return {
        "apiVersion": "kre.konstellation.io/v1alpha1",
        "kind": "Runtime",
        "metadata": {"name": namespace, "uid": UID, "generation": 1, "resourceVersion": "41"},
        "spec": {
            "displayName": "Demo",
            "developmentMode": False,
            "entrypoint": {"host": f"{namespace}.local"},
            "sharedStorageClass": "standard",
            "mongo": {"credentials": {"username": "admin", "password": random_secret(), "sharedKey": random_secret()}},
            "minio": {"credentials": {"accessKey": "admin", "secretKey": random_secret()}, "storage": {"size": "1Gi"}},
            "nats_streaming": {"replicas": 1},
            **spec,
        },
    }


def by_kind(runtime: dict[str, Any], config: OperatorConfig | None = None) -> dict[str, dict[str, Any]]:
    return {obj["kind"]: obj for obj in desired_objects(runtime, config or OperatorConfig())}


# ------------------------------------------------------------------------------------------ all objects


def test_objects_come_in_creation_order_with_their_names() -> None:
    objects = desired_objects(admin_api_runtime(), OperatorConfig())

    assert [
        (obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]) for obj in objects
    ] == [
        ("v1", "Namespace", None, "kre-demo"),
        ("v1", "ServiceAccount", "kre-demo", "kre-operator"),
        ("rbac.authorization.k8s.io/v1", "Role", "kre-demo", "kre-operator"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding", "kre-demo", "kre-operator"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", None, "kre-runtime-kre-demo"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", None, "kre-runtime-kre-demo"),
        ("apps/v1", "Deployment", "kre-demo", "kre-operator"),
    ]


def test_every_object_is_labelled_and_owned_by_the_runtime() -> None:
    for obj in desired_objects(admin_api_runtime(), OperatorConfig()):
        metadata = obj["metadata"]
        assert metadata["labels"]["app.kubernetes.io/managed-by"] == "k8s-manager", obj["kind"]
        assert metadata["labels"]["kre.konstellation.io/runtime"] == "kre-demo", obj["kind"]
        assert metadata["ownerReferences"] == [
            {
                "apiVersion": "kre.konstellation.io/v1alpha1",
                "kind": "Runtime",
                "name": "kre-demo",
                "uid": UID,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ], obj["kind"]


def test_a_runtime_not_yet_stored_has_no_uid_to_be_owned_through() -> None:
    runtime = admin_api_runtime()
    del runtime["metadata"]["uid"]

    with pytest.raises(ValueError, match=r"metadata\.uid"):
        desired_objects(runtime, OperatorConfig())


def test_each_call_builds_new_objects() -> None:
    runtime = admin_api_runtime()
    first = desired_objects(runtime, OperatorConfig())
    pristine = copy.deepcopy(first)

    for obj in first:
        obj["metadata"]["labels"].clear()
        for rule in obj.get("rules", []):
            rule["verbs"].append("escalate")

    assert desired_objects(runtime, OperatorConfig()) == pristine


def test_nothing_but_the_runtime_name_and_uid_is_taken_from_the_runtime() -> None:
    """In particular no credential: the objects are the same whatever the credentials are."""
    first = json.dumps(desired_objects(admin_api_runtime(), OperatorConfig()))
    second = json.dumps(desired_objects(admin_api_runtime(), OperatorConfig()))

    assert first == second
    assert "admin" not in first


def test_each_kind_maps_to_its_api_resource() -> None:
    resources = [resource_of(obj) for obj in desired_objects(admin_api_runtime(), OperatorConfig())]

    assert resources == [
        names.NAMESPACES,
        names.SERVICE_ACCOUNTS,
        names.ROLES,
        names.ROLE_BINDINGS,
        names.CLUSTER_ROLES,
        names.CLUSTER_ROLE_BINDINGS,
        names.DEPLOYMENTS,
    ]
    for obj, resource in zip(desired_objects(admin_api_runtime(), OperatorConfig()), resources, strict=True):
        assert obj["apiVersion"] == resource.api_version
        assert ("namespace" in obj["metadata"]) is resource.namespaced


# ------------------------------------------------------------------------------------------ namespace and RBAC


def test_the_namespace_enforces_the_restricted_pod_security_standard() -> None:
    labels = by_kind(admin_api_runtime())["Namespace"]["metadata"]["labels"]

    assert labels == {
        "app.kubernetes.io/managed-by": "k8s-manager",
        "kre.konstellation.io/runtime": "kre-demo",
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest",
    }
    assert dict(POD_SECURITY_LABELS).items() <= labels.items()


def test_the_role_is_the_originals_tightened() -> None:
    rules = by_kind(admin_api_runtime())["Role"]["rules"]
    write = ["get", "list", "watch", "create", "update", "patch", "delete"]

    assert rules == [
        {"apiGroups": [""], "resources": ["configmaps", "secrets", "services"], "verbs": write},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
        {
            "apiGroups": ["apps"],
            "resources": ["deployments/finalizers"],
            "resourceNames": ["kre-operator"],
            "verbs": ["update"],
        },
        {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": write},
        {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": write},
    ]


def test_the_role_grants_no_wildcard_no_removed_api_and_no_custom_resource() -> None:
    rules = by_kind(admin_api_runtime())["Role"]["rules"]
    groups = {group for rule in rules for group in rule["apiGroups"]}

    assert "*" not in json.dumps(rules)
    assert "extensions" not in groups
    assert "kre.konstellation.io" not in groups
    assert "monitoring.coreos.com" not in groups


def test_the_role_binding_names_the_service_accounts_namespace() -> None:
    binding = by_kind(admin_api_runtime())["RoleBinding"]

    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kre-operator", "namespace": "kre-demo"}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kre-operator"}


def test_the_operator_binds_itself_to_the_runtime_namespace_role_when_its_identity_is_known() -> None:
    runtime = admin_api_runtime()
    config = OperatorConfig(
        service_account=ServiceAccountRef("kre", "k8s-manager-operator"), runtime_namespace_role="kre-namespace"
    )

    binding = operator_access_binding(runtime, config)

    assert binding is not None
    assert binding["metadata"]["name"] == "k8s-manager-operator"
    assert binding["metadata"]["namespace"] == "kre-demo"
    assert binding["metadata"]["ownerReferences"][0]["uid"] == UID
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "k8s-manager-operator", "namespace": "kre"}]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "kre-namespace",
    }
    assert resource_of(binding) == names.ROLE_BINDINGS


def test_without_an_identity_the_operator_binds_nothing() -> None:
    assert operator_access_binding(admin_api_runtime(), OperatorConfig()) is None


def test_the_cluster_role_reads_this_runtime_only() -> None:
    cluster_role = by_kind(admin_api_runtime("kre-other"))["ClusterRole"]

    assert cluster_role["metadata"]["name"] == "kre-runtime-kre-other"
    assert cluster_role["rules"] == [
        {
            "apiGroups": ["kre.konstellation.io"],
            "resources": ["runtimes"],
            "resourceNames": ["kre-other"],
            "verbs": ["get", "list", "watch"],
        }
    ]


def test_the_cluster_role_binding_binds_the_runtime_operators_service_account() -> None:
    binding = by_kind(admin_api_runtime())["ClusterRoleBinding"]

    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kre-operator", "namespace": "kre-demo"}]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "kre-runtime-kre-demo",
    }


# ------------------------------------------------------------------------------------------ the Deployment


def test_the_deployment_runs_one_pinned_runtime_operator() -> None:
    deployment = by_kind(admin_api_runtime())["Deployment"]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]

    assert spec["replicas"] == 1
    assert spec["selector"] == {"matchLabels": {"name": "kre-operator"}}
    assert spec["strategy"] == {"type": "Recreate"}
    assert spec["template"]["metadata"]["labels"] == {
        "name": "kre-operator",
        "kre.konstellation.io/runtime": "kre-demo",
    }
    assert pod["serviceAccountName"] == "kre-operator"
    assert container["name"] == "kre-operator"
    assert container["image"] == f"konstellation/kre-operator:{OperatorConfig().runtime_operator_version}"
    assert not container["image"].endswith(":latest")


def test_the_deployments_selector_matches_its_pods() -> None:
    spec = by_kind(admin_api_runtime())["Deployment"]["spec"]

    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_the_environment_is_the_originals() -> None:
    (container,) = by_kind(admin_api_runtime())["Deployment"]["spec"]["template"]["spec"]["containers"]

    assert container["env"] == [
        {"name": "WATCH_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "OPERATOR_NAME", "value": "kre-operator"},
    ]


@pytest.mark.parametrize(
    ("spec", "policy"),
    [
        ({"developmentMode": True}, "IfNotPresent"),
        ({"developmentMode": False}, "Always"),
        ({}, "Always"),
    ],
)
def test_the_pull_policy_follows_development_mode(spec: dict[str, Any], policy: str) -> None:
    runtime = admin_api_runtime()
    runtime["spec"].pop("developmentMode")
    runtime["spec"].update(spec)

    (container,) = operator_deployment(runtime, OperatorConfig())["spec"]["template"]["spec"]["containers"]

    assert container["imagePullPolicy"] == policy


def test_image_tag_and_resources_come_from_the_configuration() -> None:
    config = OperatorConfig(
        runtime_operator_image="registry:5000/kre-operator",
        runtime_operator_version="2.0.1",
        runtime_operator_resources=ResourceAmounts("50m", "64Mi", "1", "256Mi"),
    )

    (container,) = operator_deployment(admin_api_runtime(), config)["spec"]["template"]["spec"]["containers"]

    assert container["image"] == "registry:5000/kre-operator:2.0.1"
    assert container["resources"] == {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"cpu": "1", "memory": "256Mi"},
    }


def test_the_security_context_is_restricted() -> None:
    pod = by_kind(admin_api_runtime())["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
    }
    # With a read-only root, /tmp is the only writable place: an emptyDir, which the restricted profile allows.
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    assert violations_of_restricted(pod) == []


def violations_of_restricted(pod: dict[str, Any]) -> list[str]:
    """The checks of the Pod Security Standard `restricted` (latest) that a pod spec alone decides."""
    found: list[str] = []
    pod_context = pod.get("securityContext", {})
    allowed_volumes = {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
    for volume in pod.get("volumes", []):
        if not set(volume) - {"name"} <= allowed_volumes:
            found.append(f"volume {volume['name']}")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            found.append(flag)
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        context = container.get("securityContext", {})
        if context.get("privileged"):
            found.append("privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append("allowPrivilegeEscalation")
        if "ALL" not in context.get("capabilities", {}).get("drop", []):
            found.append("capabilities.drop")
        if set(context.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append("capabilities.add")
        if not context.get("runAsNonRoot", pod_context.get("runAsNonRoot")):
            found.append("runAsNonRoot")
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            found.append("runAsUser")
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append("seccompProfile")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            found.append("hostPort")
    return found


# ------------------------------------------------------------------------------------------ drift


def test_server_defaults_and_extra_labels_are_no_difference() -> None:
    wanted = by_kind(admin_api_runtime())
    observed_namespace = copy.deepcopy(wanted["Namespace"])
    observed_namespace["metadata"]["labels"]["kubernetes.io/metadata.name"] = "kre-demo"
    observed_namespace["metadata"].update(uid="1", resourceVersion="7", creationTimestamp="2024-05-01T10:00:00Z")
    observed_namespace["status"] = {"phase": "Active"}
    observed_deployment = copy.deepcopy(wanted["Deployment"])
    (container,) = observed_deployment["spec"]["template"]["spec"]["containers"]
    container.update(terminationMessagePath="/dev/termination-log", terminationMessagePolicy="File")
    container["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] = "v1"
    container["resources"]["limits"]["cpu"] = "0.5"  # the same quantity as 500m
    observed_deployment["spec"].update(revisionHistoryLimit=10, progressDeadlineSeconds=600)

    assert differences(wanted["Namespace"], observed_namespace) == []
    assert differences(wanted["Deployment"], observed_deployment) == []


def test_changed_fields_are_reported_by_path() -> None:
    wanted = by_kind(admin_api_runtime())["Deployment"]
    observed = copy.deepcopy(wanted)
    (container,) = observed["spec"]["template"]["spec"]["containers"]
    container["image"] = "konstellation/kre-operator:latest"
    container["resources"]["requests"]["memory"] = "64Mi"
    del observed["metadata"]["labels"]["kre.konstellation.io/runtime"]
    observed["spec"]["template"]["spec"]["containers"][0]["env"].pop()

    assert differences(wanted, observed) == [
        "metadata.labels.kre.konstellation.io/runtime",
        "spec.template.spec.containers[0].image",
        "spec.template.spec.containers[0].env",
        "spec.template.spec.containers[0].resources.requests.memory",
    ]


def test_a_value_of_another_type_is_a_difference() -> None:
    assert differences({"replicas": 1}, {"replicas": "1"}) == ["replicas"]
    assert differences({"a": {"b": 1}}, {"a": "b"}) == ["a"]
    assert differences({"readOnly": True}, {"readOnly": 1}) == ["readOnly"]
