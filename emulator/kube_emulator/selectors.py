"""Label and field selectors, parsed and matched the way kube-apiserver does it.

The label selector grammar, its error messages and its matching rules follow
k8s.io/apimachinery/pkg/labels/selector.go (v0.32); label key and value rules follow
k8s.io/apimachinery/pkg/util/validation. Field selectors follow pkg/fields/selector.go plus the
per-kind field label conversion functions the apiserver registers (pkg/apis/core/v1/conversion.go,
apiextensions-apiserver's crConverter).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import bad_request
from .resources import ResourceType
from .validation import label_value, qualified_name

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelRequirement",
    "LabelSelector",
    "supported_field_labels",
]

# --- label key / value validation (k8s.io/apimachinery/pkg/util/validation) ---------------------------

_INT64_RE = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _go_quote(value: str) -> str:
    """Go's %q for the strings that reach error messages (printable text)."""
    return json.dumps(value, ensure_ascii=False)


def _invalid(field_path: str, bad_value: Any, detail: str) -> str:
    """field.Invalid(...).Error(): strings are %q-quoted, lists JSON-encoded."""
    rendered = _go_quote(bad_value) if isinstance(bad_value, str) else json.dumps(bad_value, separators=(",", ":"))
    return f"{field_path}: Invalid value: {rendered}: {detail}"


