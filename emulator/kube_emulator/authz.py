"""RBAC authorization over the emulator's own Roles and bindings, and the rbac registry's escalation checks.

The stored Roles, ClusterRoles, RoleBindings and ClusterRoleBindings are the only source of truth. What applies
to a user in a namespace is resolved once and kept until any RBAC object changes, so that authorizing costs a
dictionary look-up and a few rule matches per request. Every rule that allows a request or covers a
permission in an escalation check is recorded (see :meth:`Authorizer.usage`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from . import errors, rbac
from .authn import MASTERS, User
from .cluster import Cluster
from .errors import ApiError
from .rbac import RBAC_GROUP, Attributes, Rule
from .resources import JsonObject, ResourceType
from .selectors import FieldSelector
from .store import Change

_ROLE_KINDS = {"Role": "roles", "ClusterRole": "clusterroles"}
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_RESOURCE_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
# Users x namespaces seen between two RBAC changes; beyond this the cache starts over.
_RESOLVED_LIMIT = 4096

USAGE_FIELDS = (
    "roleKind",
    "roleName",
    "roleNamespace",
    "ruleIndex",
    "verb",
    "apiGroup",
    "resource",
    "resourceName",
    "nonResourceURL",
)
# One recorded use of a rule, in USAGE_FIELDS order (the rule index as an int, for sorting).
UsageCell = tuple[str, str, str, int, str, str, str, str, str]


def request_attributes(user: User, method: str, path: str, query: Mapping[str, str], is_watch: bool) -> rbac.Attributes:
    """kube-apiserver's RequestInfo of an HTTP request (without the deprecated /watch/ and /proxy/ prefixes)."""
    parts = path.strip("/").split("/")
    if len(parts) < 3 or parts[0] not in ("api", "apis") or (parts[0] == "apis" and len(parts) < 4):
        return Attributes(user, method.lower(), False, path=path)
    group = parts[1] if parts[0] == "apis" else ""
    rest = parts[3:] if parts[0] == "apis" else parts[2:]
    verb = _RESOURCE_VERBS.get(method, "")
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name and verb == "get":
        verb = "watch" if is_watch else "list"
        name = _name_selected(query.get("fieldSelector", ""))
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(user, verb, True, group, resource, subresource, namespace, name)


def _name_selected(field_selector: str) -> str:
    """The name a `metadata.name=` field selector pins a list or watch to: RBAC's resourceNames then apply."""
    try:
        name = FieldSelector.parse_unconverted(field_selector).exact_match("metadata.name")
    except ApiError:
        return ""
    if not name or name in (".", "..") or "/" in name or "%" in name:
        return ""
    return name


@dataclass(frozen=True)
class RoleSource:
    kind: str  # Role or ClusterRole
    name: str
    namespace: str  # "" for a ClusterRole


@dataclass(frozen=True)
class Grant:
    source: RoleSource
    index: int
    rule: Rule


@dataclass(frozen=True)
class Resolution:
    """What applies to one user in one namespace: rules granted, and bound roles that do not exist."""

    grants: tuple[Grant, ...]
    missing: tuple[tuple[str, str], ...]  # (roleRef kind, name)


def _missing_role(kind: str, name: str, plural_resource: bool) -> str:
    """The error of an unresolvable roleRef: the authorizer's listers name the resource in the singular, the
    registry (escalation checks) in the plural."""
    if kind not in _ROLE_KINDS:
        return f"unsupported role reference kind: {rbac.go_quote(kind)}"
    resource = _ROLE_KINDS[kind] if plural_resource else kind.lower()
    return f"{resource}.{RBAC_GROUP} {rbac.go_quote(name)} not found"


