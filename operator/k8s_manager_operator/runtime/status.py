"""A Runtime's status from what is observed: its children, the referenced Secrets and the namespace's pods.

Conditions (metav1.Condition shape), in this order:

- `Ready`: True when every detail condition below is True; otherwise False with the reason of the first one that
  is not (a terminal failure first, then in creation order) or `InvalidSpec`.
- `Progressing`: True while work is in flight; `Stalled`: True on a terminal failure (`is_terminal`), which needs
  a change by someone else: the spec, a referenced Secret, or a namespace the Runtime does not own.
- `NamespaceReady`, `RBACReady`, `CredentialsReady`, `OperatorAvailable`, `ComponentsReady`: one piece each.

`lastTransitionTime` changes only when a condition's status does. Messages name objects and fields, never
credential values.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from k8s_manager_api import names
from k8s_manager_api.names import CREDENTIALS_MISSING, INVALID_SPEC, NAMESPACE_NOT_OWNED, TERMINAL_RUNTIME_REASONS

from ..config import ComponentCheck, OperatorConfig
from ..drift import differences
from . import desired
from .credentials import CREDENTIALS_SECRET_NAME, inline_blocks, referenced_secrets
from .validation import CREDENTIAL_KEYS, validate_runtime

READY: Final = "Ready"
PROGRESSING: Final = "Progressing"
STALLED: Final = "Stalled"
NAMESPACE_READY: Final = "NamespaceReady"
RBAC_READY: Final = "RBACReady"
CREDENTIALS_READY: Final = "CredentialsReady"
OPERATOR_AVAILABLE: Final = "OperatorAvailable"
COMPONENTS_READY: Final = "ComponentsReady"

RUNTIME_READY: Final = "RuntimeReady"

MAX_MESSAGE_LENGTH: Final = 32768  # the CRD's limit on a condition's message
MAX_LISTED: Final = 5  # differing fields or pods named in one message


@dataclass(frozen=True)
class ObservedChildren:
    """What the API returned for each child of the Runtime (None: not found), and for each Secret the spec's
    secretRefs name (`credentials.referenced_secrets`), keyed by name."""

    namespace: Mapping[str, Any] | None = None
    service_account: Mapping[str, Any] | None = None
    role: Mapping[str, Any] | None = None
    role_binding: Mapping[str, Any] | None = None
    cluster_role: Mapping[str, Any] | None = None
    cluster_role_binding: Mapping[str, Any] | None = None
    deployment: Mapping[str, Any] | None = None
    secrets: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """A condition before it is stamped: whether it holds (status True), why, and whether it is terminal."""

    holds: bool
    reason: str
    message: str
    terminal: bool = False


def is_terminal(reason: str | None) -> bool:
    """Whether a Ready=False reason is a terminal failure rather than work in progress."""
    return reason in TERMINAL_RUNTIME_REASONS


def format_timestamp(moment: datetime.datetime) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes metav1.Time."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def find_condition(status: Mapping[str, Any] | None, condition_type: str) -> Mapping[str, Any] | None:
    for condition in (status or {}).get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == condition_type:
            return condition
    return None


def ownership(obj: Mapping[str, Any], runtime: Mapping[str, Any]) -> Literal["this", "previous", "foreign"]:
    """Who owns an object: this Runtime; an earlier Runtime of the same name (its garbage collection is under way);
    or nobody we know."""
    references = obj.get("metadata", {}).get("ownerReferences") or []
    runtime_metadata = runtime.get("metadata", {})
    if any(reference.get("uid") == runtime_metadata.get("uid") for reference in references):
        return "this"
    if any(
        reference.get("kind") == desired.RUNTIME_KIND
        and str(reference.get("apiVersion", "")).split("/")[0] == names.GROUP
        and reference.get("name") == runtime_metadata.get("name")
        for reference in references
    ):
        return "previous"
    return "foreign"


def compute_status(
    runtime: Mapping[str, Any],
    observed: ObservedChildren,
    pods: Sequence[Mapping[str, Any]],
    config: OperatorConfig,
    *,
    now: str,
    previous_conditions: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The Runtime's `status`: observedGeneration, conditions and components.

    `pods` are the pods of the runtime's namespace; `previous_conditions` default to the Runtime's own; `now`
    (see `format_timestamp`) stamps the conditions whose status changes.
    """
    generation = runtime.get("metadata", {}).get("generation")
    if previous_conditions is None:
        previous_conditions = (runtime.get("status") or {}).get("conditions") or []
    wanted = {obj["kind"]: obj for obj in desired.desired_objects(runtime, config)}

    namespace = check_namespace(runtime, observed.namespace, wanted["Namespace"])
    details = {
        NAMESPACE_READY: namespace,
        RBAC_READY: check_rbac(runtime, observed, wanted),
        CREDENTIALS_READY: check_credentials(runtime, observed, namespace_ready=namespace.holds),
        OPERATOR_AVAILABLE: check_operator(runtime, observed.deployment, wanted["Deployment"]),
    }
    components = [component_readiness(component, pods) for component in config.components]
    details[COMPONENTS_READY] = summarize_components(components)

    ready = overall(runtime, list(details.values()))
    verdicts = {READY: ready, PROGRESSING: _progressing(ready), STALLED: _stalled(ready), **details}

    previous = {condition.get("type"): condition for condition in previous_conditions}
    status: dict[str, Any] = {}
    if isinstance(generation, int):
        status["observedGeneration"] = generation
    status["conditions"] = [
        _condition(condition_type, verdict, previous.get(condition_type), now, generation)
        for condition_type, verdict in verdicts.items()
    ]
    status["components"] = components
    return status


