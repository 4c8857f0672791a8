"""The emulator's controllers, driven directly through the store inside the test's event loop."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from kube_emulator.cluster import Cluster
from kube_emulator.controllers import (
    NODE_NAME,
    Controllers,
    namespace_conditions,
    pod_template_hash,
)
from kube_emulator.emulator import EmulatorSettings
from kube_emulator.resources import JsonObject, ResourceType
from kube_emulator.store import DELETED

Factory = Callable[..., Awaitable[tuple[Cluster, Controllers]]]

ROOT_CA = "kube-root-ca.crt"  # the ConfigMap the cluster puts in every namespace


@pytest.fixture
async def make() -> AsyncIterator[Factory]:
    """Build a cluster with running controllers; all of them are stopped at the end of the test."""
    started: list[Controllers] = []

    async def build(
        workload_ready_after: float | None = None, simulate_pods: bool = True
    ) -> tuple[Cluster, Controllers]:
        cluster = Cluster()
        controllers = Controllers(
            cluster, EmulatorSettings(workload_ready_after=workload_ready_after, simulate_pods=simulate_pods)
        )
        controllers.start()
        started.append(controllers)
        await controllers.wait_idle()
        return cluster, controllers

    yield build
    for controllers in started:
        await controllers.stop()


def rt(cluster: Cluster, plural: str) -> ResourceType:
    where = {
        "configmaps": ("", "v1"),
        "secrets": ("", "v1"),
        "serviceaccounts": ("", "v1"),
        "services": ("", "v1"),
        "namespaces": ("", "v1"),
        "pods": ("", "v1"),
        "events": ("", "v1"),
        "deployments": ("apps", "v1"),
        "replicasets": ("apps", "v1"),
        "clusterroles": ("rbac.authorization.k8s.io", "v1"),
        "customresourcedefinitions": ("apiextensions.k8s.io", "v1"),
        "widgets": ("example.com", "v1"),
    }
    group, version = where[plural]
    return cluster.rtype(group, version, plural)


def create(cluster: Cluster, plural: str, obj: JsonObject, namespace: str | None = "default") -> JsonObject:
    created, _ = cluster.store.create(rt(cluster, plural), namespace, obj)
    return created


def find(cluster: Cluster, plural: str, name: str, namespace: str | None = "default") -> JsonObject | None:
    return cluster.store.find(rt(cluster, plural), namespace, name)


def items(cluster: Cluster, plural: str, namespace: str | None = "default") -> list[JsonObject]:
    found, _ = cluster.store.list_objects(rt(cluster, plural), namespace)
    return found


def names(objects: list[JsonObject]) -> list[str]:
    return [obj["metadata"]["name"] for obj in objects]


def owner_ref(owner: JsonObject, block: bool = True, controller: bool = False) -> JsonObject:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "blockOwnerDeletion": block,
        "controller": controller,
    }


def configmap(name: str, *owners: JsonObject, finalizers: list[str] | None = None) -> JsonObject:
    metadata: JsonObject = {"name": name}
    if owners:
        metadata["ownerReferences"] = [owner_ref(o) for o in owners]
    if finalizers:
        metadata["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": "v"}}


def drop_finalizers(cluster: Cluster, plural: str, name: str, namespace: str | None = "default") -> None:
    obj = find(cluster, plural, name, namespace)
    assert obj is not None
    obj["metadata"]["finalizers"] = []
    cluster.store.update(rt(cluster, plural), namespace, name, obj)


def condition(obj: JsonObject, condition_type: str) -> JsonObject:
    found: list[JsonObject] = [
        c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == condition_type
    ]
    assert found, f"no {condition_type} condition in {obj.get('status')}"
    return found[0]


async def eventually(controllers: Controllers, check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while True:
        await controllers.wait_idle()
        if check():
            return
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


# ------------------------------------------------------------------------------------- garbage collector


async def test_background_deletion_removes_dependents(make: Factory) -> None:
    cluster, controllers = await make()
    owner = create(cluster, "configmaps", configmap("owner"))
    create(cluster, "configmaps", configmap("dep-1", owner))
    create(
        cluster,
        "secrets",
        {"metadata": {"name": "dep-2", "ownerReferences": [owner_ref(owner, block=False)]}},
    )
    create(cluster, "configmaps", configmap("bystander"))
    await controllers.wait_idle()

    cluster.store.delete(rt(cluster, "configmaps"), "default", "owner")
    # Dependents go a moment later, not inside the owner's deletion.
    assert find(cluster, "configmaps", "dep-1") is not None
    await controllers.wait_idle()

    assert find(cluster, "configmaps", "dep-1") is None
    assert find(cluster, "secrets", "dep-2") is None
    assert find(cluster, "configmaps", "bystander") is not None


async def test_dependent_created_for_a_missing_owner_is_deleted(make: Factory) -> None:
    cluster, controllers = await make()
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ghost", "uid": "0000-gone"}}
    create(cluster, "configmaps", configmap("orphaned-at-birth", ghost))
    await controllers.wait_idle()
    assert find(cluster, "configmaps", "orphaned-at-birth") is None


async def test_dependent_with_another_live_owner_only_loses_the_reference(make: Factory) -> None:
    cluster, controllers = await make()
    first = create(cluster, "configmaps", configmap("first"))
    second = create(cluster, "configmaps", configmap("second"))
    create(cluster, "configmaps", configmap("shared", first, second))
    await controllers.wait_idle()

    cluster.store.delete(rt(cluster, "configmaps"), "default", "first")
    await controllers.wait_idle()

    shared = find(cluster, "configmaps", "shared")
    assert shared is not None
    assert [ref["name"] for ref in shared["metadata"]["ownerReferences"]] == ["second"]

    cluster.store.delete(rt(cluster, "configmaps"), "default", "second")
    await controllers.wait_idle()
    assert find(cluster, "configmaps", "shared") is None


async def test_foreground_deletion_removes_a_three_level_chain_bottom_up(make: Factory) -> None:
    cluster, controllers = await make()
    top = create(cluster, "configmaps", configmap("top"))
    middle = create(cluster, "configmaps", configmap("middle", top))
    create(cluster, "configmaps", configmap("bottom", middle))
    await controllers.wait_idle()
    deleted: list[str] = []
    cluster.store.subscribe(
        lambda change: deleted.append(change.object["metadata"]["name"]) if change.type == DELETED else None
    )

    marked = cluster.store.delete(rt(cluster, "configmaps"), "default", "top", propagation="Foreground")
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert marked["metadata"]["deletionTimestamp"]
    await controllers.wait_idle()

    assert deleted == ["bottom", "middle", "top"]
    assert names(items(cluster, "configmaps")) == [ROOT_CA]


async def test_foreground_deletion_waits_for_a_blocking_dependent(make: Factory) -> None:
    cluster, controllers = await make()
    top = create(cluster, "configmaps", configmap("top"))
    middle = create(cluster, "configmaps", configmap("middle", top))
    create(cluster, "configmaps", configmap("held", middle, finalizers=["example.com/hold"]))
    await controllers.wait_idle()

    cluster.store.delete(rt(cluster, "configmaps"), "default", "top", propagation="Foreground")
    await controllers.wait_idle()

    held, middle_now, top_now = (find(cluster, "configmaps", n) for n in ("held", "middle", "top"))
    assert held is not None
    assert held["metadata"]["deletionTimestamp"]
    assert middle_now is not None
    assert middle_now["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert top_now is not None
    assert top_now["metadata"]["finalizers"] == ["foregroundDeletion"]

    drop_finalizers(cluster, "configmaps", "held")
    await controllers.wait_idle()
    assert names(items(cluster, "configmaps")) == [ROOT_CA]


async def test_foreground_deletion_does_not_wait_for_non_blocking_dependents(make: Factory) -> None:
    cluster, controllers = await make()
    top = create(cluster, "configmaps", configmap("top"))
    loose = configmap("loose", finalizers=["example.com/hold"])
    loose["metadata"]["ownerReferences"] = [owner_ref(top, block=False)]
    create(cluster, "configmaps", loose)
    await controllers.wait_idle()

    cluster.store.delete(rt(cluster, "configmaps"), "default", "top", propagation="Foreground")
    await controllers.wait_idle()

    assert find(cluster, "configmaps", "top") is None
    loose_now = find(cluster, "configmaps", "loose")
    assert loose_now is not None
    assert loose_now["metadata"]["deletionTimestamp"]


async def test_orphan_deletion_keeps_dependents_and_strips_the_reference(make: Factory) -> None:
    cluster, controllers = await make()
    owner = create(cluster, "configmaps", configmap("owner"))
    other = create(cluster, "configmaps", configmap("other"))
    create(cluster, "configmaps", configmap("only-child", owner))
    create(cluster, "configmaps", configmap("two-parents", owner, other))
    await controllers.wait_idle()

    marked = cluster.store.delete(rt(cluster, "configmaps"), "default", "owner", propagation="Orphan")
    assert marked["metadata"]["finalizers"] == ["orphan"]
    await controllers.wait_idle()

    assert find(cluster, "configmaps", "owner") is None
    only_child = find(cluster, "configmaps", "only-child")
    assert only_child is not None
    assert "ownerReferences" not in only_child["metadata"]
    two_parents = find(cluster, "configmaps", "two-parents")
    assert two_parents is not None
    assert [ref["name"] for ref in two_parents["metadata"]["ownerReferences"]] == ["other"]


async def test_owner_identity_is_its_uid(make: Factory) -> None:
    cluster, controllers = await make()
    owner = create(cluster, "configmaps", configmap("owner"))
    create(cluster, "configmaps", configmap("dependent", owner))
    await controllers.wait_idle()
    cluster.store.delete(rt(cluster, "configmaps"), "default", "owner")
    create(cluster, "configmaps", configmap("owner"))  # same name, new uid: not the owner
    await controllers.wait_idle()
    assert find(cluster, "configmaps", "dependent") is None


async def test_cluster_scoped_owner_owns_namespaced_dependents(make: Factory) -> None:
    cluster, controllers = await make()
    role = create(cluster, "clusterroles", {"metadata": {"name": "owner-role"}, "rules": []}, namespace=None)
    create(cluster, "configmaps", configmap("dependent", role))
    await controllers.wait_idle()
    assert find(cluster, "configmaps", "dependent") is not None

    cluster.store.delete(rt(cluster, "clusterroles"), None, "owner-role")
    await controllers.wait_idle()
    assert find(cluster, "configmaps", "dependent") is None


async def test_namespaced_owner_does_not_own_across_namespaces(make: Factory) -> None:
    cluster, controllers = await make()
    owner = create(cluster, "configmaps", configmap("owner"))
    create(cluster, "configmaps", configmap("elsewhere", owner), namespace="kube-public")
    await controllers.wait_idle()
    # Looked up in the dependent's namespace, the owner does not exist.
    assert find(cluster, "configmaps", "elsewhere", "kube-public") is None
    assert find(cluster, "configmaps", "owner") is not None


# ----------------------------------------------------------------------------------- namespace controller


async def test_namespace_deletion_empties_it_then_removes_it(make: Factory) -> None:
    cluster, controllers = await make()
    create(cluster, "namespaces", {"metadata": {"name": "team"}}, namespace=None)
    create(cluster, "configmaps", configmap("settings"), namespace="team")
    create(cluster, "secrets", {"metadata": {"name": "token"}}, namespace="team")
    last_states: list[JsonObject] = []
    cluster.store.subscribe(
        lambda change: (
            last_states.append(change.object)
            if change.storage_key == ("", "namespaces") and change.type == DELETED
            else None
        )
    )

    marked = cluster.store.delete(rt(cluster, "namespaces"), None, "team")
    assert marked["status"]["phase"] == "Terminating"
    await controllers.wait_idle()

    assert find(cluster, "namespaces", "team", None) is None
    assert items(cluster, "configmaps", "team") == []
    assert items(cluster, "secrets", "team") == []
    assert [c["type"] for c in last_states[0]["status"]["conditions"]] == [
        "NamespaceDeletionDiscoveryFailure",
        "NamespaceDeletionGroupVersionParsingFailure",
        "NamespaceDeletionContentFailure",
        "NamespaceContentRemaining",
        "NamespaceFinalizersRemaining",
    ]
    assert all(c["status"] == "False" for c in last_states[0]["status"]["conditions"])
    assert last_states[0]["spec"]["finalizers"] == []


async def test_namespace_stays_terminating_while_a_finalizer_holds_an_object(make: Factory) -> None:
    cluster, controllers = await make()
    create(cluster, "namespaces", {"metadata": {"name": "team"}}, namespace=None)
    create(cluster, "configmaps", configmap("plain"), namespace="team")
    create(cluster, "configmaps", configmap("held", finalizers=["example.com/hold"]), namespace="team")

    cluster.store.delete(rt(cluster, "namespaces"), None, "team")
    await controllers.wait_idle()

    namespace = find(cluster, "namespaces", "team", None)
    assert namespace is not None
    assert namespace["status"]["phase"] == "Terminating"
    assert namespace["spec"]["finalizers"] == ["kubernetes"]
    assert find(cluster, "configmaps", "plain", "team") is None
    held = find(cluster, "configmaps", "held", "team")
    assert held is not None
    assert held["metadata"]["deletionTimestamp"]
    remaining = condition(namespace, "NamespaceContentRemaining")
    assert (remaining["status"], remaining["reason"], remaining["message"]) == (
        "True",
        "SomeResourcesRemain",
        "Some resources are remaining: configmaps. has 1 resource instances",
    )
    finalizers = condition(namespace, "NamespaceFinalizersRemaining")
    assert (finalizers["status"], finalizers["reason"], finalizers["message"]) == (
        "True",
        "SomeFinalizerRemain",
        "Some finalizers are remaining: example.com/hold in 1 resource instances",
    )
    assert condition(namespace, "NamespaceDeletionContentFailure")["status"] == "False"

    drop_finalizers(cluster, "configmaps", "held", "team")
    await controllers.wait_idle()
    assert find(cluster, "namespaces", "team", None) is None


def test_namespace_conditions_keep_transition_times_unless_status_flips() -> None:
    first = namespace_conditions([], {("", "pods"): 2}, {}, "2024-01-01T00:00:00Z")
    again = namespace_conditions(first, {("", "pods"): 1}, {}, "2024-01-01T00:01:00Z")
    remaining = next(c for c in again if c["type"] == "NamespaceContentRemaining")
    assert remaining["message"] == "Some resources are remaining: pods. has 1 resource instances"
    assert remaining["lastTransitionTime"] == "2024-01-01T00:00:00Z"
    cleared = namespace_conditions(again, {}, {}, "2024-01-01T00:02:00Z")
    remaining = next(c for c in cleared if c["type"] == "NamespaceContentRemaining")
    assert (remaining["status"], remaining["reason"], remaining["lastTransitionTime"]) == (
        "False",
        "ContentRemoved",
        "2024-01-01T00:02:00Z",
    )


# ------------------------------------------------------------------------------------------- CRDs


def widget_crd(kind: str = "Widget", plural: str = "widgets", short_names: tuple[str, ...] = ("wd",)) -> JsonObject:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {
                "plural": plural,
                "singular": plural[:-1],
                "kind": kind,
                "shortNames": list(short_names),
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                        }
                    },
                }
            ],
        },
    }


async def test_crd_gets_accepted_names_and_becomes_established(make: Factory) -> None:
    cluster, controllers = await make()
    create(cluster, "customresourcedefinitions", widget_crd(), namespace=None)
    await controllers.wait_idle()

    crd = find(cluster, "customresourcedefinitions", "widgets.example.com", None)
    assert crd is not None
    status = crd["status"]
    assert status["acceptedNames"] == {
        "plural": "widgets",
        "singular": "widget",
        "kind": "Widget",
        "listKind": "WidgetList",
        "shortNames": ["wd"],
    }
    assert status["storedVersions"] == ["v1"]
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in status["conditions"]] == [
        ("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
        ("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"),
    ]
    assert all(c["lastTransitionTime"] for c in status["conditions"])


async def test_crd_with_a_kind_taken_in_its_group_is_not_established(make: Factory) -> None:
    cluster, controllers = await make()
    create(cluster, "customresourcedefinitions", widget_crd(), namespace=None)
    await controllers.wait_idle()
    create(cluster, "customresourcedefinitions", widget_crd(plural="gadgets", short_names=()), namespace=None)
    await controllers.wait_idle()

    crd = find(cluster, "customresourcedefinitions", "gadgets.example.com", None)
    assert crd is not None
    names_accepted, established = condition(crd, "NamesAccepted"), condition(crd, "Established")
    assert (names_accepted["status"], names_accepted["reason"], names_accepted["message"]) == (
        "False",
        "ListKindConflict",  # every name is checked; the last conflict found is the one reported
        '"WidgetList" is already in use',
    )
    assert (established["status"], established["reason"]) == ("False", "NotAccepted")
    assert "kind" not in crd["status"]["acceptedNames"] or crd["status"]["acceptedNames"]["kind"] == ""


async def test_crd_deletion_removes_its_custom_resources_first(make: Factory) -> None:
    cluster, controllers = await make()
    create(cluster, "customresourcedefinitions", widget_crd(), namespace=None)
    await controllers.wait_idle()
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"size": 1}}
    create(cluster, "widgets", {**widget, "metadata": {"name": "plain"}})
    create(cluster, "widgets", {**widget, "metadata": {"name": "held", "finalizers": ["example.com/hold"]}})

    cluster.store.delete(rt(cluster, "customresourcedefinitions"), None, "widgets.example.com")
    await controllers.wait_idle()

    crd = find(cluster, "customresourcedefinitions", "widgets.example.com", None)
    assert crd is not None
    terminating = condition(crd, "Terminating")
    assert (terminating["status"], terminating["reason"], terminating["message"]) == (
        "True",
        "InstanceDeletionInProgress",
        "CustomResource deletion is in progress",
    )
    assert crd["metadata"]["finalizers"] == ["customresourcecleanup.apiextensions.k8s.io"]
    assert find(cluster, "widgets", "plain") is None
    held = find(cluster, "widgets", "held")
    assert held is not None
    assert held["metadata"]["deletionTimestamp"]

    drop_finalizers(cluster, "widgets", "held")
    await controllers.wait_idle()
    assert find(cluster, "customresourcedefinitions", "widgets.example.com", None) is None
    assert cluster.registry.get("example.com", "v1", "widgets") is None


# ------------------------------------------------------------------------------------------ deployments


def deployment(name: str = "web", replicas: int = 2, image: str = "nginx:1.27") -> JsonObject:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image, "ports": [{"containerPort": 80}]}]},
            },
        },
    }


def update_spec(cluster: Cluster, name: str, change: Callable[[JsonObject], None]) -> None:
    current = find(cluster, "deployments", name)
    assert current is not None
    change(current["spec"])
    cluster.store.update(rt(cluster, "deployments"), "default", name, current)


def pods(cluster: Cluster) -> list[JsonObject]:
    return [p for p in items(cluster, "pods") if not p["metadata"].get("deletionTimestamp")]


def replica_sets(cluster: Cluster) -> list[JsonObject]:
    return sorted(
        items(cluster, "replicasets"),
        key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]),
    )


def available(cluster: Cluster, name: str = "web") -> bool:
    found = find(cluster, "deployments", name)
    return found is not None and condition(found, "Available")["status"] == "True"


async def test_deployment_creates_a_replica_set_and_pods_that_become_available(make: Factory) -> None:
    cluster, controllers = await make(workload_ready_after=0.3)
    created = create(cluster, "deployments", deployment())
    await controllers.wait_idle()

    [replica_set] = items(cluster, "replicasets")
    template_hash = pod_template_hash(created["spec"]["template"])
    assert replica_set["metadata"]["name"] == f"web-{template_hash}"
    assert replica_set["metadata"]["labels"] == {"app": "web", "pod-template-hash": template_hash}
    assert replica_set["spec"]["selector"]["matchLabels"] == {
        "app": "web",
        "pod-template-hash": template_hash,
    }
    assert replica_set["metadata"]["ownerReferences"] == [owner_ref(created, block=True, controller=True)]
    assert replica_set["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    starting = pods(cluster)
    assert len(starting) == 2
    for pod in starting:
        assert pod["metadata"]["name"].startswith(f"web-{template_hash}-")
        assert len(pod["metadata"]["name"]) == len(f"web-{template_hash}-") + 5
        assert pod["metadata"]["labels"]["pod-template-hash"] == template_hash
        assert pod["metadata"]["ownerReferences"][0]["uid"] == replica_set["metadata"]["uid"]
        assert pod["spec"]["nodeName"] == NODE_NAME
        assert pod["status"]["phase"] == "Pending"
        assert pod["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
        assert condition(pod, "Ready")["status"] == "False"
    waiting = find(cluster, "deployments", "web")
    assert waiting is not None
    assert waiting["status"]["observedGeneration"] == 1
    assert waiting["status"]["updatedReplicas"] == 2
    assert waiting["status"]["unavailableReplicas"] == 2
    assert "availableReplicas" not in waiting["status"]
    assert condition(waiting, "Available")["reason"] == "MinimumReplicasUnavailable"
    assert waiting["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"

    await eventually(controllers, lambda: available(cluster))

    done = find(cluster, "deployments", "web")
    assert done is not None
    status = done["status"]
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "observedGeneration": 1,
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
    }
    assert [c["type"] for c in status["conditions"]] == ["Available", "Progressing"]
    assert condition(done, "Available")["message"] == "Deployment has minimum availability."
    progressing = condition(done, "Progressing")
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "True",
        "NewReplicaSetAvailable",
        f'ReplicaSet "web-{template_hash}" has successfully progressed.',
    )
    for pod in pods(cluster):
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["podIP"].startswith("10.244.")
        assert {c["type"]: c["status"] for c in pod["status"]["conditions"]} == {
            "PodReadyToStartContainers": "True",
            "Initialized": "True",
            "Ready": "True",
            "ContainersReady": "True",
            "PodScheduled": "True",
        }
        [container] = pod["status"]["containerStatuses"]
        assert (container["ready"], container["started"], list(container["state"])) == (
            True,
            True,
            ["running"],
        )
    rs_status = items(cluster, "replicasets")[0]["status"]
    assert rs_status == {
        "replicas": 2,
        "fullyLabeledReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "observedGeneration": 1,
    }
    reasons = {e["reason"] for e in items(cluster, "events")}
    assert {"ScalingReplicaSet", "SuccessfulCreate", "Scheduled"} <= reasons


async def test_manual_readiness_decides_availability(make: Factory) -> None:
    cluster, controllers = await make(workload_ready_after=None)
    create(cluster, "deployments", deployment(replicas=1))
    await controllers.wait_idle()
    await asyncio.sleep(0.2)
    await controllers.wait_idle()
    assert not available(cluster)
    assert pods(cluster)[0]["status"]["phase"] == "Pending"

    controllers.set_workload_ready("default", "web")
    await controllers.wait_idle()
    assert available(cluster)
    assert pods(cluster)[0]["status"]["phase"] == "Running"

    controllers.set_workload_ready("default", "web", False)
    await controllers.wait_idle()
    assert not available(cluster)
    [pod] = pods(cluster)
    assert pod["status"]["phase"] == "Running"
    ready = condition(pod, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "ContainersNotReady",
        "containers with unready status: [main]",
    )


async def test_template_change_rolls_out_a_new_replica_set(make: Factory) -> None:
    cluster, controllers = await make(workload_ready_after=0.3)
    create(cluster, "deployments", deployment(replicas=1))
    await eventually(controllers, lambda: available(cluster))
    [first_pod] = pods(cluster)

    update_spec(cluster, "web", lambda spec: spec["template"]["spec"]["containers"][0].update(image="nginx:1.28"))
    await controllers.wait_idle()

    old, new = replica_sets(cluster)
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    # The old pod keeps serving until the new one is ready.
    assert old["spec"]["replicas"] == 1
    rolling = find(cluster, "deployments", "web")
    assert rolling is not None
    assert (rolling["status"]["replicas"], rolling["status"]["updatedReplicas"]) == (2, 1)
    assert rolling["status"]["observedGeneration"] == 2
    assert condition(rolling, "Available")["status"] == "True"

    def rolled_out() -> bool:
        current = find(cluster, "deployments", "web")
        return current is not None and condition(current, "Progressing")["reason"] == "NewReplicaSetAvailable"

    await eventually(controllers, rolled_out)
    old, new = replica_sets(cluster)
    assert old["spec"]["replicas"] == 0
    [new_pod] = pods(cluster)
    assert new_pod["metadata"]["name"] != first_pod["metadata"]["name"]
    assert new_pod["spec"]["containers"][0]["image"] == "nginx:1.28"
    done = find(cluster, "deployments", "web")
    assert done is not None
    assert done["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert (
        done["status"]["replicas"],
        done["status"]["updatedReplicas"],
        done["status"]["availableReplicas"],
    ) == (
        1,
        1,
        1,
    )
    assert (
        condition(done, "Progressing")["message"]
        == f'ReplicaSet "{new["metadata"]["name"]}" has successfully progressed.'
    )


async def test_scaling_adds_and_removes_pods(make: Factory) -> None:
    cluster, controllers = await make(workload_ready_after=None)
    controllers.set_workload_ready("default", "web")
    create(cluster, "deployments", deployment(replicas=1))
    await controllers.wait_idle()
    assert len(pods(cluster)) == 1

    update_spec(cluster, "web", lambda spec: spec.update(replicas=3))
    await controllers.wait_idle()
    assert len(pods(cluster)) == 3
    scaled = find(cluster, "deployments", "web")
    assert scaled is not None
    assert (scaled["status"]["replicas"], scaled["status"]["availableReplicas"]) == (3, 3)
    [replica_set] = items(cluster, "replicasets")
    assert replica_set["spec"]["replicas"] == 3
    assert replica_set["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "3"

    update_spec(cluster, "web", lambda spec: spec.update(replicas=1))
    await controllers.wait_idle()
    assert len(pods(cluster)) == 1
    shrunk = find(cluster, "deployments", "web")
    assert shrunk is not None
    assert (shrunk["status"]["replicas"], shrunk["status"]["availableReplicas"]) == (1, 1)
    assert len(items(cluster, "replicasets")) == 1


async def test_zero_replicas_is_available(make: Factory) -> None:
    cluster, controllers = await make(workload_ready_after=None)
    create(cluster, "deployments", deployment(replicas=0))
    await controllers.wait_idle()
    found = find(cluster, "deployments", "web")
    assert found is not None
    assert pods(cluster) == []
    assert {k: v for k, v in found["status"].items() if k != "conditions"} == {"observedGeneration": 1}
    assert condition(found, "Available")["status"] == "True"
    assert condition(found, "Progressing")["reason"] == "NewReplicaSetAvailable"


async def test_a_rollout_stuck_past_its_deadline_reports_it(make: Factory) -> None:
    cluster, controllers = await make(workload_ready_after=None)
    manifest = deployment(replicas=1)
    manifest["spec"]["progressDeadlineSeconds"] = 1
    create(cluster, "deployments", manifest)
    await controllers.wait_idle()
    [replica_set] = items(cluster, "replicasets")

    def timed_out() -> bool:
        found = find(cluster, "deployments", "web")
        return found is not None and condition(found, "Progressing")["status"] == "False"

    await eventually(controllers, timed_out, within=5.0)
    stuck = find(cluster, "deployments", "web")
    assert stuck is not None
    progressing = condition(stuck, "Progressing")
    assert (progressing["reason"], progressing["message"]) == (
        "ProgressDeadlineExceeded",
        f'ReplicaSet "{replica_set["metadata"]["name"]}" has timed out progressing.',
    )


async def test_deleting_a_deployment_removes_its_replica_sets_and_pods(make: Factory) -> None:
    cluster, controllers = await make(workload_ready_after=None)
    create(cluster, "deployments", deployment(replicas=2))
    await controllers.wait_idle()
    assert len(items(cluster, "replicasets")) == 1
    assert len(pods(cluster)) == 2

    cluster.store.delete(rt(cluster, "deployments"), "default", "web")
    await controllers.wait_idle()
    assert items(cluster, "replicasets") == []
    assert items(cluster, "pods") == []


async def test_foreground_deletion_of_a_deployment_goes_through_its_pods(make: Factory) -> None:
    cluster, controllers = await make(workload_ready_after=None)
    create(cluster, "deployments", deployment(replicas=2))
    await controllers.wait_idle()
    order: list[str] = []
    cluster.store.subscribe(lambda change: order.append(change.object["kind"]) if change.type == DELETED else None)

    cluster.store.delete(rt(cluster, "deployments"), "default", "web", propagation="Foreground")
    await controllers.wait_idle()

    assert order == ["Pod", "Pod", "ReplicaSet", "Deployment"]
    assert find(cluster, "deployments", "web") is None


async def test_recreate_strategy_removes_old_pods_before_creating_new_ones(make: Factory) -> None:
    cluster, controllers = await make(workload_ready_after=None)
    controllers.set_workload_ready("default", "web")
    manifest = deployment(replicas=2)
    manifest["spec"]["strategy"] = {"type": "Recreate"}
    create(cluster, "deployments", manifest)
    await controllers.wait_idle()
    created_images: list[str] = []
    cluster.store.subscribe(
        lambda change: (
            created_images.append(change.object["spec"]["containers"][0]["image"])
            if change.storage_key == ("", "pods") and change.type == "ADDED"
            else None
        )
    )
    deleted_before_first_new: list[int] = []
    cluster.store.subscribe(
        lambda change: (
            deleted_before_first_new.append(len(created_images))
            if change.storage_key == ("", "pods") and change.type == DELETED
            else None
        )
    )

    update_spec(cluster, "web", lambda spec: spec["template"]["spec"]["containers"][0].update(image="nginx:1.28"))
    await controllers.wait_idle()

    assert created_images == ["nginx:1.28", "nginx:1.28"]
    assert deleted_before_first_new == [0, 0]
    assert available(cluster)


async def test_without_simulated_pods_only_the_status_moves(make: Factory) -> None:
    cluster, controllers = await make(workload_ready_after=0.2, simulate_pods=False)
    create(cluster, "deployments", deployment(replicas=3))
    await controllers.wait_idle()
    assert items(cluster, "replicasets") == []
    assert items(cluster, "pods") == []
    waiting = find(cluster, "deployments", "web")
    assert waiting is not None
    assert waiting["status"]["updatedReplicas"] == 3
    assert condition(waiting, "Available")["status"] == "False"

    await eventually(controllers, lambda: available(cluster))
    done = find(cluster, "deployments", "web")
    assert done is not None
    assert {k: v for k, v in done["status"].items() if k != "conditions"} == {
        "observedGeneration": 1,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
    }
    assert condition(done, "Progressing")["reason"] == "NewReplicaSetAvailable"

    controllers.set_workload_ready("default", "web", False)
    await controllers.wait_idle()
    assert not available(cluster)


async def test_controllers_converge_on_objects_stored_before_they_start(make: Factory) -> None:
    cluster = Cluster()
    owner_cm = create(cluster, "configmaps", configmap("owner"))
    create(cluster, "configmaps", configmap("dependent", owner_cm))
    cluster.store.delete(rt(cluster, "configmaps"), "default", "owner")
    create(cluster, "deployments", deployment(replicas=1))
    controllers = Controllers(cluster, EmulatorSettings(workload_ready_after=0.0))
    controllers.start()
    try:
        await eventually(controllers, lambda: available(cluster))
        assert find(cluster, "configmaps", "dependent") is None
    finally:
        await controllers.stop()


async def test_stop_leaves_no_task_behind_and_start_catches_up(make: Factory) -> None:
    before = asyncio.all_tasks()
    cluster, controllers = await make(workload_ready_after=30.0)
    create(cluster, "deployments", deployment(replicas=1))
    await controllers.wait_idle()
    await controllers.stop()
    assert asyncio.all_tasks() == before
    # After stopping, writes no longer trigger anything.
    create(cluster, "deployments", deployment(name="late", replicas=1))
    await asyncio.sleep(0.05)
    late = find(cluster, "deployments", "late")
    assert late is not None
    assert late.get("status") == {}

    # Started again, they catch up with what happened meanwhile.
    controllers.start()
    await controllers.wait_idle()
    late = find(cluster, "deployments", "late")
    assert late is not None
    assert late["status"]["observedGeneration"] == 1
    assert len(pods(cluster)) == 2


def test_pod_template_hash_is_stable_and_name_safe() -> None:
    template = deployment()["spec"]["template"]
    first = pod_template_hash(template)
    assert first == pod_template_hash(copy.deepcopy(template))
    assert set(first) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert pod_template_hash(template, collision_count=1) != first
    changed = copy.deepcopy(template)
    changed["spec"]["containers"][0]["image"] = "nginx:1.28"
    assert pod_template_hash(changed) != first


# ---------------------------------------------------------------- namespace defaults and the kubernetes Service

SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the "
    "internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes "
    "clusters."
)


def assert_is_a_ca_certificate(pem: str) -> None:
    """A self-signed CA certificate for "kubernetes", valid now, as kubeadm's."""
    x509 = pytest.importorskip("cryptography.x509")
    certificate = x509.load_pem_x509_certificate(pem.encode())
    assert pem.startswith("-----BEGIN CERTIFICATE-----\n")
    assert pem.endswith("-----END CERTIFICATE-----\n")
    common_names = certificate.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    assert [attribute.value for attribute in common_names] == ["kubernetes"]
    assert certificate.issuer == certificate.subject
    certificate.verify_directly_issued_by(certificate)  # signed by its own key
    basic_constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert (basic_constraints.critical, basic_constraints.value.ca) == (True, True)
    assert certificate.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert certificate.not_valid_before_utc < datetime.now(UTC) < certificate.not_valid_after_utc


