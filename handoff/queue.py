"""The queue order: risk level first, then who has waited longest; positions within each desk."""

from __future__ import annotations

from datetime import datetime

from contract.queue import Handed, QueueEntry
from store import handoff as stored
from store import queue_places
from store.client import Store


def queue_key(entry: QueueEntry) -> tuple[int, bool, datetime]:
    """Risk level first (highest first), then conversations of a possible flood after the others of
    their level (a flood must not bury a real crisis), then who has waited longest."""
    return -entry.risk_level, entry.in_flood, entry.waiting_since


async def queued(store: Store, desks: set[str] | None = None) -> list[Handed]:
    """Queued conversations in engine order (optionally only some desks)."""
    return sorted(await stored.queued(store, desks), key=lambda item: queue_key(QueueEntry.of(item)))


async def queue_entries(store: Store, desks: set[str]) -> list[QueueEntry]:
    """The queue of ``desks`` in engine order, each conversation as just what its position needs."""
    return sorted(await queue_places.queue_entries(store, desks), key=queue_key)


async def load(store: Store, conversation_id: str) -> Handed | None:
    return await stored.load(store, conversation_id)


def positions(items: list[Handed]) -> dict[str, int]:
    """1-based position of each queued conversation within its own desk's queue."""
    return places([QueueEntry.of(item) for item in items])


def places(entries: list[QueueEntry]) -> dict[str, int]:
    """1-based position of each entry (in engine order) within its own desk's queue: a conversation
    moved up by overflow keeps its place among the desk the youth wrote to."""
    counters: dict[str, int] = {}
    result: dict[str, int] = {}
    for entry in entries:
        counters[entry.home_desk] = counters.get(entry.home_desk, 0) + 1
        result[entry.conversation_id] = counters[entry.home_desk]
    return result
