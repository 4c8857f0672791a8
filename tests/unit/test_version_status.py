"""A RuntimeVersion's status: Ready from its Deployments, Published from the Service, Progressing and Stalled,
per-node readiness, terminal invalid specs and transition times."""

from __future__ import annotations

import copy
import random
import string
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from k8s_manager_operator.runtime.status import find_condition
from k8s_manager_operator.version.desired import VersionConfig, desired_objects, entrypoint_service
from k8s_manager_operator.version.status import compute_status, is_terminal, ownership, selected_version

CRD = Path(__file__).parents[2] / "crds" / "runtimeversions.kre.konstellation.io.yaml"
UID = "7c2d0e14-9a3b-4f5e-8d61-0b4c2a9e7f13"
NOW = "2024-06-12T09:00:00Z"
LATER = "2024-06-12T09:05:00Z"
RANDOM = random.Random(20240612)
SECRET_VALUE = "s3cr3t-Value!"


def random_id() -> str:
    """Like the Admin API's node, edge and workflow ids: 10 random lowercase letters."""
    return "".join(RANDOM.choices(string.ascii_lowercase, k=10))


GREETING_ID, SALUTING_ID = random_id(), random_id()
GREETING_NODE, SALUTING_NODE = random_id(), random_id()
GREETING_DEPLOYMENT = f"greeter-v1-greeter-{GREETING_NODE}"
SALUTING_DEPLOYMENT = f"greeter-v1-greeter-{SALUTING_NODE}"
ENTRYPOINT_DEPLOYMENT = "greeter-v1-entrypoint"


def greeter_version(generation: int = 1, **spec: Any) -> dict[str, Any]:
    """krt-template/greeter as stored: workflows greeting (Greet) and saluting (Salute), one node `greeter` each."""
    node = {"name": "greeter", "image": "konstellation/kre-py:latest", "src": "src/greeter/main.py"}
    return {
        "apiVersion": "kre.konstellation.io/v1alpha1",
        "kind": "RuntimeVersion",
        "metadata": {"name": "greeter-v1", "namespace": "kre-demo", "uid": UID, "generation": generation},
        "spec": {
            "id": random_id(),
            "entrypoint": {
                "protoFile": "public_input.proto",
                "image": "konstellation/kre-runtime-entrypoint:latest",
                "src": "src/entrypoint/entrypoint.py",
            },
            "config": [{"key": "GREETING", "value": SECRET_VALUE}],
            "workflows": [
                {
                    "id": GREETING_ID,
                    "name": "greeting",
                    "entrypoint": "Greet",
                    "nodes": [{"id": GREETING_NODE, **node}],
                },
                {
                    "id": SALUTING_ID,
                    "name": "saluting",
                    "entrypoint": "Salute",
                    "nodes": [{"id": SALUTING_NODE, **node}],
                },
            ],
            "desiredState": "Started",
            "published": False,
            **spec,
        },
    }


def available(deployment: dict[str, Any], generation: int = 1) -> dict[str, Any]:
    """A desired Deployment as stored and rolled out: one replica, updated and available."""
    stored = copy.deepcopy(deployment)
    stored["metadata"].update(uid=random_id(), generation=generation)
    stored["status"] = {
        "observedGeneration": generation,
        "replicas": 1,
        "updatedReplicas": 1,
        "readyReplicas": 1,
        "availableReplicas": 1,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "ok"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "done"},
        ],
    }
    return stored


