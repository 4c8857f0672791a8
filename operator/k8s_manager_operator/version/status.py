"""A RuntimeVersion's status from what is observed: its Deployments and the namespace's `active-entrypoint` Service.

Conditions (metav1.Condition shape), in this order:

- `Ready`: Started: True (reason `Started`) when every Deployment of the version exists as this generation wants
  it (owned, current config and wiring hashes, rolled out) and is Available; otherwise False with the reason of
  the first one that is not (a stalled one first, then nodes in spec order, then the entrypoint). Stopped: True
  (reason `Stopped`) once the version's objects are gone, else False `Stopping`. An invalid spec: False
  `InvalidSpec`, terminal.
- `Published`: True when the Service selects this version; else False, `PublishedElsewhere` (naming the version
  it selects) or `NotPublished`.
- `Progressing`: True while work is in flight (Ready False and not stalled, or the Service not yet where
  `spec.published` wants it); `Stalled`: True on an invalid spec, or when a Deployment exceeded its progress
  deadline (an image that cannot be pulled, a pod that never becomes ready: it needs a change by someone).

`lastTransitionTime` changes only when a condition's status does. `status.nodes` (per node, in spec order) and
`status.entrypoint` say which Deployment is ready and why not. Messages name objects, fields and ids, never
config values.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from k8s_manager_api.names import INVALID_SPEC

from ..runtime.status import find_condition
from . import desired
from .validation import is_published, is_started, validate_version

READY: Final = "Ready"
PUBLISHED: Final = "Published"
PROGRESSING: Final = "Progressing"
STALLED: Final = "Stalled"

# Reasons. Ready:
STARTED: Final = "Started"
STOPPED: Final = "Stopped"
STOPPING: Final = "Stopping"
DEPLOYMENT_MISSING: Final = "DeploymentMissing"
DEPLOYMENT_TERMINATING: Final = "DeploymentTerminating"
DEPLOYMENT_NOT_OWNED: Final = "DeploymentNotOwned"
DEPLOYMENT_OUTDATED: Final = "DeploymentOutdated"
DEPLOYMENT_ROLLING_OUT: Final = "DeploymentRollingOut"
DEPLOYMENT_UNAVAILABLE: Final = "DeploymentUnavailable"
DEPLOYMENT_STALLED: Final = "DeploymentStalled"
# Published:
PUBLISHED_HERE: Final = "Published"
PUBLISHED_ELSEWHERE: Final = "PublishedElsewhere"
NOT_PUBLISHED: Final = "NotPublished"
# Progressing, when only the Service is not where the spec wants it:
PUBLISHING: Final = "Publishing"
UNPUBLISHING: Final = "Unpublishing"
# Stalled, when nothing is:
RECONCILING: Final = "Reconciling"

# Ready=False reasons no waiting can cure: the facade stops waiting (FAILED_PRECONDITION).
TERMINAL_VERSION_REASONS: Final = frozenset({INVALID_SPEC})

MAX_MESSAGE_LENGTH: Final = 32768  # the CRD's limit on a message
MAX_LISTED: Final = 5  # objects named in one message


@dataclass(frozen=True)
class Verdict:
    """A condition (or a Deployment's readiness) before it is stamped."""

    holds: bool
    reason: str
    message: str
    stalled: bool = False  # blocked until someone changes something


def is_terminal(reason: str | None) -> bool:
    """Whether a Ready=False reason is a terminal failure rather than work in progress."""
    return reason in TERMINAL_VERSION_REASONS


def ownership(obj: Mapping[str, Any], version: Mapping[str, Any]) -> Literal["this", "previous", "foreign"]:
    """Who owns an object: this RuntimeVersion; an earlier RuntimeVersion of the same name (deleted, its garbage
    collection under way); or nobody we know."""
    references = (obj.get("metadata") or {}).get("ownerReferences") or []
    metadata = version.get("metadata") or {}
    if any(reference.get("uid") == metadata.get("uid") for reference in references):
        return "this"
    if any(
        reference.get("kind") == desired.VERSION_KIND
        and str(reference.get("apiVersion", "")).split("/")[0] == desired.VERSION_API_VERSION.split("/")[0]
        and reference.get("name") == metadata.get("name")
        for reference in references
    ):
        return "previous"
    return "foreign"


def selected_version(service: Mapping[str, Any] | None) -> str | None:
    """The version the `active-entrypoint` Service selects, if any (a Service being deleted selects none)."""
    if service is None or (service.get("metadata") or {}).get("deletionTimestamp"):
        return None
    selector = (service.get("spec") or {}).get("selector") or {}
    if selector.get(desired.TYPE_LABEL) != desired.ENTRYPOINT_TYPE:
        return None
    selected = selector.get(desired.VERSION_NAME_LABEL)
    return selected if isinstance(selected, str) and selected else None


def compute_status(
    version: Mapping[str, Any],
    deployments: Mapping[str, Mapping[str, Any] | None],
    service: Mapping[str, Any] | None,
    *,
    now: str,
    previous_conditions: Sequence[Mapping[str, Any]] | None = None,
    remaining_objects: Collection[str] = (),
) -> dict[str, Any]:
    """The RuntimeVersion's `status`: observedGeneration, conditions, entrypoint and nodes.

    `deployments`: what the API returned for each Deployment of the version (`desired.version_object_names`), by
    name; a name left out counts as not found. `service`: the namespace's `active-entrypoint` Service, or None.
    `remaining_objects`: names of other objects of the version still found (its ConfigMaps), for a stopped
    version. `previous_conditions` default to the version's own; `now` (runtime.status.format_timestamp) stamps
    the conditions whose status changes.
    """
    metadata = version.get("metadata") or {}
    generation = metadata.get("generation")
    if previous_conditions is None:
        previous_conditions = (version.get("status") or {}).get("conditions") or []
    spec = version.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}

    published = check_published(version, service)
    problems = validate_version(version)
    entrypoint: dict[str, Any] | None
    if problems:
        ready = Verdict(False, INVALID_SPEC, "; ".join(str(problem) for problem in problems), stalled=True)
        nodes: list[dict[str, Any]] = []  # ids may be missing or repeated: status.nodes is a map keyed by id
        name = metadata.get("name")
        entrypoint = (
            {
                "deployment": desired.entrypoint_deployment_name(name),
                "ready": False,
                "message": "the spec is invalid: see the Ready condition",
            }
            if isinstance(name, str) and name
            else None
        )
    elif not is_started(spec):
        ready = check_stopped(version, deployments, remaining_objects)
        nodes = [
            _node_entry(node, Verdict(False, STOPPED, "the version is stopped"))
            for node in desired.version_nodes(version)
        ]
        entrypoint = _entrypoint_entry(version, Verdict(False, STOPPED, "the version is stopped"))
    else:
        annotations = desired.deployment_annotations(version)
        node_verdicts = [
            (node, deployment_readiness(version, node.object_name, deployments.get(node.object_name), annotations))
            for node in desired.version_nodes(version)
        ]
        entrypoint_name = desired.entrypoint_deployment_name(desired.version_name(version))
        entrypoint_verdict = deployment_readiness(
            version, entrypoint_name, deployments.get(entrypoint_name), annotations
        )
        ready = summarize([verdict for _, verdict in node_verdicts] + [entrypoint_verdict])
        nodes = [_node_entry(node, verdict) for node, verdict in node_verdicts]
        entrypoint = _entrypoint_entry(version, entrypoint_verdict)

    publishing = _publishing(spec, published, ready)
    verdicts = {
        READY: ready,
        PUBLISHED: published,
        PROGRESSING: _progressing(ready, publishing),
        STALLED: _stalled(ready),
    }
    previous = {condition.get("type"): condition for condition in previous_conditions}
    status: dict[str, Any] = {}
    if isinstance(generation, int):
        status["observedGeneration"] = generation
    status["conditions"] = [
        _condition(condition_type, verdict, previous.get(condition_type), now, generation)
        for condition_type, verdict in verdicts.items()
    ]
    if entrypoint is not None:
        status["entrypoint"] = entrypoint
    status["nodes"] = nodes
    return status


