"""Validation of a RuntimeVersion: what its objects and wiring need, each problem naming its field, never a value."""

from __future__ import annotations

import copy
import itertools
import random
import string
from typing import Any

import pytest
from k8s_manager_operator.runtime.validation import Problem
from k8s_manager_operator.version.validation import chain_problem_of, is_published, is_started, validate_version

RANDOM = random.Random(20240611)
SECRET_VALUE = "s3cr3t-Value!"


def random_id() -> str:
    """Like the Admin API's node, edge and workflow ids: 10 random lowercase letters."""
    return "".join(RANDOM.choices(string.ascii_lowercase, k=10))


def node(node_id: str | None = None, name: str = "greeter") -> dict[str, str]:
    return {"id": node_id or random_id(), "name": name, "image": "konstellation/kre-py:latest", "src": "src/main.py"}


def greeter_version(**spec: Any) -> dict[str, Any]:
    """krt-template/greeter: workflows greeting (Greet) and saluting (Salute), one node `greeter` each."""
    return {
        "apiVersion": "kre.konstellation.io/v1alpha1",
        "kind": "RuntimeVersion",
        "metadata": {"name": "greeter-v1", "namespace": "kre-demo", "uid": "u-1", "generation": 1},
        "spec": {
            "id": random_id(),
            "entrypoint": {
                "protoFile": "public_input.proto",
                "image": "konstellation/kre-runtime-entrypoint:latest",
                "src": "src/entrypoint/entrypoint.py",
            },
            "config": [{"key": "GREETING", "value": SECRET_VALUE}],
            "workflows": [
                {"id": random_id(), "name": "greeting", "entrypoint": "Greet", "nodes": [node()]},
                {"id": random_id(), "name": "saluting", "entrypoint": "Salute", "nodes": [node()], "edges": []},
            ],
            **spec,
        },
    }


def chain(*names: str) -> dict[str, Any]:
    """A workflow whose nodes are joined in the given order."""
    nodes = [node(name=name) for name in names]
    edges = [
        {"id": random_id(), "fromNode": source["id"], "toNode": target["id"]}
        for source, target in itertools.pairwise(nodes)
    ]
    return {"id": random_id(), "name": "chain", "entrypoint": "Chain", "nodes": nodes, "edges": edges}


def fields(problems: list[Problem]) -> list[str]:
    return [problem.field for problem in problems]


def only_problem(version: dict[str, Any]) -> Problem:
    problems = validate_version(version)
    assert len(problems) == 1, problems
    return problems[0]


# ------------------------------------------------------------------------------------------ valid versions


def test_the_greeter_is_valid() -> None:
    assert validate_version(greeter_version()) == []


def test_a_chain_listed_in_any_order_is_valid() -> None:
    workflow = chain("a", "b", "c", "d")
    workflow["nodes"] = [workflow["nodes"][i] for i in (2, 0, 3, 1)]
    workflow["edges"].reverse()
    assert validate_version(greeter_version(workflows=[workflow])) == []


def test_optional_fields_take_the_crd_defaults() -> None:
    version = greeter_version()
    del version["spec"]["config"]
    assert validate_version(version) == []
    assert is_started(version["spec"])
    assert not is_published(version["spec"])
    version["spec"]["config"] = [{"key": "EMPTY"}]  # value defaults to ""
    assert validate_version(version) == []


def test_problems_print_as_field_and_message() -> None:
    assert str(Problem("spec.id", "Required value: x")) == "spec.id: Required value: x"


# ------------------------------------------------------------------------------------------ name and spec


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        (None, "Required value"),
        ("", "Required value"),
        ("Greeter-V1", "RFC 1123 label"),
        ("greeter_v1", "RFC 1123 label"),
        ("-greeter", "RFC 1123 label"),
        ("v" * 60, "no more than 59 characters"),
    ],
)
def test_version_name(name: str | None, complaint: str) -> None:
    version = greeter_version()
    version["metadata"]["name"] = name
    problems = [problem for problem in validate_version(version) if problem.field == "metadata.name"]
    assert problems
    assert complaint in problems[0].message


def test_a_59_character_name_is_a_valid_name_but_leaves_no_room_for_node_names() -> None:
    version = greeter_version()
    version["metadata"]["name"] = "v" * 59
    problems = validate_version(version)
    assert fields(problems) == ["spec.workflows[0].nodes[0]", "spec.workflows[1].nodes[0]"]
    assert all("is 78 characters, more than 63" in problem.message for problem in problems)


def test_missing_spec() -> None:
    version = greeter_version()
    del version["spec"]
    assert validate_version(version) == [Problem("spec", "Required value: the RuntimeVersion has no spec")]


