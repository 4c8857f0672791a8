"""Per-key locks: exclusive per key, independent across keys, and gone once nobody holds or awaits them."""

from __future__ import annotations

import asyncio
import gc

from k8s_manager_operator.locks import KeyedLocks


async def test_one_key_is_held_by_one_task_at_a_time_and_other_keys_are_free() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    inside: list[str] = []
    overlaps: list[tuple[str, ...]] = []

    async def hold(key: str, label: str) -> None:
        async with locks(key):
            inside.append(label)
            overlaps.append(tuple(inside))
            await asyncio.sleep(0.01)
            inside.remove(label)

    await asyncio.gather(hold("a", "a1"), hold("a", "a2"), hold("b", "b1"))

    assert not any({"a1", "a2"} <= set(seen) for seen in overlaps)
    assert any("b1" in seen and len(seen) == 2 for seen in overlaps)  # b ran alongside one of the a's


async def test_locks_are_forgotten_once_released() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    for name in (f"runtime-{i}" for i in range(100)):
        async with locks(name):
            assert len(locks) == 1
    gc.collect()

    assert len(locks) == 0


async def test_a_waiter_keeps_the_lock_alive_until_it_has_had_its_turn() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    order: list[str] = []

    async def first() -> None:
        async with locks("a"):
            await asyncio.sleep(0.02)
            order.append("first")

    async def second() -> None:
        await asyncio.sleep(0.005)
        gc.collect()  # the lock is held by `first`: it must still be the one `second` waits on
        async with locks("a"):
            order.append("second")

    await asyncio.gather(first(), second())

    assert order == ["first", "second"]
