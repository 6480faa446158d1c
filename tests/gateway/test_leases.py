"""Conversation leases across instances (two holders on one store, as two gateways sharing MongoDB)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from gateway.leases import ConversationLeases
from store.client import open_store


async def test_a_second_instance_waits_for_the_conversation_or_gives_up_when_nothing_is_left(  # type: ignore[no-untyped-def]
        settings, embedded_client) -> None:
    store = open_store("", settings.service.mongodb_database, embedded_client=embedded_client)
    shared = dataclasses.replace(store, embedded=False)  # lease documents, as with MongoDB
    first = ConversationLeases(shared, timedelta(seconds=5), holder="gateway-a")
    second = ConversationLeases(shared, timedelta(seconds=5), holder="gateway-b")
    order: list[str] = []

    async def work(leases: ConversationLeases, name: str) -> None:
        async with leases.hold("route:c1") as held:
            assert held
            order.append(f"{name} in")
            await asyncio.sleep(0.1)
            order.append(f"{name} out")

    await asyncio.gather(work(first, "a"), work(second, "b"))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])

    async def nothing_left() -> bool:
        return True

    async with first.hold("route:c1") as held_by_first:
        async with second.hold("route:c1", unless=nothing_left) as held_by_second:
            assert held_by_first and not held_by_second
    assert await shared["leases"].count_documents({}) == 0  # given up, not left to expire