class Authorizer:
    """The authorizer chain of a kubeadm cluster, without its Node authorizer: system:masters, then RBAC."""

    def __init__(self, cluster: Cluster) -> None:
        self._store = cluster.store
        self._rtypes = {plural: cluster.rtype(RBAC_GROUP, "v1", plural) for plural in ("roles", "clusterroles")}
        self._resolved: dict[tuple[User, str], Resolution] = {}
        self._usage: set[UsageCell] = set()
        cluster.store.subscribe(self._forget_on_rbac_change)

    # ------------------------------------------------------------------ authorization

    def authorize(self, attrs: Attributes) -> None:
        """Raise the apiserver's 403 unless system:masters or some bound rule allows the request."""
        if MASTERS in attrs.user.groups:
            return
        resolution = self._resolve(attrs.user, attrs.namespace)
        if self._allowed(attrs, resolution):
            return
        reason = ""
        if resolution.missing:
            reason = "RBAC: " + rbac.aggregate([_missing_role(kind, name, False) for kind, name in resolution.missing])
        raise rbac.denial(attrs, reason)

    def _allowed(self, attrs: Attributes, resolution: Resolution) -> bool:
        """Whether any rule allows the request; records every rule that does."""
        allowed = False
        for grant in resolution.grants:
            if grant.rule.allows(attrs):
                allowed = True
                name = attrs.name if grant.rule.resource_names else ""
                url = "" if attrs.resource_request else attrs.path
                self._record(grant, attrs.verb, attrs.api_group, attrs.combined_resource, name, url)
        return allowed

    def _record(self, grant: Grant, verb: str, group: str, resource: str, name: str, url: str) -> None:
        source = grant.source
        self._usage.add((source.kind, source.name, source.namespace, grant.index, verb, group, resource, name, url))

    # ------------------------------------------------------------------ escalation prevention

    def guard_write(self, attrs: Attributes, rtype: ResourceType, new: JsonObject, old: JsonObject | None) -> None:
        """The rbac registry's checks on creating or updating a role or binding: no one grants what they lack.

        `old` is the stored object an update replaces (None on create).
        """
        if rtype.group != RBAC_GROUP or MASTERS in attrs.user.groups:
            return
        name = str((new.get("metadata") or {}).get("name") or "")
        if rtype.plural in ("roles", "clusterroles"):
            self._guard_role(attrs, rtype, name, new, old)
        elif rtype.plural in ("rolebindings", "clusterrolebindings"):
            self._guard_binding(attrs, rtype, name, new, old)

    def guard_replace(self, attrs: Attributes, rtype: ResourceType, new: JsonObject) -> None:
        """:meth:`guard_write` for a PUT, which replaces the stored object the request names, if any."""
        if rtype.group == RBAC_GROUP and MASTERS not in attrs.user.groups:
            self.guard_write(attrs, rtype, new, self._store.find(rtype, attrs.namespace or None, attrs.name))

    def _guard_role(
        self, attrs: Attributes, rtype: ResourceType, name: str, new: JsonObject, old: JsonObject | None
    ) -> None:
        # The URL's name: a resourceNames-limited `escalate` never allows a create.
        escalate = replace(attrs, verb="escalate", subresource="")
        if self._allowed(escalate, self._resolve(attrs.user, attrs.namespace)):
            return
        if old is not None and _only_gc_fields_change(new, old):
            return
        problem = self._escalation(attrs.user, attrs.namespace, rbac.rules_of(new))
        if problem:
            raise rbac.forbidden(rtype.group, rtype.plural, name, problem)
        # An aggregationRule can gather anything: using one takes every permission there is.
        aggregates = rbac.has_aggregation_rule(new) or rbac.has_aggregation_rule(old)
        if rtype.plural == "clusterroles" and aggregates and self._escalation(attrs.user, "", rbac.FULL_AUTHORITY):
            raise rbac.forbidden(
                rtype.group, rtype.plural, name, "must have cluster-admin privileges to use the aggregationRule"
            )

    def _guard_binding(
        self, attrs: Attributes, rtype: ResourceType, name: str, new: JsonObject, old: JsonObject | None
    ) -> None:
        if old is not None and _only_gc_fields_change(new, old):
            return
        ref = new.get("roleRef")
        ref = ref if isinstance(ref, dict) else {}
        kind, role_name = str(ref.get("kind") or ""), str(ref.get("name") or "")
        if kind in _ROLE_KINDS:
            bind = Attributes(
                attrs.user,
                "bind",
                True,
                api_group=str(ref.get("apiGroup") or ""),
                resource=_ROLE_KINDS[kind],
                namespace=attrs.namespace,
                name=role_name,
            )
            if self._allowed(bind, self._resolve(attrs.user, attrs.namespace)):
                return
        rules = self._role_rules(kind, role_name, attrs.namespace)
        if rules is None and kind in _ROLE_KINDS:
            # The role getter's NotFound, passed on as is and so named after the binding's resource (1.36).
            raise errors.not_found(rtype.group, rtype.plural, role_name)
        if rules is None:
            raise rbac.forbidden(rtype.group, rtype.plural, name, _missing_role(kind, role_name, True))
        problem = self._escalation(attrs.user, attrs.namespace, rules)
        if problem:
            raise rbac.forbidden(rtype.group, rtype.plural, name, problem)

    def _escalation(self, user: User, namespace: str, wanted: Sequence[Rule]) -> str:
        """ConfirmNoEscalation: '' when the user's rules in `namespace` cover `wanted`, else the error."""
        resolution = self._resolve(user, namespace)
        missing: list[Rule] = []
        for rule in wanted:
            for atom in rule.breakdown():
                covered = False
                for grant in resolution.grants:
                    if grant.rule.covers(atom):
                        covered = True
                        self._record(grant, *_cell(atom))
                if not covered:
                    missing.append(atom)
        if not missing:
            return ""
        errors = [_missing_role(kind, name, True) for kind, name in resolution.missing]
        return rbac.escalation_message(user, missing, errors)

    # ------------------------------------------------------------------ rule resolution

    def _resolve(self, user: User, namespace: str) -> Resolution:
        """VisitRulesFor: ClusterRoleBindings, then the RoleBindings of `namespace`, that name the user."""
        key = (user, namespace)
        found = self._resolved.get(key)
        if found is not None:
            return found
        grants: list[Grant] = []
        missing: list[tuple[str, str]] = []
        bindings = [(b, "") for b in self._store.all_objects((RBAC_GROUP, "clusterrolebindings"))]
        if namespace:
            bindings += [
                (b, namespace)
                for b in self._store.all_objects((RBAC_GROUP, "rolebindings"))
                if b["metadata"].get("namespace") == namespace
            ]
        for binding, binding_namespace in bindings:
            if not rbac.binding_applies(binding, user, binding_namespace):
                continue
            ref = binding.get("roleRef")
            ref = ref if isinstance(ref, dict) else {}
            kind, name = str(ref.get("kind") or ""), str(ref.get("name") or "")
            rules = self._role_rules(kind, name, binding_namespace)
            if rules is None:
                missing.append((kind, name))
                continue
            source = RoleSource(kind, name, binding_namespace if kind == "Role" else "")
            grants.extend(Grant(source, index, rule) for index, rule in enumerate(rules))
        if len(self._resolved) >= _RESOLVED_LIMIT:
            self._resolved.clear()
        resolution = self._resolved[key] = Resolution(tuple(grants), tuple(missing))
        return resolution

    def _role_rules(self, kind: str, name: str, namespace: str) -> tuple[Rule, ...] | None:
        """GetRoleReferenceRules: the rules of a bound role; None when there is no such role."""
        if kind == "Role":
            role = self._store.find(self._rtypes["roles"], namespace, name) if namespace else None
        elif kind == "ClusterRole":
            role = self._store.find(self._rtypes["clusterroles"], None, name)
        else:
            return None
        return None if role is None else rbac.rules_of(role)

    def _forget_on_rbac_change(self, change: Change) -> None:
        if change.storage_key[0] == RBAC_GROUP:
            self._resolved.clear()

    # ------------------------------------------------------------------ usage

    def usage(self) -> list[dict[str, str]]:
        """Each (role, rule, permission) used since the last reset, for proving that no granted rule is unused.

        `resourceName` is filled in only for rules limited by resourceNames (so the set stays small), and the
        requests of system:masters are not recorded (no rule decides them).
        """
        return [
            dict(zip(USAGE_FIELDS, (*cell[:3], str(cell[3]), *cell[4:]), strict=True)) for cell in sorted(self._usage)
        ]

    def reset_usage(self) -> None:
        self._usage.clear()


