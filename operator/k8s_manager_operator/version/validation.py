"""Validation of a RuntimeVersion: everything its objects and NATS wiring need, whatever the API server checked.

The CRD's CEL rules (edges naming nodes of their workflow, name lengths, published ⇒ Started) are skipped by API
servers without CEL support, its list-map keys only make ids unique within one list, and no schema can say that
node ids are unique across workflows or that the edges form a chain. The facade validates the RuntimeVersion it is
about to write with the same function, so every rule of the schema is checked here too.

Each problem names a field and says what is wrong. Messages quote ids and names (they are identifiers, and
they are only quoted once they are known to be valid), never a config value or a path or image given by the user.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..runtime.validation import DNS1123_LABEL, Problem
from . import desired

ENV_VAR_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The wiring's variables (reference §4.2): a config key with this prefix would shadow or fake them.
RESERVED_CONFIG_PREFIX: Final = "KRT_"
WORKFLOW_ENTRYPOINT: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# As the CRD: a relative path without empty or `..` segments (it is joined to /krt-files and used as a subPath).
RELATIVE_PATH: Final = re.compile(
    r"^(?:[^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+|\.)(?:/(?:[^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+|\.))*$"
)
IMAGE: Final = re.compile(r"^\S+$")
# An edge id is a NATS subject: no white space and no wildcard.
EDGE_ID: Final = re.compile(r"^[^\s*>]+$")

# `<name>-web` names the entrypoint's web container, a DNS-1123 label.
MAX_VERSION_NAME: Final = 59
MAX_OBJECT_NAME: Final = 63
MAX_ID: Final = 253
MAX_PATH: Final = 1024
MAX_CONFIG_KEY: Final = 253
MAX_WORKFLOWS: Final = 32
MAX_NODES: Final = 50
MAX_EDGES: Final = 50
MAX_ENTRYPOINT_METHOD: Final = 128

STARTED: Final = "Started"
STOPPED: Final = "Stopped"
DESIRED_STATES: Final = (STARTED, STOPPED)

_DNS_LABEL_TEXT: Final = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)


def validate_version(version: Mapping[str, Any]) -> list[Problem]:
    """The problems of a RuntimeVersion, in field order; an empty list when the operator can run it."""
    metadata = version.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    problems = validate_version_name(name)
    spec = version.get("spec")
    if not isinstance(spec, Mapping):
        return [*problems, Problem("spec", "Required value: the RuntimeVersion has no spec")]
    problems += _validate_string(spec.get("id"), "spec.id", MAX_ID, "the version's id in the Admin API")
    problems += _validate_entrypoint(spec.get("entrypoint"))
    problems += _validate_config(spec.get("config"))
    problems += _validate_workflows(spec.get("workflows"), name if isinstance(name, str) and name else None)
    problems += _validate_desired_state(spec)
    return problems


def validate_version_name(name: object) -> list[Problem]:
    """metadata.name: the version's name, part of the name of every object it runs."""
    field = "metadata.name"
    if not isinstance(name, str) or not name:
        return [Problem(field, "Required value: the version has no name")]
    problems: list[Problem] = []
    if len(name) > MAX_VERSION_NAME:
        problems.append(
            Problem(
                field,
                f"must be no more than {MAX_VERSION_NAME} characters: '<name>-web' names the entrypoint's web "
                "container",
            )
        )
    if not DNS1123_LABEL.match(name):
        problems.append(Problem(field, _DNS_LABEL_TEXT))
    return problems


def is_started(spec: Mapping[str, Any]) -> bool:
    """Whether the spec asks for the version to run (the CRD's default is Started)."""
    return bool(spec.get("desiredState", STARTED) == STARTED)


def is_published(spec: Mapping[str, Any]) -> bool:
    return spec.get("published") is True


# ------------------------------------------------------------------------------------------ the parts


def _validate_string(value: object, field: str, max_length: int, what: str) -> list[Problem]:
    if not isinstance(value, str) or not value:
        return [Problem(field, f"Required value: {what}")]
    if len(value) > max_length:
        return [Problem(field, f"must be no more than {max_length} characters")]
    return []


def _validate_path(value: object, field: str, what: str) -> list[Problem]:
    if not isinstance(value, str) or not value:
        return [Problem(field, f"Required value: {what}")]
    if len(value) > MAX_PATH:
        return [Problem(field, f"must be no more than {MAX_PATH} characters")]
    if not RELATIVE_PATH.match(value):
        return [
            Problem(
                field,
                "must be a relative path inside the version's directory: no leading '/', no empty or '..' segments",
            )
        ]
    return []


