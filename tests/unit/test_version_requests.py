"""VersionService's pure parts: validation naming the field with no config value in any message, the spec each
call writes, what is written given the RuntimeVersion as it is, and what its status says about a write."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema  # no types-jsonschema in the dev dependencies
import pytest
import yaml
from k8s_manager_facade.generated import version_pb2
from k8s_manager_facade.runtime_requests import InvalidRequestError
from k8s_manager_facade.status_hub import Verdict
from k8s_manager_facade.version_requests import (
    CONFIG_KEY_MAX_LENGTH,
    EDGE_ID,
    ID_MAX_LENGTH,
    IMAGE,
    MAX_EDGES,
    MAX_NODES,
    MAX_REPORTED_PROBLEMS,
    MAX_WORKFLOWS,
    PATH_MAX_LENGTH,
    RELATIVE_PATH,
    VERSION_NAME_MAX_LENGTH,
    WORKFLOW_ENTRYPOINT,
    WORKFLOW_ENTRYPOINT_MAX_LENGTH,
    Create,
    Goal,
    Patch,
    PreconditionFailedError,
    Rpc,
    VersionChange,
    assess_version,
    plan_write,
    validate,
)

CRD = Path(__file__).parents[2] / "crds" / "runtimeversions.kre.konstellation.io.yaml"
# Distinctive config values, so that a message quoting any of them is caught.
CONFIG_VALUES = ("Hola-qZ81vW", "conf-value-Xp3k")


def greeter(**changes: Any) -> dict[str, Any]:
    """The krt-template greeter as the Admin API sends it to Start; `changes` maps `a__0__b` paths to values."""
    version: dict[str, Any] = {
        "id": "5ee3a1f2c4b1a9d3e8f70a61",
        "name": "greeter-v1",
        "namespace": "kre-demo",
        "entrypoint": {"proto_file": "public_input.proto", "image": "konstellation/kre-entrypoint:0.9.0", "src": "src"},
        "config": [{"key": "GREETING", "value": CONFIG_VALUES[0]}, {"key": "LOG_LEVEL", "value": CONFIG_VALUES[1]}],
        "workflows": [
            {
                "id": "wf-greeting",
                "name": "greeting",
                "entrypoint": "Greet",
                "nodes": [{"id": "qmzhfkxzbn", "name": "greeter", "image": "konstellation/kre-py:0.9.0", "src": "g"}],
            },
            {
                "id": "wf-saluting",
                "name": "saluting",
                "entrypoint": "Salute",
                "nodes": [
                    {"id": "tbwfojcjyx", "name": "greeter", "image": "konstellation/kre-py:0.9.0", "src": "g"},
                    {"id": "hsqkdnzwpa", "name": "formatter", "image": "konstellation/kre-py:0.9.0", "src": "f"},
                ],
                "edges": [{"id": "ykvnsgzuqe", "fromNode": "tbwfojcjyx", "toNode": "hsqkdnzwpa"}],
            },
        ],
    }
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target: Any = version
        for parent in parents:
            target = target[int(parent)] if parent.isdigit() else target[parent]
        if value is DROP:
            del target[int(leaf) if leaf.isdigit() else leaf]
        elif leaf.isdigit():
            target[int(leaf)] = value
        else:
            target[leaf] = value
    return version


DROP = object()


def request(version: dict[str, Any] | None) -> version_pb2.Request:
    return version_pb2.Request() if version is None else version_pb2.Request(version=version_pb2.Version(**version))


def only(name: str = "greeter-v1", namespace: str = "kre-demo", **fields: Any) -> dict[str, Any]:
    """A request as the Admin API sends Stop, Publish and Unpublish: name and namespace (UpdateConfig: + config)."""
    return {"name": name, "namespace": namespace, **fields}


def node(node_id: str, name: str = "greeter", image: str = "kre-py:1", src: str = "g") -> dict[str, str]:
    return {"id": node_id, "name": name, "image": image, "src": src}


def workflow(index: int, nodes: list[dict[str, str]], edges: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"id": f"wf{index}", "name": f"w{index}", "entrypoint": f"M{index}", "nodes": nodes, "edges": edges or []}


W0, W1 = "version.workflows[0]", "version.workflows[1]"
# (case id, RPC, the request's version or None, the field the message must name)
BAD_REQUESTS: list[tuple[str, Rpc, dict[str, Any] | None, str]] = [
    # every RPC: the version, its name and its runtime namespace
    ("Start without version", Rpc.START, None, "version"),
    ("Stop without version", Rpc.STOP, None, "version"),
    ("Publish without version", Rpc.PUBLISH, None, "version"),
    ("Unpublish without version", Rpc.UNPUBLISH, None, "version"),
    ("UpdateConfig without version", Rpc.UPDATE_CONFIG, None, "version"),
    ("Start without name", Rpc.START, greeter(name=""), "version.name"),
    ("Stop without name", Rpc.STOP, only(name=""), "version.name"),
    ("Publish with an upper-case name", Rpc.PUBLISH, only(name="Greeter-v1"), "version.name"),
    ("Unpublish with an underscore in the name", Rpc.UNPUBLISH, only(name="greeter_v1"), "version.name"),
    ("UpdateConfig with a dotted name", Rpc.UPDATE_CONFIG, only(name="greeter.v1"), "version.name"),
    ("name of 60 characters", Rpc.STOP, only(name="g" * 60), "version.name"),
    ("name ending with a dash", Rpc.START, greeter(name="greeter-"), "version.name"),
    ("name with a trailing newline", Rpc.PUBLISH, only(name="greeter-v1\n"), "version.name"),
    ("Start without namespace", Rpc.START, greeter(namespace=""), "version.namespace"),
    ("Stop with a bad namespace", Rpc.STOP, only(namespace="kre demo"), "version.namespace"),
    ("Publish with a long namespace", Rpc.PUBLISH, only(namespace="k" * 64), "version.namespace"),
    ("UpdateConfig without namespace", Rpc.UPDATE_CONFIG, only(namespace=""), "version.namespace"),
    # Start: the whole version
    ("no id", Rpc.START, greeter(id=""), "version.id"),
    ("id too long", Rpc.START, greeter(id="i" * (ID_MAX_LENGTH + 1)), "version.id"),
    ("no entrypoint", Rpc.START, greeter(entrypoint=DROP), "version.entrypoint"),
    ("absolute proto file", Rpc.START, greeter(entrypoint__proto_file="/etc/passwd"), "version.entrypoint.proto_file"),
    ("proto file escaping", Rpc.START, greeter(entrypoint__proto_file="../x.proto"), "version.entrypoint.proto_file"),
    ("no proto file", Rpc.START, greeter(entrypoint__proto_file=""), "version.entrypoint.proto_file"),
    ("image with a space", Rpc.START, greeter(entrypoint__image="kre entry"), "version.entrypoint.image"),
    ("no entrypoint src", Rpc.START, greeter(entrypoint__src=""), "version.entrypoint.src"),
    ("entrypoint src empty segment", Rpc.START, greeter(entrypoint__src="src//main.py"), "version.entrypoint.src"),
    ("no workflow", Rpc.START, greeter(workflows=[]), "version.workflows"),
    (
        "too many workflows",
        Rpc.START,
        greeter(workflows=[workflow(i, [node(f"n{i}")]) for i in range(33)]),
        "version.workflows",
    ),
    ("workflow without nodes", Rpc.START, greeter(workflows__0__nodes=[]), f"{W0}.nodes"),
    ("workflow without id", Rpc.START, greeter(workflows__1__id=""), f"{W1}.id"),
    ("duplicate workflow id", Rpc.START, greeter(workflows__1__id="wf-greeting"), f"{W1}.id"),
    ("workflow without name", Rpc.START, greeter(workflows__0__name=""), f"{W0}.name"),
    ("entrypoint not a method", Rpc.START, greeter(workflows__0__entrypoint="Greet-Me"), f"{W0}.entrypoint"),
    ("duplicate entrypoint", Rpc.START, greeter(workflows__1__entrypoint="Greet"), f"{W1}.entrypoint"),
    ("node id upper case", Rpc.START, greeter(workflows__0__nodes__0__id="QMZ"), f"{W0}.nodes[0].id"),
    ("node id empty", Rpc.START, greeter(workflows__1__nodes__1__id=""), f"{W1}.nodes[1].id"),
    ("node name underscore", Rpc.START, greeter(workflows__0__nodes__0__name="greet_er"), f"{W0}.nodes[0].name"),
    (
        "duplicate node id across workflows",
        Rpc.START,
        greeter(workflows__1__nodes__0__id="qmzhfkxzbn"),
        f"{W1}.nodes[0].id",
    ),
    (
        "duplicate node id in a workflow",
        Rpc.START,
        greeter(workflows__1__nodes__1__id="tbwfojcjyx"),
        f"{W1}.nodes[1].id",
    ),
    ("node without image", Rpc.START, greeter(workflows__0__nodes__0__image=""), f"{W0}.nodes[0].image"),
    ("node src escaping", Rpc.START, greeter(workflows__0__nodes__0__src="../../etc"), f"{W0}.nodes[0].src"),
    (
        "object name over 63 characters",
        Rpc.START,
        greeter(name="greeter-version-one", workflows__0__nodes__0__name="a-rather-long-greeter-node-name-here"),
        f"{W0}.nodes[0]",
    ),
    ("too many nodes", Rpc.START, greeter(workflows__0__nodes=[node(f"n{i}") for i in range(51)]), f"{W0}.nodes"),
    (
        "edge from an unknown node",
        Rpc.START,
        greeter(workflows__1__edges__0__fromNode="qmzhfkxzbn"),
        f"{W1}.edges[0].fromNode",
    ),
    ("edge to an unknown node", Rpc.START, greeter(workflows__1__edges__0__toNode="nowhere"), f"{W1}.edges[0].toNode"),
    ("edge without toNode", Rpc.START, greeter(workflows__1__edges__0__toNode=""), f"{W1}.edges[0].toNode"),
    ("edge id with a space", Rpc.START, greeter(workflows__1__edges__0__id="a b"), f"{W1}.edges[0].id"),
    ("edge id a wildcard", Rpc.START, greeter(workflows__1__edges__0__id="subject.>"), f"{W1}.edges[0].id"),
    (
        "duplicate edge id",
        Rpc.START,
        greeter(workflows__1__edges=[{"id": "e1", "fromNode": "tbwfojcjyx", "toNode": "hsqkdnzwpa"}] * 2),
        f"{W1}.edges[1].id",
    ),
    ("config key empty", Rpc.START, greeter(config__0__key=""), "version.config[0].key"),
    ("config key with a space", Rpc.START, greeter(config__1__key="LOG LEVEL"), "version.config[1].key"),
    ("config key starting with a digit", Rpc.START, greeter(config__0__key="1GREETING"), "version.config[0].key"),
    # UpdateConfig: name, namespace and config
    (
        "UpdateConfig key with '='",
        Rpc.UPDATE_CONFIG,
        only(config=[{"key": "A=B", "value": CONFIG_VALUES[0]}]),
        "version.config[0].key",
    ),
    (
        "UpdateConfig empty key",
        Rpc.UPDATE_CONFIG,
        only(config=[{"key": "", "value": CONFIG_VALUES[1]}]),
        "version.config[0].key",
    ),
    (
        "UpdateConfig key too long",
        Rpc.UPDATE_CONFIG,
        only(config=[{"key": "K" * (CONFIG_KEY_MAX_LENGTH + 1), "value": CONFIG_VALUES[0]}]),
        "version.config[0].key",
    ),
    (
        "UpdateConfig over 1 MiB",
        Rpc.UPDATE_CONFIG,
        only(config=[{"key": f"K{i}", "value": CONFIG_VALUES[0] * 30_000} for i in range(4)]),
        "version.config",
    ),
]


@pytest.mark.parametrize(
    ("rpc", "version", "field"), [case[1:] for case in BAD_REQUESTS], ids=[case[0] for case in BAD_REQUESTS]
)
def test_a_bad_request_names_the_field_and_no_config_value(rpc: Rpc, version: dict[str, Any] | None, field: str):
    with pytest.raises(InvalidRequestError) as rejected:
        validate(rpc, request(version))

    message = str(rejected.value)
    assert field in rejected.value.fields
    assert f"{field}: " in message
    for value in CONFIG_VALUES:
        assert value not in message


def test_every_problem_is_reported_in_field_order() -> None:
    version = greeter(id="", entrypoint__image="", workflows__0__nodes__0__id="X", workflows__1__edges__0__toNode="z")

    with pytest.raises(InvalidRequestError) as rejected:
        validate(Rpc.START, request(version))

    assert rejected.value.fields == (
        "version.id",
        "version.entrypoint.image",
        f"{W0}.nodes[0].id",
        f"{W1}.edges[0].toNode",
    )


def test_messages_say_what_is_wrong() -> None:
    cases = {
        "version.name": (Rpc.STOP, only(name="Greeter")),
        f"{W1}.nodes[0].id": (Rpc.START, greeter(workflows__0__nodes__0__id="tbwfojcjyx")),
        f"{W1}.edges[0].toNode": (Rpc.START, greeter(workflows__1__edges__0__toNode="qmzhfkxzbn")),
        "version.config[0].key": (Rpc.UPDATE_CONFIG, only(config=[{"key": "9LIVES", "value": "x"}])),
    }
    messages = {}
    for field, (rpc, version) in cases.items():
        with pytest.raises(InvalidRequestError) as rejected:
            validate(rpc, request(version))
        messages[field] = str(rejected.value)

    assert messages["version.name"] == (
        'version.name: "Greeter" is invalid: a lowercase RFC 1123 label must consist of lower case alphanumeric '
        "characters or '-', and must start and end with an alphanumeric character"
    )
    assert messages[f"{W1}.nodes[0].id"] == (
        'version.workflows[1].nodes[0].id: duplicate node id "tbwfojcjyx", already at '
        f"{W0}.nodes[0].id; it must be unique"
    )
    assert messages[f"{W1}.edges[0].toNode"] == (
        'version.workflows[1].edges[0].toNode: "qmzhfkxzbn" is not the id of a node of version.workflows[1]'
    )
    assert messages["version.config[0].key"] == (
        "version.config[0].key: must be a valid environment variable name: letters, digits, '_', '-' or '.', "
        "not starting with a digit"
    )


def test_the_object_name_limit_counts_version_node_name_and_id() -> None:
    # 19 + 1 + 33 + 1 + 10 = 64: one too many; one character less is fine.
    too_long = greeter(name="greeter-version-one", workflows__0__nodes__0__name="n" * 33)
    just_fits = greeter(name="greeter-version-one", workflows__0__nodes__0__name="n" * 32)

    with pytest.raises(InvalidRequestError) as rejected:
        validate(Rpc.START, request(too_long))
    validate(Rpc.START, request(just_fits))

    assert str(rejected.value) == (
        f"{W0}.nodes[0]: the node's Deployment would be named "
        f'"greeter-version-one-{"n" * 33}-qmzhfkxzbn", 64 characters: '
        "'<version name>-<node name>-<node id>' must be no more than 63"
    )


def test_a_flood_of_problems_is_summed_up() -> None:
    version = greeter(config=[{"key": f"{i} bad", "value": "v"} for i in range(50)])

    with pytest.raises(InvalidRequestError) as rejected:
        validate(Rpc.START, request(version))

    assert len(rejected.value.problems) == MAX_REPORTED_PROBLEMS + 1
    assert str(rejected.value.problems[-1]) == "version: 30 more problems not listed"


def test_only_name_and_namespace_count_for_stop_publish_and_unpublish() -> None:
    # The Admin API sends nothing else; anything else is ignored, as by the original.
    for rpc in (Rpc.STOP, Rpc.PUBLISH, Rpc.UNPUBLISH):
        change = validate(rpc, request(only(config=[{"key": "not an env var", "value": "x"}], workflows=[])))
        assert (change.name, change.namespace) == ("greeter-v1", "kre-demo")


# ------------------------------------------------------------------------------------ what each call writes


def test_start_writes_the_whole_version_in_the_crds_names() -> None:
    change = validate(Rpc.START, request(greeter()))

    assert (change.name, change.namespace, change.goal) == ("greeter-v1", "kre-demo", Goal.APPLIED)
    assert change.spec == {
        "id": "5ee3a1f2c4b1a9d3e8f70a61",
        "entrypoint": {"protoFile": "public_input.proto", "image": "konstellation/kre-entrypoint:0.9.0", "src": "src"},
        "config": [{"key": "GREETING", "value": CONFIG_VALUES[0]}, {"key": "LOG_LEVEL", "value": CONFIG_VALUES[1]}],
        "workflows": [
            {
                "id": "wf-greeting",
                "name": "greeting",
                "entrypoint": "Greet",
                "nodes": [{"id": "qmzhfkxzbn", "name": "greeter", "image": "konstellation/kre-py:0.9.0", "src": "g"}],
                "edges": [],
            },
            {
                "id": "wf-saluting",
                "name": "saluting",
                "entrypoint": "Salute",
                "nodes": [
                    {"id": "tbwfojcjyx", "name": "greeter", "image": "konstellation/kre-py:0.9.0", "src": "g"},
                    {"id": "hsqkdnzwpa", "name": "formatter", "image": "konstellation/kre-py:0.9.0", "src": "f"},
                ],
                "edges": [{"id": "ykvnsgzuqe", "fromNode": "tbwfojcjyx", "toNode": "hsqkdnzwpa"}],
            },
        ],
        "desiredState": "Started",
    }


@pytest.mark.parametrize("rpc", [Rpc.START, Rpc.UPDATE_CONFIG])
def test_a_repeated_config_key_keeps_its_last_value(rpc: Rpc) -> None:
    config = [{"key": "A", "value": "1"}, {"key": "B", "value": "2"}, {"key": "A", "value": "3"}]
    version = greeter(config=config) if rpc is Rpc.START else only(config=config)

    change = validate(rpc, request(version))

    assert change.spec["config"] == [{"key": "A", "value": "3"}, {"key": "B", "value": "2"}]


@pytest.mark.parametrize(
    ("rpc", "spec", "goal"),
    [
        (Rpc.STOP, {"desiredState": "Stopped", "published": False}, Goal.APPLIED),
        (Rpc.PUBLISH, {"published": True}, Goal.PUBLISHED),
        (Rpc.UNPUBLISH, {"published": False}, Goal.UNPUBLISHED),
        (Rpc.UPDATE_CONFIG, {"config": [{"key": "LOG_LEVEL", "value": "DEBUG"}]}, Goal.APPLIED),
    ],
)
def test_the_other_calls_write_only_their_fields(rpc: Rpc, spec: dict[str, Any], goal: Goal) -> None:
    change = validate(rpc, request(only(config=[{"key": "LOG_LEVEL", "value": "DEBUG"}])))

    assert (change.spec, change.goal) == (spec, goal)


def test_replies_are_the_originals() -> None:
    replies = {rpc: validate(rpc, request(greeter())).reply for rpc in Rpc}

    assert replies == {
        Rpc.START: "Version 'greeter-v1' started",
        Rpc.STOP: "Version 'greeter-v1' stopped",
        Rpc.PUBLISH: "Version  'greeter-v1' published correctly. in namespace 'kre-demo'",
        Rpc.UNPUBLISH: "Version 'greeter-v1' unpublished",
        Rpc.UPDATE_CONFIG: "Version 'greeter-v1' config updated",
    }


# ------------------------------------------------------------------------------ given the RuntimeVersion


def stored(change: VersionChange, **spec: Any) -> dict[str, Any]:
    """The RuntimeVersion a first Start of `change` created, as the API holds it, with `spec` changes."""
    created = plan_write(change, None)
    assert isinstance(created, Create)
    version = copy.deepcopy(created.body)
    version["metadata"].update({"resourceVersion": "42", "generation": 1, "uid": "u-1"})
    version["spec"].update(spec)
    return version


def test_a_first_start_creates_an_unpublished_runtime_version() -> None:
    change = validate(Rpc.START, request(greeter()))

    plan = plan_write(change, None)

    assert isinstance(plan, Create)
    assert plan.body["apiVersion"] == "kre.konstellation.io/v1alpha1"
    assert plan.body["kind"] == "RuntimeVersion"
    assert plan.body["metadata"] == {"name": "greeter-v1", "namespace": "kre-demo"}
    assert plan.body["spec"] == {**change.spec, "published": False}


def test_start_again_as_it_is_writes_nothing() -> None:
    change = validate(Rpc.START, request(greeter()))

    assert plan_write(change, stored(change)) is None


def test_start_of_a_changed_or_stopped_version_patches_it_conditionally_and_keeps_published() -> None:
    change = validate(Rpc.START, request(greeter(entrypoint__image="konstellation/kre-entrypoint:1.0.0")))
    existing = stored(validate(Rpc.START, request(greeter())), desiredState="Stopped")

    plan = plan_write(change, existing)

    assert isinstance(plan, Patch)
    assert plan.body["metadata"] == {"resourceVersion": "42"}
    assert plan.body["spec"] == change.spec
    assert "published" not in plan.body["spec"]


@pytest.mark.parametrize("rpc", [Rpc.STOP, Rpc.PUBLISH, Rpc.UNPUBLISH, Rpc.UPDATE_CONFIG])
def test_a_version_never_started_is_a_failed_precondition(rpc: Rpc) -> None:
    change = validate(rpc, request(only()))

    with pytest.raises(PreconditionFailedError) as refused:
        plan_write(change, None)

    assert str(refused.value) == (
        "Version 'greeter-v1' was never started in namespace 'kre-demo' (there is no RuntimeVersion 'greeter-v1')"
    )


def test_a_stopped_version_cannot_be_published() -> None:
    existing = stored(validate(Rpc.START, request(greeter())), desiredState="Stopped")

    with pytest.raises(PreconditionFailedError, match="is stopped: start it before publishing it"):
        plan_write(validate(Rpc.PUBLISH, request(only())), existing)


def test_a_version_being_deleted_is_left_alone() -> None:
    existing = stored(validate(Rpc.START, request(greeter())))
    existing["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"

    with pytest.raises(PreconditionFailedError, match="is being deleted; Start it once it is gone"):
        plan_write(validate(Rpc.START, request(greeter())), existing)


def test_stop_and_publish_patch_only_when_something_changes() -> None:
    existing = stored(validate(Rpc.START, request(greeter())))
    stop, publish, unpublish = (validate(rpc, request(only())) for rpc in (Rpc.STOP, Rpc.PUBLISH, Rpc.UNPUBLISH))

    stop_plan = plan_write(stop, existing)
    publish_plan = plan_write(publish, existing)

    assert isinstance(stop_plan, Patch)
    assert stop_plan.body == {
        "metadata": {"resourceVersion": "42"},
        "spec": {"desiredState": "Stopped", "published": False},
    }
    assert isinstance(publish_plan, Patch)
    assert publish_plan.body["spec"] == {"published": True}
    assert plan_write(unpublish, existing) is None  # not published: nothing to do


# -------------------------------------------------------------------------------------------- its status


def with_status(generation: int, observed: int | None, *conditions: dict[str, Any]) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": list(conditions)}
    if observed is not None:
        status["observedGeneration"] = observed
    return {"metadata": {"name": "greeter-v1", "generation": generation}, "status": status}


def condition(kind: str, status: str, reason: str, message: str = "", generation: int | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"type": kind, "status": status, "reason": reason, "message": message}
    if generation is not None:
        found["observedGeneration"] = generation
    return found


def test_no_status_is_waiting() -> None:
    assessment = assess_version({"metadata": {"generation": 1}}, 1, Goal.APPLIED)

    assert assessment.verdict is Verdict.WAITING
    assert assessment.detail == "the operator has not reported on it yet (no status; generation 1 written)"


def test_a_status_for_an_older_generation_is_waiting_and_says_what_is_in_flight() -> None:
    version = with_status(
        3,
        2,
        condition("Progressing", "True", "Applying", "creating Deployment greeter-v1-entrypoint", 3),
        condition("Ready", "True", "Ready", "", 2),
    )

    assessment = assess_version(version, 3, Goal.APPLIED)

    assert assessment.verdict is Verdict.WAITING
    assert assessment.detail == (
        "the operator has not applied generation 3 of its spec yet (its status is for generation 2); "
        "Progressing: Applying: creating Deployment greeter-v1-entrypoint"
    )


def test_applied_once_the_observed_generation_reaches_the_written_one() -> None:
    # A later write by someone else (generation 4) does not hold up a call that wrote generation 3.
    assert assess_version(with_status(4, 3), 3, Goal.APPLIED).verdict is Verdict.READY
    assert assess_version(with_status(3, 3), 3, Goal.APPLIED).verdict is Verdict.READY


def test_stalled_on_an_invalid_spec_of_this_generation_is_terminal() -> None:
    version = with_status(2, 1, condition("Stalled", "True", "InvalidSpec", "spec.workflows[0]: no nodes", 2))

    assessment = assess_version(version, 2, Goal.APPLIED)

    assert assessment.verdict is Verdict.FAILED
    assert assessment.detail == "InvalidSpec: spec.workflows[0]: no nodes"


def test_stalled_for_an_older_generation_or_another_reason_is_waiting() -> None:
    stale = with_status(2, 1, condition("Stalled", "True", "InvalidSpec", "bad", 1))
    blocked = with_status(2, 1, condition("Stalled", "True", "QuotaExceeded", "pods: limited to 10", 2))

    assert assess_version(stale, 2, Goal.APPLIED).verdict is Verdict.WAITING
    blocked_assessment = assess_version(blocked, 2, Goal.APPLIED)
    assert blocked_assessment.verdict is Verdict.WAITING
    assert blocked_assessment.detail.endswith("; Stalled: QuotaExceeded: pods: limited to 10")


def test_publish_waits_for_published_true_of_this_generation() -> None:
    no_condition = with_status(2, 2)
    moved_away = with_status(2, 2, condition("Published", "False", "Superseded", "greeter-v2 is published", 2))
    stale = with_status(2, 2, condition("Published", "True", "Published", "", 1))
    published = with_status(2, 2, condition("Published", "True", "Published", "active-entrypoint selects it", 2))

    details = [assess_version(v, 2, Goal.PUBLISHED).detail for v in (no_condition, moved_away, stale)]

    assert details == [
        "the operator has not reported a Published condition yet",
        "Published is False (Superseded: greeter-v2 is published)",
        "the Published condition is for generation 1, not 2",
    ]
    assert assess_version(published, 2, Goal.PUBLISHED).verdict is Verdict.READY


def test_unpublish_waits_until_published_is_not_true() -> None:
    still = with_status(2, 2, condition("Published", "True", "Published", "", 2))
    done = with_status(2, 2, condition("Published", "False", "Unpublished", "", 2))

    assert assess_version(still, 2, Goal.UNPUBLISHED).detail == "Published is still True (Published)"
    assert assess_version(done, 2, Goal.UNPUBLISHED).verdict is Verdict.READY
    assert assess_version(with_status(2, 2), 2, Goal.UNPUBLISHED).verdict is Verdict.READY


# ------------------------------------------------------------------------------------ agreement with the CRD


def crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_the_rules_are_the_crds() -> None:
    schema = crd_schema()
    spec = schema["properties"]["spec"]["properties"]
    entrypoint = spec["entrypoint"]["properties"]
    workflows = spec["workflows"]
    workflow_fields = workflows["items"]["properties"]
    node_fields = workflow_fields["nodes"]["items"]["properties"]
    edges = workflow_fields["edges"]

    assert schema["properties"]["metadata"]["properties"]["name"]["maxLength"] == VERSION_NAME_MAX_LENGTH
    assert spec["id"]["maxLength"] == ID_MAX_LENGTH
    assert entrypoint["protoFile"]["pattern"] == entrypoint["src"]["pattern"] == RELATIVE_PATH.pattern
    assert entrypoint["protoFile"]["maxLength"] == node_fields["src"]["maxLength"] == PATH_MAX_LENGTH
    assert entrypoint["image"]["pattern"] == node_fields["image"]["pattern"] == IMAGE.pattern
    assert spec["config"]["items"]["properties"]["key"]["maxLength"] == CONFIG_KEY_MAX_LENGTH
    assert workflows["maxItems"] == MAX_WORKFLOWS
    assert workflow_fields["entrypoint"]["pattern"] == WORKFLOW_ENTRYPOINT.pattern
    assert workflow_fields["entrypoint"]["maxLength"] == WORKFLOW_ENTRYPOINT_MAX_LENGTH
    assert workflow_fields["nodes"]["maxItems"] == MAX_NODES
    assert edges["maxItems"] == MAX_EDGES
    assert edges["items"]["properties"]["id"]["pattern"] == EDGE_ID.pattern


@pytest.mark.parametrize(
    "version",
    [
        pytest.param(greeter(), id="greeter"),
        pytest.param(
            greeter(
                name="v" * VERSION_NAME_MAX_LENGTH,
                id="i" * ID_MAX_LENGTH,
                config=[],
                workflows=[workflow(0, [node("a", name="b")])],
            ),
            id="longest name, no config",
        ),
    ],
)
def test_what_start_writes_is_valid_against_the_crd(version: dict[str, Any]) -> None:
    created = plan_write(validate(Rpc.START, request(version)), None)
    assert isinstance(created, Create)

    jsonschema.validate(created.body, crd_schema())
