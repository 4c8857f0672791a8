"""A Runtime's status: conditions for each missing piece, terminal failures, transition times, components."""

from __future__ import annotations

import copy
import datetime
import json
import random
import string
from pathlib import Path
from typing import Any

import jsonschema  # no types-jsonschema in the dev dependencies
import pytest
import yaml
from k8s_manager_operator.config import ComponentCheck, LabelSelector, OperatorConfig
from k8s_manager_operator.runtime.credentials import CREDENTIALS_SECRET_NAME, credentials_secret
from k8s_manager_operator.runtime.desired import desired_objects
from k8s_manager_operator.runtime.status import (
    ObservedChildren,
    compute_status,
    find_condition,
    format_timestamp,
    is_terminal,
)
from k8s_manager_operator.runtime.validation import Problem, validate_runtime

CRD = Path(__file__).parents[2] / "crds" / "runtimes.kre.konstellation.io.yaml"
UID = "6f1c1d4e-2b9a-4c61-9a53-3f0e5f7d2a10"
NOW = "2024-05-01T10:00:00Z"
LATER = "2024-05-01T10:05:00Z"
RANDOM = random.Random(20240503)
CONDITION_TYPES = [
    "Ready",
    "Progressing",
    "Stalled",
    "NamespaceReady",
    "RBACReady",
    "CredentialsReady",
    "OperatorAvailable",
    "ComponentsReady",
]


def random_secret() -> str:
    """Like the Admin API's: 8 characters of [A-Za-z0-9]."""
    return "".join(RANDOM.choices(string.ascii_letters + string.digits, k=8))


CREDENTIALS = {
    "username": "admin",
    "password": random_secret(),
    "sharedKey": random_secret(),
    "accessKey": "admin",
    "secretKey": random_secret(),
}


def admin_api_runtime(name: str = "kre-demo", *, inline: bool = False) -> dict[str, Any]:
    """The Runtime the facade writes for the Admin API's Create(name "Demo", namespace "kre-demo"), as stored;
    by default after the operator moved the credentials into the Secret."""
    mongo: dict[str, Any]
    minio: dict[str, Any]
    if inline:
        mongo = {key: CREDENTIALS[key] for key in ("username", "password", "sharedKey")}
        minio = {key: CREDENTIALS[key] for key in ("accessKey", "secretKey")}
    else:
        mongo = minio = {"secretRef": {"name": CREDENTIALS_SECRET_NAME}}
    return {
        "apiVersion": "kre.konstellation.io/v1alpha1",
        "kind": "Runtime",
        "metadata": {"name": name, "uid": UID, "generation": 2, "resourceVersion": "57"},
        "spec": {
            "displayName": "Demo",
            "developmentMode": False,
            "entrypoint": {"host": f"{name}.local"},
            "sharedStorageClass": "standard",
            "mongo": {"credentials": dict(mongo)},
            "minio": {"credentials": dict(minio), "storage": {"size": "1Gi"}},
            "nats_streaming": {"replicas": 1},
        },
    }


