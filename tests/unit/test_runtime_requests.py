"""RuntimeService's pure parts: validation naming the field with no credential in any message, the Runtime
written, "same request", and the helpers of the servicer (status assessment, wait budget, error mapping)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from k8s_manager_api import errors as kube_errors
from k8s_manager_facade.config import FacadeConfig
from k8s_manager_facade.errors import grpc_error
from k8s_manager_facade.generated import runtime_pb2
from k8s_manager_facade.runtime_requests import (
    InvalidRequestError,
    build_runtime,
    differing_fields,
    spec_without_credentials,
    validate_create,
    validate_status,
)
from k8s_manager_facade.runtime_service import WaitBudget, wait_budget
from k8s_manager_facade.status_hub import Assessment, Verdict, assess

# Distinctive values, so that a message quoting any of them is caught.
USERNAME = "mongoUserQ7"
PASSWORD = "pAsSw0rdZx81"
SHARED_KEY = "c2hhcmVkS2V5Wk0="
ACCESS_KEY = "accessKeyV3"
SECRET_KEY = "secretKeyM9w2"
CREDENTIALS = (USERNAME, PASSWORD, SHARED_KEY, ACCESS_KEY, SECRET_KEY)


def good_runtime(**overrides: Any) -> dict[str, Any]:
    """A Create request's runtime as the Admin API sends it (namespace "kre-" + lower(name))."""
    runtime: dict[str, Any] = {
        "name": "Demo",
        "namespace": "kre-demo",
        "mongo": {"username": USERNAME, "password": PASSWORD, "sharedKey": SHARED_KEY},
        "minio": {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY},
    }
    for path, value in overrides.items():
        *parents, leaf = path.split("__")
        target = runtime
        for parent in parents:
            target = target[parent]
        if value is DROP:
            del target[leaf]
        else:
            target[leaf] = value
    return runtime


DROP = object()


def request(runtime: dict[str, Any] | None) -> runtime_pb2.Request:
    return runtime_pb2.Request() if runtime is None else runtime_pb2.Request(runtime=runtime_pb2.Runtime(**runtime))


def with_credential(section: str, key: str, value: str) -> dict[str, Any]:
    return good_runtime(**{f"{section}__{key}": value})


# (case id, request's runtime or None, the field the message must name)
BAD_CREATE_REQUESTS: list[tuple[str, dict[str, Any] | None, str]] = [
    ("no runtime", None, "runtime"),
    ("no mongo", good_runtime(mongo=DROP), "runtime.mongo"),
    ("no minio", good_runtime(minio=DROP), "runtime.minio"),
    ("empty namespace", good_runtime(namespace=""), "runtime.namespace"),
    ("namespace too long", good_runtime(namespace="kre-" + "a" * 60), "runtime.namespace"),
    ("namespace upper case", good_runtime(namespace="kre-Demo"), "runtime.namespace"),
    ("namespace unicode", good_runtime(namespace="kre-démo"), "runtime.namespace"),
    ("namespace underscore", good_runtime(namespace="kre_demo"), "runtime.namespace"),
    ("namespace with a dot", good_runtime(namespace="kre.demo"), "runtime.namespace"),
    ("namespace leading dash", good_runtime(namespace="-kre"), "runtime.namespace"),
    ("namespace trailing dash", good_runtime(namespace="kre-"), "runtime.namespace"),
    ("namespace with a space", good_runtime(namespace="kre demo"), "runtime.namespace"),
    ("namespace trailing newline", good_runtime(namespace="kre-demo\n"), "runtime.namespace"),
    ("namespace kube-system", good_runtime(namespace="kube-system"), "runtime.namespace"),
    ("namespace kube-public", good_runtime(namespace="kube-public"), "runtime.namespace"),
    ("namespace default", good_runtime(namespace="default"), "runtime.namespace"),
    ("empty name", good_runtime(name=""), "runtime.name"),
    ("blank name", good_runtime(name="   "), "runtime.name"),
    ("name too long", good_runtime(name="n" * 257), "runtime.name"),
    ("name with a line break", good_runtime(name="demo\nrun"), "runtime.name"),
    ("name with a control character", good_runtime(name="demo\x07"), "runtime.name"),
    ("mongo empty", good_runtime(mongo={}), "runtime.mongo.username"),
    ("username empty", with_credential("mongo", "username", ""), "runtime.mongo.username"),
    ("username with '@'", with_credential("mongo", "username", "ad@min" + USERNAME), "runtime.mongo.username"),
    ("username too long", with_credential("mongo", "username", "u" * 129), "runtime.mongo.username"),
    ("password empty", with_credential("mongo", "password", ""), "runtime.mongo.password"),
    ("password with ':'", with_credential("mongo", "password", PASSWORD + ":x"), "runtime.mongo.password"),
    ("password with '/'", with_credential("mongo", "password", PASSWORD + "/x"), "runtime.mongo.password"),
    ("password unicode", with_credential("mongo", "password", PASSWORD + "é"), "runtime.mongo.password"),
    ("password too long", with_credential("mongo", "password", PASSWORD + "p" * 250), "runtime.mongo.password"),
    ("shared key too short", with_credential("mongo", "sharedKey", "abc12"), "runtime.mongo.sharedKey"),
    ("shared key with '-'", with_credential("mongo", "sharedKey", SHARED_KEY + "-"), "runtime.mongo.sharedKey"),
    ("shared key too long", with_credential("mongo", "sharedKey", SHARED_KEY + "k" * 1020), "runtime.mongo.sharedKey"),
    ("access key empty", with_credential("minio", "accessKey", ""), "runtime.minio.accessKey"),
    ("access key too short", with_credential("minio", "accessKey", "ab"), "runtime.minio.accessKey"),
    ("access key with a tab", with_credential("minio", "accessKey", ACCESS_KEY + "\t"), "runtime.minio.accessKey"),
    ("secret key too short", with_credential("minio", "secretKey", "sec7ret"), "runtime.minio.secretKey"),
    ("secret key too long", with_credential("minio", "secretKey", SECRET_KEY + "s" * 250), "runtime.minio.secretKey"),
    ("secret key with a newline", with_credential("minio", "secretKey", SECRET_KEY + "\n"), "runtime.minio.secretKey"),
]


