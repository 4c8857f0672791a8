"""Kubernetes RBAC without storage: request attributes, rules, coverage, denial messages and the bootstrap policy.

The semantics are kube-apiserver's: RuleAllows and the rbac/v1 helpers (VerbMatches, ResourceMatches, ...),
the rbac registry's escalation checks (Covers, BreakdownRule, CompactRules, CompactString,
ConfirmNoEscalation) and the bootstrap policy. :mod:`authz` applies them to the emulator's stored objects.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .authn import AUTHENTICATED, MASTERS, UNAUTHENTICATED, User, service_account_username
from .errors import ApiError
from .resources import JsonObject

RBAC_GROUP = "rbac.authorization.k8s.io"
ALL = "*"


@dataclass(frozen=True)
class Attributes:
    """What the authorizer decides on: the user and kube-apiserver's RequestInfo of the request."""

    user: User
    verb: str
    resource_request: bool
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # for non-resource requests

    @property
    def combined_resource(self) -> str:
        """`resource/subresource`, the form rules name subresources in."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


@dataclass(frozen=True)
class Rule:
    """A PolicyRule."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, rule: Any) -> Rule:
        if not isinstance(rule, dict):
            return cls(())
        return cls(
            verbs=_strings(rule.get("verbs")),
            api_groups=_strings(rule.get("apiGroups")),
            resources=_strings(rule.get("resources")),
            resource_names=_strings(rule.get("resourceNames")),
            non_resource_urls=_strings(rule.get("nonResourceURLs")),
        )

    def to_json(self) -> JsonObject:
        rule: JsonObject = {"verbs": list(self.verbs)}
        for key, values in (
            ("apiGroups", self.api_groups),
            ("resources", self.resources),
            ("resourceNames", self.resource_names),
            ("nonResourceURLs", self.non_resource_urls),
        ):
            if values:
                rule[key] = list(values)
        return rule

    def allows(self, attrs: Attributes) -> bool:
        """RuleAllows."""
        if ALL not in self.verbs and attrs.verb not in self.verbs:
            return False
        if not attrs.resource_request:
            return any(_url_covers(url, attrs.path) for url in self.non_resource_urls)
        return (
            (ALL in self.api_groups or attrs.api_group in self.api_groups)
            and self._resource_matches(attrs.combined_resource, attrs.subresource)
            and (not self.resource_names or attrs.name in self.resource_names)
        )

    def _resource_matches(self, combined: str, subresource: str) -> bool:
        for resource in self.resources:
            if resource in (ALL, combined):
                return True
            if subresource and resource == f"*/{subresource}":
                return True
        return False

    def breakdown(self) -> list[Rule]:
        """BreakdownRule: one rule per verb x group x resource (x name), and per verb x non-resource URL."""
        atoms: list[Rule] = []
        for group in self.api_groups:
            for resource in self.resources:
                for verb in self.verbs:
                    if not self.resource_names:
                        atoms.append(Rule((verb,), (group,), (resource,)))
                    for name in self.resource_names:
                        atoms.append(Rule((verb,), (group,), (resource,), (name,)))
        for url in self.non_resource_urls:
            for verb in self.verbs:
                atoms.append(Rule((verb,), non_resource_urls=(url,)))
        return atoms

    def covers(self, atom: Rule) -> bool:
        """ruleCovers: whether this rule grants everything `atom` (a broken-down rule) grants."""
        if self.resource_names:
            names_covered = bool(atom.resource_names) and set(atom.resource_names) <= set(self.resource_names)
        else:
            names_covered = True
        return (
            (ALL in self.verbs or set(atom.verbs) <= set(self.verbs))
            and (ALL in self.api_groups or set(atom.api_groups) <= set(self.api_groups))
            and _resources_cover(self.resources, atom.resources)
            and names_covered
            and all(any(_url_covers(owner, url) for owner in self.non_resource_urls) for url in atom.non_resource_urls)
        )

    def compact_string(self) -> str:
        """CompactString, as escalation errors print a rule."""
        parts = [
            f"{label}:{go_quote_list(values)}"
            for label, values in (
                ("APIGroups", self.api_groups),
                ("Resources", self.resources),
                ("NonResourceURLs", self.non_resource_urls),
                ("ResourceNames", self.resource_names),
                ("Verbs", self.verbs),
            )
            if values
        ]
        return "{" + ", ".join(parts) + "}"


def _url_covers(owner: str, url: str) -> bool:
    return owner == url or (owner.endswith(ALL) and url.startswith(owner.rstrip(ALL)))