def stored(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as the API server returns it once created (and, for workloads, once the controllers ran)."""
    result = copy.deepcopy(obj)
    result["metadata"].update(uid=f"uid-{obj['kind']}", resourceVersion="60", creationTimestamp=NOW)
    if obj["kind"] == "Namespace":
        result["metadata"]["labels"]["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        result["status"] = {"phase": "Active"}
    if obj["kind"] == "Deployment":
        result["metadata"]["generation"] = 1
        result["spec"]["revisionHistoryLimit"] = 10
        result["status"] = {
            "observedGeneration": 1,
            "replicas": 1,
            "availableReplicas": 1,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        }
    return result


def everything_in_place(runtime: dict[str, Any], **overrides: Any) -> ObservedChildren:
    children = {obj["kind"]: stored(obj) for obj in desired_objects(runtime, OperatorConfig())}
    secret = stored(credentials_secret(runtime, CREDENTIALS))
    observed = ObservedChildren(
        namespace=children["Namespace"],
        service_account=children["ServiceAccount"],
        role=children["Role"],
        role_binding=children["RoleBinding"],
        cluster_role=children["ClusterRole"],
        cluster_role_binding=children["ClusterRoleBinding"],
        deployment=children["Deployment"],
        secrets={CREDENTIALS_SECRET_NAME: secret},
    )
    return ObservedChildren(**{**observed.__dict__, **overrides})


def pod(
    name: str, labels: dict[str, str], phase: str = "Running", ready: bool = True, **metadata: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "kre-demo", "labels": labels, **metadata},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def all_pods() -> list[dict[str, Any]]:
    return [
        pod("kre-minio-0", {"app": "kre-minio"}),
        pod("kre-demo-mongo-0", {"app": "mongodb-replicaset", "kre-app": "kre-mongo"}),
        pod("kre-demo-mongo-1", {"app": "mongodb-replicaset", "kre-app": "kre-mongo"}, phase="Pending", ready=False),
        pod("kre-nats-0", {"app": "kre-nats"}),
        pod("kre-operator-5d9c7-x2x4q", {"name": "kre-operator", "pod-template-hash": "5d9c7"}),
        pod("runtime-api-7f9b-abcde", {"app": "runtime-api"}),
    ]


def status_of(
    runtime: dict[str, Any] | None = None,
    observed: ObservedChildren | None = None,
    pods: list[dict[str, Any]] | None = None,
    config: OperatorConfig | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    runtime = runtime or admin_api_runtime()
    return compute_status(
        runtime,
        everything_in_place(runtime) if observed is None else observed,
        all_pods() if pods is None else pods,
        config or OperatorConfig(),
        now=kwargs.pop("now", NOW),
        **kwargs,
    )


def condition(status: dict[str, Any], condition_type: str) -> dict[str, Any]:
    found = find_condition(status, condition_type)
    assert found is not None, condition_type
    return dict(found)


def ready(status: dict[str, Any]) -> tuple[str, str]:
    found = condition(status, "Ready")
    return found["status"], found["reason"]


# ------------------------------------------------------------------------------------------ ready


def test_everything_in_place_and_running_is_ready() -> None:
    status = status_of()

    assert status["observedGeneration"] == 2
    assert [found["type"] for found in status["conditions"]] == CONDITION_TYPES
    assert condition(status, "Ready") == {
        "type": "Ready",
        "status": "True",
        "reason": "RuntimeReady",
        "message": "namespace, RBAC, credentials, runtime operator and components are ready",
        "lastTransitionTime": NOW,
        "observedGeneration": 2,
    }
    assert [(found["type"], found["status"]) for found in status["conditions"]] == [
        ("Ready", "True"),
        ("Progressing", "False"),
        ("Stalled", "False"),
        ("NamespaceReady", "True"),
        ("RBACReady", "True"),
        ("CredentialsReady", "True"),
        ("OperatorAvailable", "True"),
        ("ComponentsReady", "True"),
    ]
    assert status["components"] == [
        {"name": "minio", "ready": True},
        {"name": "mongo", "ready": True},
        {"name": "nats", "ready": True},
        {"name": "runtime-operator", "ready": True},
    ]


def test_the_status_is_valid_against_the_crds_status_schema() -> None:
    crd = yaml.safe_load(CRD.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    runtime = admin_api_runtime()
    missing_everything = ObservedChildren()

    for status in (
        status_of(),
        status_of(observed=missing_everything, pods=[]),
        status_of(admin_api_runtime("default")),
    ):
        jsonschema.validate(status, schema, format_checker=jsonschema.FormatChecker())
        assert len({found["type"] for found in status["conditions"]}) == len(status["conditions"])
    assert runtime == admin_api_runtime(), "the Runtime is not modified"


# ------------------------------------------------------------------------------------------ each missing piece


@pytest.mark.parametrize(
    ("overrides", "detail", "reason", "message"),
    [
        ({"namespace": None}, "NamespaceReady", "NamespaceMissing", "Namespace kre-demo does not exist yet"),
        (
            {"service_account": None},
            "RBACReady",
            "ServiceAccountMissing",
            "ServiceAccount kre-demo/kre-operator does not exist yet",
        ),
        ({"role": None}, "RBACReady", "RoleMissing", "Role kre-demo/kre-operator does not exist yet"),
        (
            {"role_binding": None},
            "RBACReady",
            "RoleBindingMissing",
            "RoleBinding kre-demo/kre-operator does not exist yet",
        ),
        (
            {"cluster_role": None},
            "RBACReady",
            "ClusterRoleMissing",
            "ClusterRole kre-runtime-kre-demo does not exist yet",
        ),
        (
            {"cluster_role_binding": None},
            "RBACReady",
            "ClusterRoleBindingMissing",
            "ClusterRoleBinding kre-runtime-kre-demo does not exist yet",
        ),
        (
            {"deployment": None},
            "OperatorAvailable",
            "DeploymentMissing",
            "Deployment kre-demo/kre-operator does not exist yet",
        ),
        (
            {"secrets": {}},
            "CredentialsReady",
            "CredentialsMissing",
            "Secret kre-demo/kre-runtime-credentials named by spec.mongo.credentials.secretRef does not exist; "
            "Secret kre-demo/kre-runtime-credentials named by spec.minio.credentials.secretRef does not exist",
        ),
    ],
)
def test_a_missing_object_is_the_reason_the_runtime_is_not_ready(
    overrides: dict[str, Any], detail: str, reason: str, message: str
) -> None:
    runtime = admin_api_runtime()

    status = status_of(runtime, everything_in_place(runtime, **overrides))

    assert condition(status, detail)["status"] == "False"
    assert (condition(status, detail)["reason"], condition(status, detail)["message"]) == (reason, message)
    assert ready(status) == ("False", reason)
    assert condition(status, "Ready")["message"] == message
    # The credentials Secrets are read only from a namespace that is there.
    waiting = {"CredentialsReady"} if detail == "NamespaceReady" else set()
    others = [found for found in status["conditions"] if found["type"] in set(CONDITION_TYPES[3:]) - {detail}]
    assert [found["type"] for found in others if found["status"] != "True"] == sorted(waiting)


def test_every_missing_rbac_object_is_named_and_the_first_gives_the_reason() -> None:
    runtime = admin_api_runtime()

    status = status_of(runtime, everything_in_place(runtime, role=None, cluster_role_binding=None))

    assert condition(status, "RBACReady")["reason"] == "RoleMissing"
    assert condition(status, "RBACReady")["message"] == (
        "Role kre-demo/kre-operator does not exist yet; ClusterRoleBinding kre-runtime-kre-demo does not exist yet"
    )


def test_with_nothing_created_yet_the_namespace_comes_first() -> None:
    status = status_of(observed=ObservedChildren(), pods=[])

    assert ready(status) == ("False", "NamespaceMissing")
    assert condition(status, "CredentialsReady")["reason"] == "WaitingForNamespace"
    assert condition(status, "Progressing")["status"] == "True"
    assert condition(status, "Stalled")["status"] == "False"


@pytest.mark.parametrize(
    ("pods", "reason", "component", "message"),
    [
        (
            [pod("kre-minio-0", {"app": "kre-minio"}, ready=False)],
            "MinioNotReady",
            "minio",
            "no pod matching app=kre-minio is Running and Ready (kre-minio-0: Running, not Ready)",
        ),
        (
            [pod("kre-demo-mongo-0", {"kre-app": "kre-mongo"}, phase="Pending", ready=False)],
            "MongoNotReady",
            "mongo",
            "no pod matching kre-app=kre-mongo is Running (kre-demo-mongo-0: Pending)",
        ),
        ([], "NatsNotReady", "nats", "no pod matches app=kre-nats"),
        (
            [pod("kre-operator-5d9c7-x2x4q", {"name": "kre-operator"}, phase="Failed", ready=False)],
            "RuntimeOperatorNotReady",
            "runtime-operator",
            "no pod matching name=kre-operator is Running (kre-operator-5d9c7-x2x4q: Failed)",
        ),
    ],
)
def test_a_component_not_ready_is_the_reason(
    pods: list[dict[str, Any]], reason: str, component: str, message: str
) -> None:
    selectors = {"minio": "app", "mongo": "kre-app", "nats": "app", "runtime-operator": "name"}
    wanted = {"minio": "kre-minio", "mongo": "kre-mongo", "nats": "kre-nats", "runtime-operator": "kre-operator"}
    others = [
        found for found in all_pods() if found["metadata"]["labels"].get(selectors[component]) != wanted[component]
    ]

    status = status_of(pods=others + pods)

    assert ready(status) == ("False", reason)
    assert condition(status, "ComponentsReady")["reason"] == reason
    assert condition(status, "ComponentsReady")["message"] == f"{component}: {message}"
    assert {"name": component, "ready": False, "message": message} in status["components"]
    assert sum(not entry["ready"] for entry in status["components"]) == 1


def test_one_running_pod_of_a_component_is_enough_and_pods_being_deleted_do_not_count() -> None:
    deleted = pod("kre-nats-0", {"app": "kre-nats"}, deletionTimestamp=NOW)
    pods = [found for found in all_pods() if found["metadata"]["labels"].get("app") != "kre-nats"] + [deleted]

    status = status_of(pods=pods)

    assert {"name": "mongo", "ready": True} in status["components"]  # one of the two mongo pods is Running
    assert {"name": "nats", "ready": False, "message": "no pod matches app=kre-nats"} in status["components"]


def test_the_components_waited_for_come_from_the_configuration() -> None:
    config = OperatorConfig(
        components=(ComponentCheck("api", LabelSelector.parse("app=runtime-api"), needs_ready=True),)
    )

    status = status_of(config=config, pods=[pod("runtime-api-1", {"app": "runtime-api"}, ready=False)])

    assert status["components"] == [
        {
            "name": "api",
            "ready": False,
            "message": "no pod matching app=runtime-api is Running and Ready (runtime-api-1: Running, not Ready)",
        }
    ]
    assert ready(status) == ("False", "ApiNotReady")


def test_a_component_whose_name_starts_with_a_digit_gets_the_generic_reason() -> None:
    config = OperatorConfig(components=(ComponentCheck("2nd", LabelSelector.parse("app=second")),))

    assert ready(status_of(config=config, pods=[])) == ("False", "ComponentsNotReady")


# ------------------------------------------------------------------------------------------ the Deployment


def test_a_deployment_without_an_available_replica() -> None:
    runtime = admin_api_runtime()
    observed = everything_in_place(runtime)
    assert observed.deployment is not None
    deployment = copy.deepcopy(dict(observed.deployment))
    deployment["status"]["conditions"][0] = {
        "type": "Available",
        "status": "False",
        "reason": "MinimumReplicasUnavailable",
        "message": "Deployment does not have minimum availability.",
    }

    status = status_of(runtime, everything_in_place(runtime, deployment=deployment))

    assert ready(status) == ("False", "DeploymentUnavailable")
    assert condition(status, "OperatorAvailable")["message"] == (
        "Deployment kre-demo/kre-operator has no available replica yet: Deployment does not have minimum availability."
    )


def test_a_deployment_past_its_progress_deadline_is_stalled_but_not_terminal() -> None:
    runtime = admin_api_runtime()
    deployment = copy.deepcopy(dict(everything_in_place(runtime).deployment or {}))
    deployment["status"]["conditions"] = [
        {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
        {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": 'ReplicaSet "kre-operator-5d9c7" has timed out progressing.',
        },
    ]

    status = status_of(runtime, everything_in_place(runtime, deployment=deployment))

    assert ready(status) == ("False", "DeploymentStalled")
    assert not is_terminal("DeploymentStalled")
    assert condition(status, "Stalled")["status"] == "False"


def test_a_deployment_not_yet_rolled_out_to_its_latest_spec() -> None:
    runtime = admin_api_runtime()
    deployment = copy.deepcopy(dict(everything_in_place(runtime).deployment or {}))
    deployment["metadata"]["generation"] = 2

    status = status_of(runtime, everything_in_place(runtime, deployment=deployment))

    assert ready(status) == ("False", "DeploymentProgressing")


def test_a_deployment_that_drifted_names_the_fields() -> None:
    runtime = admin_api_runtime()
    deployment = copy.deepcopy(dict(everything_in_place(runtime).deployment or {}))
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "konstellation/kre-operator:latest"

    status = status_of(runtime, everything_in_place(runtime, deployment=deployment))

    assert ready(status) == ("False", "DeploymentOutOfDate")
    assert condition(status, "OperatorAvailable")["message"] == (
        "Deployment kre-demo/kre-operator differs from the desired one at spec.template.spec.containers[0].image"
    )


def test_a_child_not_owned_yet_is_not_terminal() -> None:
    runtime = admin_api_runtime()
    role = copy.deepcopy(dict(everything_in_place(runtime).role or {}))
    del role["metadata"]["ownerReferences"]

    status = status_of(runtime, everything_in_place(runtime, role=role))

    assert ready(status) == ("False", "RoleNotOwned")
    assert not is_terminal("RoleNotOwned")


# ------------------------------------------------------------------------------------------ the namespace


def test_a_namespace_someone_else_made_is_a_terminal_failure() -> None:
    runtime = admin_api_runtime()
    foreign = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "kre-demo", "uid": "x"},
        "status": {"phase": "Active"},
    }

    status = status_of(runtime, everything_in_place(runtime, namespace=foreign))

    assert ready(status) == ("False", "NamespaceNotOwned")
    assert is_terminal("NamespaceNotOwned")
    assert condition(status, "Stalled")["status"] == "True"
    assert condition(status, "Stalled")["reason"] == "NamespaceNotOwned"
    assert condition(status, "Progressing")["status"] == "False"
    assert "delete it or give the Runtime another name" in condition(status, "Ready")["message"]


def test_the_namespace_of_a_deleted_runtime_of_the_same_name_is_waited_for() -> None:
    runtime = admin_api_runtime()
    previous = copy.deepcopy(dict(everything_in_place(runtime).namespace or {}))
    previous["metadata"]["ownerReferences"][0]["uid"] = "uid-of-the-deleted-runtime"

    status = status_of(runtime, everything_in_place(runtime, namespace=previous))

    assert ready(status) == ("False", "NamespaceOfPreviousRuntime")
    assert condition(status, "Stalled")["status"] == "False"


def test_a_terminating_namespace_is_waited_for() -> None:
    runtime = admin_api_runtime()
    terminating = copy.deepcopy(dict(everything_in_place(runtime).namespace or {}))
    terminating["metadata"]["deletionTimestamp"] = NOW
    terminating["status"] = {"phase": "Terminating"}

    assert ready(status_of(runtime, everything_in_place(runtime, namespace=terminating))) == (
        "False",
        "NamespaceTerminating",
    )


def test_a_namespace_without_its_pod_security_labels_is_out_of_date() -> None:
    runtime = admin_api_runtime()
    namespace = copy.deepcopy(dict(everything_in_place(runtime).namespace or {}))
    del namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]

    status = status_of(runtime, everything_in_place(runtime, namespace=namespace))

    assert ready(status) == ("False", "NamespaceOutOfDate")
    assert "metadata.labels.pod-security.kubernetes.io/enforce" in condition(status, "NamespaceReady")["message"]


# ------------------------------------------------------------------------------------------ credentials


def test_inline_credentials_not_yet_moved_are_work_in_progress() -> None:
    runtime = admin_api_runtime(inline=True)

    status = status_of(runtime, everything_in_place(runtime, secrets={}))

    assert ready(status) == ("False", "CredentialsNotMoved")
    assert condition(status, "CredentialsReady")["message"] == (
        "spec.mongo.credentials and spec.minio.credentials still hold inline values, "
        "to be moved into Secret kre-demo/kre-runtime-credentials"
    )
    assert condition(status, "Progressing")["status"] == "True"


def test_a_referenced_secret_lacking_keys_is_a_terminal_failure_naming_them() -> None:
    runtime = admin_api_runtime()
    runtime["spec"]["minio"]["credentials"] = {"secretRef": {"name": "minio-keys"}}
    secret = stored(credentials_secret(runtime, CREDENTIALS))
    partial = copy.deepcopy(secret)
    partial["metadata"]["name"] = "minio-keys"
    partial["data"] = {"accessKey": partial["data"]["accessKey"], "secretKey": ""}

    status = status_of(
        runtime, everything_in_place(runtime, secrets={CREDENTIALS_SECRET_NAME: secret, "minio-keys": partial})
    )

    assert ready(status) == ("False", "CredentialsMissing")
    assert is_terminal("CredentialsMissing")
    assert condition(status, "Ready")["message"] == (
        "Secret kre-demo/minio-keys named by spec.minio.credentials.secretRef lacks the keys secretKey"
    )
    assert condition(status, "Stalled") | {"lastTransitionTime": None} == {
        "type": "Stalled",
        "status": "True",
        "reason": "CredentialsMissing",
        "message": "Secret kre-demo/minio-keys named by spec.minio.credentials.secretRef lacks the keys secretKey",
        "lastTransitionTime": None,
        "observedGeneration": 2,
    }


def test_a_terminal_failure_comes_before_earlier_pieces_still_in_progress() -> None:
    runtime = admin_api_runtime()

    status = status_of(runtime, everything_in_place(runtime, service_account=None, deployment=None, secrets={}))

    assert ready(status) == ("False", "CredentialsMissing")
    assert condition(status, "RBACReady")["reason"] == "ServiceAccountMissing"


def test_secrets_are_read_from_the_references_in_the_spec() -> None:
    runtime = admin_api_runtime()
    runtime["spec"]["mongo"]["credentials"] = {"secretRef": {"name": "mongo-keys"}}
    secret = stored(credentials_secret(runtime, CREDENTIALS))
    mongo = copy.deepcopy(secret)
    mongo["metadata"]["name"] = "mongo-keys"

    status = status_of(
        runtime, everything_in_place(runtime, secrets={CREDENTIALS_SECRET_NAME: secret, "mongo-keys": mongo})
    )

    assert condition(status, "CredentialsReady")["message"] == (
        "credentials are read from Secret kre-runtime-credentials, mongo-keys"
    )
    assert ready(status) == ("True", "RuntimeReady")


# ------------------------------------------------------------------------------------------ invalid specs


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("default", "metadata.name: must not be default or start with kube-"),
        ("kube-system", "metadata.name: must not be default or start with kube-"),
        ("kube-node-lease", "metadata.name: must not be default or start with kube-"),
        ("kube-anything", "metadata.name: must not be default or start with kube-"),
        ("a" * 64, "metadata.name: must be no more than 63 characters"),
        ("Kre_Demo", "metadata.name: a lowercase RFC 1123 label must consist of"),
    ],
)
def test_a_name_the_operator_refuses_is_an_invalid_spec(name: str, message: str) -> None:
    runtime = admin_api_runtime(name)

    status = status_of(runtime, ObservedChildren(), pods=[])

    assert ready(status) == ("False", "InvalidSpec")
    assert is_terminal("InvalidSpec")
    assert condition(status, "Ready")["message"].startswith(message)
    assert condition(status, "Stalled")["status"] == "True"


def test_a_valid_name_of_63_characters_is_accepted() -> None:
    assert validate_runtime(admin_api_runtime("a" * 63)) == []


@pytest.mark.parametrize(
    ("change", "problems"),
    [
        (
            lambda spec: spec["mongo"]["credentials"].update(password="pw123456"),
            [
                Problem(
                    "spec.mongo.credentials",
                    "secretRef and inline credentials (username, password, sharedKey) are mutually exclusive",
                )
            ],
        ),
        (
            lambda spec: spec["minio"].update(credentials={"accessKey": "admin"}),
            [
                Problem(
                    "spec.minio.credentials",
                    "set either secretRef or all of accessKey, secretKey; missing: secretKey",
                ),
            ],
        ),
        (
            lambda spec: spec["minio"].update(credentials={"accessKey": "admin", "secretKey": "k9Lm2Qx7"}),
            [
                Problem(
                    "spec.minio.credentials",
                    "give the credentials the same way as spec.mongo.credentials: both inline or both as secretRef",
                )
            ],
        ),
        (
            lambda spec: spec["mongo"].update(credentials={"secretRef": {}}),
            [Problem("spec.mongo.credentials.secretRef.name", "Required value: the name of a Secret")],
        ),
        (
            lambda spec: spec["mongo"].update(credentials={"secretRef": {"name": "Not/A/Name"}}),
            [Problem("spec.mongo.credentials.secretRef.name", "must be a DNS-1123 subdomain (a Secret's name)")],
        ),
        (
            lambda spec: spec.pop("mongo"),
            [Problem("spec.mongo.credentials", "Required value: give either secretRef or the inline credentials")],
        ),
    ],
)
def test_credentials_the_cel_rules_would_refuse_are_an_invalid_spec(change: Any, problems: list[Problem]) -> None:
    runtime = admin_api_runtime()
    change(runtime["spec"])

    status = status_of(runtime)

    assert validate_runtime(runtime) == problems
    assert ready(status) == ("False", "InvalidSpec")
    assert condition(status, "CredentialsReady")["reason"] == "InvalidSpec"
    assert condition(status, "Ready")["message"] == "; ".join(str(problem) for problem in problems)
    assert not any(value in json.dumps(status) for value in ("pw123456", "k9Lm2Qx7"))


def test_inline_values_that_are_not_strings_are_named_without_their_value() -> None:
    runtime = admin_api_runtime(inline=True)
    runtime["spec"]["mongo"]["credentials"]["password"] = 12345678

    assert validate_runtime(runtime) == [Problem("spec.mongo.credentials.password", "must be a non-empty string")]


def test_a_runtime_without_spec_is_invalid() -> None:
    runtime = admin_api_runtime()
    del runtime["spec"]

    assert validate_runtime(runtime) == [Problem("spec", "Required value: the Runtime has no spec")]
    assert ready(status_of(runtime, ObservedChildren(), pods=[])) == ("False", "InvalidSpec")


# ------------------------------------------------------------------------------------------ transitions


def test_last_transition_time_is_kept_while_the_status_does_not_change() -> None:
    runtime = admin_api_runtime()
    first = status_of(runtime, everything_in_place(runtime, namespace=None))
    runtime["status"] = first

    # Still not ready, for another reason: Ready keeps its time; NamespaceReady flips and gets the new time.
    second = status_of(runtime, everything_in_place(runtime, deployment=None), now=LATER)

    assert ready(second) == ("False", "DeploymentMissing")
    assert condition(second, "Ready")["lastTransitionTime"] == NOW
    assert condition(second, "NamespaceReady")["lastTransitionTime"] == LATER
    assert condition(second, "OperatorAvailable")["lastTransitionTime"] == LATER
    assert condition(second, "RBACReady")["lastTransitionTime"] == NOW


def test_previous_conditions_can_be_given_explicitly() -> None:
    previous = [
        {
            "type": "Ready",
            "status": "True",
            "reason": "RuntimeReady",
            "message": "",
            "lastTransitionTime": "2024-01-01T00:00:00Z",
        }
    ]

    status = status_of(previous_conditions=previous, now=LATER)

    assert condition(status, "Ready")["lastTransitionTime"] == "2024-01-01T00:00:00Z"
    assert condition(status, "ComponentsReady")["lastTransitionTime"] == LATER


def test_the_same_observations_give_the_same_status() -> None:
    runtime = admin_api_runtime()
    runtime["status"] = status_of(runtime)

    assert status_of(runtime, now=LATER) == runtime["status"]


def test_timestamps_are_rfc3339_utc_seconds() -> None:
    moment = datetime.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))

    assert format_timestamp(moment) == NOW


@pytest.mark.parametrize("reason", ["RuntimeReady", "NamespaceMissing", "DeploymentUnavailable", "MinioNotReady", None])
def test_progress_reasons_are_not_terminal(reason: str | None) -> None:
    assert not is_terminal(reason)
