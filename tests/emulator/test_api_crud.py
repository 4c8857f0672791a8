"""The emulator's REST API as real clients see it: discovery, CRUD, patches, errors, CRD schemas.

Driven through the official `kubernetes` client, and through `requests` where the client cannot say
what we need (raw Status bodies, Warning headers, query parameters it does not expose). The tests marked `cluster`
work in a namespace and an API group of their own (`namespace`, `group`) so that they hold on a real cluster too.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kube_emulator.threaded import ThreadedEmulator
from kubernetes.client.exceptions import ApiException

from tests.raw_api import RawApi, raw_api

# kubernetes>=37 types every model field as Optional; these tests check the values at run time, so they
# use the client untyped.
KubeApi = Any
client: Any = kubernetes.client
config: Any = kubernetes.config
watch: Any = kubernetes.watch

DEADLINE = 30.0  # generous: a real API server publishes CRDs and runs controllers a moment later
CREATED_BY = {"app.kubernetes.io/created-by": "k8s-manager-tests"}  # as tests/conftest.py labels what it makes

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
ROOT_CA = "kube-root-ca.crt"  # the ConfigMap the cluster puts in every namespace


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def api(kubeconfig: Path) -> Iterator[KubeApi]:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        yield api_client


@pytest.fixture
def core(api: KubeApi) -> KubeApi:
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api: KubeApi) -> KubeApi:
    return client.AppsV1Api(api)


@pytest.fixture
def custom(api: KubeApi) -> KubeApi:
    return client.CustomObjectsApi(api)


@pytest.fixture
def extensions(api: KubeApi) -> KubeApi:
    return client.ApiextensionsV1Api(api)


@pytest.fixture
def http(kubeconfig: Path) -> Iterator[RawApi]:
    """Raw HTTP to the cluster under test, as the kubeconfig's user (the cluster admin)."""
    with raw_api(kubeconfig) as api:
        yield api


@pytest.fixture
def group(extensions: KubeApi) -> Iterator[str]:
    """An API group of the test's own for its CRDs (a real cluster is shared); they are deleted afterwards."""
    name = f"demo-{uuid.uuid4().hex[:8]}.example.com"
    yield name
    for crd in extensions.list_custom_resource_definition().items:
        if crd.spec.group == name:
            try:
                extensions.delete_custom_resource_definition(crd.metadata.name)
            except ApiException as error:
                if error.status != 404:
                    raise


# ---------------------------------------------------------------------------------------------- helpers


def eventually(check: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `deadline` seconds."""
    end = time.monotonic() + deadline
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.05)


def gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body or "")
    assert body["kind"] == "Status"
    assert body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert body["code"] == error.status
    return body


def expect_api_error(call: Callable[[], Any], code: int, reason: str) -> dict[str, Any]:
    with pytest.raises(ApiException) as caught:
        call()
    assert caught.value.status == code, caught.value.body
    body = status_of(caught.value)
    assert body["reason"] == reason, body
    return body


def widget_crd(
    group: str,
    plural: str = "widgets",
    kind: str = "Widget",
    status_subresource: bool = True,
    spec_schema: dict[str, Any] | None = None,
    scope: str = "Namespaced",
) -> dict[str, Any]:
    spec = spec_schema or {
        "type": "object",
        "properties": {
            "size": {"type": "integer", "minimum": 1},
            "color": {"type": "string", "default": "blue"},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    version: dict[str, Any] = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": spec,
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            }
        },
    }
    if status_subresource:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [version],
        },
    }


def install_crd(extensions: KubeApi, http: RawApi, manifest: dict[str, Any]) -> None:
    """Create the CRD and wait until its resource is served (a real API server serves it a moment later)."""
    extensions.create_custom_resource_definition(manifest)
    group, plural = manifest["spec"]["group"], manifest["spec"]["names"]["plural"]
    eventually(lambda: plural in served_resources(http, group), f"{plural} in discovery")
    scope = "" if manifest["spec"]["scope"] == "Cluster" else "namespaces/default/"
    eventually(lambda: http.get(f"/apis/{group}/v1/{scope}{plural}").status_code == 200, f"{plural} served")


def served_resources(http: RawApi, group: str) -> list[str]:
    """The resources discovery lists in the group's v1 (none while it is not served: a plain-text 404 then)."""
    answer = http.get(f"/apis/{group}/v1")
    return [r["name"] for r in answer.json()["resources"]] if answer.status_code == 200 else []


def widget(group: str, name: str, spec: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": spec if spec is not None else {"size": 1},
        **extra,
    }


def configmap(name: str, data: dict[str, str] | None = None, **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **metadata}, "data": data or {}}


def deployment(name: str, containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": containers or [{"name": "main", "image": "nginx:1.27"}]},
            },
        },
    }


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


# ---------------------------------------------------------------------------------------------- discovery


@pytest.mark.cluster
def test_version_and_core_discovery(api: KubeApi, http: RawApi, on_emulator: bool) -> None:
    version = client.VersionApi(api).get_code()
    assert version.git_version.startswith(f"v{version.major}.{version.minor}.")
    if on_emulator:
        assert (version.major, version.minor) == ("1", "32")  # the version the emulator says it is

    core_versions = client.CoreApi(api).get_api_versions()
    assert core_versions.versions == ["v1"]

    resources = {r.name: r for r in client.CoreV1Api(api).get_api_resources().resources}
    expected = {
        "namespaces": ("Namespace", False),
        "pods": ("Pod", True),
        "services": ("Service", True),
        "configmaps": ("ConfigMap", True),
        "secrets": ("Secret", True),
        "serviceaccounts": ("ServiceAccount", True),
        "events": ("Event", True),
    }
    for plural, (kind, namespaced) in expected.items():
        assert (resources[plural].kind, resources[plural].namespaced) == (kind, namespaced)
        assert set(resources[plural].verbs) >= {"create", "get", "list", "watch", "patch", "update", "delete"}
    assert resources["pods"].short_names == ["po"]
    assert "pods/status" in resources
    assert "namespaces/finalize" in resources
    assert "configmaps/status" not in resources  # ConfigMaps have no status subresource

    raw = http.get("/api/v1").json()
    assert (raw["kind"], raw["groupVersion"]) == ("APIResourceList", "v1")


