"""JSON merge patch, JSON patch and strategic merge patch, as kube-apiserver applies them.

The emulator's patching module is tested directly; the tables of refused patches are then replayed through the API
on a Deployment (the test marked `cluster`), so that a real kube-apiserver answers them the same.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_emulator.errors import ApiError
from kube_emulator.patching import json_patch, merge_patch, strategic_merge_patch

from tests.raw_api import RawApi, raw_api

REJECTED = "the server rejected our request due to an error in our request"


def api_error(call: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web", "team": "ml"},
            "finalizers": ["example.com/a", "example.com/b"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u1"}],
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:v1",
                            "args": ["--a", "--b"],
                            "terminationMessagePath": "/dev/termination-log",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        }
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "gpu", "operator": "Exists"}],
                    "imagePullSecrets": [{"name": "registry"}],
                },
            },
        },
        "status": {"conditions": [{"type": "Available", "status": "True"}]},
    }


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod_spec(obj)["containers"])


def names(items: list[dict[str, Any]], key: str = "name") -> list[Any]:
    return [item[key] for item in items]


# --- JSON merge patch -----------------------------------------------------------------------------------


def test_merge_patch_merges_objects_deletes_nulls_and_replaces_arrays() -> None:
    target = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"args": ["x", "y"], "keep": True}}
    patch = {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": {"args": ["z"]}}
    assert merge_patch(target, patch) == {
        "metadata": {"labels": {"b": "2", "c": "3"}},
        "spec": {"args": ["z"], "keep": True},
    }


def test_merge_patch_prunes_nulls_from_added_values() -> None:
    result = merge_patch({"spec": {"old": 1}}, {"spec": {"new": {"a": None, "b": 1}, "list": [{"x": None}, None]}})
    assert result == {"spec": {"old": 1, "new": {"b": 1}, "list": [{}, None]}}


def test_merge_patch_replaces_a_non_object_with_the_patch_object() -> None:
    assert merge_patch({"spec": "text"}, {"spec": {"a": 1, "b": None}}) == {"spec": {"a": 1}}


def test_merge_patch_does_not_mutate_or_alias_its_inputs() -> None:
    target = {"metadata": {"labels": {"a": "1"}}}
    patch = {"metadata": {"labels": {"b": "2"}}, "spec": {"list": [1]}}
    before = copy.deepcopy((target, patch))
    result = merge_patch(target, patch)
    result["spec"]["list"].append(2)
    assert (target, patch) == before


MERGE_PATCH_ERRORS: list[Any] = [
    (None, "Invalid JSON Patch"),
    (
        ["a"],
        "error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}",
    ),
    (
        "a",
        "error decoding patch: json: cannot unmarshal string into Go value of type map[string]interface {}",
    ),
]


@pytest.mark.parametrize(("patch", "message"), MERGE_PATCH_ERRORS)
def test_merge_patch_rejects_non_objects(patch: Any, message: str) -> None:
    error = api_error(merge_patch, {"a": 1}, patch)
    assert (error.code, error.reason, error.message) == (400, "BadRequest", message)


# --- JSON patch -----------------------------------------------------------------------------------------


def test_json_patch_applies_every_operation() -> None:
    target: dict[str, Any] = {
        "metadata": {"name": "x", "labels": {"a": "1"}},
        "spec": {"items": [1, 2], "old": "v"},
    }
    result = json_patch(
        target,
        [
            {"op": "test", "path": "/metadata/name", "value": "x"},
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "remove", "path": "/metadata/labels/a"},
            {"op": "replace", "path": "/spec/items/0", "value": 10},
            {"op": "add", "path": "/spec/items/-", "value": 3},
            {"op": "move", "from": "/spec/old", "path": "/spec/new"},
            {"op": "copy", "from": "/metadata/name", "path": "/spec/name"},
        ],
    )
    assert result == {
        "metadata": {"name": "x", "labels": {"b": "2"}},
        "spec": {"items": [10, 2, 3], "new": "v", "name": "x"},
    }
    assert target["metadata"]["labels"] == {"a": "1"}


JSON_PATCH_FAILURES: list[Any] = [
    [{"op": "test", "path": "/spec/replicas", "value": 2}],
    [{"op": "test", "path": "/spec/replicas", "value": True}],  # JSON types differ from 1
    [{"op": "test", "path": "/spec/missing", "value": 1}],
    [{"op": "remove", "path": "/spec/missing"}],
    [{"op": "replace", "path": "/spec/missing/x", "value": 1}],  # a member of a missing parent
    [{"op": "add", "path": "/no/such/parent", "value": 1}],
    [{"op": "move", "from": "/spec/missing", "path": "/spec/x"}],
    [{"op": "frobnicate", "path": "/spec"}],
    [{"op": "add", "path": "spec", "value": 1}],
    [{"op": "add", "path": "/spec/x", "value": 1}, {"op": "test", "path": "/spec/x", "value": 2}],
]


@pytest.mark.parametrize("operations", JSON_PATCH_FAILURES)
def test_json_patch_failures_are_the_generic_422(operations: list[dict[str, Any]]) -> None:
    error = api_error(json_patch, {"spec": {"replicas": 1}}, operations)
    assert error.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": REJECTED,
        "reason": "Invalid",
        "details": {},
        "code": 422,
    }


def test_json_patch_replace_of_a_missing_member_adds_it() -> None:
    """evanphx v4 (kube-apiserver's) does not check that an object has the member it replaces."""
    assert json_patch({"spec": {}}, [{"op": "replace", "path": "/spec/x", "value": 1}]) == {"spec": {"x": 1}}
    # An array's index must exist, though.
    error = api_error(json_patch, {"spec": {"items": [1]}}, [{"op": "replace", "path": "/spec/items/5", "value": 1}])
    assert (error.code, error.message) == (422, REJECTED)


def test_json_patch_test_of_a_missing_member_against_null_passes() -> None:
    result = json_patch({"spec": {}}, [{"op": "test", "path": "/spec/paused", "value": None}])
    assert result == {"spec": {}}


def test_json_patch_add_without_value_writes_null() -> None:
    assert json_patch({"spec": {}}, [{"op": "add", "path": "/spec/x"}]) == {"spec": {"x": None}}


JSON_PATCH_BODY_ERRORS: list[Any] = [
    (
        {"op": "add"},
        "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp",
    ),
    (
        ["add"],
        "error decoding patch: json: cannot unmarshal string into Go value of type handlers.jsonPatchOp",
    ),
    (
        [{"op": "add", "path": 3, "value": 1}],
        "error decoding patch: json: cannot unmarshal number into Go struct field jsonPatchOp.path of type string",
    ),
]


@pytest.mark.parametrize(("operations", "message"), JSON_PATCH_BODY_ERRORS)
def test_json_patch_body_must_be_a_list_of_operations(operations: Any, message: str) -> None:
    error = api_error(json_patch, {"a": 1}, operations)
    assert (error.code, error.reason, error.message) == (400, "BadRequest", message)


def test_json_patch_null_body_changes_nothing() -> None:
    assert json_patch({"a": 1}, None) == {"a": 1}


def test_json_patch_operation_limit() -> None:
    operations = [{"op": "test", "path": "/a", "value": 1}] * 10001
    error = api_error(json_patch, {"a": 1}, operations)
    assert (error.code, error.reason) == (413, "RequestEntityTooLarge")
    assert error.message == (
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
    )


def test_json_patch_result_must_stay_an_object() -> None:
    error = api_error(json_patch, {"a": 1}, [{"op": "replace", "path": "", "value": [1]}])
    assert (error.code, error.reason) == (422, "Invalid")
    assert error.message.startswith(' "" is invalid: patch: Invalid value: "[1]": couldn\'t get version/kind')


def test_json_patch_results_do_not_alias_the_patch() -> None:
    operations = [{"op": "add", "path": "/spec", "value": {"list": [1]}}]
    result = json_patch({}, operations)
    result["spec"]["list"].append(2)
    assert operations[0]["value"] == {"list": [1]}


# --- strategic merge patch: merge keys ------------------------------------------------------------------


def test_smp_merges_maps_and_deletes_keys_set_to_null() -> None:
    result = strategic_merge_patch(
        deployment(),
        {"metadata": {"labels": {"team": None, "tier": "front"}}, "spec": {"paused": None}},
        "Deployment",
    )
    assert result["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert result["spec"]["replicas"] == 1


def test_smp_merges_containers_by_name_and_their_lists_by_their_keys() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:v2",
                            "env": [{"name": "B", "value": "two"}],
                            "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 9090}],
                            "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
                        }
                    ]
                }
            }
        }
    }
    (app,) = containers(strategic_merge_patch(deployment(), patch, "Deployment"))
    assert app["image"] == "app:v2"
    assert app["terminationMessagePath"] == "/dev/termination-log"
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "two"}]
    assert app["ports"] == [{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 9090}]
    assert app["volumeMounts"] == [{"name": "data", "mountPath": "/data", "readOnly": True}]
    assert app["args"] == ["--a", "--b"]


