"""Workload kinds as kube-apiserver 1.36 and kube-controller-manager serve them: defaulting, generation, the
`/scale` subresource (built-in kinds and CRDs) and rollbacks.

Everything here goes through the normal API (the `kubernetes` client and kubectl) in a namespace and an API
group of the test's own, so every test is marked `cluster` and also runs against a real cluster.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import kubernetes
import pytest
import yaml
from kubernetes.client.exceptions import ApiException

KubeApi = Any
client: Any = kubernetes.client
config: Any = kubernetes.config

pytestmark = pytest.mark.cluster

# Controllers of a real cluster act within seconds; this leaves room for a loaded machine.
DEADLINE = 60.0
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
TEMPLATE_HASH = "pod-template-hash"
SCALE_VERBS = ["get", "patch", "update"]


class Kubectl(Protocol):
    """The `kubectl` fixture of tests/conftest.py."""

    def in_namespace(self, namespace: str) -> Kubectl: ...

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]: ...


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def api(kubeconfig: Path) -> Iterator[KubeApi]:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        yield api_client


@pytest.fixture
def apps(api: KubeApi) -> KubeApi:
    return client.AppsV1Api(api)


@pytest.fixture
def custom(api: KubeApi) -> KubeApi:
    return client.CustomObjectsApi(api)


@pytest.fixture
def in_namespace(kubectl: Kubectl, namespace: str) -> Kubectl:
    return kubectl.in_namespace(namespace)


@pytest.fixture
def group(api: KubeApi) -> Iterator[str]:
    """An API group of the test's own; its CRD is deleted afterwards."""
    name = f"scale-{uuid.uuid4().hex[:8]}.example.com"
    yield name
    try:
        client.ApiextensionsV1Api(api).delete_custom_resource_definition(f"replicated.{name}")
    except ApiException as error:
        if error.status != 404:
            raise


# ---------------------------------------------------------------------------------------------- helpers


def eventually(check: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    end = time.monotonic() + deadline
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.05)


def workload(kind: str, name: str = "web", replicas: Any = 1) -> dict[str, Any]:
    """A Deployment, ReplicaSet or StatefulSet of one nginx container; `replicas` ... leaves the field out."""
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
        },
    }
    if replicas is not ...:
        spec["replicas"] = replicas
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "labels": {"app": name}}, "spec": spec}


# The typed client's methods of each kind: create, read, replace, and the scale subresource's.
WORKLOADS = {
    "Deployment": "deployment",
    "ReplicaSet": "replica_set",
    "StatefulSet": "stateful_set",
}


def call(apps: KubeApi, verb: str, kind: str, *args: Any, **kwargs: Any) -> Any:
    """`call(apps, "read", "Deployment", ...)` is `apps.read_namespaced_deployment(...)`."""
    return getattr(apps, f"{verb}_namespaced_{WORKLOADS[kind]}")(*args, **kwargs)


def scale_of(apps: KubeApi, verb: str, kind: str, *args: Any, **kwargs: Any) -> Any:
    """`scale_of(apps, "read", "Deployment", ...)` is `apps.read_namespaced_deployment_scale(...)`."""
    return getattr(apps, f"{verb}_namespaced_{WORKLOADS[kind]}_scale")(*args, **kwargs)


def raw(response: Any) -> Any:
    """The JSON of a response asked for with `_preload_content=False`, as the server wrote it."""
    return json.loads(response.data)


def send(kubectl: Kubectl, verb: str, body: dict[str, Any]) -> Any:
    """`kubectl create` or `kubectl replace` of `body` as it is, nulls included (the typed Python client would
    drop them); returns the object the server answered."""
    return json.loads(kubectl.run(verb, "-f", "-", "-o", "json", input=json.dumps(body)).stdout)


def replica_sets(apps: KubeApi, namespace: str) -> dict[str, dict[str, str]]:
    """The namespace's ReplicaSets: name -> annotations."""
    return {
        rs.metadata.name: dict(rs.metadata.annotations or {})
        for rs in apps.list_namespaced_replica_set(namespace).items
    }