def _aggregate(messages: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message as is, several deduplicated in brackets."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


# --- label selectors -------------------------------------------------------------------------------------

_IN, _NOT_IN = "in", "notin"
_EQUALS, _DOUBLE_EQUALS, _NOT_EQUALS = "=", "==", "!="
_EXISTS, _DOES_NOT_EXIST = "exists", "!"
_GREATER_THAN, _LESS_THAN = "gt", "lt"
_BINARY_OPERATORS = (_IN, _NOT_IN, _EQUALS, _DOUBLE_EQUALS, _NOT_EQUALS, _GREATER_THAN, _LESS_THAN)
_VALID_OPERATORS = (*_BINARY_OPERATORS, _EXISTS, _DOES_NOT_EXIST)


def _parse_int64(value: str) -> int | None:
    """strconv.ParseInt(value, 10, 64), None where Go returns an error."""
    if not _INT64_RE.fullmatch(value):
        return None
    number = int(value)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


@dataclass(frozen=True)
class LabelRequirement:
    """One `key <operator> values` term; operators are the selection.Operator strings."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    @classmethod
    def create(
        cls, key: str, operator: str, values: Iterable[str] | None, *, key_path: str = "key"
    ) -> LabelRequirement:
        """labels.NewRequirement: validates like the apiserver; raises ApiError 400 on errors.

        `values` None stands for Go's nil slice (rendered `null` in messages).
        """
        problems = _requirement_errors(key, operator, values, key_path)
        if problems:
            raise bad_request(_aggregate(problems))
        return cls(key, operator, tuple(values or ()))

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator in (_IN, _EQUALS, _DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if self.operator in (_NOT_IN, _NOT_EQUALS):
            # Kubernetes semantics: an object without the label satisfies `!=` and `notin`.
            return not present or labels[self.key] not in self.values
        if self.operator == _EXISTS:
            return present
        if self.operator == _DOES_NOT_EXIST:
            return not present
        if self.operator in (_GREATER_THAN, _LESS_THAN) and present and len(self.values) == 1:
            actual, wanted = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
            if actual is None or wanted is None:
                return False
            return actual > wanted if self.operator == _GREATER_THAN else actual < wanted
        return False

    def __str__(self) -> str:
        if self.operator == _EXISTS:
            return self.key
        if self.operator == _DOES_NOT_EXIST:
            return "!" + self.key
        values = sorted(self.values)
        if self.operator in (_IN, _NOT_IN):
            return f"{self.key} {self.operator} ({','.join(values)})"
        symbol = {_GREATER_THAN: ">", _LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{','.join(values)}"


def _requirement_errors(key: str, operator: str, values: Iterable[str] | None, key_path: str) -> list[str]:
    vals = list(values) if values is not None else None
    shown: Any = vals  # None renders as `null`, like a nil slice
    count = len(vals or [])
    problems: list[str] = []
    key_problems = qualified_name(key)
    if key_problems:
        problems.append(_invalid(key_path, key, "; ".join(key_problems)))
    if operator in (_IN, _NOT_IN):
        if count == 0:
            problems.append(_invalid("values", shown, "for 'in', 'notin' operators, values set can't be empty"))
    elif operator in (_EQUALS, _DOUBLE_EQUALS, _NOT_EQUALS):
        if count != 1:
            problems.append(_invalid("values", shown, "exact-match compatibility requires one single value"))
    elif operator in (_EXISTS, _DOES_NOT_EXIST):
        if count != 0:
            problems.append(_invalid("values", shown, "values set must be empty for exists and does not exist"))
    elif operator in (_GREATER_THAN, _LESS_THAN):
        if count != 1:
            problems.append(_invalid("values", shown, "for 'Gt', 'Lt' operators, exactly one value is required"))
        for index, value in enumerate(vals or []):
            if _parse_int64(value) is None:
                problems.append(
                    _invalid(f"values[{index}]", value, "for 'Gt', 'Lt' operators, the value must be an integer")
                )
    else:
        supported = ", ".join(_go_quote(op) for op in _VALID_OPERATORS)
        problems.append(f"operator: Unsupported value: {_go_quote(operator)}: supported values: {supported}")
    for index, value in enumerate(vals or []):
        value_problems = label_value(value)
        if value_problems:
            problems.append(_invalid(f"values[{index}][{key}]", value, "; ".join(value_problems)))
    return problems


# Lexer tokens of labels.Parse.
_T_ERROR, _T_END, _T_CLOSE, _T_COMMA, _T_NOT, _T_DOUBLE_EQUALS, _T_EQUALS = range(7)
_T_GREATER, _T_IDENTIFIER, _T_IN, _T_LESS, _T_NOT_EQUALS, _T_NOT_IN, _T_OPEN = range(7, 14)
_KEYWORDS = {
    ")": _T_CLOSE,
    ",": _T_COMMA,
    "!": _T_NOT,
    "==": _T_DOUBLE_EQUALS,
    "=": _T_EQUALS,
    ">": _T_GREATER,
    "in": _T_IN,
    "<": _T_LESS,
    "!=": _T_NOT_EQUALS,
    "notin": _T_NOT_IN,
    "(": _T_OPEN,
}
_WHITESPACE = " \t\r\n"
_SPECIAL = "=!(),><"
_OPERATOR_TOKENS = {
    _T_IN: _IN,
    _T_EQUALS: _EQUALS,
    _T_DOUBLE_EQUALS: _DOUBLE_EQUALS,
    _T_GREATER: _GREATER_THAN,
    _T_LESS: _LESS_THAN,
    _T_NOT_IN: _NOT_IN,
    _T_NOT_EQUALS: _NOT_EQUALS,
}


class _SelectorSyntaxError(Exception):
    pass


def _lex(text: str) -> list[tuple[int, str]]:
    # Go reads bytes and treats NUL as the end of input; mirror that.
    text = text.split("\0", 1)[0]
    tokens: list[tuple[int, str]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= len(text):
            tokens.append((_T_END, ""))
            return tokens
        if text[pos] in _SPECIAL:
            # Longest run of symbols that still forms a token: "!=" beats "!", "==" beats "=".
            buffer, last, end = "", None, pos
            while end < len(text) and text[end] in _SPECIAL:
                buffer += text[end]
                if buffer in _KEYWORDS:
                    last = (_KEYWORDS[buffer], buffer)
                elif last is not None:
                    break
                end += 1
            if last is None:
                tokens.append((_T_ERROR, f"error expected: keyword found '{buffer}'"))
                pos = end
            else:
                tokens.append(last)
                pos += len(last[1])
        else:
            end = pos
            while end < len(text) and text[end] not in _SPECIAL and text[end] not in _WHITESPACE:
                end += 1
            literal = text[pos:end]
            tokens.append((_KEYWORDS.get(literal, _T_IDENTIFIER), literal))
            pos = end


class _LabelParser:
    """The recursive-descent parser of labels.Parse, error messages included."""

    def __init__(self, text: str) -> None:
        self._items = _lex(text)
        self._position = 0

    def _peek(self, values_context: bool = True) -> tuple[int, str]:
        token, literal = self._items[min(self._position, len(self._items) - 1)]
        if values_context and token in (_T_IN, _T_NOT_IN):
            token = _T_IDENTIFIER  # `in` / `notin` are ordinary words outside the operator position
        return token, literal

    def _next(self, values_context: bool = True) -> tuple[int, str]:
        item = self._peek(values_context)
        self._position += 1
        return item

    def parse(self) -> list[LabelRequirement]:
        requirements: list[LabelRequirement] = []
        while True:
            token, literal = self._peek()
            if token in (_T_IDENTIFIER, _T_NOT):
                try:
                    requirements.append(self._requirement())
                except _SelectorSyntaxError as error:
                    raise _SelectorSyntaxError(f"unable to parse requirement: {error}") from None
                token, literal = self._next()
                if token == _T_END:
                    return requirements
                if token != _T_COMMA:
                    raise _SelectorSyntaxError(f"found '{literal}', expected: ',' or 'end of string'")
                after, after_literal = self._peek()
                if after not in (_T_IDENTIFIER, _T_NOT):
                    raise _SelectorSyntaxError(f"found '{after_literal}', expected: identifier after ','")
            elif token == _T_END:
                return requirements
            else:
                raise _SelectorSyntaxError(f"found '{literal}', expected: !, identifier, or 'end of string'")

    def _requirement(self) -> LabelRequirement:
        key, operator = self._key_and_inferred_operator()
        if operator in (_EXISTS, _DOES_NOT_EXIST):
            return self._new_requirement(key, operator, [])
        operator = self._operator()
        values = self._value_set() if operator in (_IN, _NOT_IN) else self._exact_value()
        return self._new_requirement(key, operator, sorted(values))

    @staticmethod
    def _new_requirement(key: str, operator: str, values: list[str]) -> LabelRequirement:
        problems = _requirement_errors(key, operator, values, "key")
        if problems:
            raise _SelectorSyntaxError(_aggregate(problems))
        return LabelRequirement(key, operator, tuple(values))

    def _key_and_inferred_operator(self) -> tuple[str, str]:
        operator = ""
        token, literal = self._next()
        if token == _T_NOT:
            operator = _DOES_NOT_EXIST
            token, literal = self._next()
        if token != _T_IDENTIFIER:
            raise _SelectorSyntaxError(f"found '{literal}', expected: identifier")
        key_problems = qualified_name(literal)
        if key_problems:
            # The parser validates keys with a nil field path, which Go prints as "<nil>".
            raise _SelectorSyntaxError(_invalid("<nil>", literal, "; ".join(key_problems)))
        if self._peek()[0] in (_T_END, _T_COMMA) and operator != _DOES_NOT_EXIST:
            operator = _EXISTS
        return literal, operator

    def _operator(self) -> str:
        token, literal = self._next(values_context=False)
        if token not in _OPERATOR_TOKENS:
            raise _SelectorSyntaxError(f"found '{literal}', expected: {', '.join(_BINARY_OPERATORS)}")
        return _OPERATOR_TOKENS[token]

    def _value_set(self) -> set[str]:
        token, literal = self._next()
        if token != _T_OPEN:
            raise _SelectorSyntaxError(f"found '{literal}' expected: '('")
        token, literal = self._peek()
        if token in (_T_IDENTIFIER, _T_COMMA):
            values = self._identifier_list()
            self._next()  # the ')' _identifier_list stopped at
            return values
        if token == _T_CLOSE:
            self._next()
            return {""}
        raise _SelectorSyntaxError(f"found '{literal}', expected: ',', ')' or identifier")

    def _identifier_list(self) -> set[str]:
        values: set[str] = set()
        while True:
            token, literal = self._next()
            if token == _T_IDENTIFIER:
                values.add(literal)
                following, following_literal = self._peek()
                if following == _T_COMMA:
                    continue
                if following == _T_CLOSE:
                    return values
                raise _SelectorSyntaxError(f"found '{following_literal}', expected: ',' or ')'")
            if token == _T_COMMA:
                # Empty members, as in "(,a)", "(a,,b)" and "(a,)", stand for the empty value.
                if not values:
                    values.add("")
                following = self._peek()[0]
                if following == _T_CLOSE:
                    values.add("")
                    return values
                if following == _T_COMMA:
                    values.add("")
                continue
            raise _SelectorSyntaxError(f"found '{literal}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        if self._peek()[0] in (_T_END, _T_COMMA):
            return {""}
        token, literal = self._next()
        if token == _T_IDENTIFIER:
            return {literal}
        raise _SelectorSyntaxError(f"found '{literal}', expected: identifier")


_SELECTOR_OPERATORS = {"In": _IN, "NotIn": _NOT_IN, "Exists": _EXISTS, "DoesNotExist": _DOES_NOT_EXIST}


class LabelSelector:
    """A conjunction of label requirements; the empty selector matches everything."""

    def __init__(self, requirements: Iterable[LabelRequirement] = ()) -> None:
        # labels.Parse sorts by key (stably) so equal selectors print and compare alike.
        self.requirements: tuple[LabelRequirement, ...] = tuple(sorted(requirements, key=lambda r: r.key))

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """The `labelSelector` query parameter; syntax errors raise ApiError 400 with the apiserver's text."""
        try:
            return cls(_LabelParser(text).parse())
        except _SelectorSyntaxError as error:
            raise bad_request(str(error)) from None

    @classmethod
    def from_label_selector(cls, selector: Mapping[str, Any] | None) -> LabelSelector:
        """A metav1.LabelSelector (`matchLabels`, `matchExpressions`).

        None and `{}` both match everything. (metav1.LabelSelectorAsSelector turns nil into "nothing",
        but workload selectors are required, so callers only meet None before validation.)
        """
        if not selector:
            return cls()
        requirements: list[LabelRequirement] = []
        for key, value in (selector.get("matchLabels") or {}).items():
            requirements.append(LabelRequirement.create(str(key), _EQUALS, [_label_string(value)]))
        for expression in selector.get("matchExpressions") or []:
            operator = expression.get("operator", "")
            if operator not in _SELECTOR_OPERATORS:
                raise bad_request(f"{_go_quote(str(operator))} is not a valid label selector operator")
            values = expression.get("values")
            requirements.append(
                LabelRequirement.create(
                    str(expression.get("key", "")),
                    _SELECTOR_OPERATORS[operator],
                    [_label_string(v) for v in values] if values else None,
                )
            )
        return cls(requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        present = labels or {}
        return all(requirement.matches(present) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)

    def __repr__(self) -> str:
        return f"LabelSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelSelector) and self.requirements == other.requirements

    def __hash__(self) -> int:
        return hash(self.requirements)


def _label_string(value: Any) -> str:
    if not isinstance(value, str):
        raise bad_request(f"label selector values must be strings, got {json.dumps(value)}")
    return value


# --- field selectors -------------------------------------------------------------------------------------

_DEFAULT_FIELD_LABELS = frozenset({"metadata.name", "metadata.namespace"})

# Kinds whose group/version registers a field label conversion func (pkg/apis/core/v1/conversion.go).
# Every other built-in kind uses runtime.DefaultMetaV1FieldSelectorConversion.
_BUILTIN_FIELD_LABELS: Mapping[tuple[str, str], frozenset[str]] = {
    ("", "Pod"): frozenset(
        {
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
            "spec.host",  # old clients' name for spec.nodeName
        }
    ),
    ("", "Node"): frozenset({"metadata.name", "spec.unschedulable"}),
    ("", "ReplicationController"): frozenset({"metadata.name", "metadata.namespace", "status.replicas"}),
    ("", "Event"): frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "metadata.namespace",
            "metadata.name",
        }
    ),
    ("", "Namespace"): frozenset({"status.phase", "metadata.name"}),
    ("", "Secret"): frozenset({"type", "metadata.namespace", "metadata.name"}),
    ("", "Service"): frozenset({"metadata.namespace", "metadata.name", "spec.clusterIP", "spec.type"}),
}

