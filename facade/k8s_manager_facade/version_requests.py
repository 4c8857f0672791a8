"""VersionService requests, pure: validation, what each call writes into the RuntimeVersion, what it waits for.

Each of the five RPCs becomes a `VersionChange`: the RuntimeVersion it concerns, the spec fields it sets (a
JSON merge patch of the spec: declarative, so a repeated call writes nothing new) and the `Goal` its status must
reach. `plan_write` decides, from the RuntimeVersion as it is, whether to create it, patch it, leave it as it is,
or refuse (the version was never started, it is stopped and cannot be published, it is being deleted).
`assess_version` says whether the operator's status shows the change applied, failed for good, or not yet.

Validation mirrors crds/runtimeversions.kre.konstellation.io.yaml (its patterns and limits; a unit test compares
them) plus what the schema cannot say: node, workflow and edge ids unique in the version, edges between nodes of
their workflow, object names of at most 63 characters, config keys that are environment variable names. Every
problem names the request field (`version.workflows[1].nodes[0].id: ...`); no message quotes a config value.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from k8s_manager_api.names import INVALID_SPEC, RUNTIME_VERSIONS

from .generated import version_pb2
from .runtime_requests import DNS1123_LABEL, DNS1123_LABEL_RULE, FieldProblem, InvalidRequestError, quoted
from .status_hub import Assessment, Verdict

# The CRD's limits and patterns.
VERSION_NAME_MAX_LENGTH: Final = 59  # the entrypoint's web container is `<version>-web`, a 63-character label
DNS1123_LABEL_MAX_LENGTH: Final = 63
# Node Deployments and their first container are named `<version>-<node name>-<node id>`.
OBJECT_NAME_MAX_LENGTH: Final = 63
ID_MAX_LENGTH: Final = 253
PATH_MAX_LENGTH: Final = 1024
IMAGE_MAX_LENGTH: Final = 1024
CONFIG_KEY_MAX_LENGTH: Final = 253
WORKFLOW_ENTRYPOINT_MAX_LENGTH: Final = 128
MAX_WORKFLOWS: Final = 32
MAX_NODES: Final = 50
MAX_EDGES: Final = 50
RELATIVE_PATH: Final = re.compile(
    r"^(?:[^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+|\.)(?:/(?:[^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+|\.))*$"
)
RELATIVE_PATH_RULE: Final = (
    "must be a relative path inside the version's directory: no leading '/', no empty or '..' segment"
)
IMAGE: Final = re.compile(r"^\S+$")
IMAGE_RULE: Final = "must be a container image reference without white space"
WORKFLOW_ENTRYPOINT: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
WORKFLOW_ENTRYPOINT_RULE: Final = (
    "must be the name of a gRPC method of the entrypoint: letters, digits and '_', not starting with a digit"
)
EDGE_ID: Final = re.compile(r"^[^\s*>]+$")
EDGE_ID_RULE: Final = "is a NATS subject: no white space and no wildcard ('*', '>')"
# Kubernetes' rule for environment variable names (what envFrom accepts on every cluster version); the CRD's key
# pattern is the looser ConfigMap key rule.
ENV_VAR_NAME: Final = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
ENV_VAR_NAME_RULE: Final = (
    "must be a valid environment variable name: letters, digits, '_', '-' or '.', not starting with a digit"
)
# What one ConfigMap (`<version>-global`) can hold.
CONFIG_MAX_BYTES: Final = 1024 * 1024
# More problems than this are summed up: the message travels in a gRPC trailer of limited size.
MAX_REPORTED_PROBLEMS: Final = 20

STARTED: Final = "Started"
STOPPED: Final = "Stopped"
# Stalled reasons no waiting can cure (the operator's contract).
TERMINAL_VERSION_REASONS: Final = frozenset({INVALID_SPEC})


class Rpc(enum.Enum):
    START = "Start"
    STOP = "Stop"
    PUBLISH = "Publish"
    UNPUBLISH = "Unpublish"
    UPDATE_CONFIG = "UpdateConfig"


class Goal(enum.Enum):
    """What the RuntimeVersion's status must show, besides `status.observedGeneration` ≥ the written generation."""

    APPLIED = "applied"
    PUBLISHED = "published"
    UNPUBLISHED = "unpublished"


