"""Name and metadata validation with kube-apiserver's messages (k8s.io/apimachinery/pkg/util/validation)."""

from __future__ import annotations

import re
from typing import Any, NamedTuple


class FieldError(NamedTuple):
    """One cause of a 422 Invalid: ("FieldValueRequired", "spec.name", "Required value")."""

    reason: str
    field: str
    message: str


_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"


def _full(pattern: str) -> re.Pattern[str]:
    return re.compile(f"^{pattern}$")


_DNS1123_LABEL_RE = _full(_DNS1123_LABEL)
_DNS1123_SUBDOMAIN_RE = _full(_DNS1123_SUBDOMAIN)
_DNS1035_LABEL_RE = _full(_DNS1035_LABEL)
_QUALIFIED_NAME_RE = _full(_QUALIFIED_NAME)
_LABEL_VALUE_RE = _full(_LABEL_VALUE)
_CONFIG_KEY_RE = _full("[-._a-zA-Z0-9]+")


def dns1123_label(value: str) -> list[str]:
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 characters")
    if not _DNS1123_LABEL_RE.match(value):
        problems.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
            "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
            f"validation is '{_DNS1123_LABEL}')"
        )
    return problems


def dns1123_subdomain(value: str) -> list[str]:
    problems = []
    if len(value) > 253:
        problems.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        problems.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
            f"validation is '{_DNS1123_SUBDOMAIN}')"
        )
    return problems


def dns1035_label(value: str) -> list[str]:
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 characters")
    if not _DNS1035_LABEL_RE.match(value):
        problems.append(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
            "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
            f"regex used for validation is '{_DNS1035_LABEL}')"
        )
    return problems


def path_segment_name(value: str) -> list[str]:
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def qualified_name(value: str) -> list[str]:
    """A label or annotation key: optional DNS subdomain prefix and a name of at most 63 characters."""
    problems = []
    prefix, slash, name = value.rpartition("/")
    if slash:
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            problems.extend(f"prefix part {p}" for p in dns1123_subdomain(prefix))
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    if name and not _QUALIFIED_NAME_RE.match(name):
        problems.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
            "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
            f"validation is '{_QUALIFIED_NAME}')"
        )
    return problems


def label_value(value: str) -> list[str]:
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 characters")
    if not _LABEL_VALUE_RE.match(value):
        problems.append(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
            f"'12345', regex used for validation is '{_LABEL_VALUE}')"
        )
    return problems


def config_key(value: str) -> list[str]:
    problems = []
    if len(value) > 253:
        problems.append("must be no more than 253 characters")
    if not _CONFIG_KEY_RE.match(value):
        problems.append(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
            "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
            "'[-._a-zA-Z0-9]+')"
        )
    return problems


def quoted(value: Any) -> str:
    """Go's %q-ish rendering used in `Invalid value: "x"` messages."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def invalid_value(path: str, value: Any, problem: str) -> FieldError:
    return FieldError("FieldValueInvalid", path, f"Invalid value: {quoted(value)}: {problem}")


def object_meta(metadata: dict[str, Any], name_rule: str) -> list[FieldError]:
    """Validate metadata.name (with `name_rule`: subdomain, label, dns1035 or segment), labels, annotations."""
    found: list[FieldError] = []
    name = metadata.get("name", "")
    check = {
        "subdomain": dns1123_subdomain,
        "label": dns1123_label,
        "dns1035": dns1035_label,
        "segment": path_segment_name,
    }[name_rule]
    found.extend(invalid_value("metadata.name", name, problem) for problem in check(name))
    labels = metadata.get("labels") or {}
    if not isinstance(labels, dict):
        found.append(invalid_value("metadata.labels", labels, "must be a map of strings"))
        labels = {}
    for key, value in labels.items():
        found.extend(invalid_value("metadata.labels", key, p) for p in qualified_name(str(key)))
        if not isinstance(value, str):
            found.append(invalid_value(f"metadata.labels[{key}]", value, "must be a string"))
        else:
            found.extend(invalid_value("metadata.labels", value, p) for p in label_value(value))
    annotations = metadata.get("annotations") or {}
    total = 0
    for key, value in annotations.items():
        found.extend(invalid_value("metadata.annotations", key, p) for p in qualified_name(str(key)))
        total += len(str(key)) + len(str(value))
    if total > 256 * 1024:
        found.append(
            FieldError("FieldValueTooLong", "metadata.annotations", "Too long: must have at most 262144 bytes")
        )
    return found