def test_missing_required_fields_are_each_named() -> None:
    version = greeter_version()
    spec = version["spec"]
    del spec["id"]
    del spec["entrypoint"]["image"]
    spec["entrypoint"]["src"] = ""
    spec["workflows"][0]["name"] = ""
    del spec["workflows"][1]["entrypoint"]
    del spec["workflows"][1]["nodes"][0]["src"]

    assert fields(validate_version(version)) == [
        "spec.id",
        "spec.entrypoint.image",
        "spec.entrypoint.src",
        "spec.workflows[0].name",
        "spec.workflows[1].entrypoint",
        "spec.workflows[1].nodes[0].src",
    ]


@pytest.mark.parametrize("path", ["/etc/passwd", "../other-version/main.py", "src/../../x", "src//main.py"])
def test_paths_stay_inside_the_versions_directory(path: str) -> None:
    version = greeter_version()
    version["spec"]["entrypoint"]["protoFile"] = path
    version["spec"]["workflows"][0]["nodes"][0]["src"] = path
    problems = validate_version(version)
    assert fields(problems) == ["spec.entrypoint.protoFile", "spec.workflows[0].nodes[0].src"]
    assert all("relative path" in problem.message for problem in problems)
    assert all(path not in problem.message for problem in problems)


def test_images_without_white_space() -> None:
    version = greeter_version()
    version["spec"]["entrypoint"]["image"] = "konstellation/kre entrypoint"
    assert only_problem(version).field == "spec.entrypoint.image"


# ------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize(
    ("key", "complaint"),
    [
        ("1GREETING", "valid environment variable name"),
        ("greeting-text", "valid environment variable name"),
        ("greeting.text", "valid environment variable name"),
        ("", "Required value"),
        ("KRT_NATS_INPUT", "must not start with KRT_"),
        ("KRT_ANYTHING", "must not start with KRT_"),
        ("G" * 254, "no more than 253 characters"),
    ],
)
def test_config_keys_are_environment_variable_names_outside_the_wiring(key: str, complaint: str) -> None:
    version = greeter_version(config=[{"key": "OK", "value": "1"}, {"key": key, "value": SECRET_VALUE}])
    problem = only_problem(version)
    assert problem.field == "spec.config[1].key"
    assert complaint in problem.message
    assert SECRET_VALUE not in problem.message


def test_config_keys_in_other_case_are_not_reserved() -> None:
    assert validate_version(greeter_version(config=[{"key": "krt_mode", "value": "x"}])) == []


def test_a_repeated_config_key_is_refused_naming_the_first() -> None:
    version = greeter_version(
        config=[{"key": "A", "value": SECRET_VALUE}, {"key": "B", "value": ""}, {"key": "A", "value": "2"}]
    )
    assert only_problem(version) == Problem("spec.config[2].key", "Duplicate value: the same key as spec.config[0].key")


def test_config_shapes() -> None:
    assert fields(validate_version(greeter_version(config={"A": "1"}))) == ["spec.config"]
    assert fields(validate_version(greeter_version(config=["A=1"]))) == ["spec.config[0]"]
    problem = only_problem(greeter_version(config=[{"key": "A", "value": 1}]))
    assert problem == Problem("spec.config[0].value", "must be a string")


# ------------------------------------------------------------------------------------------ workflows


@pytest.mark.parametrize("workflows", [None, [], "greeting"])
def test_workflows_are_required(workflows: object) -> None:
    version = greeter_version(workflows=workflows)
    assert only_problem(version) == Problem("spec.workflows", "Required value: the version needs at least one workflow")


def test_a_workflow_needs_nodes() -> None:
    """The original panicked on a workflow without nodes (V2)."""
    version = greeter_version()
    version["spec"]["workflows"][1]["nodes"] = []
    assert only_problem(version) == Problem(
        "spec.workflows[1].nodes", "Required value: a workflow needs at least one node"
    )
    del version["spec"]["workflows"][1]["nodes"]
    assert only_problem(version).field == "spec.workflows[1].nodes"


def test_workflow_ids_and_methods_are_unique() -> None:
    version = greeter_version()
    workflows = version["spec"]["workflows"]
    workflows[1]["id"] = workflows[0]["id"]
    workflows[1]["entrypoint"] = "Greet"
    problems = validate_version(version)
    assert problems == [
        Problem("spec.workflows[1].id", "Duplicate value: the same id as spec.workflows[0].id"),
        Problem(
            "spec.workflows[1].entrypoint",
            'Duplicate value: "Greet" is served by spec.workflows[0] already: each workflow serves its own method',
        ),
    ]