def test_smp_new_list_items_without_element_order_go_first() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox"}]}}}}
    assert names(containers(strategic_merge_patch(deployment(), patch, "Deployment"))) == ["sidecar", "app"]


def test_smp_replaces_lists_without_a_merge_key() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "tolerations": [{"key": "tpu", "operator": "Exists"}],
                    "containers": [{"name": "app", "args": ["--c"]}],
                }
            }
        }
    }
    result = strategic_merge_patch(deployment(), patch, "Deployment")
    assert pod_spec(result)["tolerations"] == [{"key": "tpu", "operator": "Exists"}]
    assert containers(result)[0]["args"] == ["--c"]


def test_smp_pod_spec_lists_merge_by_their_keys() -> None:
    pod = {
        "kind": "Pod",
        "spec": {
            "containers": [{"name": "app", "image": "a"}],
            "initContainers": [{"name": "init", "image": "i", "env": [{"name": "X", "value": "1"}]}],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "imagePullSecrets": [{"name": "one"}],
            "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a"]}],
        },
    }
    patch = {
        "spec": {
            "initContainers": [{"name": "init", "env": [{"name": "Y", "value": "2"}]}],
            "volumes": [{"name": "cache", "emptyDir": {}}],
            "imagePullSecrets": [{"name": "two"}],
            "hostAliases": [{"ip": "10.0.0.2", "hostnames": ["b"]}],
        }
    }
    spec = strategic_merge_patch(pod, patch, "Pod")["spec"]
    assert spec["initContainers"] == [
        {"name": "init", "image": "i", "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "1"}]}
    ]
    assert names(spec["volumes"]) == ["cache", "data"]
    assert names(spec["imagePullSecrets"]) == ["two", "one"]
    assert names(spec["hostAliases"], "ip") == ["10.0.0.2", "10.0.0.1"]
    assert spec["containers"] == [{"name": "app", "image": "a"}]


def test_smp_status_conditions_merge_by_type() -> None:
    patch = {
        "status": {
            "conditions": [
                {"type": "Available", "status": "False"},
                {"type": "Progressing", "status": "True"},
            ]
        }
    }
    for kind in ("Deployment", "ReplicaSet", "Pod", "Namespace"):
        obj = {"status": {"conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicas"}]}}
        conditions = strategic_merge_patch(obj, patch, kind)["status"]["conditions"]
        assert conditions == [
            {"type": "Available", "status": "False", "reason": "MinimumReplicas"},
            {"type": "Progressing", "status": "True"},
        ], kind


