"""A reconcile work queue with client-go's workqueue semantics, shared by the Runtime and RuntimeVersion handlers."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)

log = logging.getLogger(__name__)


class ReconcileQueue(Generic[Key]):
    """Requests to reconcile, by key, served by a few worker tasks: client-go's workqueue semantics.

    A key requested while it waits is not queued twice; one requested while it is being reconciled is reconciled
    once more afterwards (the change may have come after that reconcile read it). So one key is never reconciled
    by two workers at once, and every request is followed by a reconcile that starts after it. Handlers only
    `request` and return: a burst of watch events costs one or two reconciles, not one per event waiting in line.

    A periodic resync asks with `unless_started_within`: a key that events have had reconciled that recently (or
    that is queued or being reconciled) is not reconciled again for it. Hundreds of keys changing together then
    do not also pay for hundreds of resyncs.
    """

    def __init__(self, reconcile: Callable[[Key], Awaitable[None]], workers: int) -> None:
        if workers < 1:
            raise ValueError("a reconcile queue needs at least one worker")
        self._reconcile = reconcile
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

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._waiting.discard(key)
            self._active.add(key)
            self._started[key] = asyncio.get_running_loop().time()
            try:
                await self._reconcile(key)
            except Exception:  # a bug in one reconcile must not stop the worker serving every other key
                log.exception("reconcile of %s failed unexpectedly", key)
            finally:
                self._active.discard(key)
                if key in self._again:
                    self._again.discard(key)
                    self.request(key)