def root_ca_configmap(cluster: Cluster, namespace: str) -> JsonObject:
    found = find(cluster, "configmaps", ROOT_CA, namespace)
    assert found is not None, f"no {ROOT_CA} in {namespace}"
    return found


def edit(cluster: Cluster, plural: str, name: str, namespace: str, change: Callable[[JsonObject], None]) -> None:
    obj = find(cluster, plural, name, namespace)
    assert obj is not None
    change(obj)
    cluster.store.update(rt(cluster, plural), namespace, name, obj)


async def test_a_started_cluster_already_has_its_defaults() -> None:
    cluster = Cluster()
    controllers = Controllers(cluster, EmulatorSettings())
    controllers.start()
    try:
        # Present as soon as start() returns, before any reconcile step: as in a cluster up for a while.
        for namespace in SYSTEM_NAMESPACES:
            account = find(cluster, "serviceaccounts", "default", namespace)
            assert account is not None
            assert set(account) == {"apiVersion", "kind", "metadata"}  # no secrets, no automount setting
            assert set(account["metadata"]) == {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}
            configmap = root_ca_configmap(cluster, namespace)
            assert configmap["metadata"]["annotations"] == {"kubernetes.io/description": DESCRIPTION}
            assert configmap["data"] == {"ca.crt": controllers.root_ca_pem}
            assert "labels" not in configmap["metadata"]
        service = find(cluster, "services", "kubernetes")
        assert service is not None
        assert service["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
        assert service["spec"] == {
            "type": "ClusterIP",
            "clusterIP": "10.96.0.1",
            "clusterIPs": ["10.96.0.1"],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
            "sessionAffinity": "None",
            "ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": 6443}],
        }
        assert service["status"] == {"loadBalancer": {}}
        assert names(items(cluster, "services", None)) == ["kubernetes"]
        await controllers.wait_idle()
        assert names(items(cluster, "serviceaccounts", None)) == ["default"] * len(SYSTEM_NAMESPACES)
        assert names(items(cluster, "configmaps", None)) == [ROOT_CA] * len(SYSTEM_NAMESPACES)
    finally:
        await controllers.stop()


