"""RuntimeService requests, pure: validation, the Runtime object a Create writes, and "same request" for Create.

Every problem names the request field (`runtime.mongo.password: ...`). Messages never contain a credential
value: credentials are judged by length and alphabet only, and the validated request hides them from repr.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from k8s_manager_api.names import RUNTIMES

from .config import FacadeConfig
from .generated import runtime_pb2

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_LABEL_RULE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
DISPLAY_NAME_MAX_LENGTH = 256
# The CRD's limit on spec.entrypoint.host, so that `entrypoint.<host>` stays a valid DNS name.
ENTRYPOINT_HOST_MAX_LENGTH = 242
NATS_STREAMING_REPLICAS = 1

# The CRD's credential rules (crds/runtimes.kre.konstellation.io.yaml); the runtime builds its MongoDB URI
# without escaping, hence URI-unreserved characters only.
URI_UNRESERVED = re.compile(r"^[A-Za-z0-9._~-]+$")
URI_UNRESERVED_RULE = "may contain only letters, digits, '-', '.', '_' and '~'"
BASE64_ALPHABET = re.compile(r"^[A-Za-z0-9+/=]+$")
BASE64_ALPHABET_RULE = "may contain only the base64 alphabet: letters, digits, '+', '/' and '='"
PRINTABLE_RULE = "may not contain control characters or line breaks"

# Spec paths the Create request's credentials land in; "same request" ignores them.
CREDENTIAL_SPEC_PATHS: tuple[tuple[str, ...], ...] = (("mongo", "credentials"), ("minio", "credentials"))


@dataclass(frozen=True)
class FieldProblem:
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


class InvalidRequestError(ValueError):
    """The request cannot be served as it is; the message lists every problem, each naming its field."""

    def __init__(self, problems: Iterable[FieldProblem]) -> None:
        self.problems: tuple[FieldProblem, ...] = tuple(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems))

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(problem.field for problem in self.problems)


@dataclass(frozen=True)
class MongoCredentials:
    username: str = field(repr=False)
    password: str = field(repr=False)
    shared_key: str = field(repr=False)


@dataclass(frozen=True)
class MinioCredentials:
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)


@dataclass(frozen=True)
class CreateRequest:
    """A valid Create request: `namespace` names the Runtime and its namespace, `name` is the display name."""

    name: str
    namespace: str
    mongo: MongoCredentials
    minio: MinioCredentials


@dataclass(frozen=True)
class CredentialRule:
    field: str
    min_length: int
    max_length: int
    pattern: re.Pattern[str] | None
    pattern_rule: str


MONGO_RULES = {
    "username": CredentialRule("runtime.mongo.username", 1, 128, URI_UNRESERVED, URI_UNRESERVED_RULE),
    "password": CredentialRule("runtime.mongo.password", 1, 256, URI_UNRESERVED, URI_UNRESERVED_RULE),
    "sharedKey": CredentialRule("runtime.mongo.sharedKey", 6, 1024, BASE64_ALPHABET, BASE64_ALPHABET_RULE),
}
MINIO_RULES = {
    # The CRD restricts only their length (Minio's own minimums); control characters are refused here because
    # they would break the environment variables and files the values end up in.
    "accessKey": CredentialRule("runtime.minio.accessKey", 3, 128, None, PRINTABLE_RULE),
    "secretKey": CredentialRule("runtime.minio.secretKey", 8, 256, None, PRINTABLE_RULE),
}


# --------------------------------------------------------------------------------------------- validation


def validate_create(request: runtime_pb2.Request) -> CreateRequest:
    """The valid Create request, or InvalidRequestError naming every field in error."""
    if not request.HasField("runtime"):
        raise InvalidRequestError([FieldProblem("runtime", "is required")])
    runtime = request.runtime
    problems = [
        *namespace_problems(runtime.namespace, reserved_allowed=False),
        *display_name_problems(runtime.name),
    ]
    if runtime.HasField("mongo"):
        problems += credential_problems(runtime.mongo, MONGO_RULES)
    else:
        problems.append(FieldProblem("runtime.mongo", "is required"))
    if runtime.HasField("minio"):
        problems += credential_problems(runtime.minio, MINIO_RULES)
    else:
        problems.append(FieldProblem("runtime.minio", "is required"))
    if problems:
        raise InvalidRequestError(problems)
    mongo, minio = runtime.mongo, runtime.minio
    return CreateRequest(
        name=runtime.name,
        namespace=runtime.namespace,
        mongo=MongoCredentials(mongo.username, mongo.password, mongo.sharedKey),
        minio=MinioCredentials(minio.accessKey, minio.secretKey),
    )


def validate_status(request: runtime_pb2.Request) -> str:
    """The Runtime a RuntimeStatus request asks about (only `runtime.namespace` counts, as in the original)."""
    if not request.HasField("runtime"):
        raise InvalidRequestError([FieldProblem("runtime", "is required")])
    problems = namespace_problems(request.runtime.namespace, reserved_allowed=True)
    if problems:
        raise InvalidRequestError(problems)
    return request.runtime.namespace


def namespace_problems(namespace: str, *, reserved_allowed: bool) -> list[FieldProblem]:
    """A namespace is a DNS-1123 label; `default` and `kube-*` belong to the cluster, not to a runtime."""
    field_name = "runtime.namespace"
    if not namespace:
        return [FieldProblem(field_name, "is required")]
    if len(namespace) > DNS1123_LABEL_MAX_LENGTH:
        return [FieldProblem(field_name, f"must be no more than {DNS1123_LABEL_MAX_LENGTH} characters")]
    if not DNS1123_LABEL.fullmatch(namespace):
        return [FieldProblem(field_name, f"{quoted(namespace)} is invalid: {DNS1123_LABEL_RULE}")]
    if not reserved_allowed and (namespace == "default" or namespace.startswith("kube-")):
        return [FieldProblem(field_name, f"{quoted(namespace)} is reserved: default and kube-* belong to the cluster")]
    return []


def display_name_problems(name: str) -> list[FieldProblem]:
    field_name = "runtime.name"
    if not name.strip():
        return [FieldProblem(field_name, "is required")]
    if len(name) > DISPLAY_NAME_MAX_LENGTH:
        return [FieldProblem(field_name, f"must be no more than {DISPLAY_NAME_MAX_LENGTH} characters")]
    if not name.isprintable():
        return [FieldProblem(field_name, PRINTABLE_RULE)]
    return []


def credential_problems(message: Any, rules: Mapping[str, CredentialRule]) -> list[FieldProblem]:
    """Length and alphabet of each credential; a problem never quotes the value, nor its length."""
    problems = []
    for proto_field, rule in rules.items():
        value: str = getattr(message, proto_field)
        if not value:
            problems.append(FieldProblem(rule.field, "is required"))
        elif len(value) < rule.min_length:
            problems.append(FieldProblem(rule.field, f"must be at least {rule.min_length} characters"))
        elif len(value) > rule.max_length:
            problems.append(FieldProblem(rule.field, f"must be no more than {rule.max_length} characters"))
        elif not value.isprintable() or (rule.pattern is not None and not rule.pattern.fullmatch(value)):
            problems.append(FieldProblem(rule.field, rule.pattern_rule))
    return problems


def quoted(text: str) -> str:
    """A user-given (non-secret) value in a message: JSON-quoted, so control characters show escaped."""
    return json.dumps(text)


# -------------------------------------------------------------------------------------------- the Runtime


def build_runtime(request: CreateRequest, config: FacadeConfig) -> dict[str, Any]:
    """The Runtime a Create writes (docs/runtime.md, "Facade"), credentials inline for the operator to move."""
    host = f"{request.namespace}.{config.base_domain_name}"
    if len(host) > ENTRYPOINT_HOST_MAX_LENGTH:
        problem = (
            f"too long for the base domain name {quoted(config.base_domain_name)}: the entrypoint host "
            f"<namespace>.<base domain> may have at most {ENTRYPOINT_HOST_MAX_LENGTH} characters"
        )
        raise InvalidRequestError([FieldProblem("runtime.namespace", problem)])
    mongo, minio = request.mongo, request.minio
    return {
        "apiVersion": RUNTIMES.api_version,
        "kind": "Runtime",
        "metadata": {"name": request.namespace},
        "spec": {
            "displayName": request.name,
            "developmentMode": config.development_mode,
            "entrypoint": {"host": host},
            "sharedStorageClass": config.shared_storage_class,
            "mongo": {
                "credentials": {
                    "username": mongo.username,
                    "password": mongo.password,
                    "sharedKey": mongo.shared_key,
                },
            },
            "minio": {
                "credentials": {"accessKey": minio.access_key, "secretKey": minio.secret_key},
                "storage": {"size": config.shared_storage_size},
            },
            "nats_streaming": {"replicas": NATS_STREAMING_REPLICAS},
        },
    }


def spec_without_credentials(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a Runtime spec without its credentials (inline values or secretRef alike)."""
    copy: dict[str, Any] = dict(spec)
    for section, key in CREDENTIAL_SPEC_PATHS:
        if isinstance(copy.get(section), Mapping):
            copy[section] = {name: value for name, value in copy[section].items() if name != key}
    return copy


def differing_fields(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> list[str]:
    """Paths (`spec.displayName`) where an existing Runtime's spec differs from the desired one, credentials aside.

    An empty list means "the same request": the Admin API sends new random credentials on every call, and the
    first ones are already the runtime's, so credentials are not compared.
    """
    have = spec_without_credentials(existing.get("spec") or {})
    want = spec_without_credentials(desired.get("spec") or {})
    return sorted(_differences(have, want, "spec"))


def _differences(have: Any, want: Any, path: str) -> Iterable[str]:
    if isinstance(have, Mapping) and isinstance(want, Mapping):
        for key in sorted(set(have) | set(want)):
            yield from _differences(have.get(key), want.get(key), f"{path}.{key}")
    elif have != want:
        yield path
