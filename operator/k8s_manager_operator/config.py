"""The operator's configuration, read from environment variables.

| variable | default | meaning |
|---|---|---|
| `KRE_RUNTIME_OPERATOR_IMAGE` | `konstellation/kre-operator` | image of the runtime operator, without tag |
| `KRE_KUBERNETES_OPERATOR_VERSION` | `0.1.0` | its tag (the original's variable; never `latest` by default) |
| `KRE_RUNTIME_OPERATOR_CPU_REQUEST` | `100m` | CPU request of the runtime operator container |
| `KRE_RUNTIME_OPERATOR_MEMORY_REQUEST` | `128Mi` | its memory request |
| `KRE_RUNTIME_OPERATOR_CPU_LIMIT` | `500m` | its CPU limit |
| `KRE_RUNTIME_OPERATOR_MEMORY_LIMIT` | `512Mi` | its memory limit |
| `KRE_RUNTIME_COMPONENTS` | the original's four | pods a Runtime's Ready condition waits for (syntax below) |
| `KRE_RUNTIME_RESYNC_INTERVAL` | `10` | seconds between two status checks of a Runtime nothing else woke up |
| `KRE_OPERATOR_NAMESPACE` | unset | namespace of the operator's own ServiceAccount (the manifests set it) |
| `KRE_OPERATOR_SERVICE_ACCOUNT` | unset | that ServiceAccount's name (both or neither) |
| `KRE_RUNTIME_NAMESPACE_ROLE` | `k8s-manager-runtime-namespace` | ClusterRole it binds itself to in each runtime |

With `KRE_OPERATOR_NAMESPACE` and `KRE_OPERATOR_SERVICE_ACCOUNT` set, the operator binds its ServiceAccount to
`KRE_RUNTIME_NAMESPACE_ROLE` inside every runtime namespace (a RoleBinding owned by the Runtime) before it writes
anything else there: that is where its Secret access comes from, so it needs none cluster-wide. Unset (a local
`kopf run` with an admin kubeconfig), no such binding is made.

`KRE_RUNTIME_COMPONENTS` is a `;`-separated list of `<name>:<label selector>[:running|:ready]`: a component is
ready when one of the pods its selector matches in the runtime namespace is Running (`running`, the default)
or Running with the condition Ready=True (`ready`). Selectors are equality-based (`k=v`, `k==v`, `k!=v`, `k`,
`!k`, joined by `,`). The default is the original RuntimeStatus's:
`minio:app=kre-minio:ready;mongo:kre-app=kre-mongo;nats:app=kre-nats;runtime-operator:name=kre-operator`.

An empty variable counts as unset. A bad value raises ConfigError naming the variable and what is expected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final, Literal, TypeVar

DEFAULT_OPERATOR_IMAGE: Final = "konstellation/kre-operator"
# The runtime operator image released with this k8s-manager: one that reads the cluster-scoped Runtime named after
# its namespace and the credentials Secret (docs/runtime.md). Pinned: the original's `latest` + Always pulled
# whatever was pushed last.
DEFAULT_OPERATOR_VERSION: Final = "0.1.0"
DEFAULT_RESYNC_INTERVAL: Final = 10.0
DEFAULT_RUNTIME_NAMESPACE_ROLE: Final = "k8s-manager-runtime-namespace"

# Docker reference grammar (distribution/reference), repository part only: [host[:port]/]path.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REPOSITORY = re.compile(
    rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$"
)
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

# Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource), non-negative.
QUANTITY = re.compile(
    r"^(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][-+]?[0-9]+)?$"
)
_BINARY_SUFFIXES: Final = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL_EXPONENTS: Final = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

# Label keys and values (k8s.io/apimachinery/pkg/util/validation).
_LABEL_NAME = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)"
_DNS_SUBDOMAIN = r"(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*)"
LABEL_KEY = re.compile(rf"^(?:(?P<prefix>{_DNS_SUBDOMAIN})/)?(?P<name>{_LABEL_NAME})$")
LABEL_VALUE = re.compile(rf"^{_LABEL_NAME}?$")
COMPONENT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


T = TypeVar("T")


class ConfigError(ValueError):
    """A setting has an invalid value; the message names the variable and says what is expected."""


# ------------------------------------------------------------------------------------------ label selectors

Operator = Literal["=", "!=", "exists", "!"]


@dataclass(frozen=True)
class LabelRequirement:
    key: str
    operator: Operator
    value: str = ""

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "exists":
            return self.key in labels
        if self.operator == "!":
            return self.key not in labels
        if self.operator == "=":
            return labels.get(self.key) == self.value
        # Kubernetes: `k!=v` also matches objects without the label k.
        return labels.get(self.key) != self.value

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return f"!{self.key}"
        return f"{self.key}{self.operator}{self.value}"


@dataclass(frozen=True)
class LabelSelector:
    """An equality-based label selector; `str()` gives it in the form the API's `labelSelector` takes."""

    requirements: tuple[LabelRequirement, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        present = labels or {}
        return all(requirement.matches(present) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        terms = [term.strip() for term in text.split(",")]
        if not text.strip() or not all(terms):
            raise ValueError(f"{text!r} is not a label selector: expected terms such as app=kre-minio joined by ','")
        return cls(tuple(_parse_requirement(term) for term in terms))


def _parse_requirement(term: str) -> LabelRequirement:
    if "(" in term or ")" in term:
        raise ValueError(f"{term!r}: set-based requirements (in, notin) are not supported, only k=v, k!=v, k, !k")
    for operator, spelling in (("!=", "!="), ("=", "=="), ("=", "=")):
        if spelling in term:
            key, value = (part.strip() for part in term.split(spelling, 1))
            _check_label_key(key)
            if not LABEL_VALUE.match(value) or len(value) > 63:
                raise ValueError(
                    f"{value!r} is not a label value: at most 63 letters, digits, '-', '_' or '.', "
                    "starting and ending with a letter or digit"
                )
            return LabelRequirement(key, "!=" if operator == "!=" else "=", value)
    if term.startswith("!"):
        key = term[1:].strip()
        _check_label_key(key)
        return LabelRequirement(key, "!")
    _check_label_key(term)
    return LabelRequirement(term, "exists")


def _check_label_key(key: str) -> None:
    match = LABEL_KEY.match(key)
    if not match or len(match["name"]) > 63 or len(match["prefix"] or "") > 253:
        raise ValueError(
            f"{key!r} is not a label key: an optional DNS subdomain prefix and '/', then at most 63 letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        )


# ------------------------------------------------------------------------------------------ components


@dataclass(frozen=True)
class ComponentCheck:
    """A component the Runtime's Ready condition waits for: one pod matching `selector` must be Running, and
    with `needs_ready` also have the condition Ready=True."""

    name: str
    selector: LabelSelector
    needs_ready: bool = False

    def __str__(self) -> str:
        return f"{self.name}:{self.selector}:{'ready' if self.needs_ready else 'running'}"


# The original RuntimeStatus's watches (reference §3.2): minio Running and Ready, the others Running.
DEFAULT_COMPONENTS: Final = (
    ComponentCheck("minio", LabelSelector.parse("app=kre-minio"), needs_ready=True),
    ComponentCheck("mongo", LabelSelector.parse("kre-app=kre-mongo")),
    ComponentCheck("nats", LabelSelector.parse("app=kre-nats")),
    ComponentCheck("runtime-operator", LabelSelector.parse("name=kre-operator")),
)


def parse_components(text: str) -> tuple[ComponentCheck, ...]:
    components: list[ComponentCheck] = []
    for entry in (part.strip() for part in text.split(";")):
        if not entry:
            continue
        fields = [field.strip() for field in entry.split(":")]
        if len(fields) not in (2, 3):
            raise ValueError(f"{entry!r} is not a component: expected <name>:<label selector>[:running|:ready]")
        name, selector = fields[0], fields[1]
        mode = fields[2] if len(fields) == 3 else "running"
        if not COMPONENT_NAME.match(name) or len(name) > 63:
            raise ValueError(
                f"{name!r} is not a component name: at most 63 lower-case letters, digits or '-', "
                "starting and ending with a letter or digit"
            )
        if mode not in ("running", "ready"):
            raise ValueError(f"{mode!r} in {entry!r} is not a readiness check: expected running or ready")
        if any(component.name == name for component in components):
            raise ValueError(f"component {name!r} is given twice")
        components.append(ComponentCheck(name, LabelSelector.parse(selector), needs_ready=mode == "ready"))
    if not components:
        raise ValueError(f"{text!r} names no component: expected <name>:<label selector>[:running|:ready];…")
    return tuple(components)


# ------------------------------------------------------------------------------------------ quantities


def parse_quantity(text: str) -> Decimal:
    """The value of a non-negative Kubernetes quantity such as `500m`, `1`, `128Mi` or `1e3`."""
    match = QUANTITY.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a quantity such as 500m, 1, 128Mi or 1Gi")
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the pattern only lets decimals through
        raise ValueError(f"{text!r} is not a quantity such as 500m, 1, 128Mi or 1Gi") from None
    suffix = match["suffix"] or ""
    if suffix in _BINARY_SUFFIXES:
        return number * _BINARY_SUFFIXES[suffix]
    exponent = _DECIMAL_EXPONENTS[suffix] if suffix in _DECIMAL_EXPONENTS else int(suffix[1:])
    return number.scaleb(exponent)


def parse_positive_quantity(text: str) -> str:
    quantity = text.strip()
    if parse_quantity(quantity) <= 0:
        raise ValueError(f"{text!r} is not positive")
    return quantity


@dataclass(frozen=True)
class ResourceAmounts:
    """Requests and limits of the runtime operator container (quantities as given)."""

    cpu_request: str = "100m"
    memory_request: str = "128Mi"
    cpu_limit: str = "500m"
    memory_limit: str = "512Mi"

    def as_requirements(self) -> dict[str, dict[str, str]]:
        """The container's `resources` field."""
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


# ------------------------------------------------------------------------------------------ other values


def parse_image_repository(text: str) -> str:
    image = text.strip()
    if len(image) > 255 or not IMAGE_REPOSITORY.match(image):
        raise ValueError(
            f"{text!r} is not an image repository such as konstellation/kre-operator or registry:5000/kre-operator "
            "(without tag or digest: the tag is KRE_KUBERNETES_OPERATOR_VERSION)"
        )
    return image


def parse_image_tag(text: str) -> str:
    tag = text.strip()
    if not IMAGE_TAG.match(tag):
        raise ValueError(f"{text!r} is not an image tag: letters, digits, '_', '.', '-', at most 128 characters")
    return tag


def parse_interval(text: str) -> float:
    try:
        seconds = float(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"{text!r} is out of range: expected a positive number of seconds")
    return seconds


def parse_dns_label(text: str) -> str:
    label = text.strip()
    if not DNS_LABEL.match(label):
        raise ValueError(f"{text!r} is not a DNS label: lowercase letters, digits and '-', at most 63 characters")
    return label


def parse_dns_subdomain(text: str) -> str:
    name = text.strip()
    if len(name) > 253 or not all(DNS_LABEL.match(part) for part in name.split(".")):
        raise ValueError(f"{text!r} is not a DNS subdomain name such as k8s-manager-runtime-namespace")
    return name


@dataclass(frozen=True)
class ServiceAccountRef:
    namespace: str
    name: str


# ------------------------------------------------------------------------------------------ the configuration


@dataclass(frozen=True)
class OperatorConfig:
    runtime_operator_image: str = DEFAULT_OPERATOR_IMAGE
    runtime_operator_version: str = DEFAULT_OPERATOR_VERSION
    runtime_operator_resources: ResourceAmounts = ResourceAmounts()
    components: tuple[ComponentCheck, ...] = DEFAULT_COMPONENTS
    resync_interval: float = DEFAULT_RESYNC_INTERVAL
    # The operator's own identity, which it binds to `runtime_namespace_role` in each runtime namespace.
    service_account: ServiceAccountRef | None = None
    runtime_namespace_role: str = DEFAULT_RUNTIME_NAMESPACE_ROLE

    @property
    def runtime_operator_image_reference(self) -> str:
        """`<image>:<tag>`, what the runtime operator Deployment runs."""
        return f"{self.runtime_operator_image}:{self.runtime_operator_version}"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OperatorConfig:
        """Read the configuration; raises ConfigError (a ValueError) naming the variable at fault."""
        defaults = cls()
        default_amounts = defaults.runtime_operator_resources
        amounts = ResourceAmounts(
            cpu_request=read_setting(env, "KRE_RUNTIME_OPERATOR_CPU_REQUEST", parse_positive_quantity)
            or default_amounts.cpu_request,
            memory_request=read_setting(env, "KRE_RUNTIME_OPERATOR_MEMORY_REQUEST", parse_positive_quantity)
            or default_amounts.memory_request,
            cpu_limit=read_setting(env, "KRE_RUNTIME_OPERATOR_CPU_LIMIT", parse_positive_quantity)
            or default_amounts.cpu_limit,
            memory_limit=read_setting(env, "KRE_RUNTIME_OPERATOR_MEMORY_LIMIT", parse_positive_quantity)
            or default_amounts.memory_limit,
        )
        # Kubernetes refuses a container whose request exceeds its limit; say so at start, not per Runtime.
        for resource, request, limit in (
            ("CPU", amounts.cpu_request, amounts.cpu_limit),
            ("MEMORY", amounts.memory_request, amounts.memory_limit),
        ):
            if parse_quantity(request) > parse_quantity(limit):
                raise ConfigError(
                    f"KRE_RUNTIME_OPERATOR_{resource}_REQUEST: {request} is more than "
                    f"KRE_RUNTIME_OPERATOR_{resource}_LIMIT ({limit}): a request must not exceed its limit"
                )
        account_namespace = read_setting(env, "KRE_OPERATOR_NAMESPACE", parse_dns_label)
        account_name = read_setting(env, "KRE_OPERATOR_SERVICE_ACCOUNT", parse_dns_subdomain)
        if (account_namespace is None) != (account_name is None):
            raise ConfigError(
                "KRE_OPERATOR_NAMESPACE and KRE_OPERATOR_SERVICE_ACCOUNT: set both (the operator's ServiceAccount) "
                "or neither"
            )
        service_account = (
            ServiceAccountRef(account_namespace, account_name)
            if account_namespace is not None and account_name is not None
            else None
        )
        return cls(
            service_account=service_account,
            runtime_namespace_role=read_setting(env, "KRE_RUNTIME_NAMESPACE_ROLE", parse_dns_subdomain)
            or defaults.runtime_namespace_role,
            runtime_operator_image=read_setting(env, "KRE_RUNTIME_OPERATOR_IMAGE", parse_image_repository)
            or defaults.runtime_operator_image,
            runtime_operator_version=read_setting(env, "KRE_KUBERNETES_OPERATOR_VERSION", parse_image_tag)
            or defaults.runtime_operator_version,
            runtime_operator_resources=amounts,
            components=read_setting(env, "KRE_RUNTIME_COMPONENTS", parse_components) or defaults.components,
            resync_interval=read_setting(env, "KRE_RUNTIME_RESYNC_INTERVAL", parse_interval)
            or defaults.resync_interval,
        )


def read_setting(env: Mapping[str, str], name: str, parse: Callable[[str], T]) -> T | None:
    """`parse` of the variable `name`; None when unset or blank; ConfigError naming the variable when invalid."""
    text = env.get(name, "")
    if not text.strip():
        return None
    try:
        return parse(text)
    except ValueError as error:
        raise ConfigError(f"{name}: {error}") from None