# ------------------------------------------------------------------------------------------ the pieces


def check_published(version: Mapping[str, Any], service: Mapping[str, Any] | None) -> Verdict:
    name = (version.get("metadata") or {}).get("name")
    service_label = f"Service {desired.ENTRYPOINT_SERVICE}"
    selected = selected_version(service)
    if selected is not None and selected == name:
        return Verdict(True, PUBLISHED_HERE, f"{service_label} selects this version")
    if selected is not None:
        return Verdict(False, PUBLISHED_ELSEWHERE, f'{service_label} selects version "{selected}"')
    if service is None:
        return Verdict(False, NOT_PUBLISHED, f"{service_label} does not exist")
    if (service.get("metadata") or {}).get("deletionTimestamp"):
        return Verdict(False, NOT_PUBLISHED, f"{service_label} is being deleted")
    return Verdict(False, NOT_PUBLISHED, f"{service_label} selects no version")


def check_stopped(
    version: Mapping[str, Any],
    deployments: Mapping[str, Mapping[str, Any] | None],
    remaining_objects: Collection[str],
) -> Verdict:
    """Stopped and gone: no Deployment of this version is left (another's of the same name does not count)."""
    left = [
        f"Deployment {name}"
        for name, deployment in deployments.items()
        if deployment is not None and ownership(deployment, version) == "this"
    ] + [str(name) for name in remaining_objects]
    if left:
        return Verdict(False, STOPPING, f"waiting for {_listed(left)} to be deleted")
    return Verdict(True, STOPPED, "the version is stopped: its ConfigMaps and Deployments are deleted")