@pytest.mark.cluster
def test_group_discovery_lists_every_builtin_group(api: KubeApi, http: RawApi, on_emulator: bool) -> None:
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    expected = {
        "apps": {"deployments": "Deployment", "replicasets": "ReplicaSet", "statefulsets": "StatefulSet"},
        "rbac.authorization.k8s.io": {
            "roles": "Role",
            "rolebindings": "RoleBinding",
            "clusterroles": "ClusterRole",
            "clusterrolebindings": "ClusterRoleBinding",
        },
        "coordination.k8s.io": {"leases": "Lease"},
        "apiextensions.k8s.io": {"customresourcedefinitions": "CustomResourceDefinition"},
    }
    for group, kinds in expected.items():
        assert groups[group].preferred_version.group_version == f"{group}/v1"
        one_group = http.get(f"/apis/{group}").json()
        assert one_group["kind"] == "APIGroup"
        assert one_group["name"] == group
        assert one_group["versions"] == [{"groupVersion": f"{group}/v1", "version": "v1"}]
        listed = http.get(f"/apis/{group}/v1").json()
        assert listed["groupVersion"] == f"{group}/v1"
        served = {r["name"]: r["kind"] for r in listed["resources"] if "/" not in r["name"]}
        # The emulator serves these kinds and no more; kube-apiserver has more (DaemonSets, ...).
        assert served == kinds if on_emulator else kinds.items() <= served.items()
    assert "" not in groups  # the core group is only under /api

    # The typed clients parse these documents too.
    app_resources = {r.name for r in client.AppsV1Api(api).get_api_resources().resources}
    assert {"deployments", "deployments/status", "replicasets"} <= app_resources
    assert client.AppsApi(api).get_api_group().preferred_version.version == "v1"
    scoped = {r.name: r.namespaced for r in client.RbacAuthorizationV1Api(api).get_api_resources().resources}
    assert scoped["clusterroles"] is False
    assert scoped["roles"] is True


@pytest.mark.cluster
def test_unknown_paths_are_404(http: RawApi) -> None:
    for path in (
        "/apis/nope.example.com",
        "/apis/apps/v2",
        "/api/v2",
        "/api/v1/nonsense",
        "/apis/apps/v1/namespaces/default/nonsense",
    ):
        answer = http.get(path)
        assert answer.status_code == 404, path
    cluster_scoped_in_namespace = http.get("/api/v1/namespaces/default/namespaces")
    assert cluster_scoped_in_namespace.status_code == 404
    assert cluster_scoped_in_namespace.json()["reason"] == "NotFound"


@pytest.mark.cluster
def test_crd_becomes_discoverable_and_servable_then_disappears(
    extensions: KubeApi, custom: KubeApi, http: RawApi, group: str, namespace: str
) -> None:
    assert http.get(f"/apis/{group}").status_code == 404

    created = extensions.create_custom_resource_definition(widget_crd(group))
    assert not created.metadata.finalizers  # the cleanup finalizer comes with the deletion
    assert created.spec.names.list_kind == "WidgetList"

    def established() -> bool:
        crd = extensions.read_custom_resource_definition(f"widgets.{group}")
        conditions = {c.type: c.status for c in crd.status.conditions or []}
        return conditions.get("Established") == "True" and conditions.get("NamesAccepted") == "True"

    eventually(established, "the CRD to become Established")
    crd = extensions.read_custom_resource_definition(f"widgets.{group}")
    assert crd.status.accepted_names.kind == "Widget"
    assert crd.status.stored_versions == ["v1"]

    eventually(lambda: http.get(f"/apis/{group}/v1").status_code == 200, "the group version in discovery")
    group_names = [g["name"] for g in http.get("/apis").json()["groups"]]
    assert group in group_names
    assert http.get(f"/apis/{group}").json()["preferredVersion"] == {
        "groupVersion": f"{group}/v1",
        "version": "v1",
    }
    eventually(lambda: "widgets" in served_resources(http, group), "widgets in discovery")
    resources = {r["name"]: r for r in http.get(f"/apis/{group}/v1").json()["resources"]}
    assert resources["widgets"]["kind"] == "Widget"
    assert resources["widgets"]["namespaced"] is True
    assert resources["widgets"]["singularName"] == "widget"
    assert "widgets/status" in resources

    eventually(lambda: http.get(f"/apis/{group}/v1/namespaces/{namespace}/widgets").status_code == 200, "serving")
    custom.create_namespaced_custom_object(group, "v1", namespace, "widgets", widget(group, "w1"))
    listed = custom.list_namespaced_custom_object(group, "v1", namespace, "widgets")
    assert listed["kind"] == "WidgetList"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["w1"]
    assert listed["items"][0]["apiVersion"] == f"{group}/v1"

    deleting = http.delete(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{group}").json()
    assert deleting["metadata"]["deletionTimestamp"]
    assert deleting["metadata"]["finalizers"] == [CLEANUP_FINALIZER]  # which deletes the widgets first
    terminating = next(c for c in deleting["status"]["conditions"] if c["type"] == "Terminating")
    assert (terminating["status"], terminating["reason"]) == ("True", "InstanceDeletionPending")
    eventually(lambda: http.get(f"/apis/{group}/v1").status_code == 404, "the group version to disappear")
    eventually(
        lambda: http.get(f"/apis/{group}/v1/namespaces/{namespace}/widgets").status_code == 404,
        "the resource endpoint to disappear",
    )
    assert group not in [g["name"] for g in http.get("/apis").json()["groups"]]
    eventually(
        lambda: gone(lambda: extensions.read_custom_resource_definition(f"widgets.{group}")),
        "the CRD to go (once its objects are deleted)",
    )
    expect_api_error(lambda: extensions.read_custom_resource_definition(f"widgets.{group}"), 404, "NotFound")

    # A CRD of the same name starts from scratch: the old objects went with the old definition.
    install_crd(extensions, http, widget_crd(group))
    assert custom.list_namespaced_custom_object(group, "v1", namespace, "widgets")["items"] == []


@pytest.mark.cluster
def test_cluster_scoped_crd(extensions: KubeApi, custom: KubeApi, http: RawApi, group: str) -> None:
    install_crd(extensions, http, widget_crd(group, scope="Cluster"))
    assert {r["name"]: r["namespaced"] for r in http.get(f"/apis/{group}/v1").json()["resources"]}["widgets"] is False
    made = custom.create_cluster_custom_object(group, "v1", "widgets", widget(group, "global"))
    assert "namespace" not in made["metadata"]
    assert http.get(f"/apis/{group}/v1/namespaces/default/widgets").status_code == 404


# ---------------------------------------------------------------------------------------------- CRUD


@pytest.mark.cluster
def test_namespaced_crud_with_system_metadata(core: KubeApi, namespace: str) -> None:
    created = core.create_namespaced_config_map(namespace, configmap("settings", {"a": "1"}))
    metadata = created.metadata
    assert str(uuid.UUID(metadata.uid)) == metadata.uid
    assert metadata.namespace == namespace
    assert int(metadata.resource_version) > 0
    assert metadata.generation is None  # ConfigMaps do not use generation
    assert (datetime.now(metadata.creation_timestamp.tzinfo) - metadata.creation_timestamp).total_seconds() < 60

    fetched = core.read_namespaced_config_map("settings", namespace)
    assert fetched.metadata.uid == metadata.uid
    assert fetched.metadata.resource_version == metadata.resource_version
    assert fetched.data == {"a": "1"}

    fetched.data["b"] = "2"
    replaced = core.replace_namespaced_config_map("settings", namespace, fetched)
    assert replaced.data == {"a": "1", "b": "2"}
    assert int(replaced.metadata.resource_version) > int(metadata.resource_version)
    assert replaced.metadata.uid == metadata.uid
    assert replaced.metadata.creation_timestamp == metadata.creation_timestamp

    names = [cm.metadata.name for cm in core.list_namespaced_config_map(namespace).items]
    assert names == [ROOT_CA, "settings"]

    # Deleted at once: the answer is a Success Status naming the object (ConfigMaps do not return it).
    deleted = core.delete_namespaced_config_map("settings", namespace)
    assert deleted == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": "settings", "kind": "configmaps", "uid": metadata.uid},
    }
    expect_api_error(lambda: core.read_namespaced_config_map("settings", namespace), 404, "NotFound")
    assert [cm.metadata.name for cm in core.list_namespaced_config_map(namespace).items] == [ROOT_CA]