@pytest.mark.parametrize(
    ("runtime", "field"), [case[1:] for case in BAD_CREATE_REQUESTS], ids=[case[0] for case in BAD_CREATE_REQUESTS]
)
def test_a_bad_create_request_names_the_field_and_no_credential(runtime: dict[str, Any] | None, field: str) -> None:
    with pytest.raises(InvalidRequestError) as rejected:
        validate_create(request(runtime))

    message = str(rejected.value)
    assert field in rejected.value.fields
    assert f"{field}: " in message
    assert_no_credential_in(message, runtime)


def assert_no_credential_in(message: str, runtime: dict[str, Any] | None) -> None:
    values = [*CREDENTIALS]
    for section in ("mongo", "minio"):
        values += [value for value in ((runtime or {}).get(section) or {}).values() if len(value) >= 3]
    for value in values:
        assert value not in message
        assert value.strip() not in message


def test_every_problem_is_reported_at_once() -> None:
    runtime = good_runtime(namespace="Kre", name="", mongo__password="", minio=DROP)

    with pytest.raises(InvalidRequestError) as rejected:
        validate_create(request(runtime))

    assert rejected.value.fields == ("runtime.namespace", "runtime.name", "runtime.mongo.password", "runtime.minio")
    assert str(rejected.value) == (
        'runtime.namespace: "Kre" is invalid: a lowercase RFC 1123 label must consist of lower case alphanumeric '
        "characters or '-', and must start and end with an alphanumeric character; runtime.name: is required; "
        "runtime.mongo.password: is required; runtime.minio: is required"
    )


def test_an_invalid_namespace_is_quoted_with_control_characters_escaped() -> None:
    with pytest.raises(InvalidRequestError, match=r'runtime\.namespace: "kre\\n" is invalid'):
        validate_create(request(good_runtime(namespace="kre\n")))


def test_reserved_namespaces_say_why() -> None:
    with pytest.raises(InvalidRequestError, match=r'runtime\.namespace: "kube-system" is reserved'):
        validate_create(request(good_runtime(namespace="kube-system")))


def test_the_request_the_admin_api_sends_is_valid() -> None:
    valid = validate_create(request(good_runtime()))

    assert (valid.name, valid.namespace) == ("Demo", "kre-demo")
    assert (valid.mongo.username, valid.mongo.password, valid.mongo.shared_key) == (USERNAME, PASSWORD, SHARED_KEY)
    assert (valid.minio.access_key, valid.minio.secret_key) == (ACCESS_KEY, SECRET_KEY)


@pytest.mark.parametrize(
    "runtime",
    [
        good_runtime(namespace="a"),
        good_runtime(namespace="0" * 63),
        good_runtime(name="Démo ✓ runtime"),
        good_runtime(name="n" * 256),
        good_runtime(mongo__username="a.b_c~d-e", mongo__sharedKey="ab+/=1"),
        good_runtime(minio__accessKey="a b", minio__secretKey="s" * 256),
    ],
    ids=[
        "one-letter namespace",
        "63-character namespace",
        "unicode name",
        "256-character name",
        "edge alphabets",
        "edge lengths",
    ],
)
def test_valid_edge_cases_are_accepted(runtime: dict[str, Any]) -> None:
    validate_create(request(runtime))


