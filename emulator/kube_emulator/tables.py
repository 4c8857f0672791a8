"""Server-side printing: `meta.k8s.io/v1 Table` answers, as `kubectl get` asks for them.

Built-in kinds get the columns and cells of kube-apiserver's printers (pkg/printers/internalversion),
generated "wide" as the apiserver does (kubectl hides priority > 0 columns unless `-o wide`). Kinds without
a printer get the default NAME / CREATED AT table. Custom resources get their CRD's additionalPrinterColumns,
evaluated like the apiextensions-apiserver table convertor does (NAME + AGE when none are declared).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import errors
from .resources import JsonObject, ResourceType

TABLE_GROUP_VERSIONS = ("v1", "v1beta1")

_NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
    "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_CREATION_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. Clients may not set this value. "
    "It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)


def wants_table(accept: str) -> bool:
    return table_version(accept) is not None


def table_version(accept: str) -> str | None:
    """The meta.k8s.io version of the first Table the Accept header asks for, if any."""
    for clause in accept.split(","):
        parameters = dict(part.strip().split("=", 1) for part in clause.split(";")[1:] if "=" in part)
        if parameters.get("as") == "Table" and parameters.get("g", "meta.k8s.io") == "meta.k8s.io":
            version = parameters.get("v", "v1")
            if version in TABLE_GROUP_VERSIONS:
                return version
    return None


# ------------------------------------------------------------------------------------------------------------
# Formatting helpers (k8s.io/apimachinery/pkg/util/duration and friends)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def human_duration(seconds_total: float) -> str:
    """duration.HumanDuration: the short, rounded-down age kubectl shows."""
    seconds = int(seconds_total)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _since(timestamp: Any, now: datetime) -> str:
    """translateTimestampSince: "<unknown>" for a missing time."""
    parsed = _parse_time(timestamp)
    if parsed is None:
        return "<unknown>"
    return human_duration((now - parsed).total_seconds())


def _rfc3339(timestamp: Any) -> str:
    parsed = _parse_time(timestamp)
    if parsed is None:
        return "0001-01-01T00:00:00Z"
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _format_labels(labels: Mapping[str, str] | None) -> str:
    if not labels:
        return "<none>"
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


def _format_label_selector(selector: Mapping[str, Any] | None) -> str:
    """metav1.LabelSelectorAsSelector(...).String(), "<none>" for an empty selector."""
    if not selector:
        return "<none>"
    requirements: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        requirements.append((key, f"{key}={value}"))
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key", ""), expression.get("operator", "")
        values = sorted(expression.get("values") or [])
        if operator == "In":
            requirements.append((key, f"{key} in ({','.join(values)})"))
        elif operator == "NotIn":
            requirements.append((key, f"{key} notin ({','.join(values)})"))
        elif operator == "Exists":
            requirements.append((key, key))
        elif operator == "DoesNotExist":
            requirements.append((key, f"!{key}"))
    if not requirements:
        return "<none>"
    return ",".join(text for _, text in sorted(requirements))


def _containers(pod_spec: Mapping[str, Any] | None) -> tuple[str, str]:
    containers = (pod_spec or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def _column(name: str, kind: str, description: str, priority: int = 0, fmt: str = "") -> JsonObject:
    return {"name": name, "type": kind, "format": fmt, "description": description, "priority": priority}


_NAME = _column("Name", "string", _NAME_DESCRIPTION, fmt="name")
_AGE = _column("Age", "string", _CREATION_DESCRIPTION)
_CONTAINERS = _column("Containers", "string", "Names of each container in the template.", 1)
_IMAGES = _column("Images", "string", "Images referenced by each container in the template.", 1)


# ------------------------------------------------------------------------------------------------------------
# Printers of built-in kinds

Printer = Callable[[JsonObject, datetime], list[Any]]


@dataclass(frozen=True)
class _Kind:
    columns: tuple[JsonObject, ...]
    cells: Printer


def _name(obj: JsonObject) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def _age(obj: JsonObject, now: datetime) -> str:
    return _since(obj.get("metadata", {}).get("creationTimestamp"), now)


def _print_namespace(obj: JsonObject, now: datetime) -> list[Any]:
    return [_name(obj), (obj.get("status") or {}).get("phase", ""), _age(obj, now)]


def _print_config_map(obj: JsonObject, now: datetime) -> list[Any]:
    count = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [_name(obj), count, _age(obj, now)]


def _print_secret(obj: JsonObject, now: datetime) -> list[Any]:
    return [_name(obj), obj.get("type", ""), len(obj.get("data") or {}), _age(obj, now)]


def _print_service_account(obj: JsonObject, now: datetime) -> list[Any]:
    return [_name(obj), _age(obj, now)]


def _load_balancer_ips(status: Mapping[str, Any], wide: bool) -> str:
    found = sorted({i.get("ip") or i.get("hostname") for i in (status.get("ingress") or [])} - {None, ""})
    text = ",".join(found)
    if not wide and len(text) > 16:
        text = text[:13] + "..."
    return text


def _service_external_ip(obj: JsonObject, wide: bool) -> str:
    spec = obj.get("spec") or {}
    external = spec.get("externalIPs") or []
    kind = spec.get("type", "")
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "LoadBalancer":
        lb_ips = _load_balancer_ips((obj.get("status") or {}).get("loadBalancer") or {}, wide)
        if external:
            return ",".join([*(lb_ips.split(",") if lb_ips else []), *external])
        return lb_ips or "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName", ""))
    return "<unknown>"


def _print_service(obj: JsonObject, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or []
    ports = []
    for port in spec.get("ports") or []:
        protocol = port.get("protocol", "")
        if port.get("nodePort"):
            ports.append(f"{port.get('port', 0)}:{port['nodePort']}/{protocol}")
        else:
            ports.append(f"{port.get('port', 0)}/{protocol}")
    return [
        _name(obj),
        spec.get("type", ""),
        cluster_ips[0] if cluster_ips else "<none>",
        _service_external_ip(obj, wide=True),
        ",".join(ports) or "<none>",
        _age(obj, now),
        _format_labels(spec.get("selector")),
    ]


def _is_restartable_init_container(container: Mapping[str, Any] | None) -> bool:
    return bool(container) and (container or {}).get("restartPolicy") == "Always"


def _condition_true(conditions: list[Any], condition_type: str) -> bool:
    return any(c.get("type") == condition_type and c.get("status") == "True" for c in conditions)


def _print_pod(obj: JsonObject, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    metadata = obj.get("metadata") or {}
    containers = spec.get("containers") or []
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    total = len(containers) + sum(1 for c in init_specs.values() if _is_restartable_init_container(c))
    ready = restarts = restartable_restarts = 0
    last_restart: datetime | None = None
    last_restartable_restart: datetime | None = None
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    conditions = status.get("conditions") or []
    for condition in conditions:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    def later(current: datetime | None, state: Mapping[str, Any]) -> datetime | None:
        finished = _parse_time(((state.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
        if finished is not None and (current is None or finished > current):
            return finished
        return current

    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for index, container in enumerate(init_statuses):
        restarts += int(container.get("restartCount", 0))
        last_restart = later(last_restart, container)
        restartable = _is_restartable_init_container(init_specs.get(container.get("name")))
        if restartable:
            restartable_restarts += int(container.get("restartCount", 0))
            last_restartable_restart = later(last_restartable_restart, container)
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if restartable and container.get("started"):
            if container.get("ready"):
                ready += 1
            continue
        if terminated is not None:
            if not terminated.get("reason"):
                if terminated.get("signal"):
                    reason = f"Init:Signal:{terminated['signal']}"
                else:
                    reason = f"Init:ExitCode:{terminated.get('exitCode', 0)}"
            else:
                reason = "Init:" + terminated["reason"]
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(conditions, "Initialized"):
        restarts, last_restart = restartable_restarts, last_restartable_restart
        has_running = False
        for container in reversed(status.get("containerStatuses") or []):
            restarts += int(container.get("restartCount", 0))
            last_restart = later(last_restart, container)
            state = container.get("state") or {}
            terminated, waiting = state.get("terminated"), state.get("waiting")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated is not None:
                if terminated.get("signal"):
                    reason = f"Signal:{terminated['signal']}"
                else:
                    reason = f"ExitCode:{terminated.get('exitCode', 0)}"
            elif container.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(conditions, "Ready") else "NotReady"

    if metadata.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif metadata.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"

    pod_ips = status.get("podIPs") or []
    readiness_gates = spec.get("readinessGates") or []
    gates = "<none>"
    if readiness_gates:
        satisfied = 0
        for gate in readiness_gates:
            for condition in conditions:
                if condition.get("type") == gate.get("conditionType"):
                    satisfied += condition.get("status") == "True"
                    break
        gates = f"{satisfied}/{len(readiness_gates)}"
    return [
        _name(obj),
        f"{ready}/{total}",
        reason,
        restarts_text,
        _age(obj, now),
        (pod_ips[0].get("ip") if pod_ips else "") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gates,
    ]


def _print_deployment(obj: JsonObject, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers((spec.get("template") or {}).get("spec"))
    return [
        _name(obj),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _age(obj, now),
        names,
        images,
        _format_label_selector(spec.get("selector")),
    ]


def _print_replica_set(obj: JsonObject, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers((spec.get("template") or {}).get("spec"))
    return [
        _name(obj),
        spec.get("replicas", 0),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        _age(obj, now),
        names,
        images,
        _format_label_selector(spec.get("selector")),
    ]


def _print_stateful_set(obj: JsonObject, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers((spec.get("template") or {}).get("spec"))
    return [_name(obj), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}", _age(obj, now), names, images]


def _print_pod_disruption_budget(obj: JsonObject, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    limits = [
        str(spec[field]) if spec.get(field) is not None else "N/A" for field in ("minAvailable", "maxUnavailable")
    ]
    return [_name(obj), *limits, (obj.get("status") or {}).get("disruptionsAllowed", 0), _age(obj, now)]


def _subjects(obj: JsonObject) -> tuple[str, str, str]:
    """rbac.SubjectsStrings: users, groups and namespace:name service accounts."""
    users, groups, accounts = [], [], []
    for subject in obj.get("subjects") or []:
        kind = subject.get("kind")
        if kind == "ServiceAccount":
            accounts.append(f"{subject.get('namespace', '')}/{subject.get('name', '')}")
        elif kind == "User":
            users.append(subject.get("name", ""))
        elif kind == "Group":
            groups.append(subject.get("name", ""))
    return ", ".join(users), ", ".join(groups), ", ".join(accounts)


def _print_binding(obj: JsonObject, now: datetime) -> list[Any]:
    role_ref = obj.get("roleRef") or {}
    return [_name(obj), f"{role_ref.get('kind', '')}/{role_ref.get('name', '')}", _age(obj, now), *_subjects(obj)]


def _print_lease(obj: JsonObject, now: datetime) -> list[Any]:
    return [_name(obj), (obj.get("spec") or {}).get("holderIdentity") or "", _age(obj, now)]


def _print_event(obj: JsonObject, now: datetime) -> list[Any]:
    first = _since(obj.get("firstTimestamp"), now)
    if not obj.get("firstTimestamp"):
        first = _since(obj.get("eventTime"), now)
    last = _since(obj.get("lastTimestamp"), now) if obj.get("lastTimestamp") else first
    count = obj.get("count") or 0
    series = obj.get("series")
    if series is not None:
        last = _since(series.get("lastObservedTime"), now)
        count = series.get("count", 0)
    elif count == 0:
        count = 1  # singleton events of the events.k8s.io API carry no count
    involved = obj.get("involvedObject") or {}
    target = str(involved.get("kind", "")).lower()
    if involved.get("name"):
        target = f"{target}/{involved['name']}"
    source = obj.get("source") or {}
    component = source.get("component") or obj.get("reportingComponent") or ""
    instance = source.get("host") or obj.get("reportingInstance") or ""
    return [
        last,
        obj.get("type", ""),
        obj.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        str(obj.get("message", "")).strip(),
        first,
        count,
        _name(obj),
    ]


_BUILTIN: Mapping[tuple[str, str], _Kind] = {
    ("", "namespaces"): _Kind(
        (_NAME, _column("Status", "string", "The status of the namespace"), _AGE), _print_namespace
    ),
    ("", "configmaps"): _Kind(
        (
            _NAME,
            _column(
                "Data",
                "string",
                (
                    "Data contains the configuration data. Each key must consist of alphanumeric characters, "
                    "'-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The "
                    "keys stored in Data must not overlap with the keys in the BinaryData field, this is "
                    "enforced during validation process."
                ),
            ),
            _AGE,
        ),
        _print_config_map,
    ),
    ("", "secrets"): _Kind(
        (
            _NAME,
            _column(
                "Type",
                "string",
                (
                    "Used to facilitate programmatic handling of secret data. More info: "
                    "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"
                ),
            ),
            _column(
                "Data",
                "string",
                (
                    "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' "
                    "or '.'. The serialized form of the secret data is a base64 encoded string, representing "
                    "the arbitrary (possibly non-string) data value here. Described in "
                    "https://tools.ietf.org/html/rfc4648#section-4"
                ),
            ),
            _AGE,
        ),
        _print_secret,
    ),
    ("", "serviceaccounts"): _Kind(
        (_NAME, _AGE),  # 1.36 prints no SECRETS column
        _print_service_account,
    ),
    ("", "services"): _Kind(
        (
            _NAME,
            _column(
                "Type",
                "string",
                (
                    "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are "
                    'ExternalName, ClusterIP, NodePort, and LoadBalancer. "ClusterIP" allocates a '
                    "cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by "
                    "the selector or if that is not specified, by manual construction of an Endpoints object "
                    'or EndpointSlice objects. If clusterIP is "None", no virtual IP is allocated and the '
                    'endpoints are published as a set of endpoints rather than a virtual IP. "NodePort" builds '
                    "on ClusterIP and allocates a port on every node which routes to the same endpoints as the "
                    'clusterIP. "LoadBalancer" builds on NodePort and creates an external load-balancer (if '
                    "supported in the current cloud) which routes to the same endpoints as the clusterIP. "
                    '"ExternalName" aliases this service to the specified externalName. Several other fields '
                    "do not apply to ExternalName services. More info: "
                    "https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types"
                ),
            ),
            _column(
                "Cluster-IP",
                "string",
                (
                    "clusterIP is the IP address of the service and is usually assigned randomly. If an "
                    "address is specified manually, is in-range (as per system configuration), and is not in "
                    "use, it will be allocated to the service; otherwise creation of the service will fail. "
                    "This field may not be changed through updates unless the type field is also being changed "
                    "to ExternalName (which requires this field to be blank) or the type field is being "
                    "changed from ExternalName (in which case this field may optionally be specified, as "
                    'describe above).  Valid values are "None", empty string (""), or a valid IP address. '
                    'Setting this to "None" makes a "headless service" (no virtual IP), which is useful when '
                    "direct endpoint connections are preferred and proxying is not required.  Only applies to "
                    "types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a "
                    "Service of type ExternalName, creation will fail. This field will be wiped when updating "
                    "a Service to type ExternalName. More info: "
                    "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"
                ),
            ),
            _column(
                "External-IP",
                "string",
                (
                    "externalIPs is a list of IP addresses for which nodes in the cluster will also accept "
                    "traffic for this service.  These IPs are not managed by Kubernetes.  The user is "
                    "responsible for ensuring that traffic arrives at a node with this IP.  A common example "
                    "is external load-balancers that are not part of the Kubernetes system."
                ),
            ),
            _column(
                "Port(s)",
                "string",
                (
                    "The list of ports that are exposed by this service. More info: "
                    "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"
                ),
            ),
            _AGE,
            _column(
                "Selector",
                "string",
                (
                    "Route service traffic to pods with label keys and values matching this selector. If empty "
                    "or not present, the service is assumed to have an external process managing its "
                    "endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, "
                    "and LoadBalancer. Ignored if type is ExternalName. More info: "
                    "https://kubernetes.io/docs/concepts/services-networking/service/"
                ),
                1,
            ),
        ),
        _print_service,
    ),
    ("", "pods"): _Kind(
        (
            _NAME,
            _column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
            _column("Status", "string", "The aggregate status of the containers in this pod."),
            _column(
                "Restarts",
                "string",
                "The number of times the containers in this pod have been restarted and "
                "when the last container in this pod has restarted.",
            ),
            _AGE,
            _column(
                "IP",
                "string",
                (
                    "podIP address allocated to the pod. Routable at least within the cluster. Empty if not "
                    "yet allocated."
                ),
                1,
            ),
            _column(
                "Node",
                "string",
                (
                    "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate "
                    "for scheduling by the scheduler defined in schedulerName. Once this field is set, the "
                    "kubelet for this node becomes responsible for the lifecycle of this pod. This field "
                    "should not be used to express a desire for the pod to be scheduled on a specific node. "
                    "https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename"
                ),
                1,
            ),
            _column(
                "Nominated Node",
                "string",
                (
                    "nominatedNodeName is set only when this pod preempts other pods on the node, but it "
                    "cannot be scheduled right away as preemption victims receive their graceful termination "
                    "periods. This field does not guarantee that the pod will be scheduled on this node. "
                    "Scheduler may decide to place the pod elsewhere if other nodes become available sooner. "
                    "Scheduler may also decide to give the resources on this node to a higher priority pod "
                    "that is created after preemption. As a result, this field may be different than "
                    "PodSpec.nodeName when the pod is scheduled."
                ),
                1,
            ),
            _column(
                "Readiness Gates",
                "string",
                (
                    "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready "
                    "when all its containers are ready AND all conditions specified in the readiness gates "
                    'have status equal to "True" More info: '
                    "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates"
                ),
                1,
            ),
        ),
        _print_pod,
    ),
    ("", "events"): _Kind(
        (
            _column("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
            _column("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
            _column(
                "Reason",
                "string",
                "This should be a short, machine understandable string that gives the "
                "reason for the transition into the object's current status.",
            ),
            _column("Object", "string", "The object that this event is about."),
            _column(
                "Subobject",
                "string",
                (
                    "If referring to a piece of an object instead of an entire object, this string should "
                    "contain a valid JSON/Go field access statement, such as "
                    "desiredState.manifest.containers[2]. For example, if the object reference is to a "
                    'container within a pod, this would take on a value like: "spec.containers{name}" (where '
                    '"name" refers to the name of the container that triggered the event) or if no container '
                    'name is specified "spec.containers[2]" (container with index 2 in this pod). This syntax '
                    "is chosen only to have some well-defined way of referencing a part of an object."
                ),
                1,
            ),
            _column(
                "Source",
                "string",
                ("The component reporting this event. Should be a short machine understandable string."),
                1,
            ),
            _column("Message", "string", "A human-readable description of the status of this operation."),
            _column(
                "First Seen",
                "string",
                ("The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"),
                1,
            ),
            _column("Count", "string", "The number of times this event has occurred.", 1),
            _column("Name", "string", _NAME_DESCRIPTION, 1, "name"),
        ),
        _print_event,
    ),
    ("apps", "deployments"): _Kind(
        (
            _NAME,
            _column("Ready", "string", "Number of the pod with ready state"),
            _column(
                "Up-to-date",
                "string",
                (
                    "Total number of non-terminating pods targeted by this deployment that have the desired "
                    "template spec."
                ),
            ),
            _column(
                "Available",
                "string",
                (
                    "Total number of available non-terminating pods (ready for at least minReadySeconds) "
                    "targeted by this deployment."
                ),
            ),
            _AGE,
            _CONTAINERS,
            _IMAGES,
            _column(
                "Selector",
                "string",
                (
                    "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the "
                    "ones affected by this deployment. It must match the pod template's labels."
                ),
                1,
            ),
        ),
        _print_deployment,
    ),
    ("apps", "replicasets"): _Kind(
        (
            _NAME,
            _column(
                "Desired",
                "integer",
                (
                    "Replicas is the number of desired pods. This is a pointer to distinguish between explicit "
                    "zero and unspecified. Defaults to 1. More info: "
                    "https://kubernetes.io/docs/concepts/workloads/controllers/replicaset"
                ),
            ),
            _column(
                "Current",
                "integer",
                (
                    "Replicas is the most recently observed number of non-terminating pods. More info: "
                    "https://kubernetes.io/docs/concepts/workloads/controllers/replicaset"
                ),
            ),
            _column(
                "Ready",
                "integer",
                ("The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition."),
            ),
            _AGE,
            _CONTAINERS,
            _IMAGES,
            _column(
                "Selector",
                "string",
                (
                    "Selector is a label query over pods that should match the replica count. Label keys and "
                    "values that must match in order to be controlled by this replica set. It must match the "
                    "pod template's labels. More info: "
                    "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
                ),
                1,
            ),
        ),
        _print_replica_set,
    ),
    ("apps", "statefulsets"): _Kind(
        (_NAME, _column("Ready", "string", "Number of the pod with ready state"), _AGE, _CONTAINERS, _IMAGES),
        _print_stateful_set,
    ),
    ("policy", "poddisruptionbudgets"): _Kind(
        (
            _NAME,
            _column("Min Available", "string", "The minimum number of pods that must be available."),
            _column("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
            _column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
            _AGE,
        ),
        _print_pod_disruption_budget,
    ),
    ("rbac.authorization.k8s.io", "rolebindings"): _Kind(
        (
            _NAME,
            _column(
                "Role",
                "string",
                (
                    "RoleRef can reference a Role in the current namespace or a ClusterRole in the global "
                    "namespace. If the RoleRef cannot be resolved, the Authorizer must return an error."
                ),
            ),
            _AGE,
            _column("Users", "string", "Users in the roleBinding", 1),
            _column("Groups", "string", "Groups in the roleBinding", 1),
            _column("ServiceAccounts", "string", "ServiceAccounts in the roleBinding", 1),
        ),
        _print_binding,
    ),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): _Kind(
        (
            _NAME,
            _column(
                "Role",
                "string",
                (
                    "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot "
                    "be resolved, the Authorizer must return an error."
                ),
            ),
            _AGE,
            _column("Users", "string", "Users in the clusterRoleBinding", 1),
            _column("Groups", "string", "Groups in the clusterRoleBinding", 1),
            _column("ServiceAccounts", "string", "ServiceAccounts in the clusterRoleBinding", 1),
        ),
        _print_binding,
    ),
    ("coordination.k8s.io", "leases"): _Kind(
        (
            _NAME,
            _column(
                "Holder",
                "string",
                (
                    "holderIdentity contains the identity of the holder of a current lease. If Coordinated "
                    "Leader Election is used, the holder identity must be equal to the elected "
                    "LeaseCandidate.metadata.name field."
                ),
            ),
            _AGE,
        ),
        _print_lease,
    ),
}

# rest.defaultTableConvertor, for kinds without a printer (Role, ClusterRole, CustomResourceDefinition).
_DEFAULT = _Kind(
    (_NAME, _column("Created At", "date", _CREATION_DESCRIPTION)),
    lambda obj, now: [_name(obj), _rfc3339(obj.get("metadata", {}).get("creationTimestamp"))],
)


# ------------------------------------------------------------------------------------------------------------
# Custom resources: additionalPrinterColumns through a JSONPath subset of k8s.io/client-go/util/jsonpath

_DEFAULT_CRD_COLUMNS: tuple[Mapping[str, Any], ...] = (
    {"name": "Age", "type": "date", "description": _CREATION_DESCRIPTION, "jsonPath": ".metadata.creationTimestamp"},
)

_TOKEN = re.compile(
    r"""\.\.(?P<descend>[A-Za-z0-9_\-]+|\*)       # recursive descent
      | \.(?P<field>(?:\\.|[^.\[\\])+)           # .field (backslash escapes a dot)
      | \[(?P<bracket>(?:'[^']*'|"[^"]*"|[^\]])*)\]  # [index], [a:b], [*], ['key'], [?(...)]
    """,
    re.VERBOSE,
)
_FILTER = re.compile(r"\?\(\s*@(?P<path>[^\s<>=!]*)\s*(?:(?P<op>==|!=|<=|>=|<|>)\s*(?P<value>.+?))?\s*\)")


def _children(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        yield from value.values()
    elif isinstance(value, list):
        yield from value


def _descend(value: Any, key: str) -> Iterator[Any]:
    if isinstance(value, dict):
        if key == "*":
            yield from value.values()
        elif key in value:
            yield value[key]
    for child in _children(value):
        yield from _descend(child, key)


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        return text


def _compare(left: Any, op: str, right: Any) -> bool:
    try:
        if op == "==":
            return bool(left == right)
        if op == "!=":
            return bool(left != right)
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
        if op == ">":
            return bool(left > right)
        return bool(left >= right)
    except TypeError:
        return False


def _bracket(values: list[Any], inner: str) -> list[Any]:
    inner = inner.strip()
    results: list[Any] = []
    filter_match = _FILTER.fullmatch(inner)
    if filter_match:
        path = filter_match.group("path") or ""
        for value in values:
            for item in _children(value) if isinstance(value, list) else [value]:
                found = evaluate_jsonpath(item, path) if path else [item]
                if filter_match.group("op") is None:
                    if found:
                        results.append(item)
                elif found and _compare(found[0], filter_match.group("op"), _literal(filter_match.group("value"))):
                    results.append(item)
        return results
    for value in values:
        if inner == "*":
            results.extend(_children(value))
        elif inner[:1] in "'\"":
            key = inner[1:-1]
            if isinstance(value, dict) and key in value:
                results.append(value[key])
        elif ":" in inner and isinstance(value, list):
            parts = [int(p) if p.strip() else None for p in inner.split(":")]
            start, stop = parts[0], parts[1] if len(parts) > 1 else None
            step = parts[2] if len(parts) > 2 and parts[2] else None
            results.extend(value[start:stop:step])
        elif isinstance(value, list):
            try:
                index = int(inner)
            except ValueError:
                continue
            if -len(value) <= index < len(value):
                results.append(value[index])
    return results


def evaluate_jsonpath(obj: Any, expression: str) -> list[Any]:
    """The values a (braces-free) JSONPath such as `.status.conditions[?(@.type=="Ready")].status` selects.

    Missing keys select nothing, as with AllowMissingKeys(true).
    """
    expression = expression.strip()
    if expression.startswith("{") and expression.endswith("}"):
        expression = expression[1:-1].strip()
    if expression.startswith("$"):
        expression = expression[1:]
    values = [obj]
    position = 0
    while position < len(expression) and values:
        match = _TOKEN.match(expression, position)
        if match is None:
            return []
        position = match.end()
        if match.group("descend") is not None:
            values = [found for value in values for found in _descend(value, match.group("descend"))]
        elif match.group("field") is not None:
            key = match.group("field").replace("\\.", ".")
            if key == "*":
                values = [child for value in values for child in _children(value)]
            else:
                values = [value[key] for value in values if isinstance(value, dict) and key in value]
        else:
            values = _bracket(values, match.group("bracket"))
    return values


def _go_text(value: Any) -> str:
    """How jsonpath's PrintResults writes one value: JSON for maps/lists, fmt.Sprint for the rest."""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value).removesuffix(".0") if value.is_integer() and abs(value) < 1e21 else repr(value)
    return str(value)


def _custom_cell(column: Mapping[str, Any], obj: JsonObject, now: datetime) -> Any:
    """The cell of one additionalPrinterColumn: tableconvertor's cellForJSONValue."""
    found = evaluate_jsonpath(obj, str(column.get("jsonPath", "")))
    if not found:
        return None
    value = found[0]
    kind = column.get("type", "string")
    if kind == "string":
        return _go_text(value)
    if value is None:
        return None
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        parsed = _parse_time(value)
        return "<invalid>" if parsed is None else human_duration((now - parsed).total_seconds())
    return None


def _custom_resource_kind(rtype: ResourceType) -> _Kind:
    declared = rtype.printer_columns or _DEFAULT_CRD_COLUMNS
    columns = [_NAME]
    for column in declared:
        description = column.get("description") or (
            f"Custom resource definition column (in JSONPath format): {column.get('jsonPath', '')}"
        )
        columns.append(
            _column(
                str(column.get("name", "")),
                str(column.get("type", "string")),
                description,
                int(column.get("priority", 0) or 0),
                str(column.get("format", "") or ""),
            )
        )

    def cells(obj: JsonObject, now: datetime) -> list[Any]:
        return [_name(obj), *(_custom_cell(column, obj, now) for column in declared)]

    return _Kind(tuple(columns), cells)


def _kind_printer(rtype: ResourceType) -> _Kind:
    if rtype.from_crd:
        return _custom_resource_kind(rtype)
    return _BUILTIN.get(rtype.storage_key, _DEFAULT)


# ------------------------------------------------------------------------------------------------------------
# The Table


def _row_object(obj: JsonObject, include: str, version: str) -> JsonObject | None:
    if include == "Object":
        return obj
    if include == "None":
        return None
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": obj.get("metadata", {}),
    }


def to_table(
    rtype: ResourceType,
    items: list[JsonObject],
    query: Any,
    watch_event: bool = False,
    version: str = "v1",
    now: datetime | None = None,
) -> JsonObject:
    """A Table of `items` (one object, or a list's items) with the columns kube-apiserver prints for the kind.

    `query` supplies `includeObject` (Object, Metadata — the default —, or None). Watch events carry one
    row each; the server decides whether they repeat the column definitions.
    """
    include = query.get("includeObject", "Metadata") or "Metadata"
    if include not in ("Object", "Metadata", "None"):
        raise errors.bad_request(f'unrecognized includeObject value: "{include}"')
    now = now or datetime.now(UTC)
    printer = _kind_printer(rtype)
    rows = []
    for obj in items:
        row: JsonObject = {"cells": printer.cells(obj, now)}
        row_object = _row_object(obj, include, version)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    metadata: JsonObject = {}
    if len(items) == 1 and (items[0].get("metadata") or {}).get("resourceVersion"):
        metadata["resourceVersion"] = items[0]["metadata"]["resourceVersion"]
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": metadata,
        "columnDefinitions": [dict(column) for column in printer.columns],
        "rows": rows,
    }