@dataclass(frozen=True)
class VersionChange:
    """What one call asks of RuntimeVersion `namespace`/`name`."""

    rpc: Rpc
    name: str
    namespace: str
    spec: Mapping[str, Any]  # the spec fields this call sets (a merge patch of the spec)
    goal: Goal

    @property
    def reply(self) -> str:
        """The original's reply texts, double space and punctuation included."""
        replies = {
            Rpc.START: f"Version '{self.name}' started",
            Rpc.STOP: f"Version '{self.name}' stopped",
            Rpc.PUBLISH: f"Version  '{self.name}' published correctly. in namespace '{self.namespace}'",
            Rpc.UNPUBLISH: f"Version '{self.name}' unpublished",
            Rpc.UPDATE_CONFIG: f"Version '{self.name}' config updated",
        }
        return replies[self.rpc]


# --------------------------------------------------------------------------------------------- validation


def validate(rpc: Rpc, request: version_pb2.Request) -> VersionChange:
    """The change a valid request asks for, or InvalidRequestError naming every field in error."""
    if not request.HasField("version"):
        raise InvalidRequestError([FieldProblem("version", "is required")])
    version = request.version
    problems = [*version_name_problems(version.name), *namespace_problems(version.namespace)]
    if rpc is Rpc.START:
        problems += start_problems(version)
    elif rpc is Rpc.UPDATE_CONFIG:
        problems += config_problems(version.config)
    raise_if_any(problems)
    spec: dict[str, Any]
    goal = Goal.APPLIED
    if rpc is Rpc.START:
        spec = {**version_spec(version), "desiredState": STARTED}
    elif rpc is Rpc.STOP:
        # A published version must be Started (the CRD's rule): both in one write.
        spec = {"desiredState": STOPPED, "published": False}
    elif rpc is Rpc.PUBLISH:
        spec, goal = {"published": True}, Goal.PUBLISHED
    elif rpc is Rpc.UNPUBLISH:
        spec, goal = {"published": False}, Goal.UNPUBLISHED
    else:
        spec = {"config": config_entries(version.config)}
    return VersionChange(rpc, version.name, version.namespace, spec, goal)


def raise_if_any(problems: Sequence[FieldProblem]) -> None:
    if not problems:
        return
    if len(problems) > MAX_REPORTED_PROBLEMS:
        hidden = len(problems) - MAX_REPORTED_PROBLEMS
        problems = [*problems[:MAX_REPORTED_PROBLEMS], FieldProblem("version", f"{hidden} more problems not listed")]
    raise InvalidRequestError(problems)


def version_name_problems(name: str) -> list[FieldProblem]:
    return label_problems("version.name", name, VERSION_NAME_MAX_LENGTH)


def namespace_problems(namespace: str) -> list[FieldProblem]:
    return label_problems("version.namespace", namespace, DNS1123_LABEL_MAX_LENGTH)


def label_problems(field: str, value: str, max_length: int) -> list[FieldProblem]:
    """A DNS-1123 label of at most `max_length` characters; the value is quoted only once its length is sane."""
    if not value:
        return [FieldProblem(field, "is required")]
    if len(value) > max_length:
        return [FieldProblem(field, f"must be no more than {max_length} characters")]
    if not DNS1123_LABEL.fullmatch(value):
        return [FieldProblem(field, f"{quoted(value)} is invalid: {DNS1123_LABEL_RULE}")]
    return []


def text_problems(
    field: str, value: str, max_length: int, pattern: re.Pattern[str] | None = None, rule: str = ""
) -> list[FieldProblem]:
    """A required string of at most `max_length` characters matching `pattern`; the value is never quoted."""
    if not value:
        return [FieldProblem(field, "is required")]
    if len(value) > max_length:
        return [FieldProblem(field, f"must be no more than {max_length} characters")]
    if pattern is not None and not pattern.fullmatch(value):
        return [FieldProblem(field, rule)]
    return []