def replica_set_of_image(apps: KubeApi, namespace: str, image: str) -> str | None:
    for rs in apps.list_namespaced_replica_set(namespace).items:
        if rs.spec.template.spec.containers[0].image == image:
            return str(rs.metadata.name)
    return None


def deployment_revision(apps: KubeApi, namespace: str, name: str = "web") -> str | None:
    annotations = apps.read_namespaced_deployment(name, namespace).metadata.annotations or {}
    revision: str | None = annotations.get(REVISION)
    return revision


def first_rollout(apps: KubeApi, namespace: str) -> str:
    """Create the Deployment `web` and wait for its first ReplicaSet; returns that ReplicaSet's name."""
    apps.create_namespaced_deployment(namespace, workload("Deployment"))
    eventually(lambda: deployment_revision(apps, namespace) == "1", "revision 1 of the Deployment")
    (name,) = eventually(lambda: list(replica_sets(apps, namespace)), "the first ReplicaSet")
    return str(name)


# ---------------------------------------------------------------------------------------------- generation


def null_timestamps(body: dict[str, Any]) -> None:
    """What client-go (kubectl, Go controllers) sends for the zero metav1.Time of a typed object."""
    body["metadata"]["creationTimestamp"] = None
    body["spec"]["template"]["metadata"]["creationTimestamp"] = None


def null_defaulted_fields(body: dict[str, Any]) -> None:
    spec = body["spec"]
    spec.update(replicas=None, revisionHistoryLimit=None, progressDeadlineSeconds=None)
    spec["template"]["spec"].update(restartPolicy=None, dnsPolicy=None, schedulerName=None)


def empty_strategy(body: dict[str, Any]) -> None:
    body["spec"]["strategy"] = {}