@pytest.mark.cluster
def test_system_fields_from_the_client_are_ignored(http: RawApi, namespace: str) -> None:
    body = configmap("forged")
    body["metadata"].update(
        uid="11111111-1111-1111-1111-111111111111",
        creationTimestamp="2001-01-01T00:00:00Z",
        generation=7,
    )
    created = http.post(f"/api/v1/namespaces/{namespace}/configmaps", body).json()
    assert created["metadata"]["uid"] != "11111111-1111-1111-1111-111111111111"
    assert created["metadata"]["creationTimestamp"] != "2001-01-01T00:00:00Z"
    assert RFC3339.match(created["metadata"]["creationTimestamp"])
    # ConfigMaps do not track generation: the one a create brings stays, and no update can change it.
    assert created["metadata"]["generation"] == 7
    patched = http.patch(
        f"/api/v1/namespaces/{namespace}/configmaps/forged",
        {"metadata": {"generation": 9}, "data": {"a": "1"}},
        "application/merge-patch+json",
    ).json()
    assert (patched["metadata"]["generation"], patched["data"]) == (7, {"a": "1"})


@pytest.mark.cluster
def test_create_with_a_resource_version_is_refused(http: RawApi, namespace: str) -> None:
    configmaps = f"/api/v1/namespaces/{namespace}/configmaps"
    body = configmap("copied")
    body["metadata"]["resourceVersion"] = "42"
    answer = http.post(configmaps, body)
    # etcd3 storage refuses it; kube-apiserver passes the plain error on as a 500 without a reason.
    assert answer.status_code == 500
    assert answer.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "resourceVersion should not be set on objects to be created",
        "code": 500,
    }
    assert http.get(f"{configmaps}/copied").status_code == 404
    # A dry run never reaches storage, so it does not notice.
    assert http.post(configmaps, body, params={"dryRun": "All"}).status_code == 201


@pytest.mark.cluster
def test_cluster_scoped_crud(api: KubeApi, http: RawApi, namespace: str) -> None:
    rbac = client.RbacAuthorizationV1Api(api)
    reader = f"{namespace}-reader"  # cluster-wide: a name of the test's own
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": reader, "namespace": "ignored", "labels": CREATED_BY},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }
    created = rbac.create_cluster_role(role)
    try:
        assert created.metadata.namespace is None
        assert created.rules[0].verbs == ["get", "list"]

        patched = rbac.patch_cluster_role(reader, {"metadata": {"labels": {"tier": namespace}}})
        assert patched.metadata.labels == {**CREATED_BY, "tier": namespace}
        assert [r.metadata.name for r in rbac.list_cluster_role(label_selector=f"tier={namespace}").items] == [reader]

        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "bind"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": reader},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}],
        }
        assert rbac.create_namespaced_role_binding(namespace, binding).metadata.namespace == namespace
    finally:
        rbac.delete_cluster_role(reader)
    expect_api_error(lambda: rbac.read_cluster_role(reader), 404, "NotFound")
    assert (
        http.get(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/clusterroles/{reader}").status_code == 404
    )


@pytest.mark.cluster
def test_leases_round_trip_micro_time(api: KubeApi, namespace: str) -> None:
    leases = client.CoordinationV1Api(api)
    body = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "leader"},
        "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15, "renewTime": "2030-01-02T03:04:05.123456Z"},
    }
    created = leases.create_namespaced_lease(namespace, body)
    assert created.spec.holder_identity == "me"
    assert created.spec.renew_time.microsecond == 123456

    created.spec.holder_identity = "you"
    replaced = leases.replace_namespaced_lease("leader", namespace, created)
    assert replaced.spec.holder_identity == "you"
    everywhere = leases.list_lease_for_all_namespaces().items
    assert [item.metadata.name for item in everywhere if item.metadata.namespace == namespace] == ["leader"]


