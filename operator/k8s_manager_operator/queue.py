"""A reconcile work queue with client-go's workqueue semantics, shared by the Runtime and RuntimeVersion handlers."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, Protocol, TypeVar

Key = TypeVar("Key", bound=Hashable)
ObservedKey = TypeVar("ObservedKey", bound=Hashable, contravariant=True)

log = logging.getLogger(__name__)


class ReconcileObserver(Protocol[ObservedKey]):
    """Told of every reconcile, from the worker task that runs it (so context variables set here hold during it)."""

    def reconcile_started(self, key: ObservedKey) -> None: ...

    def reconcile_finished(self, key: ObservedKey, seconds: float, failed: bool) -> None:
        """`failed`: the reconcile raised, or returned False (a failure it reported itself and will retry)."""


class ReconcileQueue(Generic[Key]):
    """Requests to reconcile, by key, served by a few worker tasks: client-go's workqueue semantics.

    A key requested while it waits is not queued twice; one requested while it is being reconciled is reconciled
    once more afterwards (the change may have come after that reconcile read it). So one key is never reconciled
    by two workers at once, and every request is followed by a reconcile that starts after it. Handlers only
    `request` and return: a burst of watch events costs one or two reconciles, not one per event waiting in line.

    A periodic resync asks with `unless_started_within`: a key that events have had reconciled that recently (or
    that is queued or being reconciled) is not reconciled again for it. Hundreds of keys changing together then
    do not also pay for hundreds of resyncs.

    `reconcile` returns None or True when done, False when it failed and reported why itself. `observer`, if set
    (also later, through the attribute), is told of each reconcile; `depth` and `active` say how busy the queue is.
    """

    def __init__(
        self,
        reconcile: Callable[[Key], Awaitable[bool | None]],
        workers: int,
        observer: ReconcileObserver[Key] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("a reconcile queue needs at least one worker")
        self._reconcile = reconcile
        self.observer = observer
        self._workers = workers
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._waiting: set[Key] = set()
        self._active: set[Key] = set()
        self._again: set[Key] = set()
        self._started: dict[Key, float] = {}  # loop time at which the latest reconcile of each key started
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._work(), name=f"reconcile-worker-{i}") for i in range(self._workers)]

    async def stop(self) -> None:
        """Cancel the workers (a reconcile in flight is interrupted: the next start converges)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def request(self, key: Key, *, unless_started_within: float = 0.0) -> None:
        if unless_started_within > 0 and (
            key in self._waiting
            or key in self._active
            or asyncio.get_running_loop().time() - self._started.get(key, -math.inf) < unless_started_within
        ):
            return
        if key in self._active:
            self._again.add(key)
        elif key not in self._waiting:
            self._waiting.add(key)
            self._queue.put_nowait(key)

    def forget(self, key: Key) -> None:
        """Drop what is remembered of a key that is gone (a request for it later starts afresh)."""
        self._started.pop(key, None)

    def pending(self) -> int:
        """Keys waiting or being reconciled."""
        return len(self._waiting | self._active)

    @property
    def depth(self) -> int:
        """Keys waiting for a worker."""
        return len(self._waiting)

    @property
    def active(self) -> int:
        """Keys being reconciled."""
        return len(self._active)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._waiting.discard(key)
            self._active.add(key)
            started = self._started[key] = asyncio.get_running_loop().time()
            observer = self.observer
            if observer is not None:
                observer.reconcile_started(key)
            try:
                failed = await self._reconcile(key) is False
            except Exception:  # a bug in one reconcile must not stop the worker serving every other key
                log.exception("reconcile of %s failed unexpectedly", key)
                failed = True
            finally:
                self._active.discard(key)
                if key in self._again:
                    self._again.discard(key)
                    self.request(key)
            # Not reached when the queue stops mid-reconcile: an interrupted reconcile neither succeeded nor failed.
            if observer is not None:
                observer.reconcile_finished(key, asyncio.get_running_loop().time() - started, failed)