def empty_rolling_update(body: dict[str, Any]) -> None:
    body["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {}}


@pytest.mark.parametrize(
    "rewrite",
    [null_timestamps, null_defaulted_fields, empty_strategy, empty_rolling_update],
    ids=lambda f: f.__name__,
)
def test_a_put_that_changes_nothing_after_defaulting_keeps_the_generation_and_the_replica_set(
    apps: KubeApi, in_namespace: Kubectl, namespace: str, rewrite: Callable[[dict[str, Any]], None]
) -> None:
    first = first_rollout(apps, namespace)
    live = raw(apps.read_namespaced_deployment("web", namespace, _preload_content=False))
    spec_before = live["spec"]
    body = json.loads(json.dumps(live))
    del body["metadata"]["resourceVersion"]  # unconditional: the controllers may write status meanwhile
    rewrite(body)

    replaced = send(in_namespace, "replace", body)

    assert replaced["metadata"]["generation"] == 1
    assert replaced["spec"] == spec_before
    # A zero metav1.Time is omitted (omitzero, since 1.34), never stored as null.
    assert "creationTimestamp" not in replaced["spec"]["template"]["metadata"]
    # The next real change is revision 2, next to the first ReplicaSet: the PUT rolled nothing out.
    apps.patch_namespaced_deployment(
        "web", namespace, {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.28"}]}}}}
    )
    second = eventually(lambda: replica_set_of_image(apps, namespace, "nginx:1.28"), "the second ReplicaSet")
    eventually(lambda: replica_sets(apps, namespace)[second].get(REVISION) == "2", "revision 2 of that ReplicaSet")
    assert set(replica_sets(apps, namespace)) == {first, second}
    assert apps.read_namespaced_deployment("web", namespace).metadata.generation == 2


def test_a_null_template_creation_timestamp_is_not_stored(apps: KubeApi, in_namespace: Kubectl, namespace: str) -> None:
    body = workload("Deployment")
    null_timestamps(body)

    created = send(in_namespace, "create", body)

    assert "creationTimestamp" not in created["spec"]["template"]["metadata"]
    assert created["metadata"]["creationTimestamp"]  # set by the server
    stored = raw(apps.read_namespaced_deployment("web", namespace, _preload_content=False))
    assert "creationTimestamp" not in stored["spec"]["template"]["metadata"]


# ---------------------------------------------------------------------------------------------- replicas


@pytest.mark.parametrize("kind", list(WORKLOADS))
@pytest.mark.parametrize("replicas", [None, ...], ids=["null", "absent"])
def test_replicas_null_or_absent_default_to_one(
    apps: KubeApi, in_namespace: Kubectl, namespace: str, kind: str, replicas: Any
) -> None:
    created = send(in_namespace, "create", workload(kind, replicas=replicas))

    assert created["spec"]["replicas"] == 1
    assert call(apps, "read", kind, "web", namespace).spec.replicas == 1


@pytest.mark.parametrize("kind", list(WORKLOADS))
def test_a_put_with_null_replicas_sets_one(apps: KubeApi, in_namespace: Kubectl, namespace: str, kind: str) -> None:
    call(apps, "create", kind, namespace, workload(kind, replicas=3))
    body = raw(call(apps, "read", kind, "web", namespace, _preload_content=False))
    del body["metadata"]["resourceVersion"]
    body["spec"]["replicas"] = None

    replaced = send(in_namespace, "replace", body)

    assert replaced["spec"]["replicas"] == 1
    assert replaced["metadata"]["generation"] == 2


# ---------------------------------------------------------------------------------------------- scale


def test_discovery_lists_the_scale_subresources_of_the_workloads(api: KubeApi) -> None:
    resources = {r.name: r for r in client.AppsV1Api(api).get_api_resources().resources}

    for plural in ("deployments", "replicasets", "statefulsets"):
        scale = resources[f"{plural}/scale"]
        assert (scale.group, scale.version, scale.kind) == ("autoscaling", "v1", "Scale"), plural
        assert sorted(scale.verbs) == SCALE_VERBS
        assert scale.namespaced is True
        status = resources[f"{plural}/status"]
        assert (status.group, status.version) == (None, None)  # the parent's group and version


@pytest.mark.parametrize("kind", list(WORKLOADS))
def test_the_scale_of_a_workload_reads_and_writes_its_replicas(apps: KubeApi, namespace: str, kind: str) -> None:
    body = workload(kind, replicas=1)
    body["spec"]["selector"]["matchExpressions"] = [
        {"key": "tier", "operator": "In", "values": ["front", "edge"]},
        {"key": "canary", "operator": "DoesNotExist"},
    ]
    body["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
    created = call(apps, "create", kind, namespace, body)

    scale = raw(scale_of(apps, "read", kind, "web", namespace, _preload_content=False))

    assert (scale["kind"], scale["apiVersion"]) == ("Scale", "autoscaling/v1")
    assert set(scale["metadata"]) == {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}
    assert scale["metadata"]["uid"] == created.metadata.uid
    assert scale["metadata"]["name"] == "web"
    assert scale["spec"] == {"replicas": 1}
    assert scale["status"]["selector"] == "app=web,!canary,tier in (edge,front)"  # sorted by key, values sorted
    assert scale["status"]["replicas"] in (0, 1)

    patched = raw(scale_of(apps, "patch", kind, "web", namespace, {"spec": {"replicas": 3}}, _preload_content=False))
    assert (patched["kind"], patched["spec"]) == ("Scale", {"replicas": 3})
    after_patch = call(apps, "read", kind, "web", namespace)
    assert after_patch.spec.replicas == 3
    assert after_patch.metadata.generation == 2

    current = raw(scale_of(apps, "read", kind, "web", namespace, _preload_content=False))
    del current["metadata"]["resourceVersion"]  # unconditional: the controllers write status meanwhile
    current["spec"]["replicas"] = 2
    replaced = raw(scale_of(apps, "replace", kind, "web", namespace, current, _preload_content=False))
    assert replaced["spec"] == {"replicas": 2}
    assert call(apps, "read", kind, "web", namespace).spec.replicas == 2


@pytest.mark.parametrize("kind", list(WORKLOADS))
def test_scale_writes_are_validated_and_checked_for_conflicts(apps: KubeApi, namespace: str, kind: str) -> None:
    call(apps, "create", kind, namespace, workload(kind, replicas=1))
    stale = raw(scale_of(apps, "read", kind, "web", namespace, _preload_content=False))
    call(apps, "patch", kind, "web", namespace, {"metadata": {"labels": {"touched": "yes"}}})

    with pytest.raises(ApiException) as negative:
        scale_of(apps, "patch", kind, "web", namespace, {"spec": {"replicas": -1}})
    stale["spec"]["replicas"] = 4
    with pytest.raises(ApiException) as conflict:
        scale_of(apps, "replace", kind, "web", namespace, stale)

    invalid = json.loads(str(negative.value.body))
    assert (negative.value.status, invalid["reason"]) == (422, "Invalid")
    assert invalid["message"] == (
        'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'
    )
    assert [cause["field"] for cause in invalid["details"]["causes"]] == ["spec.replicas"]
    assert (conflict.value.status, json.loads(str(conflict.value.body))["reason"]) == (409, "Conflict")
    assert call(apps, "read", kind, "web", namespace).spec.replicas == 1


def test_kubectl_scale_deployment(apps: KubeApi, in_namespace: Kubectl, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, workload("Deployment"))

    result = in_namespace.run("scale", "deployment/web", "--replicas=3")

    assert result.stdout.strip() == "deployment.apps/web scaled"
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 3


def replicated_crd(group: str) -> dict[str, Any]:
    """A CRD with the scale subresource at `.spec.replicas`, `.status.replicas` and `.status.selector`."""
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {"replicas": {"type": "integer", "minimum": 0}, "engine": {"type": "string"}},
            },
            "status": {
                "type": "object",
                "properties": {"replicas": {"type": "integer"}, "selector": {"type": "string"}},
            },
        },
    }
    scale = {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"replicated.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "replicated", "singular": "replicated", "kind": "Replicated"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {"status": {}, "scale": scale},
                }
            ],
        },
    }


