"""Shared watches for every waiting call, and what a Runtime's status says.

`StatusHub` observes one kind of resource (list, then watch, resumed and relisted by the API adapter) in one task
per facade process, started by the first subscriber and stopped with the server: `RuntimeStatusHub` for the
RuntimeStatus calls, `VersionStatusHub` (RuntimeVersions in every namespace) for the VersionService calls. It
keeps the latest object of each one, so a subscriber gets the current object at once (when the hub knows it)
and then every change for its namespace and name. Subscribers only ever need the newest state, so changes that
arrive faster than a subscriber reads them are coalesced into the latest one.

`assess` is pure: Ready, terminally failed (a reason in TERMINAL_RUNTIME_REASONS), or still waiting, and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from k8s_manager_api.kube import DELETED, KubeApi, WatchEvent
from k8s_manager_api.names import RUNTIME_VERSIONS, RUNTIMES, TERMINAL_RUNTIME_REASONS, Resource

log = logging.getLogger(__name__)

# After an unexpected failure of the watch task, it is started again this much later.
RESTART_DELAY = 1.0


# ----------------------------------------------------------------------------------------- assessment


class Verdict(enum.Enum):
    READY = "ready"
    FAILED = "failed"
    WAITING = "waiting"


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    detail: str  # what is missing (WAITING), or the reason and message of the failure (FAILED)


def assess(runtime: Mapping[str, Any]) -> Assessment:
    """What a Runtime's status says about it, for the generation of the spec it has now."""
    metadata = runtime.get("metadata") or {}
    status = runtime.get("status") or {}
    generation = metadata.get("generation")
    ready = next(
        (c for c in status.get("conditions") or [] if isinstance(c, Mapping) and c.get("type") == "Ready"), None
    )
    if ready is None:
        return Assessment(Verdict.WAITING, "the operator has not reported on it yet (no Ready condition)")
    # A status written for an older spec says nothing about this one (kstatus' rule); absent means "current".
    for observed in (status.get("observedGeneration"), ready.get("observedGeneration")):
        if isinstance(generation, int) and isinstance(observed, int) and observed < generation:
            return Assessment(
                Verdict.WAITING,
                f"the operator has not caught up with generation {generation} of its spec yet "
                f"(its status is for generation {observed})",
            )
    reason = str(ready.get("reason") or "")
    message = str(ready.get("message") or "")
    if ready.get("status") == "True":
        return Assessment(Verdict.READY, "ready")
    explained = f"{reason}: {message}" if reason and message else reason or message
    if ready.get("status") == "False" and reason in TERMINAL_RUNTIME_REASONS:
        return Assessment(Verdict.FAILED, explained)
    detail = f"Ready is {ready.get('status') or 'Unknown'}" + (f" ({explained})" if explained else "")
    not_ready = [
        str(component.get("name"))
        for component in status.get("components") or []
        if isinstance(component, Mapping) and component.get("name") and not component.get("ready")
    ]
    if not_ready:
        detail += "; components not ready: " + ", ".join(not_ready)
    return Assessment(Verdict.WAITING, detail)


# ----------------------------------------------------------------------------------------------- hub


class HubStoppedError(Exception):
    """The hub stopped (the facade is shutting down): no more changes will come."""


# (namespace, name) of an object; the namespace is "" for a cluster-scoped kind.
ObjectKey = tuple[str, str]


class Subscription:
    """The changes of one object, for one waiter; `current` is the hub's object when it subscribed, if any."""

    def __init__(self, description: str, current: dict[str, Any] | None) -> None:
        self.description = description  # `Runtime 'kre-demo'`, for messages
        self.current = current
        self._latest: WatchEvent | None = None
        self._closed = False
        self._arrived = asyncio.Event()

    def deliver(self, event: WatchEvent) -> None:
        self._latest = event
        self._arrived.set()

    def close(self) -> None:
        self._closed = True
        self._arrived.set()

    async def next(self) -> WatchEvent:
        """The newest change since the last call (waits for one); HubStoppedError once the hub has stopped."""
        await self._arrived.wait()
        self._arrived.clear()
        if self._closed:
            raise HubStoppedError(f"no more changes of {self.description}: the facade is shutting down")
        assert self._latest is not None
        event, self._latest = self._latest, None
        return event


class StatusHub:
    """One shared watch on `resource` (in every namespace, for a namespaced kind), named `kind` in messages."""

    def __init__(self, kube: KubeApi, resource: Resource, kind: str, restart_delay: float | None = None) -> None:
        """`restart_delay`: after an unexpected failure of the watch task; default RESTART_DELAY."""
        self._kube = kube
        self._resource = resource
        self._kind = kind
        self._restart_delay = restart_delay
        self._objects: dict[ObjectKey, dict[str, Any]] = {}
        self._subscriptions: dict[ObjectKey, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def watching(self) -> bool:
        return self._task is not None and not self._task.done()

    @contextlib.asynccontextmanager
    async def subscribe(self, name: str, namespace: str = "") -> AsyncIterator[Subscription]:
        """Changes of object `name` (in `namespace`) for as long as the context lasts; starts the watch if need be."""
        if self._stopped:
            raise HubStoppedError("the facade is shutting down")
        self._start()
        key = (namespace, name)
        where = f" in namespace {namespace!r}" if namespace else ""
        subscription = Subscription(f"{self._kind} {name!r}{where}", self._objects.get(key))
        self._subscriptions.setdefault(key, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscriptions.get(key, set())
            subscribers.discard(subscription)
            if not subscribers:
                self._subscriptions.pop(key, None)

    async def stop(self) -> None:
        """Stop watching; every subscriber's next() raises HubStoppedError."""
        self._stopped = True
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.close()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _start(self) -> None:
        if not self.watching:
            self._task = asyncio.create_task(self._run(), name=f"{self._resource.plural}-status-hub")

    async def _run(self) -> None:
        """Observe the objects until stopped; the adapter retries API failures, anything else restarts the watch."""
        # Read when the task starts (not when the hub is made), so that tests can shorten it.
        delay = RESTART_DELAY if self._restart_delay is None else self._restart_delay
        while True:
            # A fresh observation lists everything again: forget what the last one knew.
            self._objects.clear()
            try:
                async with contextlib.aclosing(self._kube.observe(self._resource)) as events:
                    async for event in events:
                        self._dispatch(event)
            except Exception:
                log.exception("the watch on %s failed; starting it again in %.1f s", self._resource.plural, delay)
            await asyncio.sleep(delay)

    def _dispatch(self, event: WatchEvent) -> None:
        metadata = event.object.get("metadata") or {}
        key = (str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))
        if not key[1]:
            return
        if event.type == DELETED:
            self._objects.pop(key, None)
        else:
            self._objects[key] = event.object
        for subscription in self._subscriptions.get(key, ()):
            subscription.deliver(event)


class RuntimeStatusHub(StatusHub):
    """Runtimes (cluster-scoped), for RuntimeStatus."""

    def __init__(self, kube: KubeApi, restart_delay: float | None = None) -> None:
        super().__init__(kube, RUNTIMES, "Runtime", restart_delay)


class VersionStatusHub(StatusHub):
    """RuntimeVersions in every namespace, for the VersionService calls."""

    def __init__(self, kube: KubeApi, restart_delay: float | None = None) -> None:
        super().__init__(kube, RUNTIME_VERSIONS, "RuntimeVersion", restart_delay)
