"""Leases: one holder at a time, renewed by its holder, free again when it expires or is given up."""

from __future__ import annotations

from datetime import timedelta

from store import leases

TTL = timedelta(seconds=30)


async def test_one_holder_at_a_time_until_it_gives_up(store) -> None:  # type: ignore[no-untyped-def]
    assert await leases.take(store, "conversation:c1", TTL, holder="a")
    assert await leases.take(store, "conversation:c1", TTL, holder="a")  # renewing
    assert not await leases.take(store, "conversation:c1", TTL, holder="b")
    assert await leases.take(store, "conversation:c2", TTL, holder="b")  # another name is free
    await leases.give_up(store, "conversation:c1", holder="b")  # not b's: nothing happens
    assert not await leases.take(store, "conversation:c1", TTL, holder="b")
    await leases.give_up(store, "conversation:c1", holder="a")
    assert await leases.take(store, "conversation:c1", TTL, holder="b")


async def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_free_it(store) -> None:  # type: ignore[no-untyped-def]
    assert await leases.take(store, "worker:deadlines", timedelta(seconds=-1), holder="dead")
    assert await leases.take(store, "worker:deadlines", TTL, holder="survivor")
    await leases.give_up(store, "worker:deadlines", holder="dead")
    assert not await leases.take(store, "worker:deadlines", TTL, holder="dead")
    assert await store["leases"].count_documents({}) == 1


async def test_a_periodic_worker_keeps_its_lease_while_it_ticks_and_others_skip(store) -> None:  # type: ignore[no-untyped-def]
    assert await leases.take_for_worker(store, "worker:deadlines", 1.0)  # this process
    assert not await leases.take(store, "worker:deadlines", TTL, holder="another instance")
    assert await leases.take_for_worker(store, "worker:deadlines", 1.0)  # its next tick renews it
    lease = await store["leases"].find_one({"_id": "worker:deadlines"})
    assert lease["holder"] == leases.PROCESS_HOLDER
