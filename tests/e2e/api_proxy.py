"""A recording proxy in front of the API server, and the RBAC rules that the requests through it used.

The emulator records which RBAC rule allowed each request and which covered a permission in an escalation check
(kube_emulator.authz.Authorizer.usage); a real API server tells no one. So that the least-privilege test can prove on
a real cluster too that every permission the manifests grant is used, the operator and the facade may reach the API
server through this proxy (HTTPS on loopback, with a CA of its own): each request is forwarded as it came, with the
component's own token, so the real server authenticates and authorizes it, and is recorded on the way.

`rbac_usage` then does what the emulator's authorizer does with the recorded requests: every request the server did
not refuse (anything but 401 and 403) is attributed to each rule of the roles bound to its sender, in its namespace,
that allows it (RuleAllows); every role and binding the operator wrote, to each of its rules that covers a permission
it granted (the RBAC registry's ConfirmNoEscalation; `bind` for a binding when that is allowed). Rule semantics come
from kube_emulator.rbac, kube-apiserver's rules without storage. The bindings and roles known are the manifests' and
those written through the proxy, from when they were written; removals are not followed (a runtime namespace's
binding is gone with its namespace, after which the server refuses what it granted, which is not counted). Every
write of a role or binding is taken to be checked: the registry skips the check only for a write that changes
nothing but ownerReferences and finalizers, which the operator, which writes only what drifted, does not send.
"""

from __future__ import annotations

import base64
import json
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import yaml
from aiohttp import web
from kube_emulator import rbac
from kube_emulator.authn import User
from kube_emulator.authz import USAGE_FIELDS, request_attributes
from kube_emulator.tls import ClusterCa
from yarl import URL

from tests.identities import Identity

from .background import BackgroundLoop

# Not forwarded either way (RFC 9110's hop-by-hop fields), or recomputed by aiohttp for the body it sends.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-encoding",
        "accept-encoding",
    }
)
ROLE_KINDS = {"roles": "Role", "clusterroles": "ClusterRole"}
BINDING_KINDS = {"rolebindings": "RoleBinding", "clusterrolebindings": "ClusterRoleBinding"}
WRITES = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True)
class Exchange:
    """One request through the proxy: who sent it, what it asked, what the server answered."""

    identity: Identity
    method: str
    path: str
    query: dict[str, str]
    status: int
    # For writes of RBAC objects: the object written (the request's for a create, the server's answer otherwise).
    written: dict[str, Any] | None = None


def user_of(identity: Identity) -> User:
    """The user a ServiceAccount token authenticates as."""
    groups = ("system:serviceaccounts", f"system:serviceaccounts:{identity.namespace}", "system:authenticated")
    return User(identity.username, groups)


def _upstream(admin_kubeconfig: Path) -> tuple[str, ssl.SSLContext]:
    """The server of the kubeconfig's current context, and a client context trusting its CA."""
    document = yaml.safe_load(admin_kubeconfig.read_text())
    context = next(c for c in document["contexts"] if c["name"] == document["current-context"])["context"]
    cluster = next(c for c in document["clusters"] if c["name"] == context["cluster"])["cluster"]
    tls = ssl.create_default_context()
    if cluster.get("insecure-skip-tls-verify"):
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    elif "certificate-authority-data" in cluster:
        tls.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    elif "certificate-authority" in cluster:
        tls.load_verify_locations(cafile=str(admin_kubeconfig.parent / cluster["certificate-authority"]))
    return str(cluster["server"]).rstrip("/"), tls