@pytest.mark.cluster
def test_resource_versions_come_from_one_global_counter(api: KubeApi, core: KubeApi, namespace: str) -> None:
    rbac = client.RbacAuthorizationV1Api(api)
    counted = f"{namespace}-counted"  # a name of its own for the namespace and the ClusterRole
    labels = {"app.kubernetes.io/created-by": "k8s-manager-tests"}
    try:
        versions = [
            core.create_namespace({"metadata": {"name": counted, "labels": labels}}).metadata.resource_version,
            core.create_namespaced_config_map(counted, configmap("one")).metadata.resource_version,
            rbac.create_cluster_role({"metadata": {"name": counted}, "rules": []}).metadata.resource_version,
            core.create_namespaced_secret(counted, {"metadata": {"name": "s"}}).metadata.resource_version,
            core.patch_namespaced_config_map("one", counted, {"data": {"x": "y"}}).metadata.resource_version,
            core.create_namespaced_service_account(counted, {"metadata": {"name": "sa"}}).metadata.resource_version,
        ]
        # A list is as new as the newest write anywhere, not just the newest of its kind.
        list_version = int(core.list_namespaced_config_map(counted).metadata.resource_version)
    finally:
        for delete in (rbac.delete_cluster_role, core.delete_namespace):
            try:
                delete(counted)
            except ApiException as error:
                if error.status != 404:
                    raise
    numbers = [int(v) for v in versions]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == len(numbers)
    assert list_version >= numbers[-1]


@pytest.mark.cluster
def test_generation_follows_spec_changes_only(apps: KubeApi, namespace: str) -> None:
    created = apps.create_namespaced_deployment(namespace, deployment("web"))
    assert created.metadata.generation == 1

    labelled = apps.patch_namespaced_deployment("web", namespace, {"metadata": {"labels": {"extra": "yes"}}})
    assert labelled.metadata.generation == 1
    assert int(labelled.metadata.resource_version) > int(created.metadata.resource_version)

    scaled = apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 3}})
    assert scaled.metadata.generation == 2

    status = apps.patch_namespaced_deployment_status("web", namespace, {"status": {"observedGeneration": 2}})
    assert status.metadata.generation == 2
    assert status.status.observed_generation == 2

    unchanged = apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 3}})
    assert unchanged.metadata.generation == 2


@pytest.mark.cluster
def test_generate_name(core: KubeApi, http: RawApi, namespace: str) -> None:
    first = core.create_namespaced_config_map(namespace, {"metadata": {"generateName": "cfg-"}})
    second = core.create_namespaced_config_map(namespace, {"metadata": {"generateName": "cfg-"}})
    for made in (first, second):
        assert re.fullmatch(r"cfg-[bcdfghjklmnpqrstvwxz2456789]{5}", made.metadata.name)
        assert made.metadata.generate_name == "cfg-"
    assert first.metadata.name != second.metadata.name

    nameless = http.post(f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {}})
    assert nameless.status_code == 422
    assert nameless.json()["details"]["causes"][0]["field"] == "metadata.name"


@pytest.mark.cluster
def test_no_op_update_keeps_resource_version(core: KubeApi, namespace: str) -> None:
    created = core.create_namespaced_config_map(namespace, configmap("same", {"k": "v"}))
    again = core.patch_namespaced_config_map("same", namespace, {"data": {"k": "v"}})
    assert again.metadata.resource_version == created.metadata.resource_version


# ---------------------------------------------------------------------------------------------- conflicts


@pytest.mark.cluster
def test_put_with_stale_resource_version_is_a_conflict(core: KubeApi, namespace: str) -> None:
    original = core.create_namespaced_config_map(namespace, configmap("cm", {"v": "1"}))
    core.patch_namespaced_config_map("cm", namespace, {"data": {"v": "2"}})

    original.data = {"v": "3"}
    body = expect_api_error(lambda: core.replace_namespaced_config_map("cm", namespace, original), 409, "Conflict")
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "cm": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert body["details"] == {"name": "cm", "kind": "configmaps"}
    assert core.read_namespaced_config_map("cm", namespace).data == {"v": "2"}


@pytest.mark.cluster
def test_put_without_resource_version(
    core: KubeApi, custom: KubeApi, extensions: KubeApi, http: RawApi, group: str, namespace: str
) -> None:
    # Built-in kinds allow an unconditional update...
    core.create_namespaced_config_map(namespace, configmap("free", {"v": "1"}))
    replaced = core.replace_namespaced_config_map("free", namespace, configmap("free", {"v": "2"}))
    assert replaced.data == {"v": "2"}

    # ...custom resources do not.
    install_crd(extensions, http, widget_crd(group))
    custom.create_namespaced_custom_object(group, "v1", namespace, "widgets", widget(group, "w"))
    body = expect_api_error(
        lambda: custom.replace_namespaced_custom_object(
            group, "v1", namespace, "widgets", "w", widget(group, "w", {"size": 2})
        ),
        422,
        "Invalid",
    )
    # Refused before the strategy sees it: the answer names the resource, not the kind.
    assert body["message"] == (
        f'widgets.{group} "w" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update'
    )
    assert (body["details"]["kind"], body["details"]["group"]) == ("widgets", group)
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: 0: must be specified for an update",
            "field": "metadata.resourceVersion",
        }
    ]


