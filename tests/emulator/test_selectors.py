"""Label and field selectors: kube-apiserver's grammar, matching rules and error messages.

The emulator's selector module is tested directly; the tables of operators and error messages are then replayed
through the API (the tests marked `cluster`), so that a real kube-apiserver answers them the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_emulator.errors import ApiError
from kube_emulator.resources import BUILTIN_TYPES, ResourceType
from kube_emulator.selectors import FieldSelector, LabelSelector

from tests.raw_api import RawApi, raw_api

LABEL_VALUE_RULES = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
    "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
NAME_PART_RULES = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
    "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


def builtin(kind: str) -> ResourceType:
    return next(rtype for rtype in BUILTIN_TYPES if rtype.kind == kind)


def bad_request(call: Any, *args: Any) -> str:
    with pytest.raises(ApiError) as caught:
        call(*args)
    assert caught.value.code == 400
    assert caught.value.reason == "BadRequest"
    return caught.value.message


# --- label selectors: operators -------------------------------------------------------------------------


LABEL_OPERATOR_CASES: list[tuple[Any, ...]] = [
    ("app=web", {"app": "web"}, True),
    ("app=web", {"app": "db"}, False),
    ("app=web", {}, False),
    ("app==web", {"app": "web"}, True),
    ("app==web", {"app": "db"}, False),
    ("app!=web", {"app": "db"}, True),
    ("app!=web", {"app": "web"}, False),
    ("app!=web", {}, True),  # a missing label satisfies !=
    ("tier in (front,back)", {"tier": "back"}, True),
    ("tier in (front,back)", {"tier": "db"}, False),
    ("tier in (front,back)", {}, False),
    ("tier notin (front,back)", {"tier": "db"}, True),
    ("tier notin (front,back)", {"tier": "front"}, False),
    ("tier notin (front,back)", {}, True),  # a missing label satisfies notin
    ("canary", {"canary": ""}, True),
    ("canary", {"app": "web"}, False),
    ("!canary", {"app": "web"}, True),
    ("!canary", {"canary": "true"}, False),
    ("replicas>2", {"replicas": "3"}, True),
    ("replicas>2", {"replicas": "2"}, False),
    ("replicas>2", {"replicas": "many"}, False),
    ("replicas<2", {"replicas": "1"}, True),
    ("replicas<2", {}, False),
    ("app=", {"app": ""}, True),
    ("app=", {}, False),
    ("tier in ()", {"tier": ""}, True),
    ("example.com/team=ml", {"example.com/team": "ml"}, True),
]


@pytest.mark.parametrize(("selector", "labels", "expected"), LABEL_OPERATOR_CASES)
def test_label_selector_operator(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert LabelSelector.parse(selector).matches(labels) is expected


def test_requirements_are_anded() -> None:
    selector = LabelSelector.parse("app=web,tier notin (db),!legacy")
    assert selector.matches({"app": "web", "tier": "front"})
    assert not selector.matches({"app": "web", "tier": "db"})
    assert not selector.matches({"app": "web", "legacy": "yes"})
    assert not selector.matches({"tier": "front"})


def test_whitespace_is_tolerated() -> None:
    selector = LabelSelector.parse("  app = web ,\ttier in ( front , back ) , ! legacy ")
    assert str(selector) == "app=web,!legacy,tier in (back,front)"
    assert selector.matches({"app": "web", "tier": "front"})


def test_empty_selector_matches_everything() -> None:
    selector = LabelSelector.parse("")
    assert selector.empty
    assert selector.matches({})
    assert selector.matches(None)
    assert selector.matches({"any": "thing"})


def test_in_and_notin_are_plain_words_outside_the_operator_position() -> None:
    assert LabelSelector.parse("in").matches({"in": "x"})
    assert LabelSelector.parse("mode in (in,notin)").matches({"mode": "notin"})


def test_empty_members_of_a_value_set_stand_for_the_empty_value() -> None:
    selector = LabelSelector.parse("x in (foo,,baz),y,z notin ()")
    assert str(selector) == "x in (,baz,foo),y,z notin ()"
    assert selector.matches({"x": "", "y": "1"})


def test_selectors_print_canonically_sorted_by_key() -> None:
    assert str(LabelSelector.parse("b!=2,a==1,c notin (z,y)")) == "a==1,b!=2,c notin (y,z)"
    assert LabelSelector.parse("b=2,a=1") == LabelSelector.parse("a=1, b=2")


# --- label selectors: errors ----------------------------------------------------------------------------


LABEL_ERROR_CASES: list[tuple[Any, ...]] = [
    ("a in b", "unable to parse requirement: found 'b' expected: '('"),
    ("a notin", "unable to parse requirement: found '' expected: '('"),
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a!", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"),
    ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a=(", "unable to parse requirement: found '(', expected: identifier"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
    ("a,", "found '', expected: identifier after ','"),
    (",a", "found ',', expected: !, identifier, or 'end of string'"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
    (
        "a<x",
        'unable to parse requirement: values[0]: Invalid value: "x": '
        "for 'Gt', 'Lt' operators, the value must be an integer",
    ),
    ("_x=y", f'unable to parse requirement: <nil>: Invalid value: "_x": {NAME_PART_RULES}'),
    (
        "app=-bad",
        f'unable to parse requirement: values[0][app]: Invalid value: "-bad": {LABEL_VALUE_RULES}',
    ),
    (
        "app=" + "v" * 64,
        f'unable to parse requirement: values[0][app]: Invalid value: "{"v" * 64}": must be no more than 63 bytes',
    ),
    (
        "a/b/c",
        'unable to parse requirement: <nil>: Invalid value: "a/b/c": a valid label key must consist of '
        "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' "
        "(e.g. 'example.com/MyName')",
    ),
    (
        "Example.com/a",
        'unable to parse requirement: <nil>: Invalid value: "Example.com/a": prefix part a lowercase '
        "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
        "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ),
    (
        "/a",
        'unable to parse requirement: <nil>: Invalid value: "/a": prefix part must be non-empty',
    ),
    (
        "k" * 64,
        f'unable to parse requirement: <nil>: Invalid value: "{"k" * 64}": name part must be no more than 63 bytes',
    ),
]


@pytest.mark.parametrize(("selector", "message"), LABEL_ERROR_CASES)
def test_label_selector_errors_read_like_the_apiserver(selector: str, message: str) -> None:
    assert bad_request(LabelSelector.parse, selector) == message


def test_several_requirement_errors_are_aggregated() -> None:
    assert bad_request(LabelSelector.parse, "a>-1") == (
        f'unable to parse requirement: values[0][a]: Invalid value: "-1": {LABEL_VALUE_RULES}'
    )
    message = bad_request(LabelSelector.parse, "a<x_")
    assert message.startswith("unable to parse requirement: [values[0]: Invalid value: \"x_\": for 'Gt', 'Lt'")
    assert message.endswith(f'values[0][a]: Invalid value: "x_": {LABEL_VALUE_RULES}]')


# --- metav1.LabelSelector -------------------------------------------------------------------------------


def test_from_label_selector_combines_match_labels_and_expressions() -> None:
    selector = LabelSelector.from_label_selector(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "back"]},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "owner", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        }
    )
    assert selector.matches({"app": "web", "tier": "front", "owner": "me"})
    assert selector.matches({"app": "web", "tier": "back", "env": "dev", "owner": ""})
    assert not selector.matches({"app": "web", "tier": "front", "env": "prod", "owner": "me"})
    assert not selector.matches({"app": "web", "tier": "front"})
    assert not selector.matches({"app": "web", "tier": "front", "owner": "me", "legacy": "1"})
    assert not selector.matches({"app": "db", "tier": "front", "owner": "me"})


@pytest.mark.parametrize("selector", [None, {}, {"matchLabels": {}, "matchExpressions": []}])
def test_absent_or_empty_label_selector_matches_everything(selector: dict[str, Any] | None) -> None:
    assert LabelSelector.from_label_selector(selector).matches({"anything": "at-all"})


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
            '"Equals" is not a valid label selector operator',
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            'values: Invalid value: ["x"]: values set must be empty for exists and does not exist',
        ),
        ({"matchLabels": {"_bad": "x"}}, f'key: Invalid value: "_bad": {NAME_PART_RULES}'),
        ({"matchLabels": {"app": "x y"}}, f'values[0][app]: Invalid value: "x y": {LABEL_VALUE_RULES}'),
    ],
)
def test_invalid_label_selector_objects_are_rejected(selector: dict[str, Any], message: str) -> None:
    assert bad_request(LabelSelector.from_label_selector, selector) == message


# --- field selectors ------------------------------------------------------------------------------------

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web-1", "namespace": "prod"},
    "spec": {"nodeName": "node-a", "restartPolicy": "Always"},
    "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}]},
}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("metadata.name=web-1", True),
        ("metadata.name==web-1", True),
        ("metadata.name=web-2", False),
        ("metadata.name!=web-2", True),
        ("metadata.name!=web-1", False),
        ("metadata.namespace=prod,metadata.name=web-1", True),
        ("metadata.namespace=prod,metadata.name!=web-1", False),
        ("", True),
        (",", True),
    ],
)
def test_field_selector_on_metadata(selector: str, expected: bool) -> None:
    assert FieldSelector.parse(selector).matches(POD) is expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("status.phase=Running", True),
        ("status.phase!=Running", False),
        ("spec.nodeName=node-a", True),
        ("spec.nodeName=", False),
        ("spec.schedulerName=", True),  # an absent field selects as the empty string
        ("spec.schedulerName!=", False),
    ],
)
def test_field_selector_on_extra_fields(selector: str, expected: bool) -> None:
    extras = {"status.phase", "spec.nodeName", "spec.schedulerName"}
    assert FieldSelector.parse(selector, extras).matches(POD) is expected


def test_unsupported_field_messages() -> None:
    assert bad_request(FieldSelector.parse, "spec.foo=1", {"status.phase"}) == "field label not supported: spec.foo"
    assert bad_request(FieldSelector.parse, "spec.replicas=1") == (
        '"spec.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )


FIELD_SYNTAX_ERROR_CASES: list[tuple[Any, ...]] = [
    ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
    ("metadata.name=a=b", "invalid field selector: unescaped character in value: 61"),
    ("metadata.name=a\\x", "invalid field selector: invalid escape sequence: \\x"),
    ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
]


@pytest.mark.parametrize(("selector", "message"), FIELD_SYNTAX_ERROR_CASES)
def test_field_selector_syntax_errors(selector: str, message: str) -> None:
    assert bad_request(FieldSelector.parse, selector) == message


def test_escaped_field_values() -> None:
    selector = FieldSelector.parse("metadata.name=a\\,b\\=c")
    assert selector.matches({"metadata": {"name": "a,b=c"}})
    assert str(selector) == "metadata.name=a\\,b\\=c"


def test_parse_for_uses_each_kinds_field_labels() -> None:
    pods = FieldSelector.parse_for("spec.host=node-a,status.podIP=10.0.0.5", builtin("Pod"))
    assert pods.exact_match("spec.nodeName") == "node-a"  # old clients' spec.host is converted
    assert pods.matches(POD)
    assert bad_request(FieldSelector.parse_for, "metadata.namespace=x", builtin("Namespace")) == (
        "field label not supported: metadata.namespace"
    )
    assert bad_request(FieldSelector.parse_for, "status.phase=x", builtin("Deployment")) == (
        '"status.phase" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )
    assert FieldSelector.parse_for("type=Opaque", builtin("Secret")).matches({"type": "Opaque"})


def test_parse_for_custom_resources() -> None:
    widgets = ResourceType("example.com", "v1", "widgets", "widget", "Widget", True, from_crd=True)
    gadgets = ResourceType("example.com", "v1", "gadgets", "gadget", "Gadget", False, from_crd=True)
    selector = FieldSelector.parse_for("spec.color=red", widgets, ["spec.color"])
    assert selector.matches({"spec": {"color": "red"}})
    assert FieldSelector.parse_for("metadata.namespace=a", widgets).matches({"metadata": {"namespace": "a"}})
    assert bad_request(FieldSelector.parse_for, "metadata.namespace=a", gadgets) == (
        "field label not supported: metadata.namespace"
    )
    assert bad_request(FieldSelector.parse_for, "spec.size=1", widgets, ["spec.color"]) == (
        "field label not supported: spec.size"
    )


def test_fields_with_a_computed_selectable_value() -> None:
    event = {"apiVersion": "v1", "kind": "Event", "source": {"component": "kubelet"}, "type": "Warning"}
    events = FieldSelector.parse_for("source=kubelet,type=Warning", builtin("Event"))
    assert events.matches(event)
    host_network = FieldSelector.parse_for("spec.hostNetwork=false", builtin("Pod"))
    assert host_network.matches(POD)  # an unset bool selects as "false"
    assert not host_network.matches({**POD, "spec": {"hostNetwork": True}})
    first_ip = {**POD, "status": {"podIP": "", "podIPs": [{"ip": "10.0.0.9"}, {"ip": "fd00::9"}]}}
    assert FieldSelector.parse_for("status.podIP=10.0.0.9", builtin("Pod")).matches(first_ip)


def test_exact_match_ignores_negations() -> None:
    selector = FieldSelector.parse("metadata.name!=a,metadata.namespace=ns")
    assert selector.exact_match("metadata.name") is None
    assert selector.exact_match("metadata.namespace") == "ns"


# --- the same, through the API ---------------------------------------------------------------------------


@pytest.fixture
def raw(kubeconfig: Path) -> Iterator[RawApi]:
    with raw_api(kubeconfig) as api:
        yield api


@pytest.mark.cluster
def test_label_selector_operators_through_the_api(raw: RawApi, namespace: str) -> None:
    """Each case's ConfigMap, labelled as the case says, is listed by the case's selector or not."""
    configmaps = f"/api/v1/namespaces/{namespace}/configmaps"
    names = [f"case-{index}" for index in range(len(LABEL_OPERATOR_CASES))]
    for name, (_, labels, _) in zip(names, LABEL_OPERATOR_CASES, strict=True):
        assert raw.post(configmaps, {"metadata": {"name": name, "labels": labels}}).status_code == 201
    for name, (selector, labels, expected) in zip(names, LABEL_OPERATOR_CASES, strict=True):
        answer = raw.get(configmaps, params={"labelSelector": selector})
        assert answer.status_code == 200, answer.text
        listed = {item["metadata"]["name"] for item in answer.json()["items"]}
        assert (name in listed) is expected, (selector, labels)


@pytest.mark.cluster
def test_label_selector_errors_through_the_api(raw: RawApi, namespace: str) -> None:
    for selector, message in LABEL_ERROR_CASES:
        answer = raw.get(f"/api/v1/namespaces/{namespace}/configmaps", params={"labelSelector": selector})
        assert (answer.status_code, answer.json()["reason"]) == (400, "BadRequest"), selector
        assert answer.json()["message"] == message, selector


@pytest.mark.cluster
def test_field_selector_errors_through_the_api(raw: RawApi, namespace: str) -> None:
    pods = f"/api/v1/namespaces/{namespace}/pods"
    for selector, message in FIELD_SYNTAX_ERROR_CASES:
        answer = raw.get(pods, params={"fieldSelector": selector})
        assert (answer.status_code, answer.json()["message"]) == (400, message), selector
    # Each kind's own field labels: Pods have status.phase among others, ConfigMaps the metadata ones only.
    assert raw.get(pods, params={"fieldSelector": "status.phase=Running"}).status_code == 200
    unknown = raw.get(pods, params={"fieldSelector": "spec.foo=1"})
    assert unknown.json()["message"] == "field label not supported: spec.foo"
    configmaps = raw.get(f"/api/v1/namespaces/{namespace}/configmaps", params={"fieldSelector": "spec.replicas=1"})
    assert configmaps.json()["message"] == (
        '"spec.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )
