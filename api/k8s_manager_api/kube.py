"""The one adapter through which the operator and the facade talk to the Kubernetes API.

Asynchronous, over one pooled aiohttp session per `KubeApi`; plain JSON in and out (objects are dicts).
Every call retries what is worth retrying — 429 (after Retry-After), 5xx, no answer — with exponential
backoff and jitter, within `request_timeout` in total; any other error raises at once (see errors.py).

Watching: `watch` is one stream, as the API sends it; `observe` is what controllers want — list, then watch,
resume after broken streams, relist when the API has forgotten the resourceVersion — until its consumer stops.
Close both with `aclose()` (or `contextlib.aclosing`) when stopping early: they hold an HTTP connection.

Logs name methods, paths and `safe_message`s only: never bodies, which may hold credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import ssl
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping
from typing import Any, Final, Literal, NamedTuple, TypeVar
from urllib.parse import quote

import aiohttp
import kubernetes
from yarl import URL

from . import errors
from .errors import Gone, KubeError, NotFound, ServerError, TooManyRequests, Unreachable
from .names import Resource

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]
ObjectList = list[JsonObject]
JsonPatch = JsonObject | list[JsonObject]
PatchType = Literal["merge", "json", "strategic"]
T = TypeVar("T")

# The `kubernetes` package is untyped: only its config loaders are used.
_kube_client: Any = kubernetes.client
_kube_config: Any = kubernetes.config

JSON: Final = "application/json"
PATCH_CONTENT_TYPES: Final[Mapping[str, str]] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}
USER_AGENT: Final = "k8s-manager"

ADDED: Final = "ADDED"
MODIFIED: Final = "MODIFIED"
DELETED: Final = "DELETED"
BOOKMARK: Final = "BOOKMARK"
ERROR: Final = "ERROR"

# Items per page of a list; the pages are joined before `list` returns.
LIST_PAGE_SIZE = 500
FIRST_BACKOFF: Final = 0.1
MAX_BACKOFF: Final = 5.0
MAX_RETRY_AFTER: Final = 10.0
# `observe` keeps trying for as long as it is iterated; between failed attempts it waits at most this long.
OBSERVE_MAX_BACKOFF: Final = 10.0
OBSERVE_WATCH_TIMEOUT: Final = 300
# A watch stream that ends sooner than this without a single event counts as a failure (no hammering the API).
QUICK_STREAM_END: Final = 1.0
# A watch is given this long beyond its timeoutSeconds before a silent stream counts as broken.
WATCH_READ_MARGIN: Final = 30.0
# How often a refreshable credential (in-cluster token file, exec plugin) is asked to refresh itself.
TOKEN_REFRESH_INTERVAL: Final = 30.0
IN_CLUSTER_VARIABLE: Final = "KUBERNETES_SERVICE_HOST"
DEFAULT_KUBECONFIG: Final = "~/.kube/config"


class WatchEvent(NamedTuple):
    type: str  # ADDED, MODIFIED or DELETED
    object: dict[str, Any]


class _Endpoint(NamedTuple):
    """Where and how to reach the API, read from a kubeconfig or the pod's service account."""

    configuration: Any  # kubernetes.client.Configuration: kept to refresh the credentials
    host: str
    tls: ssl.SSLContext | bool
    authorization: str | None
    options: dict[str, Any]  # per-request aiohttp options: proxy, server_hostname


class KubeApi:
    """A connection to one Kubernetes API server. Make it with `connect`, end it with `close`."""

    def __init__(
        self, endpoint: _Endpoint, session: aiohttp.ClientSession, request_timeout: float, retries: int
    ) -> None:
        self._endpoint = endpoint
        self._session = session
        self._request_timeout = request_timeout
        self._retries = retries
        self._authorization = endpoint.authorization
        self._refreshed_at = time.monotonic()
        self._refresh_lock = asyncio.Lock()

    @classmethod
    async def connect(
        cls, kubeconfig: str | None = None, *, request_timeout: float = 30.0, retries: int = 5
    ) -> KubeApi:
        """Connect with `kubeconfig`; without one, $KUBECONFIG, else in-cluster (in a pod), else ~/.kube/config.

        `request_timeout` bounds every call, its retries included; `retries` is how many times a call is retried.
        """
        if request_timeout <= 0 or retries < 0:
            raise ValueError("request_timeout must be positive and retries not negative")
        endpoint = await asyncio.to_thread(_load_endpoint, kubeconfig)
        session = aiohttp.ClientSession(
            # No limit: watches hold their connections for minutes, and must not starve the other calls.
            connector=aiohttp.TCPConnector(limit=0, ssl=endpoint.tls),
            headers={"Accept": JSON, "User-Agent": USER_AGENT},
        )
        return cls(endpoint, session, request_timeout, retries)

    async def close(self) -> None:
        await self._session.close()

    # ------------------------------------------------------------------ verbs

    async def get(self, res: Resource, name: str, namespace: str | None = None) -> JsonObject:
        """The object; `NotFound` when there is none."""
        return _as_object(await self._call("GET", _object_path(res, name, namespace)))

    async def find(self, res: Resource, name: str, namespace: str | None = None) -> JsonObject | None:
        """The object, or None when there is none."""
        try:
            return await self.get(res, name, namespace)
        except NotFound:
            return None

    async def list(
        self, res: Resource, namespace: str | None = None, *, labels: str = "", fields: str = ""
    ) -> tuple[ObjectList, str]:
        """All matching objects (in all namespaces when a namespaced kind gets no namespace) and the list's
        resourceVersion, to watch from. Items carry `apiVersion` and `kind`, which the API leaves out of lists.

        Read in pages; if the continue token expires between pages, everything is read again in one request,
        as client-go's pager does.
        """
        path = _collection_path(res, namespace)
        selectors = _selectors(labels, fields)
        items: ObjectList = []
        list_version = ""
        token = ""
        while True:
            try:
                page = _as_object(
                    await self._call("GET", path, params={**selectors, "limit": str(LIST_PAGE_SIZE), "continue": token})
                )
            except Gone:
                if not token:
                    raise
                log.info("list of %s: continue token expired; listing everything at once", path)
                whole = _as_object(await self._call("GET", path, params=selectors))
                return _items_of(whole), _list_meta(whole).get("resourceVersion", "")
            items.extend(_items_of(page))
            # The first page's version is the snapshot all pages belong to.
            list_version = list_version or _list_meta(page).get("resourceVersion", "")
            token = _list_meta(page).get("continue", "")
            if not token:
                return items, list_version

    async def create(self, res: Resource, body: JsonObject, namespace: str | None = None) -> JsonObject:
        """Create; a namespaced kind without `namespace` goes to the body's metadata.namespace."""
        path = _collection_path(res, _namespace_for(res, body, namespace), create=True)
        return _as_object(await self._call("POST", path, body=body))

    async def replace(
        self, res: Resource, name: str, body: JsonObject, namespace: str | None = None, *, subresource: str = ""
    ) -> JsonObject:
        """PUT: the body's metadata.resourceVersion makes it conditional (`Conflict` when stale)."""
        path = _object_path(res, name, _namespace_for(res, body, namespace), subresource)
        return _as_object(await self._call("PUT", path, body=body))

    async def patch(
        self,
        res: Resource,
        name: str,
        patch: JsonPatch,
        namespace: str | None = None,
        *,
        patch_type: PatchType = "merge",
        subresource: str = "",
    ) -> JsonObject:
        """PATCH with a JSON merge patch (a dict), a JSON patch (a list of operations) or a strategic merge
        patch (built-in kinds only: custom resources answer 415)."""
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"unknown patch type {patch_type!r}; expected one of {sorted(PATCH_CONTENT_TYPES)}")
        if isinstance(patch, list) != (patch_type == "json"):
            raise ValueError("a JSON patch is a list of operations; merge and strategic patches are objects")
        path = _object_path(res, name, namespace, subresource)
        answer = await self._call("PATCH", path, body=patch, content_type=PATCH_CONTENT_TYPES[patch_type])
        return _as_object(answer)

    async def delete(
        self,
        res: Resource,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
        uid: str | None = None,
    ) -> bool:
        """Delete (or start deleting, while finalizers remain); False when it was already gone.

        With `uid`, only that incarnation of the object: another one of the same name raises `Conflict`.
        """
        options: JsonObject = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
        if uid:
            options["preconditions"] = {"uid": uid}
        try:
            await self._call("DELETE", _object_path(res, name, namespace), body=options)
        except NotFound:
            return False
        return True

    # ------------------------------------------------------------------ watching

    async def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        labels: str = "",
        fields: str = "",
        resource_version: str = "",
        timeout_seconds: int = 300,
    ) -> AsyncGenerator[WatchEvent, None]:
        """One watch stream: its events until the API ends it (after about `timeout_seconds`).

        Without `resource_version` it starts with an ADDED event for every object there is. Raises `Gone` when
        the version is too old (the API's 410 or ERROR event), `Unreachable` when the stream breaks.
        """
        stream = self._stream(res, namespace, labels, fields, resource_version, timeout_seconds)
        async with contextlib.aclosing(stream):
            async for event in stream:
                if event.type != BOOKMARK:
                    yield event

    async def observe(
        self, res: Resource, namespace: str | None = None, *, labels: str = "", fields: str = ""
    ) -> AsyncGenerator[WatchEvent, None]:
        """Every change, for as long as it is iterated: what an informer sees.

        Lists (ADDED for each object), then watches from the list's version, and resumes from the last version
        seen whenever a stream ends or breaks. When the API has forgotten that version (410 Gone) it lists
        again and makes up for what it missed: ADDED for new objects, MODIFIED for changed ones, DELETED (with
        the last state seen) for vanished ones; an object re-created under the same name is DELETED then ADDED.
        Failures are logged and retried with backoff; nothing is raised. Ends when the consumer stops
        (`aclose`), leaving no task or connection behind.
        """
        loop = asyncio.get_running_loop()
        known: dict[tuple[str, str], JsonObject] = {}
        version = ""
        failures = 0  # failed attempts since the last event
        expirations = 0  # 410s since the last event
        while True:
            delay = 0.0
            try:
                if not version:
                    items, version = await self.list(res, namespace, labels=labels, fields=fields)
                    events, known = _relist_events(known, items)
                    for event in events:
                        yield event
                started, events_seen = loop.time(), 0
                stream = self._stream(res, namespace, labels, fields, version, OBSERVE_WATCH_TIMEOUT)
                async with contextlib.aclosing(stream):
                    async for event in stream:
                        events_seen += 1
                        failures = expirations = 0
                        version = _resource_version(event.object) or version
                        if event.type == BOOKMARK:
                            continue
                        known = _remember(known, event)
                        yield event
                if not events_seen and loop.time() - started < QUICK_STREAM_END:
                    failures += 1
                    delay = _backoff(failures - 1, OBSERVE_MAX_BACKOFF)
            except Gone:
                log.info("observing %s: resourceVersion %s expired; listing again", res.plural, version)
                version = ""
                expirations += 1
                # The first relist is immediate; another 410 before any event means something is off: slow down.
                delay = _backoff(expirations - 2, OBSERVE_MAX_BACKOFF) if expirations > 1 else 0.0
            except KubeError as error:
                failures += 1
                delay = _backoff(failures - 1, OBSERVE_MAX_BACKOFF)
                # Streams break now and then (apiserver restarts, idle proxies): only a repeated failure warns.
                level = logging.INFO if failures == 1 else logging.WARNING
                log.log(level, "observing %s failed (%s); again in %.1f s", res.plural, error.safe_message, delay)
            if delay:
                await asyncio.sleep(delay)

    async def _stream(
        self,
        res: Resource,
        namespace: str | None,
        labels: str,
        fields: str,
        resource_version: str,
        timeout_seconds: int,
    ) -> AsyncGenerator[WatchEvent, None]:
        """One watch stream, bookmarks included (observe keeps its place with them)."""
        path = _collection_path(res, namespace)
        params = {
            **{key: value for key, value in _selectors(labels, fields).items() if value},
            "watch": "true",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        if resource_version:
            params["resourceVersion"] = resource_version
        timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + WATCH_READ_MARGIN)
        response = await self._retrying("GET", path, lambda remaining: self._open(path, params, timeout, remaining))
        finished = False
        try:
            pending = b""
            while True:
                try:
                    chunk = await response.content.readany()
                except (aiohttp.ClientError, OSError, TimeoutError) as error:
                    raise Unreachable(f"the watch of {path} broke: {_describe(error)}") from error
                if not chunk:
                    break
                if b"\n" not in chunk:  # part of a long line: wait for its end
                    pending += chunk
                    continue
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    if line.strip():
                        yield _parse_event(line, path)
            if pending.strip():
                yield _parse_event(pending, path)
            finished = True
        finally:
            # An unfinished stream cannot go back to the pool: drop its connection.
            if finished:
                response.release()
            else:
                response.close()

    # ------------------------------------------------------------------ transport

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: JsonPatch | None = None,
        content_type: str = JSON,
    ) -> Any:
        """One API call, retried as the module says; the decoded JSON answer."""
        data = json.dumps(body).encode() if body is not None else None
        query = {key: value for key, value in (params or {}).items() if value}
        return await self._retrying(
            method, path, lambda remaining: self._send(method, path, query, data, content_type, remaining)
        )

    async def _retrying(self, method: str, path: str, attempt: Callable[[float], Awaitable[T]]) -> T:
        """`attempt(seconds left)`, again after transient errors, until it succeeds, retries or time run out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._request_timeout
        retried = 0
        while True:
            try:
                return await attempt(max(deadline - loop.time(), 0.001))
            except KubeError as error:
                if retried >= self._retries or not _transient(error):
                    raise
                delay = _retry_delay(retried, error.retry_after)
                if loop.time() + delay >= deadline:
                    raise
                retried += 1
                log.warning(
                    "%s %s: %s; retry %d of %d in %.2f s",
                    method,
                    path,
                    error.safe_message,
                    retried,
                    self._retries,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _send(
        self, method: str, path: str, params: Mapping[str, str], data: bytes | None, content_type: str, budget: float
    ) -> Any:
        headers = await self._headers()
        if data is not None:
            headers["Content-Type"] = content_type
        with self._no_answer_is_unreachable(budget):
            async with self._session.request(
                method,
                self._url(path),
                params=params,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=budget),
                **self._endpoint.options,
            ) as response:
                payload = await response.read()
                if response.status >= 400:
                    raise errors.from_response(response.status, payload, response.headers.get("Retry-After"))
        try:
            return json.loads(payload) if payload else {}
        except ValueError:
            raise KubeError(response.status, "", f"{method} {path}: the answer is not JSON") from None

    async def _open(
        self, path: str, params: Mapping[str, str], read_timeout: aiohttp.ClientTimeout, budget: float
    ) -> aiohttp.ClientResponse:
        """Start a streaming GET: the response once its headers are in (within `budget` seconds), body unread."""
        headers = await self._headers()
        with self._no_answer_is_unreachable(budget):
            async with asyncio.timeout(budget):
                response = await self._session.request(
                    "GET",
                    self._url(path),
                    params=params,
                    headers=headers,
                    timeout=read_timeout,
                    **self._endpoint.options,
                )
                if response.status >= 400:
                    try:
                        payload = await response.read()
                    finally:
                        response.close()
                    raise errors.from_response(response.status, payload, response.headers.get("Retry-After"))
                return response

    def _url(self, path: str) -> URL:
        # Paths are built quoted (see _segment): they must not be quoted again.
        return URL(self._endpoint.host + path, encoded=True)

    @contextlib.contextmanager
    def _no_answer_is_unreachable(self, budget: float) -> Iterator[None]:
        """Transport failures and timeouts become `Unreachable`."""
        host = self._endpoint.host
        try:
            yield
        except TimeoutError as error:
            raise Unreachable(
                f"no answer from the Kubernetes API at {host} within {budget:.1f} s", reason="Timeout"
            ) from error
        except (aiohttp.ClientError, OSError) as error:
            # A certificate that does not verify will not verify on the next attempt either.
            reason = "TLSError" if isinstance(error, aiohttp.ClientSSLError | ssl.SSLError) else "Unreachable"
            raise Unreachable(
                f"cannot reach the Kubernetes API at {host}: {_describe(error)}", reason=reason
            ) from error

    async def _headers(self) -> dict[str, str]:
        """The Authorization header, refreshed now and then when the credential can expire."""
        configuration = self._endpoint.configuration
        if configuration.refresh_api_key_hook is not None:
            async with self._refresh_lock:
                if time.monotonic() - self._refreshed_at >= TOKEN_REFRESH_INTERVAL:
                    # In a thread: an exec plugin runs a program.
                    self._authorization = await asyncio.to_thread(_authorization, configuration)
                    self._refreshed_at = time.monotonic()
        return {"Authorization": self._authorization} if self._authorization else {}


# ---------------------------------------------------------------------- configuration


def _load_endpoint(kubeconfig: str | None) -> _Endpoint:
    """Read the kubeconfig (or the in-cluster service account) with the `kubernetes` package's loader. Blocking."""
    configuration = _kube_client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG", "")
    if not path and os.environ.get(IN_CLUSTER_VARIABLE):
        _kube_config.load_incluster_config(client_configuration=configuration)
    else:
        _kube_config.load_kube_config(
            config_file=path or os.path.expanduser(DEFAULT_KUBECONFIG),
            client_configuration=configuration,
            persist_config=False,  # never write refreshed tokens back into the user's file
        )
    options: dict[str, Any] = {}
    if getattr(configuration, "proxy", None):
        options["proxy"] = configuration.proxy
    if getattr(configuration, "tls_server_name", None):
        options["server_hostname"] = configuration.tls_server_name
    return _Endpoint(
        configuration=configuration,
        host=str(configuration.host).rstrip("/"),
        tls=_ssl_context(configuration),
        authorization=_authorization(configuration),
        options=options,
    )


def _ssl_context(configuration: Any) -> ssl.SSLContext | bool:
    if not str(configuration.host).startswith("https:"):
        return True  # plain HTTP: not used
    if configuration.verify_ssl:
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    return context


def _authorization(configuration: Any) -> str | None:
    """The Authorization header value (`Bearer …` or `Basic …`); runs the credential's refresh hook if any."""
    value = configuration.get_api_key_with_prefix("BearerToken")
    return str(value) if value else None


# ---------------------------------------------------------------------- pure helpers


def _segment(value: str) -> str:
    """One path segment, quoted; names the API could never hold are refused before they can change the path."""
    if value in ("", ".", ".."):
        raise ValueError(f"{value!r} is not a name")
    return quote(value, safe="")


def _collection_path(res: Resource, namespace: str | None, *, create: bool = False) -> str:
    root = f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"
    if namespace:
        if not res.namespaced:
            raise ValueError(f"{res.plural} are cluster-scoped: no namespace")
        return f"{root}/namespaces/{_segment(namespace)}/{res.plural}"
    if create and res.namespaced:
        raise ValueError(f"{res.plural} are namespaced: a namespace is required")
    return f"{root}/{res.plural}"


def _object_path(res: Resource, name: str, namespace: str | None, subresource: str = "") -> str:
    if res.namespaced and not namespace:
        raise ValueError(f"{res.plural} are namespaced: a namespace is required")
    path = f"{_collection_path(res, namespace)}/{_segment(name)}"
    return f"{path}/{_segment(subresource)}" if subresource else path


