"""The queue order: risk level first, then who has waited longest; positions within each desk."""

from __future__ import annotations

from datetime import UTC, datetime

from contract.queue import Handed
from store import handoff as stored
from store.client import Store


def queue_key(item: Handed) -> tuple[int, bool, datetime]:
    """Risk level first (highest first), then conversations of a possible flood after the others of
    their level (a flood must not bury a real crisis), then who has waited longest."""
    since = item.info.waiting_since or item.conversation.created_at
    return (-item.conversation.risk_level, item.info.flood_group is not None,
            since or datetime.max.replace(tzinfo=UTC))


async def queued(store: Store, desks: set[str] | None = None) -> list[Handed]:
    """Queued conversations in engine order (optionally only some desks)."""
    return sorted(await stored.queued(store, desks), key=queue_key)


async def load(store: Store, conversation_id: str) -> Handed | None:
    return await stored.load(store, conversation_id)


def positions(items: list[Handed]) -> dict[str, int]:
    """1-based position of each queued conversation within its own desk's queue."""
    counters: dict[str, int] = {}
    result: dict[str, int] = {}
    for item in items:
        # A conversation moved up by overflow keeps its place among the desk the youth wrote to.
        desk = item.info.offers[0].from_desk if item.info.offers else item.conversation.desk
        counters[desk] = counters.get(desk, 0) + 1
        result[item.conversation.id] = counters[desk]
    return result