@pytest.mark.cluster
def test_uid_precondition_in_body(core: KubeApi, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, configmap("cm"))
    forged = configmap("cm", {"x": "y"})
    forged["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    body = expect_api_error(lambda: core.replace_namespaced_config_map("cm", namespace, forged), 409, "Conflict")
    assert "Precondition failed: UID in precondition" in body["message"]


@pytest.mark.cluster
def test_put_to_a_missing_object_or_the_wrong_name(core: KubeApi, http: RawApi, namespace: str) -> None:
    configmaps = f"/api/v1/namespaces/{namespace}/configmaps"
    # ConfigMaps do not allow create-on-update: a PUT of a missing object is a 404.
    missing = expect_api_error(
        lambda: core.replace_namespaced_config_map("absent", namespace, configmap("absent")), 404, "NotFound"
    )
    assert missing["message"] == 'configmaps "absent" not found'

    core.create_namespaced_config_map(namespace, configmap("real"))
    renamed = http.put(f"{configmaps}/real", configmap("other"))
    assert renamed.status_code == 400
    assert renamed.json()["message"] == "the name of the object (other) does not match the name on the URL (real)"
    # The names are compared before anything is looked up.
    renamed_missing = http.put(f"{configmaps}/absent", configmap("other"))
    assert (renamed_missing.status_code, renamed_missing.json()["reason"]) == (400, "BadRequest")


@pytest.mark.cluster
def test_delete_collection_with_a_selector(core: KubeApi, http: RawApi, namespace: str) -> None:
    for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
        core.create_namespaced_config_map(namespace, configmap(name, labels={"tier": tier}))
    # The answer is the list of what was deleted (the client would squeeze it into a V1Status).
    deleted = http.delete(f"/api/v1/namespaces/{namespace}/configmaps", params={"labelSelector": "tier=x"})
    assert deleted.status_code == 200
    assert deleted.json()["kind"] == "ConfigMapList"
    assert sorted(item["metadata"]["name"] for item in deleted.json()["items"]) == ["a", "b"]
    listed = core.list_namespaced_config_map(namespace).items
    assert [cm.metadata.name for cm in listed] == ["c", ROOT_CA]

    core.delete_collection_namespaced_config_map(namespace)
    # Everything went, the CA bundle too: the cluster publishes a new one a moment later.
    old_bundle = listed[1].metadata.uid
    remaining = eventually(
        lambda: [cm for cm in core.list_namespaced_config_map(namespace).items if cm.metadata.uid != old_bundle],
        "the CA bundle to be published again",
    )
    assert [cm.metadata.name for cm in remaining] == [ROOT_CA]


# ---------------------------------------------------------------------------------------------- patches


@pytest.mark.cluster
def test_merge_patch(core: KubeApi, http: RawApi, namespace: str) -> None:
    core.create_namespaced_config_map(
        namespace, configmap("cm", {"keep": "1", "drop": "2"}, labels={"a": "1", "b": "2"})
    )
    answer = http.patch(
        f"/api/v1/namespaces/{namespace}/configmaps/cm",
        {"metadata": {"labels": {"b": None, "c": "3"}}, "data": {"drop": None, "new": "4"}},
        "application/merge-patch+json",
    )
    assert answer.status_code == 200, answer.text
    patched = answer.json()
    assert patched["metadata"]["labels"] == {"a": "1", "c": "3"}
    assert patched["data"] == {"keep": "1", "new": "4"}

    missing = http.patch(
        f"/api/v1/namespaces/{namespace}/configmaps/absent", {"data": {}}, "application/merge-patch+json"
    )
    assert missing.status_code == 404
    assert missing.json()["message"] == 'configmaps "absent" not found'


@pytest.mark.cluster
def test_json_patch_and_failed_test_operation(core: KubeApi, http: RawApi, namespace: str) -> None:
    created = core.create_namespaced_config_map(namespace, configmap("cm", {"a": "1"}))
    rv = created.metadata.resource_version
    path = f"/api/v1/namespaces/{namespace}/configmaps/cm"

    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/hold"]},
        {"op": "replace", "path": "/data/a", "value": "2"},
    ]
    patched = http.patch(path, ops, "application/json-patch+json")
    assert patched.status_code == 200, patched.text
    assert patched.json()["metadata"]["finalizers"] == ["example.com/hold"]
    assert patched.json()["data"] == {"a": "2"}

    # The same `test` again fails: the resourceVersion has moved on (kopf relies on this being a 422).
    stale = http.patch(path, ops, "application/json-patch+json")
    assert stale.status_code == 422
    assert stale.json()["reason"] == "Invalid"
    assert stale.json()["code"] == 422
    after = core.read_namespaced_config_map("cm", namespace)
    assert after.metadata.resource_version == patched.json()["metadata"]["resourceVersion"]

    bad_pointer = http.patch(path, [{"op": "remove", "path": "/data/nope"}], "application/json-patch+json")
    assert bad_pointer.status_code == 422

    not_a_list = http.patch(path, {"op": "add"}, "application/json-patch+json")
    assert not_a_list.status_code == 400
    assert not_a_list.json()["reason"] == "BadRequest"

    # The client sends a list body as a JSON patch.
    removed = core.patch_namespaced_config_map("cm", namespace, [{"op": "remove", "path": "/metadata/finalizers"}])
    assert removed.metadata.finalizers is None


@pytest.mark.cluster
def test_strategic_merge_patch_merges_containers_and_env_by_name(apps: KubeApi, namespace: str) -> None:
    containers: list[dict[str, Any]] = [
        {"name": "main", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        {"name": "sidecar", "image": "proxy:1"},
    ]
    apps.create_namespaced_deployment(namespace, deployment("web", containers))
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "app:2",
                            "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}],
                        },
                    ]
                }
            }
        }
    }
    # The typed client sends a dict body to a built-in kind as a strategic merge patch.
    patched = apps.patch_namespaced_deployment("web", namespace, patch)
    by_name = {c.name: c for c in patched.spec.template.spec.containers}
    assert set(by_name) == {"main", "sidecar"}
    assert by_name["main"].image == "app:2"
    assert by_name["sidecar"].image == "proxy:1"
    assert {e.name: e.value for e in by_name["main"].env} == {"A": "1", "B": "20", "C": "3"}
    assert patched.metadata.generation == 2

    deleting = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
    trimmed = apps.patch_namespaced_deployment("web", namespace, deleting)
    assert [c.name for c in trimmed.spec.template.spec.containers] == ["main"]


