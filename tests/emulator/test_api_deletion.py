"""Deletion: finalizers, ownerReference garbage collection, and namespace termination."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

# kubernetes>=37 types every model field as Optional; these tests check the values at run time, so they
# use the client untyped.
KubeApi = Any
client: Any = kubernetes.client
config: Any = kubernetes.config

DEADLINE = 30.0  # generous: a real cluster's garbage collector may take a few seconds
HOLD = "example.com/hold"
CREATED_BY_LABEL, CREATED_BY = "app.kubernetes.io/created-by", "k8s-manager-tests"  # as tests/conftest.py labels


@pytest.fixture
def core(kubeconfig: Path) -> Iterator[KubeApi]:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        yield client.CoreV1Api(api_client)


@pytest.fixture
def apps(kubeconfig: Path) -> Iterator[KubeApi]:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        yield client.AppsV1Api(api_client)


def eventually(check: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
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


def configmap(
    name: str,
    finalizers: list[str] | None = None,
    owners: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if finalizers:
        metadata["finalizers"] = finalizers
    if owners:
        metadata["ownerReferences"] = owners
    return {"metadata": metadata, "data": {}}


def deployment(name: str, finalizers: list[str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if finalizers:
        metadata["finalizers"] = finalizers
    return {
        "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }


def owner_ref(owner: Any, block: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": owner.metadata.name,
        "uid": owner.metadata.uid,
        "blockOwnerDeletion": block,
    }


def read_cm(core: KubeApi, name: str, namespace: str = "default") -> Callable[[], Any]:
    return lambda: core.read_namespaced_config_map(name, namespace)


# ---------------------------------------------------------------------------------------------- finalizers


@pytest.mark.cluster
def test_finalizers_hold_an_object_until_the_last_is_removed(core: KubeApi, namespace: str) -> None:
    created = core.create_namespaced_config_map(namespace, configmap("held", [HOLD, "example.com/second"]))

    marked = core.delete_namespaced_config_map("held", namespace)
    assert marked["kind"] == "ConfigMap"  # not deleted yet: the answer is the object itself
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 0
    assert marked["metadata"]["finalizers"] == [HOLD, "example.com/second"]
    assert int(marked["metadata"]["resourceVersion"]) > int(created.metadata.resource_version)

    stored = core.read_namespaced_config_map("held", namespace)
    assert stored.metadata.deletion_timestamp is not None

    # Deleting again changes nothing.
    again = core.delete_namespaced_config_map("held", namespace)
    assert again["metadata"]["resourceVersion"] == marked["metadata"]["resourceVersion"]

    # Other changes are still allowed, and the client cannot take the deletionTimestamp away.
    relabelled = core.patch_namespaced_config_map(
        "held", namespace, {"metadata": {"labels": {"a": "b"}, "deletionTimestamp": None}}
    )
    assert relabelled.metadata.labels == {"a": "b"}
    assert relabelled.metadata.deletion_timestamp == stored.metadata.deletion_timestamp

    # A strategic merge patch merges finalizer lists (patchStrategy "merge"); a merge patch replaces them.
    merged = core.patch_namespaced_config_map("held", namespace, {"metadata": {"finalizers": ["example.com/second"]}})
    assert merged.metadata.finalizers == [HOLD, "example.com/second"]
    core.patch_namespaced_config_map(
        "held",
        namespace,
        {"metadata": {"finalizers": ["example.com/second"]}},
        _content_type="application/merge-patch+json",
    )
    assert core.read_namespaced_config_map("held", namespace).metadata.finalizers == ["example.com/second"]

    core.patch_namespaced_config_map("held", namespace, {"metadata": {"finalizers": None}})
    assert gone(read_cm(core, "held", namespace))


@pytest.mark.cluster
def test_no_new_finalizers_while_deleting(core: KubeApi, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, configmap("held", [HOLD]))
    core.delete_namespaced_config_map("held", namespace)

    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("held", namespace, {"metadata": {"finalizers": [HOLD, "example.com/new"]}})
    assert caught.value.status == 422
    body = json.loads(caught.value.body or "")
    assert body["reason"] == "Invalid"
    problem = (
        "Forbidden: no new finalizers can be added if the object is being deleted, "
        'found new finalizers []string{"example.com/new"}'
    )
    assert body["message"] == f'ConfigMap "held" is invalid: metadata.finalizers: {problem}'
    # Twice: rest.BeforeUpdate checks ObjectMetaUpdate itself, then the ConfigMap strategy checks it again.
    cause = {"reason": "FieldValueForbidden", "message": problem, "field": "metadata.finalizers"}
    assert body["details"]["causes"] == [cause, cause]
    assert core.read_namespaced_config_map("held", namespace).metadata.finalizers == [HOLD]

    # The finalizers added are listed sorted, and a bad label in the same write is reported along with them.
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map(
            "held",
            namespace,
            {"metadata": {"labels": {"a b": "c"}, "finalizers": ["z.example.com/x", "a.example.com/y"]}},
        )
    causes = json.loads(caught.value.body or "")["details"]["causes"]
    assert [(c["field"], c["reason"]) for c in causes] == [
        ("metadata.labels", "FieldValueInvalid"),  # ObjectMeta, then ObjectMetaUpdate, by BeforeUpdate...
        ("metadata.finalizers", "FieldValueForbidden"),
        ("metadata.labels", "FieldValueInvalid"),
        ("metadata.finalizers", "FieldValueForbidden"),  # ...then ObjectMetaUpdate and ObjectMeta by the strategy
        ("metadata.labels", "FieldValueInvalid"),
        ("metadata.labels", "FieldValueInvalid"),
    ]
    assert causes[1]["message"].endswith('found new finalizers []string{"a.example.com/y", "z.example.com/x"}')


@pytest.mark.cluster
def test_deletion_bumps_generation_of_kinds_that_track_it(apps: KubeApi, namespace: str) -> None:
    assert apps.create_namespaced_deployment(namespace, deployment("web", [HOLD])).metadata.generation == 1
    apps.delete_namespaced_deployment("web", namespace)
    assert apps.read_namespaced_deployment("web", namespace).metadata.generation == 2
    apps.patch_namespaced_deployment("web", namespace, {"metadata": {"finalizers": None}})
    assert gone(lambda: apps.read_namespaced_deployment("web", namespace))


@pytest.mark.cluster
def test_delete_preconditions(core: KubeApi, namespace: str) -> None:
    created = core.create_namespaced_config_map(namespace, configmap("cm"))
    with pytest.raises(ApiException) as caught:
        core.delete_namespaced_config_map("cm", namespace, body={"preconditions": {"resourceVersion": "1"}})
    assert caught.value.status == 409
    # rest.BeforeDelete's answer: it names the kind, not the resource.
    stale = json.loads(caught.value.body or "")
    assert stale["message"] == (
        'Operation cannot be fulfilled on ConfigMap "cm": the ResourceVersion in the precondition (1) does not '
        f"match the ResourceVersion in record ({created.metadata.resource_version}). The object might have been "
        "modified"
    )
    assert stale["details"] == {"name": "cm", "kind": "ConfigMap"}

    other_uid = "6b1d8a3e-0000-4000-8000-000000000000"
    with pytest.raises(ApiException) as caught:
        core.delete_namespaced_config_map("cm", namespace, body={"preconditions": {"uid": other_uid}})
    assert json.loads(caught.value.body or "")["message"] == (
        f'Operation cannot be fulfilled on ConfigMap "cm": the UID in the precondition ({other_uid}) does not match '
        f"the UID in record ({created.metadata.uid}). The object might have been deleted and then recreated"
    )

    core.delete_namespaced_config_map("cm", namespace, body={"preconditions": {"uid": created.metadata.uid}})
    assert gone(read_cm(core, "cm", namespace))


@pytest.mark.cluster
def test_delete_preconditions_name_the_group_of_the_kind(apps: KubeApi, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    with pytest.raises(ApiException) as caught:
        apps.delete_namespaced_deployment("web", namespace, body={"preconditions": {"resourceVersion": "1"}})
    body = json.loads(caught.value.body or "")
    assert body["message"].startswith('Operation cannot be fulfilled on Deployment.apps "web": ')
    assert body["details"] == {"name": "web", "group": "apps", "kind": "Deployment"}


# ---------------------------------------------------------------------------------------------- garbage collection


@pytest.mark.cluster
def test_background_deletion_collects_dependents(core: KubeApi, namespace: str) -> None:
    owner = core.create_namespaced_config_map(namespace, configmap("owner"))
    core.create_namespaced_config_map(namespace, configmap("child-1", owners=[owner_ref(owner)]))
    core.create_namespaced_config_map(namespace, configmap("child-2", owners=[owner_ref(owner, block=True)]))
    second_owner = core.create_namespaced_config_map(namespace, configmap("other-owner"))
    core.create_namespaced_config_map(
        namespace, configmap("shared", owners=[owner_ref(owner), owner_ref(second_owner)])
    )

    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Background")
    assert gone(read_cm(core, "owner", namespace))  # the owner goes at once
    eventually(
        lambda: gone(read_cm(core, "child-1", namespace)) and gone(read_cm(core, "child-2", namespace)),
        "dependents collected",
    )

    # A dependent with another live owner stays; it only loses the reference to the deleted one.
    shared = eventually(
        lambda: (
            (cm := core.read_namespaced_config_map("shared", namespace)).metadata.owner_references
            and len(cm.metadata.owner_references) == 1
            and cm
        ),
        "the reference to the deleted owner to be dropped",
    )
    assert shared.metadata.owner_references[0].name == "other-owner"


@pytest.mark.cluster
def test_foreground_deletion_waits_for_blocking_dependents(core: KubeApi, namespace: str) -> None:
    owner = core.create_namespaced_config_map(namespace, configmap("owner"))
    core.create_namespaced_config_map(namespace, configmap("free", owners=[owner_ref(owner, block=True)]))
    core.create_namespaced_config_map(
        namespace, configmap("stuck", finalizers=[HOLD], owners=[owner_ref(owner, block=True)])
    )

    marked = core.delete_namespaced_config_map("owner", namespace, propagation_policy="Foreground")
    assert "foregroundDeletion" in marked["metadata"]["finalizers"]
    assert marked["metadata"]["deletionTimestamp"]

    eventually(lambda: gone(read_cm(core, "free", namespace)), "the free dependent to be deleted")
    stuck = eventually(
        lambda: (cm := core.read_namespaced_config_map("stuck", namespace)).metadata.deletion_timestamp and cm,
        "the held dependent to be marked for deletion",
    )
    assert stuck.metadata.finalizers == [HOLD]
    # The owner waits for its blocking dependent.
    still = core.read_namespaced_config_map("owner", namespace)
    assert still.metadata.finalizers == ["foregroundDeletion"]

    core.patch_namespaced_config_map("stuck", namespace, {"metadata": {"finalizers": None}})
    eventually(lambda: gone(read_cm(core, "owner", namespace)), "the owner to go after its dependents")


@pytest.mark.cluster
def test_orphan_deletion_keeps_dependents(core: KubeApi, namespace: str) -> None:
    owner = core.create_namespaced_config_map(namespace, configmap("owner"))
    core.create_namespaced_config_map(namespace, configmap("child", owners=[owner_ref(owner)]))

    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Orphan")
    eventually(lambda: gone(read_cm(core, "owner", namespace)), "the owner to be deleted")
    child = core.read_namespaced_config_map("child", namespace)
    assert not child.metadata.owner_references


@pytest.mark.cluster
def test_dependent_of_a_missing_owner_is_collected(core: KubeApi, namespace: str) -> None:
    phantom = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "never-existed",
        "uid": "6b1d8a3e-0000-4000-8000-000000000000",
    }
    core.create_namespaced_config_map(namespace, configmap("orphaned", owners=[phantom]))
    eventually(lambda: gone(read_cm(core, "orphaned", namespace)), "a dependent of a missing owner to be collected")


# ---------------------------------------------------------------------------------------------- namespaces


@pytest.fixture
def own_namespace(core: KubeApi) -> Iterator[str]:
    """A name for a namespace the test makes and deletes itself; whatever is left of it goes afterwards."""
    name = f"k8s-manager-test-{uuid.uuid4().hex[:8]}"
    yield name
    try:
        for cm in core.list_namespaced_config_map(name).items:
            if cm.metadata.finalizers:
                core.patch_namespaced_config_map(cm.metadata.name, name, {"metadata": {"finalizers": None}})
        core.delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise


def create_namespace(core: KubeApi, name: str) -> Any:
    return core.create_namespace({"metadata": {"name": name, "labels": {CREATED_BY_LABEL: CREATED_BY}}})


@pytest.mark.cluster
def test_namespace_deletion_empties_it_then_removes_it(core: KubeApi, apps: KubeApi, own_namespace: str) -> None:
    doomed = own_namespace
    create_namespace(core, doomed)
    core.create_namespaced_config_map(doomed, configmap("cm"))
    core.create_namespaced_config_map(doomed, configmap("held", [HOLD]))
    core.create_namespaced_secret(doomed, {"metadata": {"name": "s"}})
    apps.create_namespaced_deployment(doomed, deployment("web"))

    marked = core.delete_namespace(doomed)
    assert marked["status"]["phase"] == "Terminating"
    assert marked["spec"]["finalizers"] == ["kubernetes"]
    assert marked["metadata"]["deletionTimestamp"]

    # No new content while terminating: the NamespaceLifecycle admission answer.
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(doomed, configmap("late"))
    assert caught.value.status == 403
    body = json.loads(caught.value.body or "")
    assert body["reason"] == "Forbidden"
    assert body["message"] == (
        f'configmaps "late" is forbidden: unable to create new content in namespace {doomed} '
        "because it is being terminated"
    )
    assert body["details"]["name"] == "late"
    assert body["details"]["kind"] == "configmaps"
    assert body["details"]["causes"] == [
        {
            "reason": "NamespaceTerminating",
            "message": f"namespace {doomed} is being terminated",
            "field": "metadata.namespace",
        }
    ]

    eventually(
        lambda: (
            gone(read_cm(core, "cm", doomed))
            and not core.list_namespaced_secret(doomed).items
            and not apps.list_namespaced_deployment(doomed).items
            and not core.list_namespaced_pod(doomed).items
        ),
        "the namespace to be emptied",
    )
    # An object with a finalizer holds the namespace in Terminating, and says so in its conditions.
    held = core.read_namespaced_config_map("held", doomed)
    assert held.metadata.deletion_timestamp is not None
    namespace = eventually(
        lambda: (
            (ns := core.read_namespace(doomed)).status.conditions
            and any(c.type == "NamespaceFinalizersRemaining" and c.status == "True" for c in ns.status.conditions)
            and ns
        ),
        "the NamespaceFinalizersRemaining condition",
    )
    assert namespace.status.phase == "Terminating"

    core.patch_namespaced_config_map("held", doomed, {"metadata": {"finalizers": None}})
    eventually(lambda: gone(lambda: core.read_namespace(doomed)), "the namespace to disappear")

    # The namespace can then be made again, empty but for what the cluster puts in every namespace.
    assert create_namespace(core, doomed).status.phase == "Active"
    fresh = eventually(lambda: core.list_namespaced_config_map(doomed).items, "the new namespace's CA bundle")
    assert [cm.metadata.name for cm in fresh] == ["kube-root-ca.crt"]
    assert core.create_namespaced_config_map(doomed, configmap("fresh")).metadata.namespace == doomed


@pytest.mark.cluster
def test_namespace_finalize_subresource(core: KubeApi, own_namespace: str) -> None:
    stuck = own_namespace
    create_namespace(core, stuck)
    core.create_namespaced_config_map(stuck, configmap("held", [HOLD]))
    core.delete_namespace(stuck)
    assert core.read_namespace(stuck).status.phase == "Terminating"
    # Emptying spec.finalizers through /finalize (how people force a stuck namespace out) lets it go,
    # even with content left behind. The write is an ordinary update but for the status, which it keeps.
    namespace = core.read_namespace(stuck)
    namespace.spec.finalizers = []
    namespace.metadata.labels["finalized"] = "yes"
    namespace.status.phase = "Active"
    finalized = core.replace_namespace_finalize(stuck, namespace)
    assert finalized.metadata.labels["finalized"] == "yes"
    assert finalized.status.phase == "Terminating"
    assert not finalized.spec.finalizers
    eventually(lambda: gone(lambda: core.read_namespace(stuck)), "the namespace to disappear")


@pytest.mark.cluster
@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
def test_system_namespaces_may_not_be_deleted(core: KubeApi, name: str) -> None:
    with pytest.raises(ApiException) as refused:
        core.delete_namespace(name)

    assert refused.value.status == 403
    body = json.loads(refused.value.body or "{}")
    assert body["reason"] == "Forbidden"
    assert body["message"] == f'namespaces "{name}" is forbidden: this namespace may not be deleted'
    assert core.read_namespace(name).metadata.deletion_timestamp is None