def test_smp_service_ports_merge_by_port() -> None:
    service = {"spec": {"ports": [{"port": 80, "targetPort": 8080, "name": "http"}], "selector": {"app": "web"}}}
    patch = {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443, "name": "https"}]}}
    ports = strategic_merge_patch(service, patch, "Service")["spec"]["ports"]
    assert ports == [{"port": 80, "targetPort": 9090, "name": "http"}, {"port": 443, "name": "https"}]


def test_smp_metadata_owner_references_and_finalizers() -> None:
    patch = {
        "metadata": {
            "ownerReferences": [{"uid": "u1", "name": "renamed"}, {"uid": "u2", "name": "y", "kind": "Y"}],
            "finalizers": ["example.com/c", "example.com/a"],
        }
    }
    metadata = strategic_merge_patch(deployment(), patch, "Deployment")["metadata"]
    assert metadata["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "X", "name": "renamed", "uid": "u1"},
        {"uid": "u2", "name": "y", "kind": "Y"},
    ]
    assert sorted(metadata["finalizers"]) == ["example.com/a", "example.com/b", "example.com/c"]
    assert len(metadata["finalizers"]) == 3


def test_smp_service_account_secrets_merge_by_name() -> None:
    account = {"metadata": {"name": "sa"}, "secrets": [{"name": "token-1"}]}
    result = strategic_merge_patch(account, {"secrets": [{"name": "token-2"}]}, "ServiceAccount")
    assert names(result["secrets"]) == ["token-2", "token-1"]