@pytest.mark.cluster
def test_strategic_merge_patch_is_refused_for_custom_resources(
    extensions: KubeApi, custom: KubeApi, http: RawApi, group: str, namespace: str
) -> None:
    install_crd(extensions, http, widget_crd(group))
    custom.create_namespaced_custom_object(group, "v1", namespace, "widgets", widget(group, "w"))
    answer = http.patch(
        f"/apis/{group}/v1/namespaces/{namespace}/widgets/w",
        {"spec": {"size": 2}},
        "application/strategic-merge-patch+json",
    )
    assert answer.status_code == 415
    assert answer.json()["reason"] == "UnsupportedMediaType"
    assert "application/merge-patch+json" in answer.json()["message"]


# ---------------------------------------------------------------------------------------------- dry run


@pytest.mark.cluster
def test_dry_run_changes_nothing(core: KubeApi, namespace: str) -> None:
    before = core.list_namespaced_config_map(namespace).metadata.resource_version
    preview = core.create_namespaced_config_map(namespace, configmap("ghost", {"a": "1"}), dry_run="All")
    assert preview.metadata.name == "ghost"
    assert preview.metadata.uid
    expect_api_error(lambda: core.read_namespaced_config_map("ghost", namespace), 404, "NotFound")

    core.create_namespaced_config_map(namespace, configmap("real", {"a": "1"}))
    core.patch_namespaced_config_map("real", namespace, {"data": {"a": "2"}}, dry_run="All")
    core.delete_namespaced_config_map("real", namespace, dry_run="All")
    assert core.read_namespaced_config_map("real", namespace).data == {"a": "1"}

    # Only the real create was written: it is all a watch from before sees.
    stream = watch.Watch().stream(
        core.list_namespaced_config_map, namespace, resource_version=before, timeout_seconds=1
    )
    assert [(event["type"], event["object"].metadata.name) for event in stream] == [("ADDED", "real")]


# ---------------------------------------------------------------------------------------------- errors


def error_body(call: Callable[[], Any]) -> str:
    """The body of the error `call` gets, as the server wrote it."""
    with pytest.raises(ApiException) as caught:
        call()
    return str(caught.value.body)


@pytest.mark.cluster
def test_status_errors_have_the_apiserver_byte_layout(core: KubeApi, apps: KubeApi, namespace: str) -> None:
    """metav1.Status as apimachinery's JSON serializer writes it: its fields in Go's order, then a newline."""
    missing = error_body(lambda: core.read_namespaced_config_map("nope", namespace))
    apps_missing = error_body(lambda: apps.read_namespaced_deployment("nope", namespace))
    core.create_namespaced_config_map(namespace, configmap("twice"))
    exists = error_body(lambda: core.create_namespaced_config_map(namespace, configmap("twice")))
    invalid = error_body(lambda: core.create_namespaced_config_map(namespace, configmap("Bad_Name", {"a b": "c"})))

    assert missing == (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"configmaps \\"nope\\" not found","reason":"NotFound",'
        '"details":{"name":"nope","kind":"configmaps"},"code":404}\n'
    )
    assert apps_missing == (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"deployments.apps \\"nope\\" not found","reason":"NotFound",'
        '"details":{"name":"nope","group":"apps","kind":"deployments"},"code":404}\n'
    )
    assert exists == (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"configmaps \\"twice\\" already exists","reason":"AlreadyExists",'
        '"details":{"name":"twice","kind":"configmaps"},"code":409}\n'
    )
    assert invalid.endswith("}\n")
    parsed = json.loads(invalid)  # keys in the order written
    assert list(parsed) == ["kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code"]
    assert list(parsed["details"]) == ["name", "kind", "causes"]
    assert len(parsed["details"]["causes"]) == 2  # the name and the data key
    assert all(list(cause) == ["reason", "message", "field"] for cause in parsed["details"]["causes"])
    # Objects end with the serializer's newline too.
    assert core.read_namespaced_config_map("twice", namespace, _preload_content=False).data.endswith(b"}\n")