def install_replicated(api: KubeApi, custom: KubeApi, group: str) -> dict[str, Any]:
    """Create the CRD and wait until its resource is in discovery; returns its discovery entries by name."""
    client.ApiextensionsV1Api(api).create_custom_resource_definition(replicated_crd(group))

    def discovered() -> dict[str, Any] | None:
        try:
            resources = {r.name: r for r in custom.get_api_resources(group, "v1").resources}
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return resources if "replicated" in resources else None

    found: dict[str, Any] = eventually(discovered, f"replicated.{group} in discovery")
    return found


def test_the_scale_of_a_custom_resource_follows_its_crd_paths(
    api: KubeApi, custom: KubeApi, namespace: str, group: str
) -> None:
    scale_entry = install_replicated(api, custom, group)["replicated/scale"]
    assert (scale_entry.group, scale_entry.version, scale_entry.kind) == ("autoscaling", "v1", "Scale")
    assert sorted(scale_entry.verbs) == SCALE_VERBS
    args = (group, "v1", namespace, "replicated")
    created = eventually(
        lambda: _create_when_served(custom, args, {"apiVersion": f"{group}/v1", "kind": "Replicated",
                                                   "metadata": {"name": "r"}, "spec": {"replicas": 2}}),
        "the custom resource to be created",
    )  # fmt: skip
    custom.patch_namespaced_custom_object_status(*args, "r", {"status": {"replicas": 1, "selector": "app=r"}})

    scale = custom.get_namespaced_custom_object_scale(*args, "r")

    assert (scale["kind"], scale["apiVersion"]) == ("Scale", "autoscaling/v1")
    assert scale["metadata"]["uid"] == created["metadata"]["uid"]
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 1, "selector": "app=r"}

    patched = custom.patch_namespaced_custom_object_scale(*args, "r", {"spec": {"replicas": 5}})
    assert patched["spec"] == {"replicas": 5}
    after_patch = custom.get_namespaced_custom_object(*args, "r")
    assert after_patch["spec"] == {"replicas": 5}
    assert after_patch["metadata"]["generation"] == 2
    assert after_patch["status"] == {"replicas": 1, "selector": "app=r"}

    current = custom.get_namespaced_custom_object_scale(*args, "r")
    current["spec"]["replicas"] = 4
    replaced = custom.replace_namespaced_custom_object_scale(*args, "r", current)
    assert replaced["spec"] == {"replicas": 4}
    assert custom.get_namespaced_custom_object(*args, "r")["spec"]["replicas"] == 4