async def test_the_root_ca_is_one_certificate_per_emulator() -> None:
    first, second = Cluster(), Cluster()
    first_controllers = Controllers(first, EmulatorSettings())
    second_controllers = Controllers(second, EmulatorSettings())
    pem = first_controllers.root_ca_pem
    assert_is_a_ca_certificate(pem)
    assert second_controllers.root_ca_pem != pem
    first_controllers.start()
    await first_controllers.stop()
    first_controllers.start()  # a restart keeps the cluster's CA
    try:
        assert first_controllers.root_ca_pem == pem
        assert {root_ca_configmap(first, ns)["data"]["ca.crt"] for ns in SYSTEM_NAMESPACES} == {pem}
    finally:
        await first_controllers.stop()


async def test_a_new_namespace_gets_its_service_account_and_root_ca(make: Factory) -> None:
    cluster, controllers = await make()
    create(cluster, "namespaces", {"metadata": {"name": "team"}}, namespace=None)
    # A moment later, not inside the namespace's creation.
    assert items(cluster, "serviceaccounts", "team") == []
    assert items(cluster, "configmaps", "team") == []
    await controllers.wait_idle()

    assert names(items(cluster, "serviceaccounts", "team")) == ["default"]
    configmap = root_ca_configmap(cluster, "team")
    assert configmap["data"] == {"ca.crt": controllers.root_ca_pem}
    assert configmap["metadata"]["annotations"] == {"kubernetes.io/description": DESCRIPTION}
    assert names(items(cluster, "configmaps", "team")) == [ROOT_CA]