_FIELD_LABEL_RENAMES = {"spec.host": "spec.nodeName"}


def supported_field_labels(resource: ResourceType, selectable_fields: Iterable[str] = ()) -> frozenset[str] | None:
    """The field labels `resource` accepts in `fieldSelector` (used by :meth:`FieldSelector.parse_for`).

    None means the default conversion (metadata.name and metadata.namespace, with its own error text).
    For custom resources pass the CRD version's `selectableFields` as labels (`spec.color`, no dot).
    """
    if resource.from_crd:
        labels = {"metadata.name", *selectable_fields}
        if resource.namespaced:
            labels.add("metadata.namespace")
        return frozenset(labels)
    return _BUILTIN_FIELD_LABELS.get((resource.group, resource.kind))


def _go_bool(value: Any) -> str:
    return "true" if value is True else "false"


def _field_text(value: Any) -> str:
    """How a selectable field's value is compared: as the text the apiserver puts in its fields.Set."""
    if isinstance(value, bool):
        return _go_bool(value)
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return ""


def _dig(obj: Mapping[str, Any], dotted: str) -> Any:
    current: Any = obj
    for part in dotted.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _pod_ip(pod: Mapping[str, Any]) -> str:
    pod_ips = _dig(pod, "status.podIPs")
    if isinstance(pod_ips, list) and pod_ips and isinstance(pod_ips[0], Mapping):
        return _field_text(pod_ips[0].get("ip"))
    return _field_text(_dig(pod, "status.podIP"))


