"""Shared polling for WatchVersion: one Prometheus query per tick for every stream of the same series.

A `Poller` per `SeriesKey` (namespace, version, step) is started by its first subscriber and stopped, its task
awaited, when the last one leaves. Every `refresh_interval` seconds it asks for the grid points after the last
ones it asked for, up to the newest grid point that is not in the future, and hands the points to each
subscriber. If nothing new is due (the step is longer than the interval), it asks nothing and hands on an empty
batch, so that subscribers still send one message per interval.

A subscriber first asks for its own back-fill window (from its fromDate to now) after subscribing; every batch
the poller delivers afterwards covers grid points up to `covered_until`, starting at or before the end of that
window, so by keeping only points newer than the newest instant it has covered, a subscriber sends each point
exactly once, without gaps. Batches arriving faster than a subscriber's stream is read are merged; a subscriber
whose unread points exceed `max_pending_points` is ended (its client does not keep up).

A failed query ends the poller: each subscriber's next() raises `PollFailedError` carrying the error, and the
next subscriber of that key starts a new poller. `MetricsHub.stop()` (server shutdown) ends every subscription
with `HubStoppedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from .usage import UsagePoint
from .validation import MAX_POINTS, SeriesKey, Window, last_point_at_or_before

log = logging.getLogger(__name__)

Fetch = Callable[[SeriesKey, Window], Awaitable[list[UsagePoint]]]
Clock = Callable[[], float]
# Unread points a subscriber may pile up before it is ended: about 15 hours of 5-second ticks at a 1-second step.
DEFAULT_MAX_PENDING_POINTS = 10 * MAX_POINTS


class HubStoppedError(Exception):
    """The facade is shutting down: no more batches will come."""


class PollFailedError(Exception):
    """The shared query failed; `error` is what the fetch raised."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class SubscriberTooSlowError(Exception):
    """The subscriber left more unread points than allowed."""


@dataclass(frozen=True)
class Batch:
    points: tuple[UsagePoint, ...]
    covered_until: int  # every grid point up to this instant has been asked for


class Subscription:
    def __init__(self, key: SeriesKey, max_pending_points: int) -> None:
        self.key = key
        self._max_pending_points = max_pending_points
        self._points: list[UsagePoint] = []
        self._covered_until: int | None = None
        self._ended: Exception | None = None
        self._arrived = asyncio.Event()

    def deliver(self, batch: Batch) -> None:
        if self._ended is not None:
            return
        self._points.extend(batch.points)
        self._covered_until = batch.covered_until
        if len(self._points) > self._max_pending_points:
            self.end(SubscriberTooSlowError(f"more than {self._max_pending_points:,} points are waiting to be read"))
        self._arrived.set()

    def end(self, reason: Exception) -> None:
        """No more batches; next() raises `reason` once the batches delivered before are read."""
        if self._ended is None:
            self._ended = reason
        self._arrived.set()

    async def next(self) -> Batch:
        """Every point delivered since the last call, as one batch (waits for one); raises once ended.

        Points delivered before a poll failure or a shutdown are still handed out first; a subscriber that is too
        slow is ended at once.
        """
        while self._covered_until is None and self._ended is None:
            self._arrived.clear()
            await self._arrived.wait()
        if self._covered_until is not None and not isinstance(self._ended, SubscriberTooSlowError):
            batch = Batch(tuple(self._points), self._covered_until)
            self._points, self._covered_until = [], None
            return batch
        assert self._ended is not None
        raise self._ended


class Poller:
    """The ticks of one series; runs while it has subscribers."""

    def __init__(self, key: SeriesKey, fetch: Fetch, refresh_interval: float, clock: Clock) -> None:
        self.key = key
        self.subscribers: set[Subscription] = set()
        self._fetch = fetch
        self._refresh_interval = refresh_interval
        self._clock = clock
        # Subscribers back-fill up to "now" themselves, after subscribing: the first tick starts after this.
        self._covered_until = last_point_at_or_before(clock(), key.step)
        self.task: asyncio.Task[None] = asyncio.create_task(self._run(), name=f"metrics-poller {key}")

    async def _run(self) -> None:
        step = self.key.step
        while True:
            await asyncio.sleep(self._refresh_interval)
            # At most MAX_POINTS per query (Prometheus' limit); after a long stall the rest comes on the next ticks.
            end = min(last_point_at_or_before(self._clock(), step), self._covered_until + MAX_POINTS * step)
            points: list[UsagePoint] = []
            if end > self._covered_until:
                try:
                    points = await self._fetch(self.key, Window(self._covered_until + step, end, step))
                except Exception as error:
                    log.warning("metrics of %s: the shared query failed: %s", self.key, error)
                    for subscriber in self.subscribers:
                        subscriber.end(PollFailedError(error))
                    return
                self._covered_until = end
            batch = Batch(tuple(points), self._covered_until)
            for subscriber in self.subscribers:
                subscriber.deliver(batch)


class MetricsHub:
    def __init__(
        self,
        fetch: Fetch,
        refresh_interval: float,
        clock: Clock = time.time,
        max_pending_points: int = DEFAULT_MAX_PENDING_POINTS,
    ) -> None:
        self._fetch = fetch
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._max_pending_points = max_pending_points
        self._pollers: dict[SeriesKey, Poller] = {}
        self._stopped = False

    @property
    def pollers(self) -> int:
        return len(self._pollers)

    @property
    def subscribers(self) -> int:
        return sum(len(poller.subscribers) for poller in self._pollers.values())

    @contextlib.asynccontextmanager
    async def subscribe(self, key: SeriesKey) -> AsyncIterator[Subscription]:
        """The batches of `key` for as long as the context lasts; starts its poller if need be."""
        if self._stopped:
            raise HubStoppedError("the facade is shutting down")
        poller = self._pollers.get(key)
        if poller is None or poller.task.done():  # none yet, or it failed: start afresh
            poller = self._pollers[key] = Poller(key, self._fetch, self._refresh_interval, self._clock)
        subscription = Subscription(key, self._max_pending_points)
        poller.subscribers.add(subscription)
        try:
            yield subscription
        finally:
            poller.subscribers.discard(subscription)
            if not poller.subscribers:
                await self._retire(poller)

    async def stop(self) -> None:
        """End every subscription with HubStoppedError and stop every poller; later subscribes are refused."""
        self._stopped = True
        for poller in list(self._pollers.values()):
            for subscription in poller.subscribers:
                subscription.end(HubStoppedError("the facade is shutting down"))
            await self._retire(poller)

    async def _retire(self, poller: Poller) -> None:
        if self._pollers.get(poller.key) is poller:
            del self._pollers[poller.key]
        poller.task.cancel()
        # asyncio.wait, not `await task`: a cancellation of the caller itself must not be taken for the poller's.
        await asyncio.wait([poller.task])
        if not poller.task.cancelled() and poller.task.exception() is not None:
            log.error("metrics poller of %s failed", poller.key, exc_info=poller.task.exception())