async def test_a_deleted_default_service_account_comes_back(make: Factory) -> None:
    cluster, controllers = await make()
    first = find(cluster, "serviceaccounts", "default")
    assert first is not None

    cluster.store.delete(rt(cluster, "serviceaccounts"), "default", "default")
    await controllers.wait_idle()
    again = find(cluster, "serviceaccounts", "default")
    assert again is not None
    assert again["metadata"]["uid"] != first["metadata"]["uid"]

    # An existing one is never touched, whatever it says.
    edit(cluster, "serviceaccounts", "default", "default", lambda sa: sa.update(automountServiceAccountToken=False))
    await controllers.wait_idle()
    edited = find(cluster, "serviceaccounts", "default")
    assert edited is not None
    assert edited["automountServiceAccountToken"] is False
    assert edited["metadata"]["uid"] == again["metadata"]["uid"]


async def test_a_deleted_root_ca_configmap_comes_back(make: Factory) -> None:
    cluster, controllers = await make()
    first = root_ca_configmap(cluster, "kube-system")

    cluster.store.delete(rt(cluster, "configmaps"), "kube-system", ROOT_CA)
    await controllers.wait_idle()
    again = root_ca_configmap(cluster, "kube-system")
    assert again["metadata"]["uid"] != first["metadata"]["uid"]
    assert again["data"] == first["data"]
    assert again["metadata"]["annotations"] == first["metadata"]["annotations"]