def test_the_scale_of_a_custom_resource_without_replicas(
    api: KubeApi, custom: KubeApi, in_namespace: Kubectl, namespace: str, group: str
) -> None:
    install_replicated(api, custom, group)
    args = (group, "v1", namespace, "replicated")
    eventually(
        lambda: _create_when_served(custom, args, {"apiVersion": f"{group}/v1", "kind": "Replicated",
                                                   "metadata": {"name": "r"}, "spec": {"engine": "vllm"}}),
        "the custom resource to be created",
    )  # fmt: skip

    with pytest.raises(ApiException) as unreadable:
        custom.get_namespaced_custom_object_scale(*args, "r")
    scaled = in_namespace.run("scale", f"replicated.{group}/r", "--replicas=3")  # a merge patch of the Scale
    zero = custom.patch_namespaced_custom_object_scale(*args, "r", {"spec": {"replicas": 0}})

    # kube-apiserver 1.36 cannot read a Scale without its spec replicas field, but writes one.
    body = json.loads(str(unreadable.value.body))
    assert (unreadable.value.status, body["reason"]) == (500, "InternalError")
    assert body["message"] == 'Internal error occurred: the spec replicas field ".spec.replicas" does not exist'
    assert scaled.stdout.strip() == f"replicated.{group}/r scaled"
    # Zero replicas and an empty selector are omitted (autoscaling/v1 ScaleSpec and ScaleStatus).
    assert (zero["spec"], zero["status"]) == ({}, {"replicas": 0})
    assert custom.get_namespaced_custom_object(*args, "r")["spec"] == {"engine": "vllm", "replicas": 0}


def test_the_scale_paths_of_a_custom_resource_are_validated(
    api: KubeApi, custom: KubeApi, namespace: str, group: str
) -> None:
    install_replicated(api, custom, group)
    args = (group, "v1", namespace, "replicated")
    eventually(
        lambda: _create_when_served(custom, args, {"apiVersion": f"{group}/v1", "kind": "Replicated",
                                                   "metadata": {"name": "r"}, "spec": {"replicas": 1}}),
        "the custom resource to be created",
    )  # fmt: skip

    with pytest.raises(ApiException) as negative:
        custom.patch_namespaced_custom_object_scale(*args, "r", {"spec": {"replicas": -1}})
    with pytest.raises(ApiException) as negative_status:
        custom.patch_namespaced_custom_object_status(*args, "r", {"status": {"replicas": -2}})

    # Not the Scale's validation (as for built-in kinds) but the custom resource's: its schema, then its path.
    body = json.loads(str(negative.value.body))
    assert (negative.value.status, body["reason"]) == (422, "Invalid")
    assert body["message"] == (
        f'Replicated.{group} "r" is invalid: [spec.replicas: Invalid value: -1: spec.replicas in body should be '
        "greater than or equal to 0, .spec.replicas: Invalid value: -1: should be a non-negative integer]"
    )
    assert [cause["field"] for cause in body["details"]["causes"]] == ["spec.replicas", ".spec.replicas"]
    status_body = json.loads(str(negative_status.value.body))
    assert status_body["message"] == (
        f'Replicated.{group} "r" is invalid: .status.replicas: Invalid value: -2: should be a non-negative integer'
    )
    assert custom.get_namespaced_custom_object(*args, "r")["spec"] == {"replicas": 1}