def running(version: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """Every Deployment of the version, available."""
    return {
        obj["metadata"]["name"]: available(obj)
        for obj in desired_objects(version, VersionConfig())
        if obj["kind"] == "Deployment"
    }


def condition(status: dict[str, Any], condition_type: str) -> dict[str, Any]:
    found = find_condition(status, condition_type)
    assert found is not None, condition_type
    return dict(found)


def summary(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {item["type"]: (item["status"], item["reason"]) for item in status["conditions"]}


def status_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    return schema


def assert_fits_the_crd(status: dict[str, Any]) -> None:
    jsonschema.validate(status, status_schema())
    ids = [item["id"] for item in status.get("nodes", [])]
    assert len(ids) == len(set(ids)), "status.nodes is a list-map keyed by id"


# ------------------------------------------------------------------------------------------ started


def test_all_deployments_available_is_ready() -> None:
    version = greeter_version()
    status = compute_status(version, running(version), None, now=NOW)

    assert status["observedGeneration"] == 1
    assert [item["type"] for item in status["conditions"]] == ["Ready", "Published", "Progressing", "Stalled"]
    assert summary(status) == {
        "Ready": ("True", "Started"),
        "Published": ("False", "NotPublished"),
        "Progressing": ("False", "Started"),
        "Stalled": ("False", "Started"),
    }
    assert condition(status, "Ready")["message"] == "all 3 Deployments of the version are available"
    assert all(item["observedGeneration"] == 1 for item in status["conditions"])
    assert all(item["lastTransitionTime"] == NOW for item in status["conditions"])
    assert status["entrypoint"] == {"deployment": ENTRYPOINT_DEPLOYMENT, "ready": True}
    assert status["nodes"] == [
        {
            "id": GREETING_NODE,
            "name": "greeter",
            "workflow": GREETING_ID,
            "deployment": GREETING_DEPLOYMENT,
            "ready": True,
        },
        {
            "id": SALUTING_NODE,
            "name": "greeter",
            "workflow": SALUTING_ID,
            "deployment": SALUTING_DEPLOYMENT,
            "ready": True,
        },
    ]
    assert_fits_the_crd(status)


def test_missing_deployments_are_progress_and_named_per_node() -> None:
    version = greeter_version()
    deployments = running(version)
    deployments[SALUTING_DEPLOYMENT] = None
    del deployments[ENTRYPOINT_DEPLOYMENT]  # left out: not found

    status = compute_status(version, deployments, None, now=NOW)

    assert summary(status)["Ready"] == ("False", "DeploymentMissing")
    assert summary(status)["Progressing"] == ("True", "DeploymentMissing")
    assert summary(status)["Stalled"] == ("False", "Reconciling")
    assert condition(status, "Ready")["message"] == (
        f"2 of 3 Deployments not ready: Deployment {SALUTING_DEPLOYMENT} does not exist yet; "
        f"Deployment {ENTRYPOINT_DEPLOYMENT} does not exist yet"
    )
    assert [node["ready"] for node in status["nodes"]] == [True, False]
    assert status["nodes"][1]["message"] == f"Deployment {SALUTING_DEPLOYMENT} does not exist yet"
    assert status["entrypoint"] == {
        "deployment": ENTRYPOINT_DEPLOYMENT,
        "ready": False,
        "message": f"Deployment {ENTRYPOINT_DEPLOYMENT} does not exist yet",
    }
    assert_fits_the_crd(status)


def test_a_config_change_is_not_ready_until_every_deployment_has_rolled_it_out() -> None:
    old = greeter_version()
    deployments = running(old)
    changed = greeter_version(generation=2, config=[{"key": "GREETING", "value": "Hola"}])

    # Not applied yet: the pod templates carry the old hash.
    status = compute_status(changed, deployments, None, now=NOW)
    assert summary(status)["Ready"] == ("False", "DeploymentOutdated")
    assert condition(status, "Ready")["message"].startswith("3 of 3 Deployments not ready: ")
    assert status["observedGeneration"] == 2

    # Applied: the controller has not seen the new template yet, then rolls it out.
    applied = running(changed)
    for deployment in applied.values():
        assert deployment is not None
        deployment["metadata"]["generation"] = 2
    status = compute_status(changed, applied, None, now=NOW)
    assert summary(status)["Ready"] == ("False", "DeploymentRollingOut")
    assert f"Deployment {GREETING_DEPLOYMENT} is rolling out its latest spec" in condition(status, "Ready")["message"]

    for deployment in applied.values():
        assert deployment is not None
        deployment["status"].update(observedGeneration=2, replicas=2, updatedReplicas=1)
    status = compute_status(changed, applied, None, now=NOW)
    assert summary(status)["Ready"] == ("False", "DeploymentRollingOut")
    assert "1 old replicas are pending termination" in condition(status, "Ready")["message"]

    for deployment in applied.values():
        assert deployment is not None
        deployment["status"].update(replicas=1)
    assert summary(compute_status(changed, applied, None, now=NOW))["Ready"] == ("True", "Started")


def test_a_deployment_without_available_replicas_is_unavailable_with_the_controllers_message() -> None:
    version = greeter_version()
    deployments = running(version)
    entrypoint = deployments[ENTRYPOINT_DEPLOYMENT]
    assert entrypoint is not None
    entrypoint["status"]["availableReplicas"] = 0
    entrypoint["status"]["conditions"][0] = {
        "type": "Available",
        "status": "False",
        "reason": "MinimumReplicasUnavailable",
        "message": "Deployment does not have minimum availability.",
    }

    status = compute_status(version, deployments, None, now=NOW)

    assert summary(status)["Ready"] == ("False", "DeploymentUnavailable")
    assert status["entrypoint"]["message"] == (
        f"Deployment {ENTRYPOINT_DEPLOYMENT}: 0 of 1 updated replicas are available: "
        "Deployment does not have minimum availability."
    )
    assert all(node["ready"] for node in status["nodes"])


def test_a_deployment_past_its_progress_deadline_stalls_the_version() -> None:
    version = greeter_version()
    deployments = running(version)
    deployments[GREETING_DEPLOYMENT] = None  # merely missing, listed first
    stuck = deployments[SALUTING_DEPLOYMENT]
    assert stuck is not None
    stuck["status"].update(updatedReplicas=0, availableReplicas=0)
    stuck["status"]["conditions"][1] = {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "x" has timed out progressing.',
    }

    status = compute_status(version, deployments, None, now=NOW)

    assert summary(status) == {
        "Ready": ("False", "DeploymentStalled"),
        "Published": ("False", "NotPublished"),
        "Progressing": ("False", "DeploymentStalled"),
        "Stalled": ("True", "DeploymentStalled"),
    }
    assert (
        f'Deployment {SALUTING_DEPLOYMENT} is not progressing: ReplicaSet "x" has timed out progressing.'
        in (condition(status, "Stalled")["message"])
    )
    assert not is_terminal("DeploymentStalled")  # a pushed image can still cure it
    assert_fits_the_crd(status)


def test_deployments_of_others_are_not_ready() -> None:
    version = greeter_version()
    deployments = running(version)
    foreign = deployments[GREETING_DEPLOYMENT]
    previous = deployments[SALUTING_DEPLOYMENT]
    assert foreign is not None
    assert previous is not None
    del foreign["metadata"]["ownerReferences"]
    previous["metadata"]["ownerReferences"][0]["uid"] = "uid-of-a-deleted-greeter-v1"

    status = compute_status(version, deployments, None, now=NOW)

    assert summary(status)["Ready"] == ("False", "DeploymentNotOwned")
    assert status["nodes"][0]["message"] == f"Deployment {GREETING_DEPLOYMENT} is not owned by this version yet"
    assert status["nodes"][1]["message"] == (
        f"Deployment {SALUTING_DEPLOYMENT} belongs to an earlier RuntimeVersion of the same name, "
        "which is being deleted"
    )
    assert ownership(foreign, version) == "foreign"
    assert ownership(previous, version) == "previous"


def test_a_deployment_being_deleted_is_not_ready() -> None:
    version = greeter_version()
    deployments = running(version)
    terminating = deployments[GREETING_DEPLOYMENT]
    assert terminating is not None
    terminating["metadata"]["deletionTimestamp"] = NOW
    assert summary(compute_status(version, deployments, None, now=NOW))["Ready"] == ("False", "DeploymentTerminating")


def test_many_deployments_not_ready_are_listed_up_to_five() -> None:
    version = greeter_version()
    node = {"name": "step", "image": "konstellation/kre-py:latest", "src": "src/step.py"}
    workflows = [
        {"id": random_id(), "name": f"w{index}", "entrypoint": f"M{index}", "nodes": [{"id": random_id(), **node}]}
        for index in range(7)
    ]
    version["spec"]["workflows"] = workflows
    message = condition(compute_status(version, {}, None, now=NOW), "Ready")["message"]
    assert message.startswith("8 of 8 Deployments not ready: ")
    assert message.count("does not exist yet") == 5
    assert message.endswith("; and 3 more")


# ------------------------------------------------------------------------------------------ stopped


def test_a_stopped_version_is_ready_once_its_objects_are_gone() -> None:
    version = greeter_version(desiredState="Stopped")
    gone = dict.fromkeys([GREETING_DEPLOYMENT, SALUTING_DEPLOYMENT, ENTRYPOINT_DEPLOYMENT])

    status = compute_status(version, gone, None, now=NOW)

    assert summary(status) == {
        "Ready": ("True", "Stopped"),
        "Published": ("False", "NotPublished"),
        "Progressing": ("False", "Stopped"),
        "Stalled": ("False", "Stopped"),
    }
    assert all(not node["ready"] and node["message"] == "the version is stopped" for node in status["nodes"])
    assert status["entrypoint"] == {
        "deployment": ENTRYPOINT_DEPLOYMENT,
        "ready": False,
        "message": "the version is stopped",
    }
    assert_fits_the_crd(status)


def test_a_stopping_version_waits_for_its_own_objects_only() -> None:
    started = greeter_version()
    deployments = running(started)
    stopped = greeter_version(generation=2, desiredState="Stopped")

    status = compute_status(stopped, deployments, None, now=NOW)
    assert summary(status)["Ready"] == ("False", "Stopping")
    assert summary(status)["Progressing"] == ("True", "Stopping")
    assert condition(status, "Ready")["message"] == (
        f"waiting for Deployment {GREETING_DEPLOYMENT}, Deployment {SALUTING_DEPLOYMENT}, "
        f"Deployment {ENTRYPOINT_DEPLOYMENT} to be deleted"
    )

    # Someone else's Deployment of the same name is not the version's to delete.
    foreign = deployments[GREETING_DEPLOYMENT]
    assert foreign is not None
    foreign["metadata"]["ownerReferences"] = []
    leftovers = {GREETING_DEPLOYMENT: foreign, SALUTING_DEPLOYMENT: None, ENTRYPOINT_DEPLOYMENT: None}
    assert summary(compute_status(stopped, leftovers, None, now=NOW))["Ready"] == ("True", "Stopped")

    status = compute_status(stopped, leftovers, None, now=NOW, remaining_objects=["ConfigMap greeter-v1-global"])
    assert condition(status, "Ready")["message"] == "waiting for ConfigMap greeter-v1-global to be deleted"


# ------------------------------------------------------------------------------------------ published


def test_published_when_the_service_selects_this_version() -> None:
    version = greeter_version(published=True)
    service = entrypoint_service(version)

    status = compute_status(version, running(version), service, now=NOW)

    assert condition(status, "Published")["status"] == "True"
    assert condition(status, "Published")["reason"] == "Published"
    assert condition(status, "Published")["message"] == "Service active-entrypoint selects this version"
    assert summary(status)["Progressing"] == ("False", "Started")
    assert selected_version(service) == "greeter-v1"


def test_published_elsewhere_names_the_other_version() -> None:
    version = greeter_version(published=True)
    other = copy.deepcopy(version)
    other["metadata"]["name"] = "greeter-v2"

    status = compute_status(version, running(version), entrypoint_service(other), now=NOW)

    published = condition(status, "Published")
    assert (published["status"], published["reason"]) == ("False", "PublishedElsewhere")
    assert published["message"] == 'Service active-entrypoint selects version "greeter-v2"'
    # Publishing another version took the Service over: nothing is in flight for this one.
    assert summary(status)["Progressing"] == ("False", "Started")


def test_publish_and_unpublish_in_flight_are_progress() -> None:
    version = greeter_version(published=True)
    status = compute_status(version, running(version), None, now=NOW)
    assert summary(status)["Published"] == ("False", "NotPublished")
    assert summary(status)["Progressing"] == ("True", "Publishing")
    assert condition(status, "Progressing")["message"] == (
        "Service active-entrypoint does not exist; it is to select this version"
    )

    unpublished = greeter_version(published=False)
    status = compute_status(unpublished, running(unpublished), entrypoint_service(unpublished), now=NOW)
    assert summary(status)["Published"] == ("True", "Published")
    assert summary(status)["Progressing"] == ("True", "Unpublishing")


def test_a_service_without_a_version_or_being_deleted_publishes_nothing() -> None:
    version = greeter_version()
    service = entrypoint_service(version)
    service["spec"]["selector"] = {"app": "something-else"}
    published = condition(compute_status(version, running(version), service, now=NOW), "Published")
    assert (published["status"], published["reason"], published["message"]) == (
        "False",
        "NotPublished",
        "Service active-entrypoint selects no version",
    )
    service = entrypoint_service(version)
    service["metadata"]["deletionTimestamp"] = NOW
    published = condition(compute_status(version, running(version), service, now=NOW), "Published")
    assert (published["status"], published["message"]) == ("False", "Service active-entrypoint is being deleted")


# ------------------------------------------------------------------------------------------ invalid spec


def test_an_invalid_spec_is_terminal_and_names_fields_not_values() -> None:
    version = greeter_version(config=[{"key": "KRT_NATS_INPUT", "value": SECRET_VALUE}])
    version["spec"]["workflows"][1]["nodes"][0]["id"] = GREETING_NODE  # node ids must be unique

    status = compute_status(version, running(greeter_version()), None, now=NOW)

    assert summary(status) == {
        "Ready": ("False", "InvalidSpec"),
        "Published": ("False", "NotPublished"),
        "Progressing": ("False", "InvalidSpec"),
        "Stalled": ("True", "InvalidSpec"),
    }
    assert is_terminal(condition(status, "Ready")["reason"])
    message = condition(status, "Stalled")["message"]
    assert message.startswith("spec.config[0].key: must not start with KRT_")
    assert "spec.workflows[1].nodes[0].id: Duplicate value" in message
    assert SECRET_VALUE not in str(status)
    # Node ids may repeat in an invalid spec, and status.nodes is a map keyed by id.
    assert status["nodes"] == []
    assert status["entrypoint"]["ready"] is False
    assert_fits_the_crd(status)


def test_a_spec_without_workflows_or_name_still_gets_a_status() -> None:
    version = greeter_version()
    del version["spec"]["workflows"]
    del version["metadata"]["name"]
    status = compute_status(version, {}, None, now=NOW)
    assert summary(status)["Ready"] == ("False", "InvalidSpec")
    assert "entrypoint" not in status
    assert_fits_the_crd(status)


# ------------------------------------------------------------------------------------------ transitions


def test_transition_times_change_with_the_status_only() -> None:
    version = greeter_version()
    deployments = running(version)
    deployments[ENTRYPOINT_DEPLOYMENT] = None
    first = compute_status(version, deployments, None, now=NOW)

    # Same statuses, another reason and message: the times stay.
    deployments[SALUTING_DEPLOYMENT] = None
    version["status"] = first
    second = compute_status(version, deployments, None, now=LATER)
    assert all(item["lastTransitionTime"] == NOW for item in second["conditions"])

    # Ready and Progressing flip; Published and Stalled do not.
    ready = running(version)
    third = compute_status(version, ready, None, now=LATER, previous_conditions=second["conditions"])
    times = {item["type"]: item["lastTransitionTime"] for item in third["conditions"]}
    assert times == {"Ready": LATER, "Published": NOW, "Progressing": LATER, "Stalled": NOW}


def test_observed_generation_follows_the_version() -> None:
    version = greeter_version(generation=7)
    deployments = running(version)
    status = compute_status(version, deployments, None, now=NOW)
    assert status["observedGeneration"] == 7
    assert {item["observedGeneration"] for item in status["conditions"]} == {7}
    # The Deployments' own generations do not matter, only that their controller saw them.
    assert all(d is not None and d["metadata"]["generation"] == 1 for d in deployments.values())


@pytest.mark.parametrize("state", ["running", "missing", "stopped", "invalid", "published"])
def test_every_status_fits_the_crd_schema(state: str) -> None:
    version = greeter_version(published=state == "published")
    deployments = running(version)
    if state == "missing":
        deployments = {}
    if state == "stopped":
        version["spec"]["desiredState"] = "Stopped"
    if state == "invalid":
        version["spec"]["workflows"] = []
    service = entrypoint_service(version) if state == "published" else None
    status = compute_status(version, deployments, service, now=NOW)
    assert_fits_the_crd(status)