def test_workflow_method_is_a_grpc_method_name() -> None:
    version = greeter_version()
    version["spec"]["workflows"][0]["entrypoint"] = "greet-me"
    assert only_problem(version).field == "spec.workflows[0].entrypoint"


# ------------------------------------------------------------------------------------------ nodes


def test_node_ids_are_unique_across_workflows() -> None:
    """The CRD's list-map keys make them unique within one workflow only."""
    version = greeter_version()
    workflows = version["spec"]["workflows"]
    shared = workflows[0]["nodes"][0]["id"]
    workflows[1]["nodes"][0]["id"] = shared
    workflows[1]["nodes"][0]["name"] = "saluter"
    assert only_problem(version) == Problem(
        "spec.workflows[1].nodes[0].id",
        f'Duplicate value: "{shared}" is the id of spec.workflows[0].nodes[0] already: node ids must be unique '
        "within the version",
    )


@pytest.mark.parametrize("node_id", ["ABCDEFGHIJ", "abc_def", "-abcdefghi", ""])
def test_node_ids_are_dns_labels(node_id: str) -> None:
    version = greeter_version()
    version["spec"]["workflows"][0]["nodes"][0]["id"] = node_id
    assert fields(validate_version(version)) == ["spec.workflows[0].nodes[0].id"]


def test_node_names_are_dns_labels() -> None:
    version = greeter_version()
    version["spec"]["workflows"][0]["nodes"][0]["name"] = "Greeter"
    assert only_problem(version).field == "spec.workflows[0].nodes[0].name"


def test_object_names_are_at_most_63_characters() -> None:
    """<version>-<node>-<id> names the node's Deployment and its container, a DNS-1123 label."""
    version = greeter_version()
    version["metadata"]["name"] = "v" * 19
    version["spec"]["workflows"][0]["nodes"][0]["name"] = "n" * 32  # 19 + 1 + 32 + 1 + 10 = 63
    assert validate_version(version) == []
    version["spec"]["workflows"][0]["nodes"][0]["name"] = "n" * 33
    assert only_problem(version) == Problem(
        "spec.workflows[0].nodes[0]",
        "'<version name>-<node name>-<node id>' is 64 characters, more than 63: it names the node's Deployment "
        "and container",
    )


def test_node_objects_may_not_take_the_names_of_the_versions_objects_or_of_each_other() -> None:
    nodes = [node("files", "conf"), node("env", "entrypoint"), node("c", "a-b"), node("b-c", "a")]
    workflows = [
        {"id": random_id(), "name": f"w{index}", "entrypoint": f"M{index}", "nodes": [item]}
        for index, item in enumerate(nodes)
    ]
    assert validate_version(greeter_version(workflows=workflows)) == [
        Problem(
            "spec.workflows[0].nodes[0]",
            'its objects would be named "greeter-v1-conf-files", as those of the version\'s ConfigMap: change the '
            "node's name or id",
        ),
        Problem(
            "spec.workflows[1].nodes[0]",
            'its objects would be named "greeter-v1-entrypoint-env", as those of the version\'s ConfigMap: change '
            "the node's name or id",
        ),
        Problem(
            "spec.workflows[3].nodes[0]",
            'its objects would be named "greeter-v1-a-b-c", as those of spec.workflows[2].nodes[0]: change the '
            "node's name or id",
        ),
    ]


# ------------------------------------------------------------------------------------------ edges


def test_edges_name_nodes_of_their_own_workflow() -> None:
    """The original panicked on an edge naming an unknown node (V2)."""
    version = greeter_version()
    workflows = version["spec"]["workflows"]
    workflows[0] = chain("a", "b")
    other_workflow_node = workflows[1]["nodes"][0]["id"]
    workflows[0]["edges"][0]["toNode"] = other_workflow_node
    problems = validate_version(version)
    assert problems == [Problem("spec.workflows[0].edges[0].toNode", "must be the id of a node of the same workflow")]

    workflows[0]["edges"][0]["fromNode"] = "nosuchnode"
    assert fields(validate_version(version)) == [
        "spec.workflows[0].edges[0].fromNode",
        "spec.workflows[0].edges[0].toNode",
    ]
    del workflows[0]["edges"][0]["fromNode"]
    assert validate_version(version)[0] == Problem(
        "spec.workflows[0].edges[0].fromNode", "Required value: the id of a node of this workflow"
    )


