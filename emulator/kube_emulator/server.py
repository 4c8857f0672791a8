"""The Kubernetes REST API over HTTP (aiohttp), served from a :class:`Cluster`.

Paths, verbs, query parameters, content types and error bodies follow kube-apiserver, so that
client-go (kubectl), the Python `kubernetes` client and kopf talk to it as to a real cluster.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime
import json
import logging
import posixpath
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from . import discovery, errors, openapi, patching, strategies, tables
from .authn import Identities, User, impersonation
from .authz import Authorizer, request_attributes
from .cluster import Cluster
from .errors import JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, ApiError
from .faults import Fault, FaultInjector
from .rbac import Attributes
from .resources import JsonObject, ResourceType
from .selectors import FieldSelector, LabelSelector
from .store import BOOKMARK, ERROR

log = logging.getLogger(__name__)

AUTHENTICATION_GROUP = "authentication.k8s.io"

JSON = "application/json"

DEFAULT_WATCH_TIMEOUT = 1800.0
TOKEN_REQUEST_API_VERSION = "authentication.k8s.io/v1"
DEFAULT_TOKEN_SECONDS = 3600
MIN_TOKEN_SECONDS = 600

# Kinds whose registry sets ReturnDeletedObject: a delete answers with the object, not a Status.
_RETURN_DELETED_OBJECT = frozenset({("", "pods"), ("", "services"), ("", "serviceaccounts")})


@dataclass
class Target:
    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str


class ApiServer:
    """HTTP front of a Cluster. `bookmark_interval` is how often idle watches get a BOOKMARK.

    Every request is authenticated by `identities` and authorized by `authorizer` before anything else.
    """

    def __init__(
        self,
        cluster: Cluster,
        identities: Identities,
        authorizer: Authorizer,
        faults: FaultInjector | None = None,
        bookmark_interval: float = 5.0,
        extra_routes: Callable[[web.Application], None] | None = None,
    ) -> None:
        self.cluster = cluster
        self.identities = identities
        self.authorizer = authorizer
        self.faults = faults or FaultInjector()
        self.bookmark_interval = bookmark_interval
        self.app = web.Application(middlewares=[self._errors_middleware], client_max_size=16 * 1024 * 1024)
        if extra_routes is not None:
            extra_routes(self.app)
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner: web.AppRunner | None = None
        self._watch_tasks: set[asyncio.Task[Any]] = set()
        self.url = ""
        self.secure_url = ""  # only when serving TLS

    # ------------------------------------------------------------------ lifecycle

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None, secure_port: int = 0
    ) -> str:
        """Serve plain HTTP on `port` and, given a `tls` context, HTTPS on `secure_port`; returns the HTTP URL."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        self.url = f"http://{host}:{await self._listen(host, port, None)}"
        if tls is not None:
            self.secure_url = f"https://{host}:{await self._listen(host, secure_port, tls)}"
        return self.url

    async def _listen(self, host: str, port: int, tls: ssl.SSLContext | None) -> int:
        assert self._runner is not None
        site = web.TCPSite(self._runner, host, port, ssl_context=tls)
        await site.start()
        server = site._server
        assert server is not None
        sockets = server.sockets  # type: ignore[attr-defined]
        assert sockets
        return int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.cluster.store.end_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ plumbing

    @web.middleware
    async def _errors_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as error:
            return _json_response(error.status(), error.code, error.headers)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("internal error serving %s %s", request.method, request.path)
            return _json_response(ApiError(500, "Internal error occurred: see the emulator log").status(), 500)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        user = self.identities.authenticate(request.headers.get("Authorization"))
        if user is None:
            raise ApiError(401, "Unauthorized")
        is_watch = _truthy(request.query.get("watch"))
        attrs = request_attributes(user, request.method, request.path, request.query, is_watch)
        user = self._impersonated(request, attrs)
        attrs = dataclasses.replace(attrs, user=user)
        self.authorizer.authorize(attrs)
        fault = self.faults.match(request.method, request.path, is_watch)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                raise fault.error()
        path = request.path.rstrip("/") or "/"
        if request.method == "GET":
            if path == "/openapi/v2" and openapi.wants_v2_protobuf(request.headers.get("Accept", "")):
                body = openapi.v2_protobuf(self.cluster.registry)
                return web.Response(body=body, headers={"Content-Type": openapi.V2_PROTOBUF})
            static = discovery.static_document(self.cluster.registry, path)
            if path in ("/healthz", "/livez", "/readyz"):
                return web.Response(text="ok", content_type="text/plain", charset="utf-8")
            if path == "/version":  # written by the version handler: indented JSON, no trailing newline
                return web.Response(body=json.dumps(static, indent=2).encode(), content_type=JSON)
            if static is not None:
                # Discovery documents are API objects, encoded by the serializer; the OpenAPI documents are plain
                # JSON, without its trailing newline.
                return _json_response(static, newline=path in ("/api", "/apis") or path.startswith(("/api/", "/apis/")))
        target = self._target(path)
        return await self._serve(request, target, is_watch, fault, attrs)

    def _impersonated(self, request: web.Request, attrs: Attributes) -> User:
        """The user the request acts as: its own, or the one it impersonates if it may.

        As kube-apiserver 1.36 (ConstrainedImpersonation): the constrained mode first (`impersonate-on:<mode>:<verb>`
        on the request, `impersonate:<mode>` on the identities), then the legacy `impersonate` verb; a refusal is
        the first mode's.
        """
        try:
            wanted = impersonation(
                request.headers.get("Impersonate-User"), request.headers.getall("Impersonate-Group", [])
            )
        except ValueError as error:
            raise errors.bad_request(str(error)) from None
        if wanted is None:
            return attrs.user
        refusal: ApiError | None = None
        if wanted.mode:
            try:
                self.authorizer.authorize(dataclasses.replace(attrs, verb=f"impersonate-on:{wanted.mode}:{attrs.verb}"))
                for resource, namespace, name in wanted.checks:
                    verb = f"impersonate:{wanted.mode}"
                    identity = Attributes(attrs.user, verb, True, AUTHENTICATION_GROUP, resource, "", namespace, name)
                    self.authorizer.authorize(identity)
                return wanted.user
            except ApiError as error:
                refusal = error
        try:
            for resource, namespace, name in wanted.checks:
                self.authorizer.authorize(
                    Attributes(attrs.user, "impersonate", True, "", resource, "", namespace, name)
                )
        except ApiError as error:
            raise refusal or error from None
        return wanted.user

    def _target(self, path: str) -> Target:
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 3 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 4 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise _not_found_path()
        namespace: str | None = None
        namespace_subresource = group == "" and len(rest) == 3 and rest[2] in ("status", "finalize")
        if rest[0] == "namespaces" and len(rest) >= 3 and not namespace_subresource:
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise _not_found_path()
        rtype = self.cluster.registry.get(group, version, rest[0])
        if rtype is None or (namespace is not None and not rtype.namespaced):
            raise _not_found_path()
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else ""
        if (
            subresource
            and subresource not in rtype.subresources
            and not (subresource == "finalize" and rtype.storage_key == ("", "namespaces"))
            and not (subresource == "token" and rtype.storage_key == ("", "serviceaccounts"))
        ):
            raise _not_found_path()
        return Target(rtype, namespace, name, subresource)

    async def _serve(
        self, request: web.Request, target: Target, is_watch: bool, fault: Fault | None, attrs: Attributes
    ) -> web.StreamResponse:
        method = request.method
        if target.name is None:
            if method == "GET":
                if is_watch:
                    return await self._watch(request, target, fault)
                return self._list(request, target)
            if method == "POST":
                return await self._create(request, target, attrs)
            if method == "DELETE":
                return await self._delete_collection(request, target)
        else:
            if method == "GET" and is_watch:
                raise errors.method_not_allowed()
            if target.subresource == "scale" and method in ("GET", "PUT", "PATCH"):
                return await self._scale(request, target)
            if method == "GET":
                return self._respond(request, target.rtype, self._get(target))
            if method == "POST" and target.subresource == "token":
                return await self._token_request(request, target)
            if method == "PUT":
                return await self._replace(request, target, attrs)
            if method == "PATCH":
                return await self._patch(request, target, attrs)
            if method == "DELETE" and not target.subresource:
                return await self._delete(request, target)
        raise errors.method_not_allowed()

    # ------------------------------------------------------------------ verbs

    async def _token_request(self, request: web.Request, target: Target) -> web.StreamResponse:
        """TokenRequest (`kubectl create token`, a kubelet's projected token): a new bearer token for the
        ServiceAccount, which must exist. No expiry is enforced: the token lasts as long as the emulator."""
        assert target.name is not None
        assert target.namespace is not None
        self._get(target)  # 404 for a ServiceAccount that does not exist
        body = await _read_object(request)
        if body.get("kind") not in (None, "TokenRequest") or body.get("apiVersion") not in (
            None,
            TOKEN_REQUEST_API_VERSION,
        ):
            raise errors.bad_request(f"expected a TokenRequest of {TOKEN_REQUEST_API_VERSION}")
        spec = body.get("spec") or {}
        seconds = spec.get("expirationSeconds", DEFAULT_TOKEN_SECONDS)
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < MIN_TOKEN_SECONDS:
            raise errors.invalid(  # nameless: the request body's own (empty) name
                "TokenRequest",
                "authentication.k8s.io",
                "tokenrequests",
                "",
                [
                    (
                        "FieldValueInvalid",
                        "spec.expirationSeconds",
                        f"Invalid value: {json.dumps(seconds)}: may not specify a duration less than 10 minutes",
                    )
                ],
            )
        token = self.identities.add_service_account(target.namespace, target.name)
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
        answer = {
            "kind": "TokenRequest",
            "apiVersion": TOKEN_REQUEST_API_VERSION,
            "metadata": {"name": target.name, "namespace": target.namespace, "creationTimestamp": None},
            "spec": {
                **spec,
                "audiences": spec.get("audiences") or ["https://kubernetes.default.svc"],
                "expirationSeconds": seconds,
            },
            "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
        }
        return _json_response(answer, 201)

    def _get(self, target: Target) -> JsonObject:
        assert target.name is not None
        return self.cluster.store.get(target.rtype, target.namespace, target.name)

    def _list(self, request: web.Request, target: Target) -> web.StreamResponse:
        labels, fields = self._selectors(request, target.rtype)
        items, rv = self.cluster.store.list_objects(target.rtype, target.namespace, labels, fields)
        items, continue_token, remaining = _paginate(items, request.query, rv, target.namespace)
        list_meta: JsonObject = {"resourceVersion": str(rv)}
        if continue_token:
            list_meta["continue"] = continue_token
            list_meta["remainingItemCount"] = remaining
        body = {
            "kind": target.rtype.list_kind,
            "apiVersion": target.rtype.api_version,
            "metadata": list_meta,
            "items": items,
        }
        return self._respond(request, target.rtype, body)

    async def _create(self, request: web.Request, target: Target, attrs: Attributes) -> web.StreamResponse:
        body = await _read_object(request)
        self._check_body_type(body, target.rtype)
        body_ns = (body.get("metadata") or {}).get("namespace")
        if target.rtype.namespaced:
            if target.namespace is None:
                raise _not_found_path()
            if body_ns and body_ns != target.namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            name = (body.get("metadata") or {}).get("name") or ""
            self._check_namespace_open(target.namespace, target.rtype, name)
        self.authorizer.guard_write(attrs, target.rtype, body, None)
        dry_run = _dry_run(request)
        if (body.get("metadata") or {}).get("resourceVersion") and not dry_run:
            # etcd3's storage.ErrResourceVersionSetOnCreate, which kube-apiserver passes on as a bare 500.
            raise ApiError(500, "resourceVersion should not be set on objects to be created", reason="")
        obj, warnings = self.cluster.store.create(
            target.rtype, target.namespace, body, dry_run=dry_run, strict=_strict(request)
        )
        warnings = _unless_ignored(request, warnings)
        return self._respond(request, target.rtype, obj, status=201, warnings=warnings)

    async def _replace(self, request: web.Request, target: Target, attrs: Attributes) -> web.StreamResponse:
        assert target.name is not None
        body = await _read_object(request)
        self._check_body_type(body, target.rtype)
        body_ns = (body.get("metadata") or {}).get("namespace")
        if target.rtype.namespaced and body_ns and body_ns != target.namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        self.authorizer.guard_replace(attrs, target.rtype, body)
        obj, warnings = self.cluster.store.update(
            target.rtype,
            target.namespace,
            target.name,
            body,
            subresource=target.subresource,
            dry_run=_dry_run(request),
            strict=_strict(request),
        )
        return self._respond(request, target.rtype, obj, warnings=_unless_ignored(request, warnings))

    async def _patch(self, request: web.Request, target: Target, attrs: Attributes) -> web.StreamResponse:
        assert target.name is not None
        current = self.cluster.store.get(target.rtype, target.namespace, target.name)
        patched = await _patched(request, current, target.rtype.kind, target.rtype.from_crd)
        self.authorizer.guard_write(attrs, target.rtype, patched, current)
        obj, warnings = self.cluster.store.update(
            target.rtype,
            target.namespace,
            target.name,
            patched,
            subresource=target.subresource,
            dry_run=_dry_run(request),
            require_resource_version=False,
            strict=_strict(request),
        )
        return self._respond(request, target.rtype, obj, warnings=_unless_ignored(request, warnings))

    async def _scale(self, request: web.Request, target: Target) -> web.StreamResponse:
        """GET, PUT and PATCH of /scale: the object's autoscaling/v1 Scale; a written Scale sets the object's
        replicas (its resourceVersion, if any, is a precondition), and the answer is the Scale after the write."""
        assert target.name is not None
        current = self._get(target)
        if request.method == "GET":
            return _json_response(strategies.scale_of(target.rtype, current))
        if request.method == "PUT":
            body = await _read_object(request)
        else:
            base = strategies.scale_of(target.rtype, current, for_write=True)
            body = await _patched(request, base, "Scale", target.rtype.from_crd)
        _check_kind(body, "Scale", strategies.SCALE_API_VERSION)
        body_name = (body.get("metadata") or {}).get("name")
        if body_name and body_name != target.name:
            raise errors.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({target.name})"
            )
        obj, _ = self.cluster.store.update(
            target.rtype,
            target.namespace,
            target.name,
            strategies.scaled(target.rtype, current, body),
            dry_run=_dry_run(request),
            require_resource_version=False,
        )
        return _json_response(strategies.scale_of(target.rtype, obj))

    async def _delete(self, request: web.Request, target: Target) -> web.StreamResponse:
        assert target.name is not None
        options = await _delete_options(request)
        obj = self.cluster.store.delete(
            target.rtype,
            target.namespace,
            target.name,
            propagation=options.get("propagationPolicy") or "Background",
            preconditions=options.get("preconditions"),
            dry_run=_dry_run(request) or options.get("dryRun") == ["All"],
        )
        removed = "deletionTimestamp" not in obj["metadata"]
        if removed and target.rtype.storage_key not in _RETURN_DELETED_OBJECT:
            # Gone at once: like the generic registry's finalizeDelete, answer with a Success Status.
            details: JsonObject = {"name": target.name}
            if target.rtype.group:
                details["group"] = target.rtype.group
            details.update(kind=target.rtype.plural, uid=obj["metadata"]["uid"])
            return _json_response(errors.status_success(details))
        return self._respond(request, target.rtype, obj)

    async def _delete_collection(self, request: web.Request, target: Target) -> web.StreamResponse:
        options = await _delete_options(request)
        labels, fields = self._selectors(request, target.rtype)
        items, _ = self.cluster.store.list_objects(target.rtype, target.namespace, labels, fields)
        deleted = []
        for item in items:
            with contextlib.suppress(ApiError):
                deleted.append(
                    self.cluster.store.delete(
                        target.rtype,
                        item["metadata"].get("namespace"),
                        item["metadata"]["name"],
                        propagation=options.get("propagationPolicy") or "Background",
                        dry_run=_dry_run(request),
                    )
                )
        body = {
            "kind": target.rtype.list_kind,
            "apiVersion": target.rtype.api_version,
            "metadata": {"resourceVersion": str(self.cluster.store.resource_version)},
            "items": deleted,
        }
        return _json_response(body)

    async def _watch(self, request: web.Request, target: Target, fault: Fault | None) -> web.StreamResponse:
        labels, fields = self._selectors(request, target.rtype)
        rv_param = request.query.get("resourceVersion", "")
        since: int | None = None
        if rv_param not in ("", "0"):
            try:
                since = int(rv_param)
            except ValueError:
                raise errors.bad_request(f"invalid resource version: {rv_param}") from None
        bookmarks = _truthy(request.query.get("allowWatchBookmarks"))
        # A streaming list (client-go's WatchList, kubectl >= 1.35's wait): the current state as ADDED events, then,
        # with bookmarks allowed, a BOOKMARK annotated `k8s.io/initial-events-end`, then the changes after it.
        initial_events = _truthy(request.query.get("sendInitialEvents"))
        if initial_events:
            if request.query.get("resourceVersionMatch") != "NotOlderThan":
                raise errors.invalid(
                    "ListOptions",
                    "meta.k8s.io",
                    "ListOptions",
                    "",
                    [
                        (
                            "FieldValueForbidden",
                            "resourceVersionMatch",
                            "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                        )
                    ],
                )
            since = None  # the state now is "not older than" any resourceVersion the client can name
        timeout = DEFAULT_WATCH_TIMEOUT
        if "timeoutSeconds" in request.query:
            try:
                timeout = float(request.query["timeoutSeconds"])
            except ValueError:
                raise errors.bad_request("timeoutSeconds must be an integer") from None
        as_table = tables.wants_table(request.headers.get("Accept", ""))
        try:
            watch = self.cluster.store.open_watch(target.rtype, target.namespace, labels, fields, since)
        except ApiError as error:
            if error.code != 410:
                raise
            # client-go expects an expired watch as a 200 stream with one ERROR event.
            response = web.StreamResponse(status=200, headers={"Content-Type": JSON})
            await response.prepare(request)
            await response.write(_event_line(ERROR, error.status()))
            return response
        break_after = fault.break_watch_after if fault is not None else None
        # open_watch queued the current state synchronously: that many events, then the end-of-initial bookmark.
        initial_left = watch.queue.qsize() if initial_events and bookmarks else -1
        initial_end = self._bookmark(target.rtype)
        initial_end["metadata"]["annotations"] = {"k8s.io/initial-events-end": "true"}
        response = web.StreamResponse(status=200, headers={"Content-Type": JSON, "Cache-Control": "no-cache, private"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        deadline = time.monotonic() + timeout
        sent = 0
        try:
            while True:
                if initial_left == 0:
                    await response.write(_event_line(BOOKMARK, initial_end))
                initial_left -= 1
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(remaining, self.bookmark_interval) if bookmarks else remaining
                try:
                    change = await asyncio.wait_for(watch.queue.get(), timeout=wait)
                except TimeoutError:
                    if bookmarks and deadline - time.monotonic() > 0:
                        await response.write(_event_line(BOOKMARK, self._bookmark(target.rtype)))
                    continue
                if change is None:
                    break
                obj = change.object
                if as_table:
                    obj = tables.to_table(target.rtype, [obj], request.query, watch_event=True)
                await response.write(_event_line(change.type, obj))
                sent += 1
                if break_after is not None and sent >= break_after:
                    # Drop the connection without a clean end, as a broken proxy or apiserver restart would.
                    if request.transport is not None:
                        request.transport.close()
                    return response
            with contextlib.suppress(ConnectionError, RuntimeError):
                await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.cluster.store.close_watch(watch)
        return response

    def _bookmark(self, rtype: ResourceType) -> JsonObject:
        return {
            "kind": rtype.kind,
            "apiVersion": rtype.api_version,
            "metadata": {"resourceVersion": str(self.cluster.store.resource_version)},
        }

    # ------------------------------------------------------------------ helpers

    def _selectors(self, request: web.Request, rtype: ResourceType) -> tuple[LabelSelector, FieldSelector]:
        labels = LabelSelector.parse(request.query.get("labelSelector", ""))
        fields = FieldSelector.parse_for(request.query.get("fieldSelector", ""), rtype, rtype.selectable_fields)
        return labels, fields

    def _check_body_type(self, body: JsonObject, rtype: ResourceType) -> None:
        _check_kind(body, rtype.kind, rtype.api_version)

    def _check_namespace_open(self, namespace: str, rtype: ResourceType, name: str) -> None:
        """The NamespaceLifecycle admission plugin: no creates in missing or terminating namespaces."""
        ns_type = self.cluster.rtype("", "v1", "namespaces")
        found = self.cluster.store.find(ns_type, None, namespace)
        if found is None:
            raise errors.not_found("", "namespaces", namespace)
        if found["metadata"].get("deletionTimestamp"):
            subject = f'{rtype.group_resource} "{name}"' if name else rtype.group_resource
            error = errors.forbidden(
                f"{subject} is forbidden: unable to create new content in namespace {namespace} "
                "because it is being terminated",
                rtype.group,
                rtype.plural,
                name,
            )
            assert error.details is not None
            error.details["causes"] = [
                {
                    "reason": "NamespaceTerminating",
                    "message": f"namespace {namespace} is being terminated",
                    "field": "metadata.namespace",
                }
            ]
            raise error

    def _respond(
        self,
        request: web.Request,
        rtype: ResourceType,
        body: JsonObject,
        status: int = 200,
        warnings: list[str] | None = None,
    ) -> web.StreamResponse:
        if tables.wants_table(request.headers.get("Accept", "")):
            items = body.get("items", [body])
            table = tables.to_table(rtype, items, request.query)
            if "items" in body:
                table["metadata"] = body["metadata"]
            body = table
        headers = {}
        if warnings:
            headers["Warning"] = ", ".join(f'299 - "{_escape_warning(w)}"' for w in warnings)
        return _json_response(body, status, headers)


def _check_kind(body: JsonObject, expected_kind: str, expected_api_version: str) -> None:
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if kind and kind != expected_kind:
        raise errors.bad_request(f"the kind in the data ({kind}) does not match the expected kind ({expected_kind})")
    if api_version and api_version != expected_api_version:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({expected_api_version})"
        )


async def _patched(request: web.Request, current: JsonObject, kind: str, custom_resource: bool) -> JsonObject:
    """`current` with the request's patch applied (JSON merge, JSON, or strategic merge for built-in kinds)."""
    content_type = request.content_type
    if content_type not in (MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH):
        raise errors.unsupported_media_type(custom_resource=custom_resource)
    raw = await request.read()
    try:
        patch = json.loads(raw or b"null")
    except ValueError as error:
        raise errors.bad_request(f"error decoding patch: {error}") from None
    if content_type == MERGE_PATCH:
        return patching.merge_patch(current, patch)
    if content_type == JSON_PATCH:
        return patching.json_patch(current, patch)
    if custom_resource:  # strategic merge patch needs the patch metadata of a built-in kind
        raise errors.unsupported_media_type(custom_resource=True)
    return patching.strategic_merge_patch(current, patch, kind)


def _escape_warning(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _event_line(event_type: str, obj: JsonObject) -> bytes:
    return (json.dumps({"type": event_type, "object": obj}, separators=(",", ":")) + "\n").encode()


def _json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None, newline: bool = True
) -> web.Response:
    """A JSON answer written as apimachinery's serializer writes objects: compact, then a newline (json.Encoder)."""
    return web.Response(
        body=(json.dumps(body, separators=(",", ":")) + ("\n" if newline else "")).encode(),
        status=status,
        content_type=JSON,
        headers=headers,
    )


def _not_found_path() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", "NotFound", {})


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1")


def _dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise errors.bad_request(f'unsupported dry run option: "{value}"')
    return bool(values)


def _strict(request: web.Request) -> bool:
    return request.query.get("fieldValidation", "") == "Strict"


def _unless_ignored(request: web.Request, unknown_field_warnings: list[str]) -> list[str]:
    """fieldValidation=Ignore drops unknown fields silently; Warn (the default) reports them."""
    return [] if request.query.get("fieldValidation", "") == "Ignore" else unknown_field_warnings


async def _read_object(request: web.Request) -> JsonObject:
    raw = await request.read()
    content_type = request.content_type
    try:
        if content_type in ("application/yaml", "application/x-yaml"):
            body = yaml.safe_load(raw)
        elif content_type in (JSON, "", "application/octet-stream", "text/plain"):
            body = json.loads(raw or b"null")
        else:
            raise errors.unsupported_media_type(custom_resource=False, for_patch=False)
    except (ValueError, yaml.YAMLError) as error:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {error}") from None
    if not isinstance(body, dict):
        raise errors.bad_request("Object 'Kind' is missing in the request body")
    return body


async def _delete_options(request: web.Request) -> JsonObject:
    options: JsonObject = {}
    raw = await request.read()
    if raw.strip():
        try:
            parsed = json.loads(raw)
        except ValueError as error:
            raise errors.bad_request(f"invalid DeleteOptions: {error}") from None
        if isinstance(parsed, dict):
            options.update(parsed)
    if "propagationPolicy" in request.query:
        options["propagationPolicy"] = request.query["propagationPolicy"]
    policy = options.get("propagationPolicy")
    if options.get("orphanDependents") is True and not policy:
        options["propagationPolicy"] = "Orphan"
    if policy not in (None, "", "Background", "Foreground", "Orphan"):
        raise errors.invalid(
            "DeleteOptions",
            "",
            "",
            "",
            [
                (
                    "FieldValueNotSupported",
                    "propagationPolicy",
                    f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan", "nil"',
                )
            ],
        )
    return options


def _paginate(items: list[JsonObject], query: Any, rv: int, namespace: str | None) -> tuple[list[JsonObject], str, int]:
    """Apply `limit`/`continue`; the token remembers the last key returned (no snapshot, see README).

    Tokens are the apiserver's (storage.EncodeContinue): unpadded base64url of {"v", "rv", "start"}, where `start` is
    the storage key after the list's prefix (`/<name>` in a namespace, `/<namespace>/<name>` across them) and a NUL.
    """
    start_after: tuple[str, str] | None = None
    token = query.get("continue", "")
    if token:
        if query.get("resourceVersion", "") not in ("", "0"):
            raise errors.bad_request("specifying resource version is not allowed when using continue")
        start_key = _decode_continue(token)
        parts = start_key.removesuffix("\0").split("/")
        start_after = (parts[0], parts[1]) if len(parts) == 2 else (namespace or "", parts[-1])
        items = [i for i in items if (i["metadata"].get("namespace", ""), i["metadata"]["name"]) > start_after]
    limit = int(query.get("limit", "0") or 0)
    if limit <= 0 or len(items) <= limit:
        return items, "", 0
    page, rest = items[:limit], items[limit:]
    last = page[-1]["metadata"]
    key = last["name"] if namespace is not None or "namespace" not in last else f"{last['namespace']}/{last['name']}"
    encoded = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": f"/{key}\0"}, separators=(",", ":"))
    next_token = base64.urlsafe_b64encode(encoded.encode()).decode().rstrip("=")
    return page, next_token, len(rest)


_BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _decode_continue(token: str) -> str:
    """storage.DecodeContinue: the start key of a continue token, or the 400 it earns (with Go's wording)."""

    def invalid(why: str) -> errors.ApiError:
        return errors.bad_request(f"invalid continue token: continue key is not valid{why}")

    bad = next((index for index, char in enumerate(token) if char not in _BASE64URL), None)
    if bad is None and len(token) % 4 == 1:
        bad = len(token) - 1
    if bad is not None:
        raise invalid(f": illegal base64 data at input byte {bad}")
    data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    text = data.decode("utf-8", errors="replace").lstrip(" \t\r\n")
    try:
        decoded = json.loads(data)
    except ValueError:
        if not text:
            raise invalid(": unexpected end of JSON input") from None
        first = data.lstrip(b" \t\r\n")[:1]
        if first not in (b"{", b"[", b'"', b"-", b"t", b"f", b"n") and not first.isdigit():
            shown = json.dumps(chr(first[0]))[1:-1] if first[0] != ord("'") else "\\'"
            raise invalid(f": invalid character '{shown}' looking for beginning of value") from None
        raise invalid(": unexpected end of JSON input") from None
    if decoded is not None and not isinstance(decoded, dict):
        kind = {list: "array", str: "string", bool: "bool"}.get(type(decoded), "number")
        raise invalid(f": json: cannot unmarshal {kind} into Go value of type storage.continueToken")
    decoded = decoded or {}
    version = decoded.get("v", "")
    if version != "meta.k8s.io/v1":
        raise invalid(f": server does not recognize this encoded version {version}")
    start = decoded.get("start", "")
    if not isinstance(decoded.get("rv"), int) or decoded["rv"] == 0:
        raise invalid(": incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    if not isinstance(start, str) or not start:
        raise invalid(": encoded start key empty (version meta.k8s.io/v1)")
    key = start if start.startswith("/") else "/" + start
    if posixpath.normpath(key) != key or key.startswith("//"):
        raise invalid(f": {start}")
    return key[1:]