@dataclass
class ApiProxy:
    admin_kubeconfig: Path
    exchanges: list[Exchange] = field(default_factory=list)
    tokens: dict[str, Identity] = field(default_factory=dict)
    url: str = ""
    _ca: ClusterCa | None = None
    _loop: BackgroundLoop | None = None
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        upstream, client_tls = _upstream(self.admin_kubeconfig)
        self._ca = ca = ClusterCa.create()
        loop = self._loop = BackgroundLoop("api-proxy")

        async def boot() -> None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ssl=client_tls),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
                auto_decompress=True,
            )
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._forwarder(upstream))
            # A client ending a watch cancels its handler, and with it the upstream watch (aiohttp would otherwise
            # wait for the server's next event); what is still open at the end is given a second to finish.
            self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ca.serving_context("127.0.0.1"))
            await site.start()
            port = self._runner.addresses[0][1]
            self.url = f"https://127.0.0.1:{port}"

        loop.call(boot)

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            if self._session is not None:
                await self._session.close()

        try:
            loop.call(shutdown)
        finally:
            loop.close()
            self._loop = None

    def route(self, identity: Identity, kubeconfig: Path) -> Path:
        """Point an identity's kubeconfig (its token the identity's) at the proxy, whose CA it then trusts."""
        assert self._ca is not None, "the proxy is not started"
        document = yaml.safe_load(kubeconfig.read_text())
        context = next(c for c in document["contexts"] if c["name"] == document["current-context"])["context"]
        for entry in document["clusters"]:
            if entry["name"] == context["cluster"]:
                entry["cluster"] = {
                    "server": self.url,
                    "certificate-authority-data": base64.b64encode(self._ca.cert_pem.encode()).decode(),
                }
        for entry in document["users"]:
            if entry["name"] == context["user"]:
                self.tokens[entry["user"]["token"]] = identity
        kubeconfig.write_text(yaml.safe_dump(document, sort_keys=False))
        return kubeconfig

    def _forwarder(self, upstream: str) -> Any:
        async def forward(request: web.Request) -> web.StreamResponse:
            session = self._session
            assert session is not None
            body = await request.read()
            headers = {key: value for key, value in request.headers.items() if key.lower() not in HOP_BY_HOP}
            target = URL(upstream + request.raw_path, encoded=True)
            async with session.request(request.method, target, headers=headers, data=body or None) as answer:
                response = web.StreamResponse(status=answer.status, reason=answer.reason)
                for key, value in answer.headers.items():
                    if key.lower() not in HOP_BY_HOP:
                        response.headers.add(key, value)
                keeps_body = self._is_rbac_write(request) and answer.status < 300
                if keeps_body:
                    answered = await answer.read()
                    self._record(request, answer.status, body, answered)
                    await response.prepare(request)
                    await response.write(answered)
                    await response.write_eof()
                    return response
                self._record(request, answer.status, body, b"")
                await response.prepare(request)
                try:
                    async for chunk in answer.content.iter_any():
                        await response.write(chunk)
                    await response.write_eof()
                except ConnectionResetError:
                    pass  # the client went away, as one ending a watch does: so does the upstream request
                except aiohttp.ClientPayloadError:
                    response.force_close()  # the server's stream broke: the client's breaks too
                return response

        return forward

    @staticmethod
    def _is_rbac_write(request: web.Request) -> bool:
        return request.method in WRITES and request.path.startswith(f"/apis/{rbac.RBAC_GROUP}/")

    def _record(self, request: web.Request, status: int, sent: bytes, answered: bytes) -> None:
        authorization = request.headers.get("Authorization", "")
        identity = self.tokens.get(authorization.removeprefix("Bearer ").strip())
        if identity is None:
            return  # not one of the components (no one else is given the proxy)
        written: dict[str, Any] | None = None
        if self._is_rbac_write(request) and (status < 300 or request.method == "POST"):
            source = sent if request.method == "POST" else answered
            try:
                parsed = json.loads(source) if source else None
            except ValueError:
                parsed = None
            written = parsed if isinstance(parsed, dict) else None
        query = dict(parse_qsl(request.query_string, keep_blank_values=True))
        self.exchanges.append(Exchange(identity, request.method, request.path, query, status, written))

    # ------------------------------------------------------------------ usage

    def rbac_usage(self, manifests: list[dict[str, Any]]) -> list[dict[str, str]]:
        """Each (role, rule, permission) the recorded requests used, as the emulator's `rbac_usage` reports them."""
        return Usage(manifests).of(list(self.exchanges))


@dataclass(frozen=True)
class Grant:
    kind: str
    name: str
    namespace: str  # "" for a ClusterRole
    index: int
    rule: rbac.Rule