def overall(runtime: Mapping[str, Any], details: Sequence[Verdict]) -> Verdict:
    problems = validate_runtime(runtime)
    if problems:
        return Verdict(False, INVALID_SPEC, "; ".join(str(problem) for problem in problems), terminal=True)
    blocking = next((detail for detail in details if detail.terminal), None)
    missing = next((detail for detail in details if not detail.holds), None)
    return (
        blocking
        or missing
        or Verdict(True, RUNTIME_READY, "namespace, RBAC, credentials, runtime operator and components are ready")
    )


def _progressing(ready: Verdict) -> Verdict:
    if ready.holds:
        return Verdict(False, RUNTIME_READY, "nothing left to do")
    if ready.terminal:
        return Verdict(False, ready.reason, "blocked: see the Stalled condition")
    return Verdict(True, ready.reason, ready.message)


def _stalled(ready: Verdict) -> Verdict:
    if ready.terminal:
        return Verdict(True, ready.reason, ready.message)
    return Verdict(False, RUNTIME_READY if ready.holds else "Reconciling", "")


# ------------------------------------------------------------------------------------------ the pieces


def check_namespace(
    runtime: Mapping[str, Any], observed: Mapping[str, Any] | None, wanted: Mapping[str, Any]
) -> Verdict:
    name = desired.runtime_name(runtime)
    label = f"Namespace {name}"
    if observed is None:
        return Verdict(False, "NamespaceMissing", f"{label} does not exist yet")
    if (
        observed.get("metadata", {}).get("deletionTimestamp")
        or observed.get("status", {}).get("phase") == "Terminating"
    ):
        return Verdict(False, "NamespaceTerminating", f"{label} is being deleted; it is created again once it is gone")
    owner = ownership(observed, runtime)
    if owner == "previous":
        return Verdict(
            False,
            "NamespaceOfPreviousRuntime",
            f"{label} belongs to an earlier Runtime of the same name and is deleted with it; "
            "it is created again once it is gone",
        )
    if owner == "foreign":
        # Taking it over would delete someone else's namespace with this Runtime.
        return Verdict(
            False,
            NAMESPACE_NOT_OWNED,
            f"{label} exists and is not owned by this Runtime: delete it or give the Runtime another name",
            terminal=True,
        )
    drift = differences(wanted, observed)
    if drift:
        return Verdict(False, "NamespaceOutOfDate", f"{label} differs from the desired one at {_listed(drift)}")
    return Verdict(True, "NamespaceActive", f"{label} is active")


def check_rbac(runtime: Mapping[str, Any], observed: ObservedChildren, wanted: Mapping[str, Any]) -> Verdict:
    pieces = (
        ("ServiceAccount", observed.service_account),
        ("Role", observed.role),
        ("RoleBinding", observed.role_binding),
        ("ClusterRole", observed.cluster_role),
        ("ClusterRoleBinding", observed.cluster_role_binding),
    )
    problems = [
        (kind, problem)
        for kind, found in pieces
        if (problem := _child_problem(runtime, wanted[kind], found)) is not None
    ]
    if not problems:
        return Verdict(
            True, "RBACInPlace", "ServiceAccount, Role, RoleBinding, ClusterRole and ClusterRoleBinding are in place"
        )
    first_kind, (first_suffix, _) = problems[0]
    return Verdict(False, first_kind + first_suffix, "; ".join(text for _, (_, text) in problems))


def check_credentials(runtime: Mapping[str, Any], observed: ObservedChildren, *, namespace_ready: bool) -> Verdict:
    problems = [
        problem
        for problem in validate_runtime(runtime)
        if problem.field == "spec" or any(problem.field.startswith(f"spec.{block}.") for block in CREDENTIAL_KEYS)
    ]
    if problems:
        return Verdict(False, INVALID_SPEC, "; ".join(str(problem) for problem in problems), terminal=True)
    name = desired.runtime_name(runtime)
    spec = runtime.get("spec") or {}
    still_inline = inline_blocks(spec)
    if still_inline:
        return Verdict(
            False,
            "CredentialsNotMoved",
            f"{' and '.join(still_inline)} still hold inline values, to be moved into Secret "
            f"{name}/{CREDENTIALS_SECRET_NAME}",
        )
    if not namespace_ready:
        return Verdict(False, "WaitingForNamespace", f"the credentials Secrets are read once Namespace {name} is ready")
    missing: list[str] = []
    references = referenced_secrets(spec)
    for block, secret_name in references.items():
        secret = observed.secrets.get(secret_name)
        where = f"Secret {name}/{secret_name} named by spec.{block}.credentials.secretRef"
        if secret is None:
            missing.append(f"{where} does not exist")
            continue
        data = secret.get("data") or {}
        lacking = [key for key in CREDENTIAL_KEYS[block] if not data.get(key)]
        if lacking:
            missing.append(f"{where} lacks the keys {', '.join(lacking)}")
    if missing:
        return Verdict(False, CREDENTIALS_MISSING, "; ".join(missing), terminal=True)
    secrets = sorted(set(references.values()))
    return Verdict(True, "CredentialsInSecret", f"credentials are read from Secret {', '.join(secrets)}")