async def test_an_edited_root_ca_configmap_is_restored(make: Factory) -> None:
    cluster, controllers = await make()
    original = root_ca_configmap(cluster, "default")

    def tamper(configmap: JsonObject) -> None:
        configmap["data"] = {"ca.crt": "not a certificate", "extra": "x"}
        configmap["metadata"]["labels"] = {"mine": "yes"}
        configmap["metadata"]["annotations"] = {"example.com/note": "kept"}

    edit(cluster, "configmaps", ROOT_CA, "default", tamper)
    await controllers.wait_idle()

    restored = root_ca_configmap(cluster, "default")
    assert restored["metadata"]["uid"] == original["metadata"]["uid"]  # updated, not re-created
    assert restored["data"] == {"ca.crt": controllers.root_ca_pem}  # the whole data, the extra key gone
    assert restored["metadata"]["annotations"] == {
        "example.com/note": "kept",
        "kubernetes.io/description": DESCRIPTION,
    }
    assert restored["metadata"]["labels"] == {"mine": "yes"}


async def test_a_root_ca_description_is_only_restored_when_missing(make: Factory) -> None:
    cluster, controllers = await make()

    def describe(text: str) -> Callable[[JsonObject], None]:
        return lambda configmap: configmap["metadata"]["annotations"].update({"kubernetes.io/description": text})

    # The real publisher checks that the annotation is not empty, not that it is its own text.
    edit(cluster, "configmaps", ROOT_CA, "default", describe("ours now"))
    await controllers.wait_idle()
    assert root_ca_configmap(cluster, "default")["metadata"]["annotations"] == {"kubernetes.io/description": "ours now"}

    edit(cluster, "configmaps", ROOT_CA, "default", describe(""))
    await controllers.wait_idle()
    assert root_ca_configmap(cluster, "default")["metadata"]["annotations"] == {
        "kubernetes.io/description": DESCRIPTION
    }