@pytest.mark.parametrize("edge_id", ["sub ject", "subject.*", "subject.>", ""])
def test_edge_ids_are_nats_subjects(edge_id: str) -> None:
    version = greeter_version(workflows=[chain("a", "b")])
    version["spec"]["workflows"][0]["edges"][0]["id"] = edge_id
    assert fields(validate_version(version)) == ["spec.workflows[0].edges[0].id"]


def test_edge_ids_are_unique_within_a_workflow() -> None:
    version = greeter_version(workflows=[chain("a", "b", "c")])
    edges = version["spec"]["workflows"][0]["edges"]
    edges[1]["id"] = edges[0]["id"]
    assert only_problem(version) == Problem(
        "spec.workflows[0].edges[1].id", "Duplicate value: the same id as spec.workflows[0].edges[0].id"
    )


def test_edges_must_make_a_chain() -> None:
    # a → b and a → c: a has one output subject only.
    branching = chain("a", "b")
    extra = node(name="c")
    branching["nodes"].append(extra)
    branching["edges"].append({"id": random_id(), "fromNode": branching["nodes"][0]["id"], "toNode": extra["id"]})
    problem = only_problem(greeter_version(workflows=[branching]))
    assert problem.field == "spec.workflows[0].edges"
    assert problem.message == (
        f'the edges must join the workflow\'s nodes into one chain: node "{branching["nodes"][0]["id"]}" is the '
        "fromNode of 2 edges"
    )

    # Two nodes, no edge: the second would never receive anything.
    unjoined = chain("a", "b")
    unjoined["edges"] = []
    assert only_problem(greeter_version(workflows=[unjoined])).message == (
        "the edges must join the workflow's nodes into one chain: 2 nodes take 1 edge, there are 0"
    )

    # a → b → c → b: b has two inputs.
    looping = chain("a", "b", "c")
    b_id, c_id = looping["nodes"][1]["id"], looping["nodes"][2]["id"]
    looping["edges"].append({"id": random_id(), "fromNode": c_id, "toNode": b_id})
    assert f'node "{b_id}" is the toNode of 2 edges' in only_problem(greeter_version(workflows=[looping])).message


def test_a_cycle_beside_the_chain_is_found() -> None:
    workflow = chain("a", "b", "c")
    a_id, b_id, c_id = (item["id"] for item in workflow["nodes"])
    workflow["edges"] = [
        {"id": random_id(), "fromNode": b_id, "toNode": c_id},
        {"id": random_id(), "fromNode": c_id, "toNode": b_id},
    ]
    assert only_problem(greeter_version(workflows=[workflow])).message == (
        f'the edges must join the workflow\'s nodes into one chain: "{b_id}", "{c_id}" cannot be reached from the '
        f'first node "{a_id}" (the edges form a cycle)'
    )


def test_a_single_node_has_no_edge() -> None:
    workflow = chain("a")
    only = workflow["nodes"][0]["id"]
    workflow["edges"] = [{"id": random_id(), "fromNode": only, "toNode": only}]
    assert only_problem(greeter_version(workflows=[workflow])).message == (
        "the edges must join the workflow's nodes into one chain: a workflow of a single node has no edges"
    )


def test_chain_problem_of_plain_lists() -> None:
    assert chain_problem_of(["a"], []) is None
    assert chain_problem_of(["c", "a", "b"], [("b", "c"), ("a", "b")]) is None
    assert chain_problem_of(["a", "b"], [("a", "b"), ("b", "a")]) is not None


# ------------------------------------------------------------------------------------------ desired state


def test_a_published_version_must_be_started() -> None:
    version = greeter_version(desiredState="Stopped", published=True)
    assert only_problem(version) == Problem(
        "spec.published", "a published version must be Started; unpublish it before stopping it"
    )
    assert validate_version(greeter_version(desiredState="Stopped", published=False)) == []
    assert validate_version(greeter_version(desiredState="Started", published=True)) == []


def test_desired_state_and_published_values() -> None:
    assert fields(validate_version(greeter_version(desiredState="Running"))) == ["spec.desiredState"]
    assert fields(validate_version(greeter_version(published="yes"))) == ["spec.published"]


def test_no_message_quotes_a_config_value() -> None:
    version = copy.deepcopy(greeter_version())
    version["metadata"]["name"] = "Bad_Name"
    version["spec"]["config"] = [
        {"key": "KRT_X", "value": SECRET_VALUE},
        {"key": "bad key", "value": SECRET_VALUE},
        {"key": "KRT_X", "value": SECRET_VALUE},
    ]
    problems = validate_version(version)
    assert len(problems) >= 4
    assert all(SECRET_VALUE not in str(problem) for problem in problems)
    assert all("bad key" not in str(problem) for problem in problems)
