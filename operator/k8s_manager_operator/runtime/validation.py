"""Re-validation of a Runtime: what the CRD schema cannot guarantee on every cluster.

The CRD's CEL rules (credentials: secretRef or complete inline values) are skipped by API servers without
CEL support, and no schema can reserve namespace names. Each problem names a field and says what is wrong,
never the value: a credential must not end up in a status, an event or a log line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

# Keys of the inline credentials (and of the Secrets holding them), per block of the spec.
CREDENTIAL_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "mongo": ("username", "password", "sharedKey"),
    "minio": ("accessKey", "secretKey"),
}

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Namespaces a cluster creates and manages itself; a Runtime owning one would delete it with the Runtime.
RESERVED_NAMESPACES: Final = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
RESERVED_PREFIX: Final = "kube-"


class Problem(NamedTuple):
    """One reason a Runtime cannot be reconciled: a field path and what is wrong with it (no value)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def validate_runtime(runtime: Mapping[str, Any]) -> list[Problem]:
    """The problems of a Runtime, in field order; an empty list when the operator can reconcile it."""
    metadata = runtime.get("metadata")
    problems = validate_name(metadata.get("name") if isinstance(metadata, Mapping) else None)
    spec = runtime.get("spec")
    if not isinstance(spec, Mapping):
        return [*problems, Problem("spec", "Required value: the Runtime has no spec")]
    modes: dict[str, str] = {}
    for block in CREDENTIAL_KEYS:
        block_problems, mode = _validate_credentials(spec, block)
        problems += block_problems
        if mode:
            modes[block] = mode
    if len(set(modes.values())) > 1:
        # The operator moves inline values into one Secret and swaps both blocks for a secretRef to it in one
        # patch; a half-inline spec would need a Secret that mixes its values with the user's Secret.
        problems.append(
            Problem(
                "spec.minio.credentials",
                "give the credentials the same way as spec.mongo.credentials: both inline or both as secretRef",
            )
        )
    return problems


def validate_name(name: object) -> list[Problem]:
    """metadata.name, which is also the runtime's namespace."""
    field = "metadata.name"
    if not isinstance(name, str) or not name:
        return [Problem(field, "Required value: the Runtime has no name")]
    problems: list[Problem] = []
    if len(name) > 63:
        problems.append(Problem(field, "must be no more than 63 characters (it is the runtime's namespace)"))
    if not DNS1123_LABEL.match(name):
        problems.append(
            Problem(
                field,
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                "and must start and end with an alphanumeric character (it is the runtime's namespace)",
            )
        )
    if name in RESERVED_NAMESPACES or name.startswith(RESERVED_PREFIX):
        problems.append(
            Problem(field, "must not be default or start with kube-: those namespaces belong to the cluster")
        )
    return problems


def _validate_credentials(spec: Mapping[str, Any], block: str) -> tuple[list[Problem], str | None]:
    """Problems of spec.<block>.credentials, and how it gives them: "secretRef", "inline" or None (invalid)."""
    field = f"spec.{block}.credentials"
    section = spec.get(block)
    credentials = section.get("credentials") if isinstance(section, Mapping) else None
    if not isinstance(credentials, Mapping):
        return [Problem(field, "Required value: give either secretRef or the inline credentials")], None
    keys = CREDENTIAL_KEYS[block]
    listed = ", ".join(keys)
    inline = [key for key in keys if key in credentials]
    if "secretRef" in credentials and inline:
        return [Problem(field, f"secretRef and inline credentials ({listed}) are mutually exclusive")], None
    if "secretRef" in credentials:
        reference = credentials["secretRef"]
        secret_name = reference.get("name") if isinstance(reference, Mapping) else None
        if not isinstance(secret_name, str) or not secret_name:
            return [Problem(f"{field}.secretRef.name", "Required value: the name of a Secret")], None
        if len(secret_name) > 253 or not DNS1123_SUBDOMAIN.match(secret_name):
            return [Problem(f"{field}.secretRef.name", "must be a DNS-1123 subdomain (a Secret's name)")], None
        return [], "secretRef"
    missing = [key for key in keys if key not in credentials]
    if missing:
        return [Problem(field, f"set either secretRef or all of {listed}; missing: {', '.join(missing)}")], None
    empty = [key for key in keys if not isinstance(credentials[key], str) or not credentials[key]]
    if empty:
        return [Problem(f"{field}.{key}", "must be a non-empty string") for key in empty], None
    return [], "inline"
