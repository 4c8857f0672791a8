"""One shared watch on Runtimes for every waiting RuntimeStatus call, and what a Runtime's status says.

`RuntimeStatusHub` observes Runtimes (list, then watch, resumed and relisted by the API adapter) in one task per
facade process, started by the first subscriber and stopped with the server. It keeps the latest object of each
Runtime, so a subscriber gets the current object at once (when the hub knows it) and then every change for its
name. Subscribers only ever need the newest state, so changes that arrive faster than a subscriber reads them
are coalesced into the latest one.

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
from k8s_manager_api.names import RUNTIMES, TERMINAL_RUNTIME_REASONS

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


class Subscription:
    """The changes of one Runtime, for one waiter; `current` is the hub's object when it subscribed, if any."""

    def __init__(self, name: str, current: dict[str, Any] | None) -> None:
        self.name = name
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
            raise HubStoppedError(f"no more changes of Runtime {self.name!r}: the facade is shutting down")
        assert self._latest is not None
        event, self._latest = self._latest, None
        return event


class RuntimeStatusHub:
    def __init__(self, kube: KubeApi, restart_delay: float = RESTART_DELAY) -> None:
        self._kube = kube
        self._restart_delay = restart_delay
        self._runtimes: dict[str, dict[str, Any]] = {}
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def watching(self) -> bool:
        return self._task is not None and not self._task.done()

    @contextlib.asynccontextmanager
    async def subscribe(self, name: str) -> AsyncIterator[Subscription]:
        """Changes of Runtime `name` for as long as the context lasts; starts the shared watch if need be."""
        if self._stopped:
            raise HubStoppedError("the facade is shutting down")
        self._start()
        subscription = Subscription(name, self._runtimes.get(name))
        self._subscriptions.setdefault(name, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscriptions.get(name, set())
            subscribers.discard(subscription)
            if not subscribers:
                self._subscriptions.pop(name, None)

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
            self._task = asyncio.create_task(self._run(), name="runtime-status-hub")

    async def _run(self) -> None:
        """Observe Runtimes until stopped; the adapter retries API failures, anything else restarts the watch."""
        while True:
            # A fresh observation lists everything again: forget what the last one knew.
            self._runtimes.clear()
            try:
                async with contextlib.aclosing(self._kube.observe(RUNTIMES)) as events:
                    async for event in events:
                        self._dispatch(event)
            except Exception:
                log.exception("the watch on Runtimes failed; starting it again in %.1f s", self._restart_delay)
            await asyncio.sleep(self._restart_delay)

    def _dispatch(self, event: WatchEvent) -> None:
        name = str((event.object.get("metadata") or {}).get("name") or "")
        if not name:
            return
        if event.type == DELETED:
            self._runtimes.pop(name, None)
        else:
            self._runtimes[name] = event.object
        for subscription in self._subscriptions.get(name, ()):
            subscription.deliver(event)