def start_problems(version: version_pb2.Version) -> list[FieldProblem]:
    problems = text_problems("version.id", version.id, ID_MAX_LENGTH)
    if version.HasField("entrypoint"):
        entrypoint = version.entrypoint
        problems += text_problems(
            "version.entrypoint.proto_file", entrypoint.proto_file, PATH_MAX_LENGTH, RELATIVE_PATH, RELATIVE_PATH_RULE
        )
        problems += text_problems("version.entrypoint.image", entrypoint.image, IMAGE_MAX_LENGTH, IMAGE, IMAGE_RULE)
        problems += text_problems(
            "version.entrypoint.src", entrypoint.src, PATH_MAX_LENGTH, RELATIVE_PATH, RELATIVE_PATH_RULE
        )
    else:
        problems.append(FieldProblem("version.entrypoint", "is required"))
    problems += config_problems(version.config)
    problems += workflows_problems(version)
    return problems


def config_problems(config: Iterable[version_pb2.Version.Config]) -> list[FieldProblem]:
    """Keys must be environment variable names (a repeated key is fine: the last one wins); values are free."""
    problems = []
    total_bytes = 0
    for index, entry in enumerate(config):
        problems += text_problems(
            f"version.config[{index}].key", entry.key, CONFIG_KEY_MAX_LENGTH, ENV_VAR_NAME, ENV_VAR_NAME_RULE
        )
        total_bytes += len(entry.key.encode()) + len(entry.value.encode())
    if total_bytes > CONFIG_MAX_BYTES:
        problems.append(
            FieldProblem("version.config", "its keys and values add up to more than a ConfigMap holds (1 MiB)")
        )
    return problems


def workflows_problems(version: version_pb2.Version) -> list[FieldProblem]:
    workflows = version.workflows
    if not workflows:
        return [FieldProblem("version.workflows", "at least one workflow is required")]
    if len(workflows) > MAX_WORKFLOWS:
        return [FieldProblem("version.workflows", f"must have no more than {MAX_WORKFLOWS} workflows")]
    problems: list[FieldProblem] = []
    # First field holding each id or entrypoint, to name it in a duplicate's message.
    workflow_ids: dict[str, str] = {}
    entrypoints: dict[str, str] = {}
    node_ids: dict[str, str] = {}
    edge_ids: dict[str, str] = {}
    for index, workflow in enumerate(workflows):
        field = f"version.workflows[{index}]"
        id_problems = text_problems(f"{field}.id", workflow.id, ID_MAX_LENGTH)
        problems += id_problems or duplicate_problems(f"{field}.id", workflow.id, workflow_ids, "workflow id")
        problems += text_problems(f"{field}.name", workflow.name, ID_MAX_LENGTH)
        entrypoint_problems = text_problems(
            f"{field}.entrypoint",
            workflow.entrypoint,
            WORKFLOW_ENTRYPOINT_MAX_LENGTH,
            WORKFLOW_ENTRYPOINT,
            WORKFLOW_ENTRYPOINT_RULE,
        )
        problems += entrypoint_problems or duplicate_problems(
            f"{field}.entrypoint", workflow.entrypoint, entrypoints, "entrypoint"
        )
        problems += nodes_problems(version.name, field, workflow.nodes, node_ids)
        problems += edges_problems(field, workflow, edge_ids)
    return problems


def duplicate_problems(field: str, value: str, seen: dict[str, str], what: str) -> list[FieldProblem]:
    """A problem if `value` was seen before (at the field `seen` maps it to); else `value` is recorded as seen."""
    first = seen.setdefault(value, field)
    if first == field:
        return []
    return [FieldProblem(field, f"duplicate {what} {quoted(value)}, already at {first}; it must be unique")]