class Usage:
    """The RBAC objects known so far (the manifests', then those written through the proxy) and the rules used."""

    def __init__(self, manifests: list[dict[str, Any]]) -> None:
        self.roles: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.bindings: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.cells: set[tuple[str, str, str, int, str, str, str, str, str]] = set()
        for obj in manifests:
            self._store(obj)

    def _store(self, obj: dict[str, Any], kind: str = "", namespace: str = "") -> None:
        """Remember a role or binding; `kind` and `namespace` as the request's URL says, if it was written."""
        kind = kind or obj.get("kind", "")
        metadata = obj.get("metadata") or {}
        scope = (namespace or metadata.get("namespace", "")) if kind in ("Role", "RoleBinding") else ""
        key = (kind, scope, metadata.get("name", ""))
        if kind in ROLE_KINDS.values():
            self.roles[key] = obj
        elif kind in BINDING_KINDS.values():
            self.bindings[key] = obj

    def _role_rules(self, kind: str, name: str, namespace: str) -> tuple[rbac.Rule, ...] | None:
        role = self.roles.get((kind, namespace if kind == "Role" else "", name))
        return None if role is None else rbac.rules_of(role)

    def _grants(self, user: User, namespace: str) -> list[Grant]:
        """VisitRulesFor: the ClusterRoleBindings, then the RoleBindings of `namespace`, that name the user."""
        grants: list[Grant] = []
        for (kind, binding_namespace, _), binding in self.bindings.items():
            if kind == "RoleBinding" and (not namespace or binding_namespace != namespace):
                continue
            if not rbac.binding_applies(binding, user, binding_namespace):
                continue
            ref = binding.get("roleRef") or {}
            role_kind, role_name = str(ref.get("kind", "")), str(ref.get("name", ""))
            rules = self._role_rules(role_kind, role_name, binding_namespace)
            if rules is None:
                continue
            source_namespace = binding_namespace if role_kind == "Role" else ""
            grants.extend(Grant(role_kind, role_name, source_namespace, i, rule) for i, rule in enumerate(rules))
        return grants

    def _allowed(self, attrs: rbac.Attributes, grants: list[Grant]) -> bool:
        allowed = False
        for grant in grants:
            if grant.rule.allows(attrs):
                allowed = True
                name = attrs.name if grant.rule.resource_names else ""
                url = "" if attrs.resource_request else attrs.path
                self._record(grant, attrs.verb, attrs.api_group, attrs.combined_resource, name, url)
        return allowed

    def _record(self, grant: Grant, verb: str, group: str, resource: str, name: str, url: str) -> None:
        self.cells.add((grant.kind, grant.name, grant.namespace, grant.index, verb, group, resource, name, url))

    def _cover(self, wanted: tuple[rbac.Rule, ...], grants: list[Grant]) -> None:
        """ConfirmNoEscalation: each rule that covers a permission granted."""
        for rule in wanted:
            for atom in rule.breakdown():
                for grant in grants:
                    if grant.rule.covers(atom):
                        self._record(grant, *_cell(atom))

    def _escalation_checks(self, attrs: rbac.Attributes, written: dict[str, Any], grants: list[Grant]) -> None:
        if attrs.resource in ROLE_KINDS:
            if not self._allowed(replace(attrs, verb="escalate", subresource=""), grants):
                self._cover(rbac.rules_of(written), grants)
        elif attrs.resource in BINDING_KINDS:
            ref = written.get("roleRef") or {}
            kind, name = str(ref.get("kind", "")), str(ref.get("name", ""))
            if kind in ROLE_KINDS.values():
                resource = next(plural for plural, role_kind in ROLE_KINDS.items() if role_kind == kind)
                bind = rbac.Attributes(
                    attrs.user,
                    "bind",
                    True,
                    api_group=str(ref.get("apiGroup", "")),
                    resource=resource,
                    namespace=attrs.namespace,
                    name=name,
                )
                if self._allowed(bind, grants):
                    return
            self._cover(self._role_rules(kind, name, attrs.namespace) or (), grants)

    def of(self, exchanges: list[Exchange]) -> list[dict[str, str]]:
        for exchange in exchanges:
            if exchange.status in (401, 403):
                continue
            user = user_of(exchange.identity)
            watch = exchange.query.get("watch", "") in ("true", "1")
            attrs = request_attributes(user, exchange.method, exchange.path, exchange.query, watch)
            grants = self._grants(user, attrs.namespace)
            self._allowed(attrs, grants)
            if exchange.written is not None and attrs.api_group == rbac.RBAC_GROUP:
                self._escalation_checks(attrs, exchange.written, grants)
                if exchange.status < 300:
                    kind = {**ROLE_KINDS, **BINDING_KINDS}.get(attrs.resource, "")
                    self._store(exchange.written, kind, attrs.namespace)
        return [
            dict(zip(USAGE_FIELDS, (*cell[:3], str(cell[3]), *cell[4:]), strict=True)) for cell in sorted(self.cells)
        ]


def _cell(atom: rbac.Rule) -> tuple[str, str, str, str, str]:
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