def deployment_readiness(
    version: Mapping[str, Any],
    name: str,
    observed: Mapping[str, Any] | None,
    annotations: Mapping[str, Mapping[str, str]],
) -> Verdict:
    """Whether one Deployment of a started version is available as this generation wants it, and why not.

    `annotations`: `desired.deployment_annotations(version)`; a pod template without them is not rolled out yet.
    The roll-out checks are kubectl rollout status': the controller saw the latest spec, every replica is
    updated, no old one is left, and the updated ones are available.
    """
    label = f"Deployment {name}"
    if observed is None:
        return Verdict(False, DEPLOYMENT_MISSING, f"{label} does not exist yet")
    metadata = observed.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return Verdict(False, DEPLOYMENT_TERMINATING, f"{label} is being deleted; it is created again once it is gone")
    owner = ownership(observed, version)
    if owner == "previous":
        return Verdict(
            False,
            DEPLOYMENT_NOT_OWNED,
            f"{label} belongs to an earlier RuntimeVersion of the same name, which is being deleted",
        )
    if owner == "foreign":
        return Verdict(False, DEPLOYMENT_NOT_OWNED, f"{label} is not owned by this version yet")
    template = ((observed.get("spec") or {}).get("template") or {}).get("metadata") or {}
    current = template.get("annotations") or {}
    wanted = annotations.get(name) or {}
    if any(current.get(key) != value for key, value in wanted.items()):
        return Verdict(False, DEPLOYMENT_OUTDATED, f"{label} does not have the current configuration yet")
    generation = metadata.get("generation")
    status = observed.get("status") or {}
    observed_generation = status.get("observedGeneration")
    if isinstance(generation, int) and (not isinstance(observed_generation, int) or observed_generation < generation):
        return Verdict(False, DEPLOYMENT_ROLLING_OUT, f"{label} is rolling out its latest spec")
    progressing = find_condition(status, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Verdict(False, DEPLOYMENT_STALLED, _with_detail(f"{label} is not progressing", progressing), True)
    replicas = (observed.get("spec") or {}).get("replicas")
    wanted_replicas = replicas if isinstance(replicas, int) else 1
    updated = _count(status, "updatedReplicas")
    total = _count(status, "replicas")
    available = _count(status, "availableReplicas")
    if updated < wanted_replicas:
        return Verdict(
            False, DEPLOYMENT_ROLLING_OUT, f"{label}: {updated} of {wanted_replicas} replicas have been updated"
        )
    if total > updated:
        return Verdict(
            False, DEPLOYMENT_ROLLING_OUT, f"{label}: {total - updated} old replicas are pending termination"
        )
    available_condition = find_condition(status, "Available")
    if available < updated:
        return Verdict(
            False,
            DEPLOYMENT_UNAVAILABLE,
            _with_detail(f"{label}: {available} of {updated} updated replicas are available", available_condition),
        )
    if available_condition is None or available_condition.get("status") != "True":
        return Verdict(False, DEPLOYMENT_UNAVAILABLE, _with_detail(f"{label} is not available", available_condition))
    return Verdict(True, "DeploymentAvailable", f"{label} is available")


def summarize(verdicts: Sequence[Verdict]) -> Verdict:
    """Ready for a started version: every Deployment ready; else the first stalled one's reason, or the first
    not ready one's, with all those not ready listed."""
    waiting = [verdict for verdict in verdicts if not verdict.holds]
    if not waiting:
        return Verdict(True, STARTED, f"all {len(verdicts)} Deployments of the version are available")
    leading = next((verdict for verdict in waiting if verdict.stalled), waiting[0])
    shown = "; ".join(verdict.message for verdict in waiting[:MAX_LISTED])
    more = f"; and {len(waiting) - MAX_LISTED} more" if len(waiting) > MAX_LISTED else ""
    return Verdict(
        False,
        leading.reason,
        f"{len(waiting)} of {len(verdicts)} Deployments not ready: {shown}{more}",
        stalled=leading.stalled,
    )


def _publishing(spec: Mapping[str, Any], published: Verdict, ready: Verdict) -> Verdict | None:
    """The Service move still to be made, if any. Another version's selection is not one: it took it over."""
    if ready.reason == INVALID_SPEC:
        return None
    if is_published(spec) and published.reason == NOT_PUBLISHED:
        return Verdict(True, PUBLISHING, f"{published.message}; it is to select this version")
    if not is_published(spec) and published.holds:
        return Verdict(True, UNPUBLISHING, f"{published.message}; it is to be removed")
    return None


def _progressing(ready: Verdict, publishing: Verdict | None) -> Verdict:
    if ready.stalled:
        return Verdict(False, ready.reason, "blocked: see the Stalled condition")
    if not ready.holds:
        return Verdict(True, ready.reason, ready.message)
    if publishing is not None:
        return publishing
    return Verdict(False, ready.reason, "nothing left to do")


def _stalled(ready: Verdict) -> Verdict:
    if ready.stalled:
        return Verdict(True, ready.reason, ready.message)
    return Verdict(False, ready.reason if ready.holds else RECONCILING, "")


# ------------------------------------------------------------------------------------------ helpers


def _node_entry(node: desired.VersionNode, verdict: Verdict) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": node.node_id,
        "name": node.node_name,
        "workflow": node.workflow_id,
        "deployment": node.object_name,
        "ready": verdict.holds,
    }
    if not verdict.holds:
        entry["message"] = verdict.message[:MAX_MESSAGE_LENGTH]
    return entry


