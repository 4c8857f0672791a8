"""Credentials: moved into a Secret, swapped for a secretRef in one merge patch, kept out of everything else."""

from __future__ import annotations

import base64
import copy
import json
import random
import string
from pathlib import Path
from typing import Any

import jsonschema  # no types-jsonschema in the dev dependencies
import pytest
import yaml
from k8s_manager_operator.config import OperatorConfig
from k8s_manager_operator.runtime.credentials import (
    CREDENTIALS_SECRET_NAME,
    LAST_APPLIED_ANNOTATION,
    REDACTED,
    credentials_secret,
    inline_blocks,
    inline_credentials,
    redact,
    referenced_secrets,
    scrub_last_applied,
    secret_ref_patch,
)
from k8s_manager_operator.runtime.desired import desired_objects
from k8s_manager_operator.runtime.status import ObservedChildren, compute_status
from k8s_manager_operator.runtime.validation import validate_runtime

CRD = Path(__file__).parents[2] / "crds" / "runtimes.kre.konstellation.io.yaml"
UID = "6f1c1d4e-2b9a-4c61-9a53-3f0e5f7d2a10"
RANDOM = random.Random(20240502)
DIFF_BASE_ANNOTATION = "kopf.k8s-manager.konstellation.io/last-handled-configuration"


def random_secret() -> str:
    """Like the Admin API's: 8 characters of [A-Za-z0-9]."""
    return "".join(RANDOM.choices(string.ascii_letters + string.digits, k=8))


def admin_api_runtime() -> dict[str, Any]:
    """The Runtime the facade writes for the Admin API's Create(name "Demo", namespace "kre-demo"), as stored."""
    return {
        "apiVersion": "kre.konstellation.io/v1alpha1",
        "kind": "Runtime",
        "metadata": {"name": "kre-demo", "uid": UID, "generation": 1, "resourceVersion": "41"},
        "spec": {
            "displayName": "Demo",
            "developmentMode": False,
            "entrypoint": {"host": "kre-demo.local"},
            "sharedStorageClass": "standard",
            "mongo": {"credentials": {"username": "admin", "password": random_secret(), "sharedKey": random_secret()}},
            "minio": {"credentials": {"accessKey": "admin", "secretKey": random_secret()}, "storage": {"size": "1Gi"}},
            "nats_streaming": {"replicas": 1},
        },
    }