def nodes_problems(
    version_name: str, workflow_field: str, nodes: Sequence[version_pb2.Version.Workflow.Node], seen: dict[str, str]
) -> list[FieldProblem]:
    if not nodes:
        return [FieldProblem(f"{workflow_field}.nodes", "at least one node is required")]
    if len(nodes) > MAX_NODES:
        return [FieldProblem(f"{workflow_field}.nodes", f"must have no more than {MAX_NODES} nodes")]
    problems: list[FieldProblem] = []
    for index, node in enumerate(nodes):
        field = f"{workflow_field}.nodes[{index}]"
        id_problems = label_problems(f"{field}.id", node.id, DNS1123_LABEL_MAX_LENGTH)
        name_problems = label_problems(f"{field}.name", node.name, DNS1123_LABEL_MAX_LENGTH)
        problems += id_problems or duplicate_problems(f"{field}.id", node.id, seen, "node id")
        problems += name_problems
        problems += text_problems(f"{field}.image", node.image, IMAGE_MAX_LENGTH, IMAGE, IMAGE_RULE)
        problems += text_problems(f"{field}.src", node.src, PATH_MAX_LENGTH, RELATIVE_PATH, RELATIVE_PATH_RULE)
        object_name = f"{version_name}-{node.name}-{node.id}"
        names_valid = not (id_problems or name_problems or version_name_problems(version_name))
        if names_valid and len(object_name) > OBJECT_NAME_MAX_LENGTH:
            problems.append(
                FieldProblem(
                    field,
                    f"the node's Deployment would be named {quoted(object_name)}, {len(object_name)} characters: "
                    f"'<version name>-<node name>-<node id>' must be no more than {OBJECT_NAME_MAX_LENGTH}",
                )
            )
    return problems


def edges_problems(
    workflow_field: str, workflow: version_pb2.Version.Workflow, seen: dict[str, str]
) -> list[FieldProblem]:
    edges = workflow.edges
    if len(edges) > MAX_EDGES:
        return [FieldProblem(f"{workflow_field}.edges", f"must have no more than {MAX_EDGES} edges")]
    node_ids = {node.id for node in workflow.nodes}
    problems: list[FieldProblem] = []
    for index, edge in enumerate(edges):
        field = f"{workflow_field}.edges[{index}]"
        id_problems = text_problems(f"{field}.id", edge.id, ID_MAX_LENGTH, EDGE_ID, EDGE_ID_RULE)
        problems += id_problems or duplicate_problems(f"{field}.id", edge.id, seen, "edge id")
        for end, node_id in (("fromNode", edge.fromNode), ("toNode", edge.toNode)):
            end_problems = text_problems(f"{field}.{end}", node_id, DNS1123_LABEL_MAX_LENGTH)
            if not end_problems and node_id not in node_ids:
                end_problems = [
                    FieldProblem(f"{field}.{end}", f"{quoted(node_id)} is not the id of a node of {workflow_field}")
                ]
            problems += end_problems
    return problems


# ------------------------------------------------------------------------------------- the RuntimeVersion


def config_entries(config: Iterable[version_pb2.Version.Config]) -> list[dict[str, str]]:
    """The config as the CRD holds it: one entry per key, the last value of a repeated key (as the original)."""
    values: dict[str, str] = {}
    for entry in config:
        values[entry.key] = entry.value
    return [{"key": key, "value": value} for key, value in values.items()]


def version_spec(version: version_pb2.Version) -> dict[str, Any]:
    """The spec fields of a (valid) Version, in the CRD's names; `desiredState` and `published` aside."""
    entrypoint = version.entrypoint
    return {
        "id": version.id,
        "entrypoint": {"protoFile": entrypoint.proto_file, "image": entrypoint.image, "src": entrypoint.src},
        "config": config_entries(version.config),
        "workflows": [
            {
                "id": workflow.id,
                "name": workflow.name,
                "entrypoint": workflow.entrypoint,
                "nodes": [
                    {"id": node.id, "name": node.name, "image": node.image, "src": node.src} for node in workflow.nodes
                ],
                "edges": [{"id": edge.id, "fromNode": edge.fromNode, "toNode": edge.toNode} for edge in workflow.edges],
            }
            for workflow in version.workflows
        ],
    }


def build_runtime_version(change: VersionChange) -> dict[str, Any]:
    """The RuntimeVersion a first Start creates: not published."""
    return {
        "apiVersion": RUNTIME_VERSIONS.api_version,
        "kind": "RuntimeVersion",
        "metadata": {"name": change.name, "namespace": change.namespace},
        "spec": {**change.spec, "published": False},
    }


class PreconditionFailedError(Exception):
    """The RuntimeVersion is not in a state this call can act on (FAILED_PRECONDITION)."""


@dataclass(frozen=True)
class Create:
    body: dict[str, Any]


@dataclass(frozen=True)
class Patch:
    """A JSON merge patch, conditional on the resourceVersion that was read."""

    body: dict[str, Any]