@pytest.mark.cluster
def test_status_bodies_of_common_errors(core: KubeApi, http: RawApi, namespace: str) -> None:
    configmaps = f"/api/v1/namespaces/{namespace}/configmaps"
    missing = expect_api_error(lambda: core.read_namespaced_config_map("nope", namespace), 404, "NotFound")
    assert missing["message"] == 'configmaps "nope" not found'
    assert missing["details"] == {"name": "nope", "kind": "configmaps"}

    core.create_namespaced_config_map(namespace, configmap("twice"))
    exists = expect_api_error(
        lambda: core.create_namespaced_config_map(namespace, configmap("twice")), 409, "AlreadyExists"
    )
    assert exists["message"] == 'configmaps "twice" already exists'
    assert exists["details"] == {"name": "twice", "kind": "configmaps"}

    apps_missing = http.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/nope").json()
    assert apps_missing["message"] == 'deployments.apps "nope" not found'
    assert apps_missing["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}

    invalid = expect_api_error(
        lambda: core.create_namespaced_config_map(namespace, configmap("Bad_Name")), 422, "Invalid"
    )
    assert invalid["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"')
    assert invalid["details"]["kind"] == "ConfigMap"
    assert invalid["details"]["name"] == "Bad_Name"
    assert [c["field"] for c in invalid["details"]["causes"]] == ["metadata.name"]
    assert invalid["details"]["causes"][0]["reason"] == "FieldValueInvalid"

    bad_selector = http.get(configmaps, params={"labelSelector": "a in (b"})
    assert bad_selector.status_code == 400
    assert bad_selector.json()["reason"] == "BadRequest"

    wrong_kind = http.post(configmaps, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}})
    assert wrong_kind.status_code == 400
    assert wrong_kind.json()["reason"] == "BadRequest"

    not_json = http.request("POST", configmaps, data=b"{not json", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400


def test_gone_after_compaction_is_a_status(core: KubeApi, http: RawApi, emulator: ThreadedEmulator) -> None:
    old = core.create_namespaced_config_map("default", configmap("old")).metadata.resource_version
    core.create_namespaced_config_map("default", configmap("new"))
    assert http.post("/_emulator/compact", {}).status_code == 200
    answer = http.get(
        "/api/v1/namespaces/default/configmaps", params={"watch": "true", "resourceVersion": old, "timeoutSeconds": "2"}
    )
    assert answer.status_code == 200
    event = json.loads(answer.text.splitlines()[0])
    assert event["type"] == "ERROR"
    assert event["object"]["kind"] == "Status"
    assert event["object"]["code"] == 410
    assert event["object"]["reason"] == "Expired"
    assert event["object"]["message"].startswith(f"too old resource version: {old} (")


@pytest.mark.cluster
def test_creating_in_a_missing_namespace_is_404(core: KubeApi) -> None:
    nowhere = f"nowhere-{uuid.uuid4().hex[:8]}"
    body = expect_api_error(lambda: core.create_namespaced_config_map(nowhere, configmap("cm")), 404, "NotFound")
    assert body["message"] == f'namespaces "{nowhere}" not found'
    assert body["details"] == {"name": nowhere, "kind": "namespaces"}


@pytest.mark.cluster
def test_namespace_mismatch_between_body_and_path(http: RawApi, namespace: str) -> None:
    body = configmap("cm")
    body["metadata"]["namespace"] = "kube-system"
    answer = http.post(f"/api/v1/namespaces/{namespace}/configmaps", body)
    assert answer.status_code == 400
    assert answer.json()["message"] == (
        "the namespace of the provided object does not match the namespace sent on the request"
    )


# ---------------------------------------------------------------------------------------------- status


@pytest.mark.cluster
def test_status_subresource_isolates_status_and_spec(core: KubeApi, http: RawApi, namespace: str) -> None:
    # A LoadBalancer Service (only those may have ingress points), whose status no controller writes (no cloud
    # provider): every change here is ours.
    ingress = {"loadBalancer": {"ingress": [{"ip": "203.0.113.9", "ipMode": "VIP"}]}}
    body = {"metadata": {"name": "svc"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}, "status": ingress}
    created = core.create_namespaced_service(namespace, body)
    assert created.status.load_balancer.ingress is None  # status from a create is dropped

    path = f"/api/v1/namespaces/{namespace}/services/svc"
    through_main = http.patch(
        path, {"status": ingress, "metadata": {"labels": {"x": "y"}}}, "application/merge-patch+json"
    ).json()
    assert through_main["status"] == {"loadBalancer": {}}
    assert through_main["metadata"]["labels"] == {"x": "y"}

    without_mode = {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}
    through_status = http.patch(
        f"{path}/status",
        {"status": without_mode, "spec": {"ports": [{"port": 81}]}, "metadata": {"labels": {"x": "z"}}},
        "application/merge-patch+json",
    ).json()
    assert through_status["status"] == ingress  # ipMode defaults to VIP
    assert [p["port"] for p in through_status["spec"]["ports"]] == [80]
    # The Service status strategy keeps only the spec: metadata changes go through /status too.
    assert through_status["metadata"]["labels"] == {"x": "z"}
    assert http.get(f"{path}/status").json()["status"] == ingress

    replaced = core.replace_namespaced_service("svc", namespace, core.read_namespaced_service("svc", namespace))
    assert replaced.status.load_balancer.ingress[0].ip == "203.0.113.9"


@pytest.mark.cluster
def test_custom_resource_status_subresource(
    extensions: KubeApi, custom: KubeApi, http: RawApi, group: str, namespace: str
) -> None:
    install_crd(extensions, http, widget_crd(group))
    created = custom.create_namespaced_custom_object(
        group, "v1", namespace, "widgets", widget(group, "w", status={"phase": "forged"})
    )
    assert "status" not in created
    assert created["metadata"]["generation"] == 1

    with_status = custom.patch_namespaced_custom_object_status(
        group, "v1", namespace, "widgets", "w", {"status": {"phase": "Ready"}, "spec": {"size": 9}}
    )
    assert with_status["status"] == {"phase": "Ready"}
    assert with_status["spec"]["size"] == 1
    assert with_status["metadata"]["generation"] == 1

    current = custom.get_namespaced_custom_object(group, "v1", namespace, "widgets", "w")
    current["status"] = {"phase": "Overwritten"}
    current["spec"]["size"] = 2
    replaced = custom.replace_namespaced_custom_object(group, "v1", namespace, "widgets", "w", current)
    assert replaced["status"] == {"phase": "Ready"}
    assert replaced["spec"]["size"] == 2
    assert replaced["metadata"]["generation"] == 2

    labelled = custom.patch_namespaced_custom_object(
        group, "v1", namespace, "widgets", "w", {"metadata": {"labels": {"l": "v"}}}
    )
    assert labelled["metadata"]["generation"] == 2

    status_put = custom.get_namespaced_custom_object_status(group, "v1", namespace, "widgets", "w")
    status_put["status"] = {"phase": "Done"}
    status_put["metadata"]["labels"] = {"ignored": "yes"}
    stored = custom.replace_namespaced_custom_object_status(group, "v1", namespace, "widgets", "w", status_put)
    assert stored["status"] == {"phase": "Done"}
    assert stored["metadata"]["labels"] == {"l": "v"}  # a custom resource's /status write changes only the status


@pytest.mark.cluster
def test_custom_resource_without_status_subresource(
    extensions: KubeApi, custom: KubeApi, http: RawApi, group: str, namespace: str
) -> None:
    install_crd(extensions, http, widget_crd(group, status_subresource=False))
    assert "widgets/status" not in [r["name"] for r in http.get(f"/apis/{group}/v1").json()["resources"]]
    created = custom.create_namespaced_custom_object(
        group, "v1", namespace, "widgets", widget(group, "w", status={"phase": "kept"})
    )
    assert created["status"] == {"phase": "kept"}

    updated = custom.patch_namespaced_custom_object(
        group, "v1", namespace, "widgets", "w", {"status": {"phase": "changed"}}
    )
    assert updated["status"] == {"phase": "changed"}
    assert updated["metadata"]["generation"] == 2  # status is an ordinary field here

    assert http.get(f"/apis/{group}/v1/namespaces/{namespace}/widgets/w/status").status_code == 404


# ---------------------------------------------------------------------------------------------- CRD schemas


@pytest.mark.cluster
def test_schema_validation_reports_the_field_path(
    extensions: KubeApi, custom: KubeApi, http: RawApi, group: str, namespace: str
) -> None:
    install_crd(extensions, http, widget_crd(group))
    body = expect_api_error(
        lambda: custom.create_namespaced_custom_object(
            group, "v1", namespace, "widgets", widget(group, "w", {"size": "big"})
        ),
        422,
        "Invalid",
    )
    assert body["message"] == (
        f'Widget.{group} "w" is invalid: spec.size: Invalid value: "string": '
        'spec.size in body must be of type integer: "string"'
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueTypeInvalid",
            "message": 'Invalid value: "string": spec.size in body must be of type integer: "string"',
            "field": "spec.size",
        }
    ]
    assert body["details"]["group"] == group
    assert body["details"]["kind"] == "Widget"

    too_small = expect_api_error(
        lambda: custom.create_namespaced_custom_object(
            group, "v1", namespace, "widgets", widget(group, "w", {"size": 0})
        ),
        422,
        "Invalid",
    )
    assert too_small["details"]["causes"][0]["field"] == "spec.size"
    assert "should be greater than or equal to 1" in too_small["details"]["causes"][0]["message"]
    assert custom.list_namespaced_custom_object(group, "v1", namespace, "widgets")["items"] == []