# Fields whose selectable value is not simply the value at the dotted path (core/v1 only).
_SPECIAL_FIELDS: Mapping[tuple[str, str], Callable[[Mapping[str, Any]], str]] = {
    ("Pod", "spec.hostNetwork"): lambda pod: _go_bool(_dig(pod, "spec.hostNetwork")),
    ("Pod", "status.podIP"): _pod_ip,
    ("Pod", "status.podIPs"): lambda pod: "",  # accepted by the conversion, absent from the field set
    ("Node", "spec.unschedulable"): lambda node: _go_bool(_dig(node, "spec.unschedulable")),
    ("Event", "source"): lambda event: _field_text(_dig(event, "source.component")),
}


def _escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(value: str) -> str:
    """fields.UnescapeValue, with its error messages."""
    if not any(char in value for char in "\\,="):
        return value
    result: list[str] = []
    in_slash = False
    for char in value:
        if in_slash:
            if char not in "\\,=":
                raise bad_request(f"invalid field selector: invalid escape sequence: \\{char}")
            result.append(char)
            in_slash = False
        elif char == "\\":
            in_slash = True
        elif char in ",=":
            # Go formats the rune with %v, i.e. as its code point.
            raise bad_request(f"invalid field selector: unescaped character in value: {ord(char)}")
        else:
            result.append(char)
    if in_slash:
        raise bad_request("invalid field selector: invalid escape sequence: \\")
    return "".join(result)


