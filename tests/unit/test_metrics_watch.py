"""Shared polling for WatchVersion, with a fake query and a fake clock: one query per tick per series, contiguous
windows, pollers started by the first subscriber and stopped with the last, failures and shutdown reach everyone."""

from __future__ import annotations

import asyncio

import pytest
from k8s_manager_facade.metrics.usage import UsagePoint
from k8s_manager_facade.metrics.validation import SeriesKey, Window
from k8s_manager_facade.metrics.watch import (
    HubStoppedError,
    MetricsHub,
    PollFailedError,
    SubscriberTooSlowError,
)

TICK = 0.01
KEY = SeriesKey("kre-demo", "greeter-v1", 10)
OTHER = SeriesKey("kre-demo", "greeter-v2", 10)
T0 = 1_000_000  # a grid point of every step used here


class FakePrometheus:
    """Answers one point per grid point of the window; records every query; can be made to fail."""

    def __init__(self) -> None:
        self.queries: list[tuple[SeriesKey, Window]] = []
        self.failure: Exception | None = None

    async def fetch(self, key: SeriesKey, window: Window) -> list[UsagePoint]:
        self.queries.append((key, window))
        if self.failure is not None:
            raise self.failure
        return [UsagePoint(t, 0.5, 100.0) for t in range(window.start, window.end + 1, window.step)]


class Clock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def prometheus() -> FakePrometheus:
    return FakePrometheus()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def hub(prometheus, clock):
    running = MetricsHub(prometheus.fetch, TICK, clock)
    yield running
    await running.stop()


async def test_subscribers_of_one_series_share_one_query_per_tick(hub, prometheus, clock):
    async with hub.subscribe(KEY) as first, hub.subscribe(KEY) as second, hub.subscribe(OTHER) as third:
        clock.now += 10
        batches = [await first.next(), await second.next(), await third.next()]

    assert sorted(key.version_name for key, _ in prometheus.queries) == ["greeter-v1", "greeter-v2"]
    assert batches[0] == batches[1]
    assert [point.timestamp for point in batches[0].points] == [T0 + 10]
    assert batches[0].covered_until == T0 + 10


async def test_windows_follow_each_other_on_the_grid_without_gap_or_overlap(hub, prometheus, clock):
    async with hub.subscribe(KEY) as subscription:
        covered = []
        for advance in (10, 25, 4, 41):  # at +39 s the next grid point (+40 s) is not due yet
            clock.now += advance
            covered.append((await subscription.next()).covered_until)

    windows = [window for _, window in prometheus.queries]
    assert windows == [
        Window(T0 + 10, T0 + 10, 10),
        Window(T0 + 20, T0 + 30, 10),
        Window(T0 + 40, T0 + 80, 10),
    ]
    assert covered == [T0 + 10, T0 + 30, T0 + 30, T0 + 80]


async def test_a_tick_with_no_new_grid_point_asks_nothing_and_delivers_an_empty_batch(hub, prometheus):
    async with hub.subscribe(KEY) as subscription:
        batch = await subscription.next()

    assert prometheus.queries == []
    assert batch.points == ()
    assert batch.covered_until == T0


async def test_the_first_subscriber_starts_the_poller_and_the_last_one_stops_it(hub):
    assert hub.pollers == 0
    async with hub.subscribe(KEY):
        async with hub.subscribe(KEY):
            assert (hub.pollers, hub.subscribers) == (1, 2)
        assert (hub.pollers, hub.subscribers) == (1, 1)
    assert (hub.pollers, hub.subscribers) == (0, 0)
    assert [task for task in asyncio.all_tasks() if task.get_name().startswith("metrics-poller")] == []


async def test_a_failed_query_ends_every_subscriber_and_the_next_one_starts_afresh(hub, prometheus, clock):
    prometheus.failure = ConnectionError("refused")
    async with hub.subscribe(KEY) as first, hub.subscribe(KEY) as second:
        clock.now += 10
        errors = []
        for subscription in (first, second):
            with pytest.raises(PollFailedError) as failed:
                await subscription.next()
            errors.append(failed.value.error)
        prometheus.failure = None
        async with hub.subscribe(KEY) as third:
            clock.now += 10
            batch = await third.next()

    assert errors[0] is errors[1]
    assert isinstance(errors[0], ConnectionError)
    assert [point.timestamp for point in batch.points] == [T0 + 20]


async def test_batches_not_read_yet_are_merged_into_one(hub, clock):
    async with hub.subscribe(KEY) as subscription:
        for _ in range(3):
            clock.now += 10
            await asyncio.sleep(TICK * 3)
        batch = await subscription.next()

    assert [point.timestamp for point in batch.points] == [T0 + 10, T0 + 20, T0 + 30]


async def test_a_subscriber_too_slow_to_read_is_ended(prometheus, clock):
    hub = MetricsHub(prometheus.fetch, TICK, clock, max_pending_points=2)
    try:
        async with hub.subscribe(KEY) as subscription:
            clock.now += 30
            await asyncio.sleep(TICK * 3)
            with pytest.raises(SubscriberTooSlowError):
                await subscription.next()
    finally:
        await hub.stop()


async def test_stop_ends_every_subscription_and_refuses_new_ones(prometheus, clock):
    hub = MetricsHub(prometheus.fetch, 3600, clock)
    async with hub.subscribe(KEY) as subscription:
        waiting = asyncio.create_task(subscription.next())
        await asyncio.sleep(0)
        await hub.stop()
        with pytest.raises(HubStoppedError):
            await waiting
    assert hub.pollers == 0
    with pytest.raises(HubStoppedError):
        async with hub.subscribe(KEY):
            pass


async def test_a_cancelled_subscriber_releases_the_poller(hub):
    entered = asyncio.Event()

    async def stream() -> None:
        async with hub.subscribe(KEY) as subscription:
            entered.set()
            while True:
                await subscription.next()

    task = asyncio.create_task(stream())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert (hub.pollers, hub.subscribers) == (0, 0)