def test_smp_kinds_without_merge_keys_replace_lists() -> None:
    role = {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    patch = {"rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]}]}
    assert strategic_merge_patch(role, patch, "Role")["rules"] == patch["rules"]
    config = {"data": {"a": "1", "b": "2"}}
    assert strategic_merge_patch(config, {"data": {"a": None, "c": "3"}}, "ConfigMap") == {"data": {"b": "2", "c": "3"}}


# --- strategic merge patch: directives ------------------------------------------------------------------


def test_smp_patch_replace_in_a_map() -> None:
    patch = {"metadata": {"labels": {"$patch": "replace", "only": "this"}}}
    assert strategic_merge_patch(deployment(), patch, "Deployment")["metadata"]["labels"] == {"only": "this"}


def test_smp_patch_delete_in_a_map() -> None:
    patch = {"spec": {"strategy": {"$patch": "delete"}}}
    assert strategic_merge_patch(deployment(), patch, "Deployment")["spec"]["strategy"] == {}


def test_smp_patch_delete_of_a_list_item() -> None:
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "A", "$patch": "delete"}]}]}}}
    }
    (app,) = containers(strategic_merge_patch(deployment(), patch, "Deployment"))
    assert app["env"] == [{"name": "B", "value": "2"}]


def test_smp_patch_replace_of_a_list() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "env": [{"$patch": "replace"}, {"name": "Z", "value": "26"}]}]}
            }
        }
    }
    (app,) = containers(strategic_merge_patch(deployment(), patch, "Deployment"))
    assert app["env"] == [{"name": "Z", "value": "26"}]


def test_smp_delete_from_primitive_list() -> None:
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a", "example.com/zz"]}}
    metadata = strategic_merge_patch(deployment(), patch, "Deployment")["metadata"]
    assert metadata["finalizers"] == ["example.com/b"]
    assert not any(key.startswith("$") for key in metadata)


def test_smp_delete_from_a_missing_primitive_list_adds_nothing() -> None:
    result = strategic_merge_patch(
        {"metadata": {}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}, "Pod"
    )
    assert result == {"metadata": {}}


def test_smp_set_element_order_orders_and_does_not_leak() -> None:
    obj = deployment()
    pod_spec(obj)["containers"].append({"name": "sidecar", "image": "s:1"})
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
                    "containers": [{"name": "app", "image": "app:v2"}],
                }
            }
        },
        "metadata": {"$setElementOrder/finalizers": ["example.com/b", "example.com/a"]},
    }
    result = strategic_merge_patch(obj, patch, "Deployment")
    assert names(containers(result)) == ["sidecar", "app"]
    assert containers(result)[1]["image"] == "app:v2"
    assert result["metadata"]["finalizers"] == ["example.com/b", "example.com/a"]
    assert "$setElementOrder/containers" not in pod_spec(result)
    assert "$setElementOrder/finalizers" not in result["metadata"]


