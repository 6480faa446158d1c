"""Leases: one holder at a time for a named piece of work, across gateway instances sharing the store.

A lease is one document per name (``conversation:…`` for a conversation's numbering or routing,
``worker:…`` for a periodic worker). Taking it is a single ``find_one_and_update``: the filter
matches the document only when it is free (expired) or already ours, and the upsert creates it
when it does not exist; when another holder's unexpired lease is there the upsert collides with
its ``_id`` and the duplicate key says "taken". A holder that dies (``kill -9``) simply stops
renewing, and the lease is free again when it expires.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from contract.models import new_id, utcnow
from store.database import Store

COLLECTION = "leases"

# This process, as a lease holder: readable in the store (host, pid) and unique across restarts.
PROCESS_HOLDER = f"{socket.gethostname()}:{os.getpid()}:{new_id('p')}"


async def take(store: Store, name: str, ttl: timedelta, holder: str = PROCESS_HOLDER) -> bool:
    """Take or renew the lease ``name`` for ``ttl``; False while another holder's lease runs."""
    now = utcnow()
    try:
        taken = await store[COLLECTION].find_one_and_update(
            {"_id": name, "$or": [{"holder": holder}, {"expires_at": {"$lt": now}}]},
            {"$set": {"holder": holder, "expires_at": now + ttl}},
            upsert=True, return_document=ReturnDocument.AFTER, projection={"holder": 1},
        )
    except DuplicateKeyError:
        return False
    return taken is not None and taken["holder"] == holder


async def give_up(store: Store, name: str, holder: str = PROCESS_HOLDER) -> None:
    """Free the lease at once if ``holder`` still has it (else it was taken over after expiring)."""
    await store[COLLECTION].delete_one({"_id": name, "holder": holder})


async def take_for_worker(store: Store, name: str, tick_seconds: float) -> bool:
    """Take or renew a periodic worker's lease on one of its ticks: while it keeps ticking it keeps
    the lease; three ticks (at least 10 s) after it stops, another instance's worker takes over."""
    return await take(store, name, timedelta(seconds=max(10.0, 3 * tick_seconds)))