def _entrypoint_entry(version: Mapping[str, Any], verdict: Verdict) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "deployment": desired.entrypoint_deployment_name(desired.version_name(version)),
        "ready": verdict.holds,
    }
    if not verdict.holds:
        entry["message"] = verdict.message[:MAX_MESSAGE_LENGTH]
    return entry


def _count(status: Mapping[str, Any], key: str) -> int:
    value = status.get(key)
    return value if isinstance(value, int) else 0


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown if len(items) <= MAX_LISTED else f"{shown} and {len(items) - MAX_LISTED} more"


def _with_detail(text: str, condition: Mapping[str, Any] | None) -> str:
    detail = (condition or {}).get("message")
    return f"{text}: {detail}" if detail else text


def _condition(
    condition_type: str,
    verdict: Verdict,
    previous: Mapping[str, Any] | None,
    now: str,
    generation: object,
) -> dict[str, Any]:
    status = "True" if verdict.holds else "False"
    # metav1.Condition: the time of the last change of status; a new reason or message alone keeps it.
    unchanged_since = previous.get("lastTransitionTime") if previous and previous.get("status") == status else None
    condition: dict[str, Any] = {
        "type": condition_type,
        "status": status,
        "reason": verdict.reason,
        "message": verdict.message[:MAX_MESSAGE_LENGTH],
        "lastTransitionTime": unchanged_since or now,
    }
    if isinstance(generation, int):
        condition["observedGeneration"] = generation
    return condition