def _split_field_terms(text: str) -> list[str]:
    terms: list[str] = []
    start, in_slash = 0, False
    for index, char in enumerate(text):
        if in_slash:
            in_slash = False
        elif char == "\\":
            in_slash = True
        elif char == ",":
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return terms


def _split_field_term(term: str) -> tuple[str, str, str] | None:
    for index in range(len(term)):
        for operator in ("!=", "==", "="):
            if term.startswith(operator, index):
                return term[:index], operator, term[index + len(operator) :]
    return None


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: str  # "=", "==" or "!="
    value: str

    def __str__(self) -> str:
        operator = "!=" if self.operator == "!=" else "="
        return f"{self.field}{operator}{_escape_field_value(self.value)}"


class FieldSelector:
    """A conjunction of `field=value` / `field!=value` terms over selectable fields."""

    def __init__(self, requirements: Iterable[FieldRequirement] = ()) -> None:
        self.requirements: tuple[FieldRequirement, ...] = tuple(requirements)

    @classmethod
    def everything(cls) -> FieldSelector:
        return cls()

    @classmethod
    def parse(cls, text: str, extra_fields: Collection[str] | None = None) -> FieldSelector:
        """The `fieldSelector` query parameter, over metadata.name, metadata.namespace and `extra_fields`.

        With `extra_fields` None the kind is taken to have no field label conversion of its own and an
        unknown field gets the default conversion's message; otherwise the message is
        `field label not supported: <field>`. Syntax errors and unsupported fields raise ApiError 400.
        Prefer :meth:`parse_for`, which knows each kind's exact set.
        """
        supported = None if extra_fields is None else _DEFAULT_FIELD_LABELS | frozenset(extra_fields)
        return cls._parse(text, supported)

    @classmethod
    def parse_for(cls, text: str, resource: ResourceType, selectable_fields: Iterable[str] = ()) -> FieldSelector:
        """`fieldSelector` for `resource`, accepting exactly the field labels kube-apiserver accepts for it.

        For custom resources pass the CRD version's `selectableFields` as labels (`spec.color`, no dot).
        """
        return cls._parse(text, supported_field_labels(resource, selectable_fields))

    @classmethod
    def parse_unconverted(cls, text: str) -> FieldSelector:
        """`text` with its field labels as written and unchecked, as the apiserver's RequestInfo reads it."""
        return cls(_parse_field_terms(text))

    @classmethod
    def _parse(cls, text: str, supported: Collection[str] | None) -> FieldSelector:
        parsed = _parse_field_terms(text)
        # The apiserver converts field labels only after the whole selector parsed.
        return cls(FieldRequirement(_convert_field_label(r.field, supported), r.operator, r.value) for r in parsed)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def exact_match(self, field: str) -> str | None:
        """The value `field` must equal, if one term requires it (fields.Selector.RequiresExactMatch)."""
        for requirement in self.requirements:
            if requirement.field == field and requirement.operator != "!=":
                return requirement.value
        return None

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((_selectable_value(obj, r.field) == r.value) != (r.operator == "!=") for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSelector) and self.requirements == other.requirements

    def __hash__(self) -> int:
        return hash(self.requirements)


def _parse_field_terms(text: str) -> list[FieldRequirement]:
    terms = sorted(_split_field_terms(text)) if text else []
    parsed: list[FieldRequirement] = []
    for term in terms:
        if not term:
            continue
        split = _split_field_term(term)
        if split is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        field, operator, raw_value = split
        parsed.append(FieldRequirement(field, operator, _unescape_field_value(raw_value)))
    return parsed


def _convert_field_label(label: str, supported: Collection[str] | None) -> str:
    if supported is None:
        if label not in _DEFAULT_FIELD_LABELS:
            only = '"metadata.name", "metadata.namespace"'
            raise bad_request(f"{_go_quote(label)} is not a known field selector: only {only}")
        return label
    if label not in supported:
        raise bad_request(f"field label not supported: {label}")
    return _FIELD_LABEL_RENAMES.get(label, label)


def _selectable_value(obj: Mapping[str, Any], field: str) -> str:
    if obj.get("apiVersion", "v1") == "v1":
        special = _SPECIAL_FIELDS.get((str(obj.get("kind", "")), field))
        if special is not None:
            return special(obj)
    return _field_text(_dig(obj, field))
