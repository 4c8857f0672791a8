"""The reconcile queue: one reconcile per key at a time, bursts coalesced, nothing lost, nothing left running."""

from __future__ import annotations

import asyncio

from k8s_manager_operator.queue import ReconcileQueue


async def test_a_burst_of_requests_for_one_key_costs_at_most_two_reconciles() -> None:
    started: list[str] = []
    release = asyncio.Event()

    async def reconcile(key: str) -> None:
        started.append(key)
        await release.wait()

    queue: ReconcileQueue[str] = ReconcileQueue(reconcile, workers=4)
    queue.start()
    try:
        queue.request("a")
        await asyncio.sleep(0.01)  # "a" is being reconciled now
        for _ in range(50):
            queue.request("a")  # arrives during the reconcile: one more afterwards, not fifty
        release.set()
        await asyncio.sleep(0.05)
    finally:
        await queue.stop()

    assert started == ["a", "a"]


async def test_one_key_is_never_reconciled_twice_at_once_while_other_keys_proceed() -> None:
    running: set[str] = set()
    overlaps: list[str] = []
    done: list[str] = []

    async def reconcile(key: str) -> None:
        if key in running:
            overlaps.append(key)
        running.add(key)
        await asyncio.sleep(0.01)
        running.discard(key)
        done.append(key)

    queue: ReconcileQueue[str] = ReconcileQueue(reconcile, workers=3)
    queue.start()
    try:
        for key in ("a", "b", "c", "a", "b", "a"):
            queue.request(key)
            await asyncio.sleep(0.003)
        await asyncio.sleep(0.2)
    finally:
        await queue.stop()

    assert overlaps == []
    assert {"a", "b", "c"} <= set(done)
    assert done[-1] in {"a", "b"}  # keys requested while running were reconciled again afterwards


async def test_a_failing_reconcile_does_not_stop_the_workers_and_stop_leaves_no_task() -> None:
    served: list[str] = []

    async def reconcile(key: str) -> None:
        served.append(key)
        if key == "bad":
            raise RuntimeError("a bug")

    before = len(asyncio.all_tasks())
    queue: ReconcileQueue[str] = ReconcileQueue(reconcile, workers=1)
    queue.start()
    queue.request("bad")
    queue.request("good")
    await asyncio.sleep(0.05)
    await queue.stop()

    assert served == ["bad", "good"]
    assert len(asyncio.all_tasks()) == before