def test_smp_directives_inside_added_values_do_not_leak() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [
                        {"name": "init", "$setElementOrder/env": [{"name": "A"}], "env": [{"name": "A"}]}
                    ]
                }
            }
        }
    }
    assert pod_spec(strategic_merge_patch(deployment(), patch, "Deployment"))["initContainers"] == [
        {"name": "init", "env": [{"name": "A"}]}
    ]


def test_smp_retain_keys_clears_other_fields() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}}
    assert strategic_merge_patch(deployment(), patch, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}


def test_smp_retain_keys_must_list_every_patched_field() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}}
    error = api_error(strategic_merge_patch, deployment(), patch, "Deployment")
    assert (error.code, error.reason, error.message) == (
        400,
        "BadRequest",
        "invalid patch format of retainKeys",
    )


def test_smp_kubectl_apply_patch_for_a_deployment() -> None:
    """The three-way patch kubectl apply sends after editing a container's image and env."""
    last_applied = '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"}}'
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied}},
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
                            "env": [{"$patch": "delete", "name": "B"}, {"name": "C", "value": "3"}],
                            "image": "app:v2",
                            "name": "app",
                        },
                        {"image": "busybox:1.36", "name": "sidecar"},
                    ],
                }
            }
        },
    }
    live = deployment()
    before = copy.deepcopy(live), copy.deepcopy(patch)
    result = strategic_merge_patch(live, patch, "Deployment")
    app, sidecar = containers(result)
    assert app == {
        "name": "app",
        "image": "app:v2",
        "args": ["--a", "--b"],
        "terminationMessagePath": "/dev/termination-log",
        "env": [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}],
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    assert sidecar == {"image": "busybox:1.36", "name": "sidecar"}
    assert result["metadata"]["annotations"] == {"kubectl.kubernetes.io/last-applied-configuration": last_applied}
    assert result["metadata"]["labels"] == {"app": "web", "team": "ml"}
    assert result["status"] == live["status"]
    assert (live, patch) == before


def test_smp_order_after_deleting_and_adding_in_one_list() -> None:
    """Matches apimachinery's "add map and delete map from merging list" case (Go slice aliasing)."""
    obj = {"spec": {"containers": [{"name": "1"}, {"name": "2", "image": "b"}, {"name": "4", "image": "c"}]}}
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "2"}, {"name": "3"}],
            "containers": [{"name": "3"}, {"name": "1", "$patch": "delete"}],
        }
    }
    assert names(strategic_merge_patch(obj, patch, "Pod")["spec"]["containers"]) == ["2", "4", "3"]


# --- strategic merge patch: errors ----------------------------------------------------------------------


def test_smp_is_refused_for_kinds_without_patch_metadata() -> None:
    error = api_error(strategic_merge_patch, {"spec": {}}, {"spec": {"a": 1}}, "Widget")
    assert (error.code, error.reason) == (415, "UnsupportedMediaType")
    assert error.message == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )


SMP_ERRORS: list[Any] = [
    (
        {"spec": {"template": {"spec": {"containers": [{"image": "nginx"}]}}}},
        500,
        "",
        "map: map[image:nginx] does not contain declared merge key: name",
    ),
    (
        {"spec": {"$patch": "merge-please"}},
        500,
        "",
        "unknown patch type: merge-please in map: map[$patch:merge-please]",
    ),
    (
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "$patch": "merge"}]}}}},
        500,
        "",
        "merging lists cannot yet be specified in the patch",
    ),
    (
        {"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}},
        400,
        "BadRequest",
        "invalid patch format of primitive list",
    ),
    (
        {"metadata": {"$setElementOrder": []}},
        400,
        "BadRequest",
        "invalid patch format of setElementOrder list",
    ),
    ({"metadata": {"$retainKeys": "name"}}, 400, "BadRequest", "invalid patch format of retainKeys"),
    (
        {"metadata": {"finalizers": [["nested"]]}},
        500,
        "",
        "list element types are not identical: [[example.com/a example.com/b] [[nested]]]",
    ),
    (
        ["not", "a", "map"],
        400,
        "BadRequest",
        "json: cannot unmarshal array into Go value of type map[string]interface {}",
    ),
]