def _cell(atom: Rule) -> tuple[str, str, str, str, str]:
    """A broken-down rule as the usage cell it fills (verb, group, resource, name, URL)."""

    def first(values: tuple[str, ...]) -> str:
        return values[0] if values else ""

    return (
        first(atom.verbs),
        first(atom.api_groups),
        first(atom.resources),
        first(atom.resource_names),
        first(atom.non_resource_urls),
    )


def _only_gc_fields_change(new: JsonObject, old: JsonObject) -> bool:
    """IsOnlyMutatingGCFields: an update that touches only ownerReferences and finalizers is not checked, so that
    the garbage collector can always finish a deletion."""
    stomped = {k: v for k, v in new.items() if k not in ("apiVersion", "kind")}
    metadata = dict(stomped.get("metadata") or {})
    old_metadata = old.get("metadata") or {}
    for field in ("ownerReferences", "finalizers", "selfLink", "managedFields"):
        metadata.pop(field, None)
        if field in old_metadata:
            metadata[field] = old_metadata[field]
    stomped["metadata"] = metadata
    return stomped == {k: v for k, v in old.items() if k not in ("apiVersion", "kind")}


def install_bootstrap_policy(cluster: Cluster) -> None:
    """The ClusterRoles and ClusterRoleBindings kube-apiserver creates at start (those that matter here)."""
    for role in rbac.bootstrap_cluster_roles():
        cluster.store.create(cluster.rtype(RBAC_GROUP, "v1", "clusterroles"), None, role)
    for binding in rbac.bootstrap_cluster_role_bindings():
        cluster.store.create(cluster.rtype(RBAC_GROUP, "v1", "clusterrolebindings"), None, binding)