def _resources_cover(owned: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    """resourceCoversAll: `*`, the resource itself, or `*/subresource` for a subresource."""
    if ALL in owned:
        return True
    for resource in wanted:
        if resource in owned:
            continue
        if "/" not in resource or f"*/{resource.split('/', 1)[1]}" not in owned:
            return False
    return True


FULL_AUTHORITY = (Rule((ALL,), (ALL,), (ALL,)), Rule((ALL,), non_resource_urls=(ALL,)))


def rules_of(role: JsonObject | None) -> tuple[Rule, ...]:
    rules = (role or {}).get("rules")
    return tuple(Rule.from_json(rule) for rule in rules) if isinstance(rules, list) else ()


def has_aggregation_rule(cluster_role: JsonObject | None) -> bool:
    aggregation = (cluster_role or {}).get("aggregationRule")
    return isinstance(aggregation, dict) and bool(aggregation.get("clusterRoleSelectors"))


def subject_applies(subject: Any, user: User, namespace: str) -> bool:
    """appliesToUser; a ServiceAccount subject without a namespace means one in the binding's namespace."""
    if not isinstance(subject, dict):
        return False
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return user.name == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        account_namespace = subject.get("namespace") or namespace
        return bool(account_namespace) and user.name == service_account_username(account_namespace, str(name))
    return False


def binding_applies(binding: JsonObject, user: User, namespace: str) -> bool:
    subjects = binding.get("subjects")
    return isinstance(subjects, list) and any(subject_applies(s, user, namespace) for s in subjects)


def compact(rules: Iterable[Rule]) -> list[Rule]:
    """CompactRules: rules of a single group and resource (and at most one name) merged across verbs."""
    compacted: list[Rule] = []
    simple: dict[tuple[str, str, tuple[str, ...]], Rule] = {}
    for rule in rules:
        if (
            rule.non_resource_urls
            or len(rule.resource_names) > 1
            or len(rule.api_groups) != 1
            or len(rule.resources) != 1
        ):
            compacted.append(rule)
            continue
        key = (rule.api_groups[0], rule.resources[0], rule.resource_names)
        known = simple.get(key)
        simple[key] = rule if known is None else replace(known, verbs=known.verbs + rule.verbs)
    return compacted + list(simple.values())


def go_quote(value: str) -> str:
    """Go's %q of a (printable) string."""
    return json.dumps(value, ensure_ascii=False)


def go_quote_list(values: Iterable[str]) -> str:
    """Go's %q of a []string: `["a" "b"]`."""
    return "[" + " ".join(go_quote(value) for value in values) + "]"


def aggregate(messages: Sequence[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message as is, several deduplicated in brackets."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def forbidden(group: str, resource: str, name: str, cause: str) -> ApiError:
    """apierrors.NewForbidden(GroupResource{group, resource}, name, cause)."""
    details: JsonObject = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if resource:
        details["kind"] = resource
    if not group and not resource:
        subject = ""
    else:
        qualified = f"{resource}.{group}" if group else resource
        subject = f"{qualified} {go_quote(name)} is " if name else f"{qualified} is "
    return ApiError(403, f"{subject}forbidden: {cause}", "Forbidden", details)


def denial(attrs: Attributes, reason: str = "") -> ApiError:
    """The 403 of a request no authorizer allowed (the apiserver's responsewriters.Forbidden)."""
    user = go_quote(attrs.user.name)
    if not attrs.resource_request:
        message = f"User {user} cannot {attrs.verb} path {go_quote(attrs.path)}"
        return forbidden("", "", "", f"{message}: {reason}" if reason else message)
    scope = f"in the namespace {go_quote(attrs.namespace)}" if attrs.namespace else "at the cluster scope"
    message = (
        f"User {user} cannot {attrs.verb} resource {go_quote(attrs.combined_resource)} "
        f"in API group {go_quote(attrs.api_group)} {scope}"
    )
    return forbidden(attrs.api_group, attrs.resource, attrs.name, f"{message}: {reason}" if reason else message)


def escalation_message(user: User, missing: Iterable[Rule], resolution_errors: Sequence[str]) -> str:
    """ConfirmNoEscalation's error: the missing permissions, compacted, one per line in sorted order."""
    described = sorted({rule.compact_string() for rule in compact(missing)})
    message = (
        f"user {go_quote(user.name)} (groups={go_quote_list(user.groups)}) is attempting to grant RBAC "
        "permissions not currently held:\n" + "\n".join(described)
    )
    if resolution_errors:
        message += f"; resolution errors: [{aggregate(resolution_errors)}]"
    return message


# --------------------------------------------------------------------------------------- bootstrap policy

_BOOTSTRAP_METADATA: JsonObject = {
    "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
    "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
}
# In the order the stored roles list them (the bootstrap reconciler sorts each rule's URLs).
_DISCOVERY_URLS = (
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/healthz",
    "/livez",
    "/openapi",
    "/openapi/*",
    "/readyz",
    "/version",
    "/version/",
)
_PUBLIC_INFO_URLS = ("/healthz", "/livez", "/readyz", "/version", "/version/")

# The part of kube-apiserver's bootstrap policy that matters without nodes, controllers or aggregated roles.
BOOTSTRAP_CLUSTER_ROLES: dict[str, tuple[Rule, ...]] = {
    "cluster-admin": FULL_AUTHORITY,
    "system:discovery": (Rule(("get",), non_resource_urls=_DISCOVERY_URLS),),
    "system:public-info-viewer": (Rule(("get",), non_resource_urls=_PUBLIC_INFO_URLS),),
}
BOOTSTRAP_CLUSTER_ROLE_BINDINGS: dict[str, tuple[str, ...]] = {
    "cluster-admin": (MASTERS,),
    "system:discovery": (AUTHENTICATED,),
    "system:public-info-viewer": (AUTHENTICATED, UNAUTHENTICATED),
}


def bootstrap_cluster_roles() -> list[JsonObject]:
    return [
        {
            "metadata": {"name": name, **copy.deepcopy(_BOOTSTRAP_METADATA)},
            "rules": [rule.to_json() for rule in rules],
        }
        for name, rules in BOOTSTRAP_CLUSTER_ROLES.items()
    ]


def bootstrap_cluster_role_bindings() -> list[JsonObject]:
    """Each binds the ClusterRole of the same name to groups."""
    return [
        {
            "metadata": {"name": name, **copy.deepcopy(_BOOTSTRAP_METADATA)},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": group} for group in groups],
        }
        for name, groups in BOOTSTRAP_CLUSTER_ROLE_BINDINGS.items()
    ]
