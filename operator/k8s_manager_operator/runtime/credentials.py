"""Moving a Runtime's inline credentials into a Secret, and keeping their values out of everything else.

The facade writes the credentials inline (spec.mongo.credentials, spec.minio.credentials). Once the namespace
exists, the operator writes them into the Secret `kre-runtime-credentials` (`credentials_secret`), then swaps
them in the spec for a secretRef with one merge patch (`secret_ref_patch`), in which it also rewrites kubectl's
last-applied-configuration annotation (`scrub_last_applied`). `redact` makes any Runtime safe to log or to
keep as a diff base.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Final

from .desired import object_metadata
from .validation import CREDENTIAL_KEYS

CREDENTIALS_SECRET_NAME: Final = "kre-runtime-credentials"
LAST_APPLIED_ANNOTATION: Final = "kubectl.kubernetes.io/last-applied-configuration"
REDACTED: Final = "<redacted>"
ALL_CREDENTIAL_KEYS: Final = tuple(key for keys in CREDENTIAL_KEYS.values() for key in keys)


def inline_credentials(spec: Mapping[str, Any]) -> dict[str, str] | None:
    """The five values (username, password, sharedKey, accessKey, secretKey) when both blocks hold them inline
    and complete; None otherwise (secretRef, already moved, or invalid: see validation)."""
    values: dict[str, str] = {}
    for block, keys in CREDENTIAL_KEYS.items():
        credentials = _credentials(spec, block)
        if credentials is None or "secretRef" in credentials:
            return None
        for key in keys:
            value = credentials.get(key)
            if not isinstance(value, str) or not value:
                return None
            values[key] = value
    return values


def inline_blocks(spec: Mapping[str, Any]) -> list[str]:
    """The credential blocks (field paths) that still hold any inline value."""
    return [
        f"spec.{block}.credentials"
        for block, keys in CREDENTIAL_KEYS.items()
        if any(key in (_credentials(spec, block) or {}) for key in keys)
    ]


def referenced_secrets(spec: Mapping[str, Any]) -> dict[str, str]:
    """Block ("mongo", "minio") -> name of the Secret its secretRef names, for the blocks that have one."""
    found: dict[str, str] = {}
    for block in CREDENTIAL_KEYS:
        reference = (_credentials(spec, block) or {}).get("secretRef")
        if isinstance(reference, Mapping) and isinstance(reference.get("name"), str):
            found[block] = reference["name"]
    return found


def credentials_secret(runtime: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """The Secret `kre-runtime-credentials` in the runtime's namespace, owned by the Runtime."""
    if set(values) != set(ALL_CREDENTIAL_KEYS):
        raise ValueError(f"the credentials Secret needs exactly the keys {', '.join(ALL_CREDENTIAL_KEYS)}")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_metadata(runtime, CREDENTIALS_SECRET_NAME),
        "type": "Opaque",
        "data": {key: base64.b64encode(values[key].encode()).decode("ascii") for key in ALL_CREDENTIAL_KEYS},
    }


def secret_ref_patch(resource_version: str | None = None) -> dict[str, Any]:
    """The JSON merge patch that removes the inline values of both blocks and sets a secretRef to
    `kre-runtime-credentials`. With `resource_version`, the API server applies it only to that version of the
    Runtime (409 Conflict otherwise), so values changed since they were copied into the Secret are not lost."""
    patch: dict[str, Any] = {
        "spec": {
            block: {"credentials": {**dict.fromkeys(keys), "secretRef": {"name": CREDENTIALS_SECRET_NAME}}}
            for block, keys in CREDENTIAL_KEYS.items()
        }
    }
    if resource_version is not None:
        patch["metadata"] = {"resourceVersion": resource_version}
    return patch


def scrub_last_applied(annotations: Mapping[str, str] | None) -> dict[str, str | None] | None:
    """A merge-patch fragment for metadata.annotations that rewrites kubectl's last-applied-configuration as if
    the credentials had been applied as the secretRef the operator swapped them for; None when there is nothing
    to change. Put it in the same patch as `secret_ref_patch`.

    Rewriting (rather than dropping the values) keeps `kubectl apply` of the original file working: its three-way
    merge then removes the secretRef and sets the inline values, which the operator moves again. An annotation
    that is not a JSON object is removed (None), since it cannot be shown to be clean.
    """
    text = (annotations or {}).get(LAST_APPLIED_ANNOTATION)
    if text is None:
        return None
    try:
        applied = json.loads(text)
    except ValueError:
        return {LAST_APPLIED_ANNOTATION: None}
    if not isinstance(applied, dict):
        return {LAST_APPLIED_ANNOTATION: None}
    spec = applied.get("spec")
    if not isinstance(spec, dict):
        return None
    changed = False
    for block, keys in CREDENTIAL_KEYS.items():
        credentials = _credentials(spec, block)
        if credentials is None or not any(key in credentials for key in keys):
            continue
        for key in keys:
            credentials.pop(key, None)
        credentials.setdefault("secretRef", {"name": CREDENTIALS_SECRET_NAME})
        changed = True
    if not changed:
        return None
    # kubectl writes the annotation as Go's json.Marshal does (sorted keys, no spaces), plus a final newline.
    scrubbed = json.dumps(applied, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {LAST_APPLIED_ANNOTATION: scrubbed + ("\n" if text.endswith("\n") else "")}


def redact(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a Runtime (or a list of them, or a Secret) with every credential value replaced by
    `<redacted>`: the inline values in the spec, in kubectl's last-applied-configuration and in any annotation
    holding a JSON copy of the object (kopf's diff base), and a Secret's data."""
    copy: dict[str, Any] = _plain(obj)
    _redact_in_place(copy)
    return copy


def _redact_in_place(obj: dict[str, Any]) -> None:
    items = obj.get("items")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                _redact_in_place(item)
    if obj.get("kind") == "Secret":
        for field in ("data", "stringData"):
            if isinstance(obj.get(field), dict):
                obj[field] = dict.fromkeys(obj[field], REDACTED)
    spec = obj.get("spec")
    if isinstance(spec, dict):
        _redact_spec(spec)
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if isinstance(annotations, dict):
        for key, value in annotations.items():
            annotations[key] = _redact_annotation(key, value)


def _redact_spec(spec: dict[str, Any]) -> None:
    for block, keys in CREDENTIAL_KEYS.items():
        credentials = _credentials(spec, block)
        if credentials is not None:
            for key in keys:
                if key in credentials:
                    credentials[key] = REDACTED


def _redact_annotation(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        # kubectl's annotation is a copy of the object: if it cannot be read, it cannot be shown to be clean.
        return REDACTED if key == LAST_APPLIED_ANNOTATION else value
    if not isinstance(parsed, dict):
        return value
    redacted = redact(parsed)
    return value if redacted == parsed else json.dumps(redacted, sort_keys=True, separators=(",", ":"))


def _credentials(spec: Mapping[str, Any], block: str) -> Any:
    """spec.<block>.credentials when it is a mapping, else None."""
    section = spec.get(block)
    credentials = section.get("credentials") if isinstance(section, Mapping) else None
    return credentials if isinstance(credentials, Mapping) else None


def _plain(value: Any) -> Any:
    """A deep copy with every mapping turned into a dict and every list or tuple into a list."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
