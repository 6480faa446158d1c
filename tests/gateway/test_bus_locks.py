"""The stream's per-conversation and per-contact locks are forgotten once nobody holds or waits for them."""

from __future__ import annotations

import asyncio

from gateway.leases import KeyedLocks


async def test_keyed_locks_serialise_one_key_and_are_pruned_afterwards() -> None:
    locks = KeyedLocks()
    order: list[str] = []

    async def worker(key: str, name: str) -> None:
        async with locks.hold(key):
            order.append(f"{name}+")
            await asyncio.sleep(0.01)
            order.append(f"{name}-")

    await asyncio.gather(worker("c1", "a"), worker("c1", "b"), worker("c2", "c"))
    assert order.index("a-") < order.index("b+")  # same key: one after the other
    assert order.index("c+") < order.index("a-")  # another key: alongside
    assert len(locks) == 0


async def test_a_failing_holder_releases_and_forgets_its_lock() -> None:
    locks = KeyedLocks()
    try:
        async with locks.hold("c1"):
            raise ValueError("routing failed")
    except ValueError:
        pass
    assert len(locks) == 0
    async with locks.hold("c1"):
        assert len(locks) == 1