@pytest.mark.cluster
def test_schema_defaulting_and_pruning(
    extensions: KubeApi, custom: KubeApi, http: RawApi, group: str, namespace: str
) -> None:
    install_crd(extensions, http, widget_crd(group))
    spec = {"size": 2, "unknown": "dropped", "free": {"anything": {"goes": [1, 2]}}}
    created = custom.create_namespaced_custom_object(
        group, "v1", namespace, "widgets", widget(group, "w", spec, extra="dropped too")
    )
    assert created["spec"] == {"size": 2, "color": "blue", "free": {"anything": {"goes": [1, 2]}}}
    assert "extra" not in created
    assert custom.get_namespaced_custom_object(group, "v1", namespace, "widgets", "w")["spec"] == created["spec"]

    explicit = custom.create_namespaced_custom_object(
        group, "v1", namespace, "widgets", widget(group, "x", {"size": 1, "color": "red"})
    )
    assert explicit["spec"]["color"] == "red"


@pytest.mark.cluster
def test_unknown_fields_warn_or_fail_with_field_validation(
    extensions: KubeApi, http: RawApi, group: str, namespace: str
) -> None:
    install_crd(extensions, http, widget_crd(group))
    path = f"/apis/{group}/v1/namespaces/{namespace}/widgets"

    warned = http.post(path, widget(group, "w", {"size": 1, "bogus": True}))
    assert warned.status_code == 201
    assert warned.headers["Warning"] == '299 - "unknown field \\"spec.bogus\\""'
    assert "bogus" not in warned.json()["spec"]

    strict = http.post(path, widget(group, "s", {"size": 1, "bogus": True}), params={"fieldValidation": "Strict"})
    assert strict.status_code == 400
    assert strict.json()["reason"] == "BadRequest"
    assert 'strict decoding error: unknown field "spec.bogus"' in strict.json()["message"]
    assert http.get(f"{path}/s").status_code == 404

    ignored = http.post(path, widget(group, "i", {"size": 1, "bogus": True}), params={"fieldValidation": "Ignore"})
    assert ignored.status_code == 201
    assert "Warning" not in ignored.headers

    clean = http.post(path, widget(group, "c", {"size": 1}))
    assert "Warning" not in clean.headers


@pytest.mark.cluster
def test_cel_validation_rule_rejects_a_bad_object(
    extensions: KubeApi, custom: KubeApi, http: RawApi, group: str, namespace: str
) -> None:
    spec_schema = {
        "type": "object",
        "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.min <= self.max", "message": "min must not exceed max"}],
    }
    install_crd(extensions, http, widget_crd(group, spec_schema=spec_schema))
    good = custom.create_namespaced_custom_object(
        group, "v1", namespace, "widgets", widget(group, "good", {"min": 1, "max": 2})
    )
    assert good["spec"] == {"min": 1, "max": 2}

    body = expect_api_error(
        lambda: custom.create_namespaced_custom_object(
            group, "v1", namespace, "widgets", widget(group, "bad", {"min": 3, "max": 2})
        ),
        422,
        "Invalid",
    )
    # The value of an object is left out of the message.
    assert body["details"]["causes"] == [
        {"reason": "FieldValueInvalid", "message": "Invalid value: min must not exceed max", "field": "spec"}
    ]

    good["spec"]["min"] = 5
    expect_api_error(
        lambda: custom.replace_namespaced_custom_object(group, "v1", namespace, "widgets", "good", good),
        422,
        "Invalid",
    )


@pytest.mark.cluster
def test_invalid_crd_is_rejected(extensions: KubeApi, group: str) -> None:
    manifest = widget_crd(group)
    manifest["metadata"]["name"] = "wrong.example.com"
    body = expect_api_error(lambda: extensions.create_custom_resource_definition(manifest), 422, "Invalid")
    assert "metadata.name" in [cause["field"] for cause in body["details"]["causes"]]