def values_of(runtime: dict[str, Any]) -> list[str]:
    mongo = runtime["spec"]["mongo"]["credentials"]
    minio = runtime["spec"]["minio"]["credentials"]
    return [mongo["username"], mongo["password"], mongo["sharedKey"], minio["accessKey"], minio["secretKey"]]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, as the API server applies application/merge-patch+json."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def kubectl_last_applied(obj: dict[str, Any]) -> str:
    """What `kubectl apply` stores: the applied object as Go's json.Marshal writes it, plus a newline."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n"


def crd_spec_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


# ------------------------------------------------------------------------------------------ inline values


def test_the_five_inline_values_are_read_in_secret_key_order() -> None:
    runtime = admin_api_runtime()
    mongo = runtime["spec"]["mongo"]["credentials"]
    minio = runtime["spec"]["minio"]["credentials"]

    assert inline_credentials(runtime["spec"]) == {
        "username": "admin",
        "password": mongo["password"],
        "sharedKey": mongo["sharedKey"],
        "accessKey": "admin",
        "secretKey": minio["secretKey"],
    }
    assert list(inline_credentials(runtime["spec"]) or {}) == [
        "username",
        "password",
        "sharedKey",
        "accessKey",
        "secretKey",
    ]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda spec: spec["mongo"].update(credentials={"secretRef": {"name": "x"}}), id="mongo-secret-ref"
        ),
        pytest.param(lambda spec: spec["minio"]["credentials"].pop("secretKey"), id="minio-incomplete"),
        pytest.param(lambda spec: spec["mongo"]["credentials"].update(password=""), id="empty-value"),
        pytest.param(lambda spec: spec.pop("minio"), id="no-minio"),
    ],
)
def test_no_inline_values_unless_both_blocks_are_complete(change: Any) -> None:
    spec = admin_api_runtime()["spec"]
    change(spec)

    assert inline_credentials(spec) is None


def test_blocks_still_holding_inline_values_are_named() -> None:
    spec = admin_api_runtime()["spec"]
    assert inline_blocks(spec) == ["spec.mongo.credentials", "spec.minio.credentials"]

    moved = merge_patch(admin_api_runtime(), secret_ref_patch())["spec"]
    assert inline_blocks(moved) == []
    assert referenced_secrets(moved) == {"mongo": CREDENTIALS_SECRET_NAME, "minio": CREDENTIALS_SECRET_NAME}
    assert referenced_secrets(spec) == {}


# ------------------------------------------------------------------------------------------ the Secret


def test_the_secret_holds_the_five_values_base64_encoded() -> None:
    runtime = admin_api_runtime()
    values = inline_credentials(runtime["spec"])
    assert values is not None

    secret = credentials_secret(runtime, values)

    assert secret["apiVersion"] == "v1"
    assert secret["kind"] == "Secret"
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["name"] == "kre-runtime-credentials"
    assert secret["metadata"]["namespace"] == "kre-demo"
    assert "stringData" not in secret
    assert {key: base64.b64decode(value).decode() for key, value in secret["data"].items()} == values


def test_the_secret_is_labelled_and_owned_like_every_child() -> None:
    runtime = admin_api_runtime()

    metadata = credentials_secret(runtime, inline_credentials(runtime["spec"]) or {})["metadata"]

    assert metadata["labels"] == {
        "app.kubernetes.io/managed-by": "k8s-manager",
        "kre.konstellation.io/runtime": "kre-demo",
    }
    assert metadata["ownerReferences"] == [
        {
            "apiVersion": "kre.konstellation.io/v1alpha1",
            "kind": "Runtime",
            "name": "kre-demo",
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_a_secret_missing_a_key_is_refused_without_quoting_values() -> None:
    runtime = admin_api_runtime()
    values = inline_credentials(runtime["spec"]) or {}
    del values["sharedKey"]

    with pytest.raises(ValueError, match="needs exactly the keys username, password, sharedKey") as caught:
        credentials_secret(runtime, values)

    assert not any(value in str(caught.value) for value in values.values() if value != "admin")


# ------------------------------------------------------------------------------------------ the patch


def test_one_merge_patch_swaps_both_blocks_for_a_secret_ref() -> None:
    assert secret_ref_patch() == {
        "spec": {
            "mongo": {
                "credentials": {
                    "username": None,
                    "password": None,
                    "sharedKey": None,
                    "secretRef": {"name": "kre-runtime-credentials"},
                }
            },
            "minio": {
                "credentials": {"accessKey": None, "secretKey": None, "secretRef": {"name": "kre-runtime-credentials"}}
            },
        }
    }


def test_the_patched_spec_is_valid_against_the_crd_and_the_operators_rules() -> None:
    runtime = admin_api_runtime()

    patched = merge_patch(runtime, secret_ref_patch())

    jsonschema.validate(patched["spec"], crd_spec_schema())
    assert validate_runtime(patched) == []
    assert patched["spec"]["mongo"]["credentials"] == {"secretRef": {"name": "kre-runtime-credentials"}}
    assert patched["spec"]["minio"] == {
        "credentials": {"secretRef": {"name": "kre-runtime-credentials"}},
        "storage": {"size": "1Gi"},
    }
    assert not any(value in json.dumps(patched) for value in values_of(runtime) if value != "admin")


def test_the_patch_can_be_made_conditional_on_the_copied_version() -> None:
    patch = secret_ref_patch(resource_version="41")

    assert patch["metadata"] == {"resourceVersion": "41"}
    assert patch["spec"] == secret_ref_patch()["spec"]


# ------------------------------------------------------------------------------------------ kubectl's annotation


def test_last_applied_is_rewritten_as_if_the_secret_ref_had_been_applied() -> None:
    runtime = admin_api_runtime()
    applied = {key: runtime[key] for key in ("apiVersion", "kind", "spec")} | {"metadata": {"name": "kre-demo"}}
    annotations = {LAST_APPLIED_ANNOTATION: kubectl_last_applied(applied), "team": "ml"}

    scrubbed = scrub_last_applied(annotations)

    assert scrubbed is not None
    assert list(scrubbed) == [LAST_APPLIED_ANNOTATION]
    text = scrubbed[LAST_APPLIED_ANNOTATION]
    assert text is not None
    assert text.endswith("\n")
    rewritten = json.loads(text)
    # The annotation now says what the live spec says after the patch, so that a later `kubectl apply` of the
    # original file removes the secretRef and brings the inline values back, for the operator to move again.
    assert rewritten["spec"] == merge_patch(runtime, secret_ref_patch())["spec"]
    assert text == kubectl_last_applied(rewritten)
    assert not any(value in text for value in values_of(runtime) if value != "admin")


def test_nothing_to_scrub_gives_none() -> None:
    runtime = merge_patch(admin_api_runtime(), secret_ref_patch())

    assert scrub_last_applied(None) is None
    assert scrub_last_applied({"team": "ml"}) is None
    assert scrub_last_applied({LAST_APPLIED_ANNOTATION: kubectl_last_applied(runtime)}) is None
    assert scrub_last_applied({LAST_APPLIED_ANNOTATION: kubectl_last_applied({"kind": "Runtime"})}) is None


@pytest.mark.parametrize("text", ["{not json", '"a string"', "[1, 2]"])
def test_an_unreadable_last_applied_is_removed(text: str) -> None:
    assert scrub_last_applied({LAST_APPLIED_ANNOTATION: text}) == {LAST_APPLIED_ANNOTATION: None}


def test_scrubbing_and_swapping_go_in_one_patch() -> None:
    runtime = admin_api_runtime()
    runtime["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: kubectl_last_applied({"spec": runtime["spec"]})}
    patch = secret_ref_patch("41")
    patch["metadata"]["annotations"] = scrub_last_applied(runtime["metadata"]["annotations"])

    patched = merge_patch(runtime, patch)

    assert not any(value in json.dumps(patched) for value in values_of(runtime) if value != "admin")


# ------------------------------------------------------------------------------------------ redaction


def test_redact_replaces_every_credential_value_and_keeps_the_rest() -> None:
    runtime = admin_api_runtime()
    runtime["metadata"]["annotations"] = {
        LAST_APPLIED_ANNOTATION: kubectl_last_applied({"spec": runtime["spec"]}),
        DIFF_BASE_ANNOTATION: json.dumps({"spec": runtime["spec"], "metadata": {"labels": {}}}),
        "note": "not JSON",
    }
    original = copy.deepcopy(runtime)

    redacted = redact(runtime)

    assert runtime == original, "the input is left alone"
    assert redacted["spec"]["mongo"]["credentials"] == dict.fromkeys(("username", "password", "sharedKey"), REDACTED)
    assert redacted["spec"]["minio"]["credentials"] == dict.fromkeys(("accessKey", "secretKey"), REDACTED)
    assert redacted["spec"]["entrypoint"] == runtime["spec"]["entrypoint"]
    assert redacted["metadata"]["annotations"]["note"] == "not JSON"
    text = json.dumps(redacted)
    assert not any(value in text for value in values_of(runtime))
    assert (
        json.loads(redacted["metadata"]["annotations"][DIFF_BASE_ANNOTATION])["spec"]["mongo"]["credentials"][
            "password"
        ]
        == REDACTED
    )


def test_redact_leaves_a_runtime_without_inline_values_as_it_is() -> None:
    runtime = merge_patch(admin_api_runtime(), secret_ref_patch())
    runtime["metadata"]["annotations"] = {DIFF_BASE_ANNOTATION: json.dumps({"spec": runtime["spec"]})}

    assert redact(runtime) == runtime


def test_redact_covers_lists_secrets_and_unreadable_last_applied() -> None:
    runtime = admin_api_runtime()
    secret = credentials_secret(runtime, inline_credentials(runtime["spec"]) or {})
    broken = admin_api_runtime()
    broken["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: "{" + json.dumps(broken["spec"])}

    listed = redact({"kind": "RuntimeList", "items": [runtime, broken]})
    redacted_secret = redact(secret)

    assert not any(value in json.dumps(listed) for value in values_of(runtime) + values_of(broken))
    assert listed["items"][1]["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] == REDACTED
    assert redacted_secret["data"] == dict.fromkeys(secret["data"], REDACTED)


# ------------------------------------------------------------------------------------------ no leak anywhere


def test_no_credential_value_appears_in_anything_produced_but_the_secrets_data() -> None:
    runtime = admin_api_runtime()
    runtime["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: kubectl_last_applied({"spec": runtime["spec"]})}
    secret_values = values_of(runtime)
    config = OperatorConfig()
    values = inline_credentials(runtime["spec"])
    assert values is not None
    secret = credentials_secret(runtime, values)
    moved = merge_patch(runtime, secret_ref_patch())
    moved["metadata"]["annotations"] = scrub_last_applied(runtime["metadata"]["annotations"])
    invalid = copy.deepcopy(runtime)
    invalid["spec"]["mongo"]["credentials"]["secretRef"] = {"name": "elsewhere"}
    invalid["spec"]["minio"]["credentials"].pop("secretKey")
    children = {obj["kind"]: obj for obj in desired_objects(runtime, config)}
    all_there = ObservedChildren(
        namespace=children["Namespace"],
        service_account=children["ServiceAccount"],
        role=children["Role"],
        role_binding=children["RoleBinding"],
        cluster_role=children["ClusterRole"],
        cluster_role_binding=children["ClusterRoleBinding"],
        deployment=children["Deployment"],
        secrets={CREDENTIALS_SECRET_NAME: secret},
    )
    statuses = [
        compute_status(subject, observed, [], config, now="2024-05-01T10:00:00Z")
        for subject in (runtime, moved, invalid)
        for observed in (ObservedChildren(), all_there, ObservedChildren(namespace=children["Namespace"]))
    ]
    produced = {
        "desired": desired_objects(runtime, config),
        "secret metadata": {key: value for key, value in secret.items() if key != "data"},
        "patch": secret_ref_patch("41"),
        "scrubbed annotation": scrub_last_applied(runtime["metadata"]["annotations"]),
        "redacted": [redact(runtime), redact(invalid), redact(secret)],
        "statuses": statuses,
        "problems": [str(problem) for problem in validate_runtime(invalid)],
    }

    for what, value in produced.items():
        text = json.dumps(value)
        assert not [secret for secret in secret_values if secret in text], what
    # ... and the Secret's data does hold them.
    assert {base64.b64decode(value).decode() for value in secret["data"].values()} == set(secret_values)