def check_operator(
    runtime: Mapping[str, Any], observed: Mapping[str, Any] | None, wanted: Mapping[str, Any]
) -> Verdict:
    problem = _child_problem(runtime, wanted, observed)
    if problem is not None:
        return Verdict(False, "Deployment" + problem[0], problem[1])
    assert observed is not None  # _child_problem reports a missing Deployment
    label = _label(wanted)
    generation = observed.get("metadata", {}).get("generation")
    status = observed.get("status") or {}
    observed_generation = status.get("observedGeneration")
    if isinstance(generation, int) and (not isinstance(observed_generation, int) or observed_generation < generation):
        return Verdict(False, "DeploymentProgressing", f"{label} is rolling out its latest spec")
    available = find_condition(status, "Available")
    if available is not None and available.get("status") == "True":
        return Verdict(True, "DeploymentAvailable", f"{label} is available")
    progressing = find_condition(status, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Verdict(False, "DeploymentStalled", _with_detail(f"{label} is not progressing", progressing))
    return Verdict(False, "DeploymentUnavailable", _with_detail(f"{label} has no available replica yet", available))


def component_readiness(component: ComponentCheck, pods: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One entry of status.components: ready when one live pod matching the selector is Running (and Ready)."""
    matching = [
        pod
        for pod in pods
        if not pod.get("metadata", {}).get("deletionTimestamp")
        and component.selector.matches(pod.get("metadata", {}).get("labels"))
    ]
    if any(_pod_qualifies(pod, component.needs_ready) for pod in matching):
        return {"name": component.name, "ready": True}
    wanted = "Running and Ready" if component.needs_ready else "Running"
    if not matching:
        message = f"no pod matches {component.selector}"
    else:
        states = ", ".join(
            f"{pod.get('metadata', {}).get('name', '?')}: {_pod_state(pod)}" for pod in matching[:MAX_LISTED]
        )
        message = f"no pod matching {component.selector} is {wanted} ({states})"
    return {"name": component.name, "ready": False, "message": message}


def summarize_components(components: Sequence[Mapping[str, Any]]) -> Verdict:
    waiting = [component for component in components if not component["ready"]]
    if not waiting:
        listed = ", ".join(component["name"] for component in components) or "no component"
        return Verdict(True, "ComponentsReady", f"ready: {listed}")
    reason = _camel(waiting[0]["name"]) + "NotReady"
    if not reason[0].isalpha():
        reason = "ComponentsNotReady"
    return Verdict(False, reason, "; ".join(f"{component['name']}: {component['message']}" for component in waiting))


# ------------------------------------------------------------------------------------------ helpers


def _child_problem(
    runtime: Mapping[str, Any], wanted: Mapping[str, Any], observed: Mapping[str, Any] | None
) -> tuple[str, str] | None:
    """(reason suffix, message) when a child is not as desired. A child the Runtime does not own yet is not
    terminal: the operator applies the desired object, ownerReference included, over it."""
    label = _label(wanted)
    if observed is None:
        return "Missing", f"{label} does not exist yet"
    if observed.get("metadata", {}).get("deletionTimestamp"):
        return "Terminating", f"{label} is being deleted; it is created again once it is gone"
    if ownership(observed, runtime) != "this":
        return "NotOwned", f"{label} is not owned by this Runtime yet"
    drift = differences(wanted, observed)
    if drift:
        return "OutOfDate", f"{label} differs from the desired one at {_listed(drift)}"
    return None


def _label(obj: Mapping[str, Any]) -> str:
    metadata = obj["metadata"]
    where = f"{metadata['namespace']}/" if "namespace" in metadata else ""
    return f"{obj['kind']} {where}{metadata['name']}"


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown if len(items) <= MAX_LISTED else f"{shown} and {len(items) - MAX_LISTED} more"


def _with_detail(text: str, condition: Mapping[str, Any] | None) -> str:
    detail = (condition or {}).get("message")
    return f"{text}: {detail}" if detail else text


def _pod_qualifies(pod: Mapping[str, Any], needs_ready: bool) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return not needs_ready or _pod_ready(pod)


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    condition = find_condition(pod.get("status"), "Ready")
    return condition is not None and condition.get("status") == "True"


def _pod_state(pod: Mapping[str, Any]) -> str:
    phase = (pod.get("status") or {}).get("phase") or "Unknown"
    if phase == "Running" and not _pod_ready(pod):
        return "Running, not Ready"
    return str(phase)


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("-"))


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