@pytest.mark.parametrize(("patch", "code", "reason", "message"), SMP_ERRORS)
def test_smp_errors(patch: Any, code: int, reason: str, message: str) -> None:
    error = api_error(strategic_merge_patch, deployment(), patch, "Deployment")
    assert (error.code, error.reason, error.message) == (code, reason, message)


def test_smp_lists_of_lists_are_the_generic_422() -> None:
    error = api_error(
        strategic_merge_patch, {"metadata": {"finalizers": []}}, {"metadata": {"finalizers": [["x"]]}}, "Pod"
    )
    assert (error.code, error.reason, error.message, error.details) == (422, "Invalid", REJECTED, {})


def test_smp_element_order_must_contain_the_patched_items() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "other"}],
                    "containers": [{"name": "app", "image": "x"}],
                }
            }
        }
    }
    error = api_error(strategic_merge_patch, deployment(), patch, "Deployment")
    assert error.code == 500
    assert "doesn't match $setElementOrder list" in error.message


def test_smp_null_patch_changes_nothing_and_inputs_stay_untouched() -> None:
    live = deployment()
    assert strategic_merge_patch(live, None, "Deployment") == deployment()
    result = strategic_merge_patch(live, {"spec": {"replicas": 3}}, "Deployment")
    result["metadata"]["labels"]["x"] = "y"
    assert live == deployment()


# --- the refused patches, through the API ---------------------------------------------------------------


@pytest.fixture
def raw(kubeconfig: Path) -> Iterator[RawApi]:
    with raw_api(kubeconfig) as api:
        yield api


@pytest.mark.cluster
def test_refused_patches_through_the_api(raw: RawApi, namespace: str) -> None:
    """The tables above, sent to a Deployment like `deployment()` (owned by nobody: a real garbage collector
    would take it otherwise); each is refused as the table says, and the Deployment stays as it was."""
    live = deployment()
    del live["status"], live["metadata"]["ownerReferences"]
    live["metadata"]["namespace"] = namespace
    deployments = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    created = raw.post(deployments, live)
    assert created.status_code == 201, created.text
    web = f"{deployments}/web"

    def refused(body: Any, content_type: str) -> tuple[int, str, str]:
        answer = raw.request("PATCH", web, data=json.dumps(body), headers={"Content-Type": content_type})
        status = answer.json()
        return answer.status_code, status.get("reason", ""), status["message"]

    for patch, message in MERGE_PATCH_ERRORS:
        assert refused(patch, "application/merge-patch+json") == (400, "BadRequest", message), patch
    for operations in JSON_PATCH_FAILURES:
        assert refused(operations, "application/json-patch+json") == (422, "Invalid", REJECTED), operations
    for operations, message in JSON_PATCH_BODY_ERRORS:
        assert refused(operations, "application/json-patch+json") == (400, "BadRequest", message), operations
    for patch, code, reason, message in SMP_ERRORS:
        assert refused(patch, "application/strategic-merge-patch+json") == (code, reason, message), patch
    too_many = [{"op": "test", "path": "/spec/replicas", "value": 1}] * 10001
    assert refused(too_many, "application/json-patch+json")[:2] == (413, "RequestEntityTooLarge")

    # (Its controller writes the status meanwhile: the spec and the generation tell.)
    after, before = raw.get(web).json(), created.json()
    assert (after["metadata"]["generation"], after["spec"]) == (before["metadata"]["generation"], before["spec"])
    raw.patch(web, {"metadata": {"finalizers": None}}, "application/merge-patch+json")
