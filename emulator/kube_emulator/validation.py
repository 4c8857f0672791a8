"""Name and metadata validation with kube-apiserver's messages (k8s.io/apimachinery/pkg/util/validation)."""

from __future__ import annotations

import json
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
_LABEL_VALUE = "(" + _QUALIFIED_NAME + ")?"
_CONFIG_KEY = "[-._a-zA-Z0-9]+"

_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN)
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL)
_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE)
_CONFIG_KEY_RE = re.compile(_CONFIG_KEY)


def regex_error(message: str, regex: str, *examples: str) -> str:
    """validation.RegexError, byte for byte (Go renders "'a',  or 'b', ", two spaces)."""
    if not examples:
        return f"{message} (regex used for validation is '{regex}')"
    rendered = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {rendered}regex used for validation is '{regex}')"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def max_bytes_error(length: int) -> str:
    """What the label key and value checks (apimachinery's validate/content) say of a string too long."""
    return f"must be no more than {length} bytes"


def _too_long(value: str, limit: int) -> bool:
    return len(value.encode()) > limit  # Go measures strings in bytes


def dns1123_label(value: str) -> list[str]:
    problems = [max_len_error(63)] if _too_long(value, 63) else []
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            problems.append("must not contain dots")  # a valid subdomain: only the dots are wrong
        else:
            problems.append(
                regex_error(
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
                    "must start and end with an alphanumeric character",
                    _DNS1123_LABEL,
                    "my-name",
                    "123-abc",
                )
            )
    return problems


def dns1123_subdomain(value: str) -> list[str]:
    problems = [max_len_error(253)] if _too_long(value, 253) else []
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        problems.append(
            regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                "and must start and end with an alphanumeric character",
                _DNS1123_SUBDOMAIN,
                "example.com",
            )
        )
    return problems


def dns1035_label(value: str) -> list[str]:
    problems = [max_len_error(63)] if _too_long(value, 63) else []
    if not _DNS1035_LABEL_RE.fullmatch(value):
        problems.append(
            regex_error(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, and end with an alphanumeric character",
                _DNS1035_LABEL,
                "my-name",
                "abc-123",
            )
        )
    return problems


_QUALIFIED_NAME_MESSAGE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)


def qualified_name(value: str) -> list[str]:
    """validation.IsQualifiedName: `[prefix/]name`, as label and annotation keys must be."""
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a valid label key "
            + regex_error(_QUALIFIED_NAME_MESSAGE, _QUALIFIED_NAME, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    problems: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            problems.append("prefix part must be non-empty")
        else:
            problems.extend("prefix part " + message for message in dns1123_subdomain(parts[0]))
    if not name:
        problems.append("name part must be non-empty")
    elif _too_long(name, 63):
        problems.append("name part " + max_bytes_error(63))
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        problems.append(
            "name part " + regex_error(_QUALIFIED_NAME_MESSAGE, _QUALIFIED_NAME, "MyName", "my.name", "123-abc")
        )
    return problems


def label_value(value: str) -> list[str]:
    problems = [max_bytes_error(63)] if _too_long(value, 63) else []
    if not _LABEL_VALUE_RE.fullmatch(value):
        problems.append(
            regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character",
                _LABEL_VALUE,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return problems


def config_key(value: str) -> list[str]:
    problems = [max_len_error(253)] if _too_long(value, 253) else []
    if not _CONFIG_KEY_RE.fullmatch(value):
        problems.append(
            regex_error(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                _CONFIG_KEY,
                "key.name",
                "KEY_NAME",
                "key-name",
            )
        )
    return problems


def path_segment_name(value: str) -> list[str]:
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


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
    generation = metadata.get("generation")
    if isinstance(generation, int) and generation < 0:
        found.append(invalid_value("metadata.generation", generation, "must be greater than or equal to 0"))
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
    found.extend(_finalizers(metadata))
    return found


def _labels_and_annotations(metadata: dict[str, Any]) -> list[FieldError]:
    return [error for error in object_meta(metadata, "segment") if error.field.startswith(_LABELS_AND_ANNOTATIONS)]


_LABELS_AND_ANNOTATIONS = ("metadata.labels", "metadata.annotations")
# metav1.FinalizerOrphanDependents and FinalizerDeleteDependents, and core's FinalizerKubernetes.
_ORPHAN, _FOREGROUND = "orphan", "foregroundDeletion"
_STANDARD_FINALIZERS = frozenset({"kubernetes", _ORPHAN, _FOREGROUND})


def _finalizers(metadata: dict[str, Any]) -> list[FieldError]:
    """apimachinery's ValidateFinalizers: each a qualified name, and not both orphan and foregroundDeletion."""
    finalizers = [str(f) for f in metadata.get("finalizers") or []]
    found = [invalid_value("metadata.finalizers", f, problem) for f in finalizers for problem in qualified_name(f)]
    if _ORPHAN in finalizers and _FOREGROUND in finalizers:
        found.append(
            FieldError(
                "FieldValueInvalid",
                "metadata.finalizers",
                f"Invalid value: []string{{{go_strings(finalizers)}}}: finalizer {_ORPHAN} and {_FOREGROUND} "
                "cannot be both set",
            )
        )
    return found


def kube_finalizer_names(metadata: dict[str, Any]) -> list[FieldError]:
    """The check core's ValidateObjectMeta and ValidateObjectMetaUpdate add: a finalizer without a domain must be
    one of the standard ones."""
    return [
        invalid_value(f"metadata.finalizers[{index}]", name, "name is neither a standard finalizer name nor is it "
                      "fully qualified")
        for index, name in enumerate(str(f) for f in metadata.get("finalizers") or [])
        if "/" not in name and name not in _STANDARD_FINALIZERS
    ]  # fmt: skip


def object_meta_update(metadata: dict[str, Any], old_metadata: dict[str, Any]) -> list[FieldError]:
    """apimachinery's ValidateObjectMetaAccessorUpdate: no finalizer added once deleting, then labels and
    annotations again (the system fields it also compares are carried over from the stored object before)."""
    found: list[FieldError] = []
    if old_metadata.get("deletionTimestamp"):
        added = sorted(set(metadata.get("finalizers") or []) - set(old_metadata.get("finalizers") or []))
        if added:
            found.append(
                FieldError(
                    "FieldValueForbidden",
                    "metadata.finalizers",
                    "Forbidden: no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers []string{{{go_strings(added)}}}",
                )
            )
    return found + _labels_and_annotations(metadata)


def go_strings(values: list[str]) -> str:
    """Strings as Go's %#v prints the elements of a []string."""
    return ", ".join(json.dumps(v) for v in values)