def _validate_image(value: object, field: str) -> list[Problem]:
    if not isinstance(value, str) or not value:
        return [Problem(field, "Required value: a container image")]
    if len(value) > MAX_PATH or not IMAGE.match(value):
        return [Problem(field, f"must be an image reference without white space, at most {MAX_PATH} characters")]
    return []


def _validate_entrypoint(entrypoint: object) -> list[Problem]:
    field = "spec.entrypoint"
    if not isinstance(entrypoint, Mapping):
        return [Problem(field, "Required value: the version's entrypoint (protoFile, image, src)")]
    return [
        *_validate_path(entrypoint.get("protoFile"), f"{field}.protoFile", "the path of the KRT's .proto file"),
        *_validate_image(entrypoint.get("image"), f"{field}.image"),
        *_validate_path(entrypoint.get("src"), f"{field}.src", "the path of the entrypoint's program"),
    ]


def _validate_config(config: object) -> list[Problem]:
    field = "spec.config"
    if config is None:
        return []
    if not isinstance(config, Sequence) or isinstance(config, str):
        return [Problem(field, "must be a list of {key, value} entries")]
    problems: list[Problem] = []
    first_of_key: dict[str, int] = {}
    for index, entry in enumerate(config):
        entry_field = f"{field}[{index}]"
        if not isinstance(entry, Mapping):
            problems.append(Problem(entry_field, "must be a {key, value} entry"))
            continue
        key = entry.get("key")
        key_field = f"{entry_field}.key"
        if not isinstance(key, str) or not key:
            problems.append(Problem(key_field, "Required value: the name of the entry"))
        elif len(key) > MAX_CONFIG_KEY:
            problems.append(Problem(key_field, f"must be no more than {MAX_CONFIG_KEY} characters"))
        elif not ENV_VAR_NAME.match(key):
            problems.append(
                Problem(
                    key_field,
                    "must be a valid environment variable name: letters, digits and '_', not starting with a digit "
                    "(every entry becomes an environment variable of the nodes)",
                )
            )
        elif key.startswith(RESERVED_CONFIG_PREFIX):
            problems.append(
                Problem(key_field, f"must not start with {RESERVED_CONFIG_PREFIX}: those variables wire the nodes")
            )
        elif key in first_of_key:
            problems.append(Problem(key_field, f"Duplicate value: the same key as {field}[{first_of_key[key]}].key"))
        else:
            first_of_key[key] = index
        if "value" in entry and not isinstance(entry["value"], str):
            problems.append(Problem(f"{entry_field}.value", "must be a string"))
    return problems