def test_the_validated_request_hides_credentials_from_repr() -> None:
    shown = repr(validate_create(request(good_runtime())))

    assert "kre-demo" in shown
    for value in CREDENTIALS:
        assert value not in shown


# ------------------------------------------------------------------------------------------- RuntimeStatus


def test_status_needs_only_the_namespace_as_the_admin_api_sends_it() -> None:
    assert validate_status(request({"namespace": "kre-demo"})) == "kre-demo"


@pytest.mark.parametrize(
    ("runtime", "field"),
    [
        (None, "runtime"),
        ({}, "runtime.namespace"),
        ({"namespace": "KRE"}, "runtime.namespace"),
        ({"namespace": "k" * 64}, "runtime.namespace"),
        ({"namespace": "kre-ü"}, "runtime.namespace"),
    ],
    ids=["no runtime", "no namespace", "upper case", "too long", "unicode"],
)
def test_a_bad_status_request_names_the_field(runtime: dict[str, Any] | None, field: str) -> None:
    with pytest.raises(InvalidRequestError) as rejected:
        validate_status(request(runtime))

    assert rejected.value.fields == (field,)


# ------------------------------------------------------------------------------------------ the Runtime


def test_the_runtime_written_for_a_create() -> None:
    config = FacadeConfig(
        base_domain_name="kre.example.com",
        development_mode=True,
        shared_storage_class="nfs",
        shared_storage_size="2Gi",
    )

    runtime = build_runtime(validate_create(request(good_runtime())), config)

    assert runtime == {
        "apiVersion": "kre.konstellation.io/v1alpha1",
        "kind": "Runtime",
        "metadata": {"name": "kre-demo"},
        "spec": {
            "displayName": "Demo",
            "developmentMode": True,
            "entrypoint": {"host": "kre-demo.kre.example.com"},
            "sharedStorageClass": "nfs",
            "mongo": {"credentials": {"username": USERNAME, "password": PASSWORD, "sharedKey": SHARED_KEY}},
            "minio": {
                "credentials": {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY},
                "storage": {"size": "2Gi"},
            },
            "nats_streaming": {"replicas": 1},
        },
    }


def test_a_host_too_long_for_the_crd_is_a_namespace_problem() -> None:
    config = FacadeConfig(base_domain_name=".".join(["d" * 60] * 3))  # 182 characters
    valid = validate_create(request(good_runtime(namespace="n" * 60)))

    with pytest.raises(InvalidRequestError) as rejected:
        build_runtime(valid, config)

    assert rejected.value.fields == ("runtime.namespace",)
    assert "at most 242 characters" in str(rejected.value)


def runtime_for(**overrides: Any) -> dict[str, Any]:
    return build_runtime(validate_create(request(good_runtime(**overrides))), FacadeConfig())


def test_the_same_request_with_new_credentials_is_the_same() -> None:
    first = runtime_for()
    again = runtime_for(mongo__password="another7", minio__secretKey="another-secret")

    assert differing_fields(first, again) == []


def test_a_runtime_whose_credentials_moved_to_a_secret_is_the_same() -> None:
    existing = runtime_for()
    existing["spec"]["mongo"]["credentials"] = {"secretRef": {"name": "kre-runtime-credentials"}}
    existing["spec"]["minio"]["credentials"] = {"secretRef": {"name": "kre-runtime-credentials"}}

    assert differing_fields(existing, runtime_for()) == []


def test_differences_are_named_by_path() -> None:
    existing = runtime_for(name="Other")
    existing["spec"]["minio"]["storage"]["size"] = "5Gi"
    existing["spec"]["extra"] = True

    assert differing_fields(existing, runtime_for()) == ["spec.displayName", "spec.extra", "spec.minio.storage.size"]


def test_spec_without_credentials_leaves_the_input_alone() -> None:
    runtime = runtime_for()
    stripped = spec_without_credentials(runtime["spec"])

    assert "credentials" not in stripped["mongo"]
    assert "credentials" not in stripped["minio"]
    assert runtime["spec"]["mongo"]["credentials"]["password"] == PASSWORD


# ------------------------------------------------------------------- the service's other pure helpers