def _namespace_for(res: Resource, body: JsonObject, namespace: str | None) -> str | None:
    if namespace or not res.namespaced:
        return namespace
    found = (body.get("metadata") or {}).get("namespace")
    return str(found) if found else None


def _selectors(labels: str, fields: str) -> dict[str, str]:
    return {"labelSelector": labels, "fieldSelector": fields}


def _as_object(value: Any) -> JsonObject:
    if not isinstance(value, dict):
        raise KubeError(0, "", "the API answered with something that is not an object")
    return value


def _list_meta(page: JsonObject) -> dict[str, str]:
    meta = page.get("metadata") or {}
    return {key: str(value) for key, value in meta.items() if isinstance(value, str | int)}


def _items_of(page: JsonObject) -> ObjectList:
    """The list's items, each with the apiVersion and kind the list implies."""
    list_kind = str(page.get("kind") or "")
    kind = list_kind.removesuffix("List") if list_kind.endswith("List") else ""
    items: ObjectList = []
    for item in page.get("items") or []:
        if kind:
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", page.get("apiVersion", ""))
        items.append(item)
    return items


def _resource_version(obj: JsonObject) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _key(obj: JsonObject) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


def _uid(obj: JsonObject) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def _parse_event(line: bytes, path: str) -> WatchEvent:
    try:
        event = json.loads(line)
        kind, obj = str(event["type"]), event["object"]
    except (ValueError, KeyError, TypeError):
        raise Unreachable(f"the watch of {path} sent something that is not an event") from None
    if kind == ERROR:
        raise errors.from_status(obj if isinstance(obj, dict) else {})
    return WatchEvent(kind, obj)