def _validate_desired_state(spec: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    state = spec.get("desiredState", STARTED)
    if state not in DESIRED_STATES:
        problems.append(Problem("spec.desiredState", "Unsupported value: supported values: Started, Stopped"))
    published = spec.get("published", False)
    if not isinstance(published, bool):
        problems.append(Problem("spec.published", "must be true or false"))
    elif published and state == STOPPED:
        problems.append(
            Problem("spec.published", "a published version must be Started; unpublish it before stopping it")
        )
    return problems


# ------------------------------------------------------------------------------------------ workflows


def _validate_workflows(workflows: object, name: str | None) -> list[Problem]:
    field = "spec.workflows"
    if not isinstance(workflows, Sequence) or isinstance(workflows, str) or not workflows:
        return [Problem(field, "Required value: the version needs at least one workflow")]
    problems: list[Problem] = []
    if len(workflows) > MAX_WORKFLOWS:
        problems.append(Problem(field, f"must have at most {MAX_WORKFLOWS} items"))
    first_of_id: dict[str, str] = {}
    first_of_entrypoint: dict[str, str] = {}
    first_of_node_id: dict[str, str] = {}
    # The objects a node's name collides with: the version's own, then the nodes seen so far.
    first_of_object: dict[str, str] = {}
    if name is not None:
        first_of_object = {
            object_name: f"the version's {kind}"
            for kind, object_name in (
                ("ConfigMap", desired.global_config_map_name(name)),
                ("ConfigMap", desired.conf_files_config_map_name(name)),
                ("ConfigMap", desired.entrypoint_env_config_map_name(name)),
                ("Deployment", desired.entrypoint_deployment_name(name)),
            )
        }
    for index, workflow in enumerate(workflows):
        path = f"{field}[{index}]"
        if not isinstance(workflow, Mapping):
            problems.append(Problem(path, "must be a workflow (id, name, entrypoint, nodes, edges)"))
            continue
        workflow_id = workflow.get("id")
        id_problems = _validate_string(workflow_id, f"{path}.id", MAX_ID, "the workflow's id")
        problems += id_problems
        if not id_problems and isinstance(workflow_id, str):
            if workflow_id in first_of_id:
                problems.append(Problem(f"{path}.id", f"Duplicate value: the same id as {first_of_id[workflow_id]}"))
            else:
                first_of_id[workflow_id] = f"{path}.id"
        problems += _validate_string(workflow.get("name"), f"{path}.name", MAX_ID, "the workflow's name")
        method = workflow.get("entrypoint")
        if not isinstance(method, str) or not method:
            problems.append(Problem(f"{path}.entrypoint", "Required value: the entrypoint's gRPC method it serves"))
        elif len(method) > MAX_ENTRYPOINT_METHOD or not WORKFLOW_ENTRYPOINT.match(method):
            problems.append(
                Problem(
                    f"{path}.entrypoint",
                    f"must be a gRPC method name: letters, digits and '_', not starting with a digit, at most "
                    f"{MAX_ENTRYPOINT_METHOD} characters",
                )
            )
        elif method in first_of_entrypoint:
            problems.append(
                Problem(
                    f"{path}.entrypoint",
                    f'Duplicate value: "{method}" is served by {first_of_entrypoint[method]} already: '
                    "each workflow serves its own method",
                )
            )
        else:
            first_of_entrypoint[method] = path
        problems += _validate_nodes_and_edges(workflow, path, name, first_of_node_id, first_of_object)
    return problems


def _validate_nodes_and_edges(
    workflow: Mapping[str, Any],
    path: str,
    name: str | None,
    first_of_node_id: dict[str, str],
    first_of_object: dict[str, str],
) -> list[Problem]:
    nodes = workflow.get("nodes")
    if not isinstance(nodes, Sequence) or isinstance(nodes, str) or not nodes:
        return [Problem(f"{path}.nodes", "Required value: a workflow needs at least one node")]
    problems: list[Problem] = []
    if len(nodes) > MAX_NODES:
        problems.append(Problem(f"{path}.nodes", f"must have at most {MAX_NODES} items"))
    node_ids: list[str] = []
    all_nodes_valid = True
    for index, node in enumerate(nodes):
        node_problems, node_id = _validate_node(node, f"{path}.nodes[{index}]", name, first_of_node_id, first_of_object)
        problems += node_problems
        if node_id is None:
            all_nodes_valid = False
        else:
            node_ids.append(node_id)

    edges = workflow.get("edges")
    if edges is None:
        edges = []
    if not isinstance(edges, Sequence) or isinstance(edges, str):
        return [*problems, Problem(f"{path}.edges", "must be a list of edges (id, fromNode, toNode)")]
    if len(edges) > MAX_EDGES:
        problems.append(Problem(f"{path}.edges", f"must have at most {MAX_EDGES} items"))
    known = set(node_ids)
    links: list[tuple[str, str]] = []
    all_edges_valid = True
    first_of_edge: dict[str, int] = {}
    for index, edge in enumerate(edges):
        edge_path = f"{path}.edges[{index}]"
        if not isinstance(edge, Mapping):
            problems.append(Problem(edge_path, "must be an edge (id, fromNode, toNode)"))
            all_edges_valid = False
            continue
        edge_id = edge.get("id")
        if not isinstance(edge_id, str) or not edge_id:
            problems.append(Problem(f"{edge_path}.id", "Required value: the edge's id, its NATS subject"))
        elif len(edge_id) > MAX_ID or not EDGE_ID.match(edge_id):
            problems.append(
                Problem(
                    f"{edge_path}.id",
                    f"must be a NATS subject: no white space, '*' or '>', at most {MAX_ID} characters",
                )
            )
        elif edge_id in first_of_edge:
            problems.append(
                Problem(f"{edge_path}.id", f"Duplicate value: the same id as {path}.edges[{first_of_edge[edge_id]}].id")
            )
        else:
            first_of_edge[edge_id] = index
        ends: list[str] = []
        for end in ("fromNode", "toNode"):
            node_id = edge.get(end)
            if not isinstance(node_id, str) or not node_id:
                problems.append(Problem(f"{edge_path}.{end}", "Required value: the id of a node of this workflow"))
            elif node_id not in known:
                if all_nodes_valid:  # an invalid node's id is reported with the node
                    problems.append(Problem(f"{edge_path}.{end}", "must be the id of a node of the same workflow"))
            else:
                ends.append(node_id)
        if len(ends) == 2:
            links.append((ends[0], ends[1]))
        else:
            all_edges_valid = False
    if all_nodes_valid and all_edges_valid and len(set(node_ids)) == len(node_ids):
        chain_problem = chain_problem_of(node_ids, links)
        if chain_problem is not None:
            problems.append(Problem(f"{path}.edges", chain_problem))
    return problems


def _validate_node(
    node: object,
    path: str,
    name: str | None,
    first_of_node_id: dict[str, str],
    first_of_object: dict[str, str],
) -> tuple[list[Problem], str | None]:
    """The node's problems, and its id when that is valid and not taken."""
    if not isinstance(node, Mapping):
        return [Problem(path, "must be a node (id, name, image, src)")], None
    problems: list[Problem] = []
    node_id = node.get("id")
    valid_id: str | None = None
    if not isinstance(node_id, str) or not node_id:
        problems.append(Problem(f"{path}.id", "Required value: the node's id"))
    elif len(node_id) > MAX_OBJECT_NAME or not DNS1123_LABEL.match(node_id):
        problems.append(Problem(f"{path}.id", f"{_DNS_LABEL_TEXT}, at most {MAX_OBJECT_NAME} characters"))
    elif node_id in first_of_node_id:
        problems.append(
            Problem(
                f"{path}.id",
                f'Duplicate value: "{node_id}" is the id of {first_of_node_id[node_id]} already: node ids must be '
                "unique within the version",
            )
        )
    else:
        first_of_node_id[node_id] = path
        valid_id = node_id
    node_name = node.get("name")
    valid_name: str | None = None
    if not isinstance(node_name, str) or not node_name:
        problems.append(Problem(f"{path}.name", "Required value: the node's name"))
    elif len(node_name) > MAX_OBJECT_NAME or not DNS1123_LABEL.match(node_name):
        problems.append(Problem(f"{path}.name", f"{_DNS_LABEL_TEXT}, at most {MAX_OBJECT_NAME} characters"))
    else:
        valid_name = node_name
    problems += _validate_image(node.get("image"), f"{path}.image")
    problems += _validate_path(node.get("src"), f"{path}.src", "the path of the node's handler")
    if name is not None and valid_id is not None and valid_name is not None:
        object_name = desired.node_object_name(name, valid_name, valid_id)
        if len(object_name) > MAX_OBJECT_NAME:
            problems.append(
                Problem(
                    path,
                    f"'<version name>-<node name>-<node id>' is {len(object_name)} characters, more than "
                    f"{MAX_OBJECT_NAME}: it names the node's Deployment and container",
                )
            )
        elif object_name in first_of_object:
            problems.append(
                Problem(
                    path,
                    f'its objects would be named "{object_name}", as those of {first_of_object[object_name]}: '
                    "change the node's name or id",
                )
            )
        else:
            first_of_object[object_name] = path
    return problems, valid_id


def chain_problem_of(node_ids: Sequence[str], links: Sequence[tuple[str, str]]) -> str | None:
    """Why the edges (fromNode, toNode) do not join the nodes into one chain, or None when they do.

    Each node has one input and one output subject (KRT_NATS_INPUT, KRT_NATS_OUTPUT), so the only workflows the
    wiring can express are chains: the first node reads the entrypoint's subject, each edge feeds the next node,
    the last node replies to the entrypoint. The Admin API only makes such workflows.
    """
    prefix = "the edges must join the workflow's nodes into one chain"
    count = len(node_ids)
    incoming = Counter(target for _, target in links)
    outgoing = Counter(source for source, _ in links)
    for node_id in node_ids:
        if incoming[node_id] > 1:
            return f'{prefix}: node "{node_id}" is the toNode of {incoming[node_id]} edges'
        if outgoing[node_id] > 1:
            return f'{prefix}: node "{node_id}" is the fromNode of {outgoing[node_id]} edges'
    if len(links) != count - 1:
        if count == 1:
            return f"{prefix}: a workflow of a single node has no edges"
        return f"{prefix}: {count} nodes take {count - 1} edge{'s' if count > 2 else ''}, there are {len(links)}"
    following = dict(links)
    # In-degrees are at most 1 and there are count - 1 edges, so exactly one node has no input.
    first = next(node_id for node_id in node_ids if incoming[node_id] == 0)
    reached = [first]
    while reached[-1] in following and len(reached) <= count:
        reached.append(following[reached[-1]])
    missed = [node_id for node_id in node_ids if node_id not in set(reached)]
    if missed:
        listed = ", ".join(f'"{node_id}"' for node_id in missed)
        return f'{prefix}: {listed} cannot be reached from the first node "{first}" (the edges form a cycle)'
    return None