def runtime_with(conditions: list[dict[str, Any]] | None, generation: int = 1, **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": "kre-demo", "generation": generation}}
    if conditions is not None:
        body["status"] = {"conditions": conditions, **status}
    return body


def ready(status: str, reason: str = "", message: str = "", **extra: Any) -> dict[str, Any]:
    return {"type": "Ready", "status": status, "reason": reason, "message": message, **extra}


@pytest.mark.parametrize(
    ("runtime", "verdict", "detail"),
    [
        (runtime_with(None), Verdict.WAITING, "the operator has not reported on it yet (no Ready condition)"),
        (runtime_with([]), Verdict.WAITING, "the operator has not reported on it yet (no Ready condition)"),
        (runtime_with([ready("True", "Ready")]), Verdict.READY, "ready"),
        (runtime_with([ready("Unknown")]), Verdict.WAITING, "Ready is Unknown"),
        (
            runtime_with([ready("False", "InvalidSpec", "spec.entrypoint.host: too long")]),
            Verdict.FAILED,
            "InvalidSpec: spec.entrypoint.host: too long",
        ),
        (
            runtime_with([ready("False", "CredentialsMissing")]),
            Verdict.FAILED,
            "CredentialsMissing",
        ),
        (
            runtime_with(
                [ready("False", "ComponentsNotReady", "waiting")],
                components=[{"name": "minio", "ready": True}, {"name": "nats", "ready": False}],
            ),
            Verdict.WAITING,
            "Ready is False (ComponentsNotReady: waiting); components not ready: nats",
        ),
        (
            runtime_with([ready("True", "Ready")], generation=3, observedGeneration=2),
            Verdict.WAITING,
            "the operator has not caught up with generation 3 of its spec yet (its status is for generation 2)",
        ),
        (
            runtime_with([ready("False", "InvalidSpec", "bad", observedGeneration=1)], generation=2),
            Verdict.WAITING,
            "the operator has not caught up with generation 2 of its spec yet (its status is for generation 1)",
        ),
        (runtime_with([ready("True", "Ready", observedGeneration=2)], generation=2), Verdict.READY, "ready"),
    ],
    ids=[
        "no status",
        "no conditions",
        "ready",
        "unknown",
        "invalid spec",
        "credentials missing",
        "components",
        "stale status",
        "stale terminal condition",
        "current condition",
    ],
)
def test_assess(runtime: dict[str, Any], verdict: Verdict, detail: str) -> None:
    assert assess(runtime) == Assessment(verdict, detail)


@pytest.mark.parametrize(
    ("client_remaining", "server_maximum", "expected"),
    [
        (None, 600.0, WaitBudget(600.0, server_limited=True)),
        (600.0, 600.0, WaitBudget(599.0, server_limited=False)),
        (5000.0, 600.0, WaitBudget(600.0, server_limited=True)),
        (1.0, 600.0, WaitBudget(0.9, server_limited=False)),
        (0.0, 600.0, WaitBudget(0.0, server_limited=False)),
    ],
)
def test_wait_budget(client_remaining: float | None, server_maximum: float, expected: WaitBudget) -> None:
    assert wait_budget(client_remaining, server_maximum) == expected


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (kube_errors.NotFound(404, "NotFound", "x"), grpc.StatusCode.NOT_FOUND),
        (kube_errors.AlreadyExists(409, "AlreadyExists", "x"), grpc.StatusCode.ALREADY_EXISTS),
        (kube_errors.Conflict(409, "Conflict", "x"), grpc.StatusCode.ABORTED),
        (kube_errors.Invalid(422, "Invalid", "x"), grpc.StatusCode.INVALID_ARGUMENT),
        (kube_errors.Unauthorized(401, "Unauthorized", "x"), grpc.StatusCode.UNAUTHENTICATED),
        (kube_errors.Forbidden(403, "Forbidden", "x"), grpc.StatusCode.PERMISSION_DENIED),
        (kube_errors.TooManyRequests(429, "TooManyRequests", "x"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (kube_errors.ServerError(503, "ServiceUnavailable", "x"), grpc.StatusCode.UNAVAILABLE),
        (kube_errors.Unreachable("connection refused"), grpc.StatusCode.UNAVAILABLE),
        (kube_errors.KubeError(415, "UnsupportedMediaType", "x"), grpc.StatusCode.INTERNAL),
    ],
    ids=lambda value: getattr(value, "reason", None) or str(value),
)
def test_kubernetes_errors_map_to_grpc_codes(error: kube_errors.KubeError, code: grpc.StatusCode) -> None:
    assert grpc_error(error, "cannot create Runtime 'kre-demo'").code == code


def test_an_invalid_object_is_reported_by_field_paths_only() -> None:
    error = kube_errors.Invalid(
        422,
        "Invalid",
        f'Runtime.kre.konstellation.io "kre-demo" is invalid: spec.mongo.credentials.password: "{PASSWORD}"',
        kind="Runtime",
        group="kre.konstellation.io",
        name="kre-demo",
        causes=[{"reason": "FieldValueInvalid", "message": PASSWORD, "field": "spec.mongo.credentials.password"}],
    )

    mapped = grpc_error(error, "cannot create Runtime 'kre-demo'")

    assert mapped.message == (
        "cannot create Runtime 'kre-demo': 422 Invalid on Runtime.kre.konstellation.io \"kre-demo\" "
        "(fields: spec.mongo.credentials.password)"
    )