def plan_write(change: VersionChange, existing: Mapping[str, Any] | None) -> Create | Patch | None:
    """What to write, given the RuntimeVersion as it is (None: there is none); None: it is already as asked."""
    name, namespace = change.name, change.namespace
    if existing is None:
        if change.rpc is Rpc.START:
            return Create(build_runtime_version(change))
        raise PreconditionFailedError(
            f"Version {name!r} was never started in namespace {namespace!r} (there is no RuntimeVersion {name!r})"
        )
    metadata = existing.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        raise PreconditionFailedError(
            f"RuntimeVersion {name!r} is being deleted; {change.rpc.value} it once it is gone"
        )
    spec = existing.get("spec") or {}
    if change.rpc is Rpc.PUBLISH and spec.get("desiredState") == STOPPED:
        raise PreconditionFailedError(f"Version {name!r} is stopped: start it before publishing it")
    if all(spec.get(key) == value for key, value in change.spec.items()):
        return None
    return Patch({"metadata": {"resourceVersion": metadata.get("resourceVersion")}, "spec": dict(change.spec)})


# ----------------------------------------------------------------------------------------------- status


def assess_version(version: Mapping[str, Any], generation: int, goal: Goal) -> Assessment:
    """What a RuntimeVersion's status says about the spec of `generation` (the one a call wrote) and `goal`.

    The operator writes `status.observedGeneration` only once everything of that generation is applied; a
    `Stalled` condition with a terminal reason for that generation means it never will be.
    """
    status = version.get("status") or {}
    conditions: dict[str, Mapping[str, Any]] = {
        str(condition.get("type")): condition
        for condition in status.get("conditions") or []
        if isinstance(condition, Mapping)
    }
    observed = status.get("observedGeneration")
    applied = isinstance(observed, int) and observed >= generation
    stalled = conditions.get("Stalled")
    if (
        stalled is not None
        and stalled.get("status") == "True"
        and stalled.get("reason") in TERMINAL_VERSION_REASONS
        and _is_current(stalled, generation, applied)
    ):
        return Assessment(Verdict.FAILED, _explained(stalled))
    if not applied:
        if not status:
            detail = f"the operator has not reported on it yet (no status; generation {generation} written)"
        else:
            seen = f"its status is for generation {observed}" if isinstance(observed, int) else "no observedGeneration"
            detail = f"the operator has not applied generation {generation} of its spec yet ({seen})"
        for kind in ("Stalled", "Progressing"):
            condition = conditions.get(kind)
            if condition is not None and condition.get("status") == "True" and _explained(condition):
                detail += f"; {kind}: {_explained(condition)}"
        return Assessment(Verdict.WAITING, detail)
    published = conditions.get("Published")
    if goal is Goal.PUBLISHED:
        return _publication(published, generation)
    if goal is Goal.UNPUBLISHED and published is not None and _is_current(published, generation, applied):
        state = published.get("status") or "Unknown"
        if state != "False":
            return Assessment(Verdict.WAITING, f"Published is still {state}{_because(published)}")
    return Assessment(Verdict.READY, goal.value)


def _publication(published: Mapping[str, Any] | None, generation: int) -> Assessment:
    """Whether the Published condition of an applied generation says True."""
    if published is None:
        return Assessment(Verdict.WAITING, "the operator has not reported a Published condition yet")
    if not _is_current(published, generation, applied=True):
        seen = published.get("observedGeneration")
        return Assessment(Verdict.WAITING, f"the Published condition is for generation {seen}, not {generation}")
    state = published.get("status") or "Unknown"
    if state == "True":
        return Assessment(Verdict.READY, Goal.PUBLISHED.value)
    return Assessment(Verdict.WAITING, f"Published is {state}{_because(published)}")


def _is_current(condition: Mapping[str, Any], generation: int, applied: bool) -> bool:
    """Set for `generation` or later; a condition without its own observedGeneration is as current as the status."""
    condition_generation = condition.get("observedGeneration")
    if isinstance(condition_generation, int):
        return condition_generation >= generation
    return applied


def _explained(condition: Mapping[str, Any]) -> str:
    reason, message = str(condition.get("reason") or ""), str(condition.get("message") or "")
    return f"{reason}: {message}" if reason and message else reason or message


def _because(condition: Mapping[str, Any]) -> str:
    explained = _explained(condition)
    return f" ({explained})" if explained else ""