def _create_when_served(custom: KubeApi, args: tuple[str, ...], body: dict[str, Any]) -> dict[str, Any] | None:
    """Create a custom resource, or None while its CRD is not served yet (a real apiserver answers 404)."""
    try:
        created: dict[str, Any] = custom.create_namespaced_custom_object(*args, body)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return created


# ---------------------------------------------------------------------------------------------- rollbacks


def test_rollout_undo_reuses_the_old_replica_set_and_renumbers_it(
    apps: KubeApi, in_namespace: Kubectl, namespace: str
) -> None:
    first = first_rollout(apps, namespace)
    in_namespace.run("set", "image", "deployment/web", "main=nginx:1.28")
    eventually(lambda: deployment_revision(apps, namespace) == "2", "revision 2 of the Deployment")
    (second,) = eventually(lambda: [n for n in replica_sets(apps, namespace) if n != first], "the second ReplicaSet")

    undone = in_namespace.run("rollout", "undo", "deployment/web")

    assert undone.stdout.strip() == "deployment.apps/web rolled back"
    eventually(lambda: deployment_revision(apps, namespace) == "3", "revision 3 of the Deployment")
    sets = replica_sets(apps, namespace)
    assert set(sets) == {first, second}  # no third ReplicaSet: the first one is the new one again
    assert (sets[first][REVISION], sets[first][REVISION_HISTORY]) == ("3", "1")
    assert sets[second][REVISION] == "2"
    assert REVISION_HISTORY not in sets[second]
    deployment = apps.read_namespaced_deployment("web", namespace)
    assert deployment.spec.template.spec.containers[0].image == "nginx:1.27"
    assert TEMPLATE_HASH not in (deployment.spec.template.metadata.labels or {})
    assert deployment.metadata.generation == 3
    history = in_namespace.run("rollout", "history", "deployment/web").stdout
    assert [line.split()[0] for line in history.strip().splitlines()[2:]] == ["2", "3"]


def test_rollout_undo_to_the_current_template_is_skipped(apps: KubeApi, in_namespace: Kubectl, namespace: str) -> None:
    first_rollout(apps, namespace)
    in_namespace.run("set", "image", "deployment/web", "main=nginx:1.28")
    eventually(lambda: deployment_revision(apps, namespace) == "2", "revision 2 of the Deployment")

    skipped = in_namespace.run("rollout", "undo", "deployment/web", "--to-revision=2")

    assert skipped.stdout.strip() == (
        "deployment.apps/web skipped rollback (current template already matches revision 2)"
    )
    assert deployment_revision(apps, namespace) == "2"
    assert len(replica_sets(apps, namespace)) == 2


def test_reapplying_a_client_generated_manifest_changes_nothing(
    apps: KubeApi, in_namespace: Kubectl, namespace: str
) -> None:
    generated = in_namespace.run(
        "create", "deployment", "web", "--image=nginx:1.27", "--dry-run=client", "-o", "yaml"
    ).stdout
    manifest = yaml.safe_load(generated)
    # kubectl up to 1.34 writes these nulls itself (1.36 no longer does); Go clients still send them.
    manifest["metadata"]["creationTimestamp"] = None
    manifest["spec"]["template"]["metadata"]["creationTimestamp"] = None
    generated = yaml.safe_dump(manifest)
    assert generated.count("creationTimestamp: null") == 2

    in_namespace.run("apply", "-f", "-", input=generated)
    eventually(lambda: deployment_revision(apps, namespace) == "1", "revision 1 of the Deployment")
    in_namespace.run("apply", "-f", "-", input=yaml.safe_dump(manifest))

    deployment = apps.read_namespaced_deployment("web", namespace)
    assert deployment.metadata.generation == 1
    assert len(replica_sets(apps, namespace)) == 1