async def test_the_kubernetes_service_is_recreated_but_not_reset(make: Factory) -> None:
    cluster, controllers = await make()
    first = find(cluster, "services", "kubernetes")
    assert first is not None

    cluster.store.delete(rt(cluster, "services"), "default", "kubernetes")
    await controllers.wait_idle()
    again = find(cluster, "services", "kubernetes")
    assert again is not None
    assert again["metadata"]["uid"] != first["metadata"]["uid"]
    assert again["spec"] == first["spec"]
    assert again["metadata"]["labels"] == first["metadata"]["labels"]

    # Since Kubernetes 1.17 the apiserver only creates it; an edited one stays edited.
    edit(cluster, "services", "kubernetes", "default", lambda svc: svc["metadata"]["labels"].update(mine="yes"))
    await controllers.wait_idle()
    edited = find(cluster, "services", "kubernetes")
    assert edited is not None
    assert edited["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes", "mine": "yes"}


async def test_namespace_deletion_takes_the_defaults_along_and_does_not_bring_them_back(make: Factory) -> None:
    cluster, controllers = await make()
    create(cluster, "namespaces", {"metadata": {"name": "team"}}, namespace=None)
    create(cluster, "configmaps", configmap("held", finalizers=["example.com/hold"]), namespace="team")
    await controllers.wait_idle()
    assert names(items(cluster, "serviceaccounts", "team")) == ["default"]
    assert names(items(cluster, "configmaps", "team")) == ["held", ROOT_CA]
    created_in_team: list[str] = []
    cluster.store.subscribe(
        lambda change: (
            created_in_team.append(change.object["metadata"]["name"])
            if change.type == "ADDED" and change.namespace == "team"
            else None
        )
    )

    cluster.store.delete(rt(cluster, "namespaces"), None, "team")
    await controllers.wait_idle()

    # Held in Terminating by the finalizer: the defaults are gone and stay gone.
    namespace = find(cluster, "namespaces", "team", None)
    assert namespace is not None
    assert namespace["status"]["phase"] == "Terminating"
    assert items(cluster, "serviceaccounts", "team") == []
    assert names(items(cluster, "configmaps", "team")) == ["held"]
    assert condition(namespace, "NamespaceContentRemaining")["message"] == (
        "Some resources are remaining: configmaps. has 1 resource instances"
    )

    drop_finalizers(cluster, "configmaps", "held", "team")
    await controllers.wait_idle()
    assert find(cluster, "namespaces", "team", None) is None
    assert created_in_team == []
    assert items(cluster, "serviceaccounts", "team") == []
    assert items(cluster, "configmaps", "team") == []


async def test_controllers_started_on_a_terminating_namespace_leave_it_empty() -> None:
    cluster = Cluster()
    create(cluster, "namespaces", {"metadata": {"name": "team"}}, namespace=None)
    create(cluster, "configmaps", configmap("held", finalizers=["example.com/hold"]), namespace="team")
    cluster.store.delete(rt(cluster, "namespaces"), None, "team")
    created: list[tuple[str, str]] = []
    cluster.store.subscribe(
        lambda change: (
            created.append((change.namespace, change.object["metadata"]["name"])) if change.type == "ADDED" else None
        )
    )
    controllers = Controllers(cluster, EmulatorSettings())
    controllers.start()
    try:
        await controllers.wait_idle()
        assert ("team", "default") not in created
        assert ("team", ROOT_CA) not in created
        assert ("kube-system", ROOT_CA) in created
        assert items(cluster, "serviceaccounts", "team") == []
        assert names(items(cluster, "configmaps", "team")) == ["held"]
        assert names(items(cluster, "serviceaccounts", "default")) == ["default"]
    finally:
        await controllers.stop()