def _remember(known: dict[tuple[str, str], JsonObject], event: WatchEvent) -> dict[tuple[str, str], JsonObject]:
    """`known` after a watch event (updated in place: it can be large)."""
    if event.type == DELETED:
        known.pop(_key(event.object), None)
    else:
        known[_key(event.object)] = event.object
    return known


def _relist_events(
    known: Mapping[tuple[str, str], JsonObject], items: ObjectList
) -> tuple[list[WatchEvent], dict[tuple[str, str], JsonObject]]:
    """The events that turn `known` into the listed `items`, and the new `known`."""
    events: list[WatchEvent] = []
    now: dict[tuple[str, str], JsonObject] = {}
    for item in items:
        key = _key(item)
        now[key] = item
        before = known.get(key)
        if before is None:
            events.append(WatchEvent(ADDED, item))
        elif _uid(before) != _uid(item):  # deleted and created again while we were away
            events.append(WatchEvent(DELETED, before))
            events.append(WatchEvent(ADDED, item))
        elif _resource_version(before) != _resource_version(item):
            events.append(WatchEvent(MODIFIED, item))
    events.extend(WatchEvent(DELETED, obj) for key, obj in known.items() if key not in now)
    return events, now


def _transient(error: KubeError) -> bool:
    if isinstance(error, Unreachable):
        return error.reason != "TLSError"
    return isinstance(error, TooManyRequests | ServerError)


def _backoff(attempt: int, ceiling: float = MAX_BACKOFF) -> float:
    """Exponential from FIRST_BACKOFF, capped, with jitter (between half and all of it)."""
    limit = min(ceiling, FIRST_BACKOFF * 2 ** min(attempt, 30))
    return random.uniform(limit / 2, limit)


def _retry_delay(attempt: int, retry_after: float | None) -> float:
    """How long to wait before retry `attempt + 1`: what the API asked (capped), else backoff."""
    if retry_after:
        return min(retry_after, MAX_RETRY_AFTER)
    return _backoff(attempt)


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
