"""Durable default store: single message inserts/s (each one committed to disk) at 0 and 100,000 stored messages.

The issue's bar: >= 100 inbound messages/s with 100,000 already stored. Measured here on the
``messages`` collection with the production indexes (``Store.ensure_indexes``), one
``insert_one`` after another and from 20 concurrent writers, then ``find_one_and_update``
with ``$inc`` (the per-conversation sequence counter). ``BENCH_STORE_PRELOAD`` changes the 100,000.
Then how long one full pass of Python's garbage collector takes with the reopened store in memory,
before and after ``gc.freeze()`` (what ``service.app`` does once the embedded store is loaded), next to
the same pass on an empty store: every webhook waiting while it runs waits that long.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time

from contract.models import utcnow
from store.client import Store, open_store

PRELOAD = int(os.environ.get("BENCH_STORE_PRELOAD", "100000"))
CONVERSATIONS = 5_000
SAMPLE = 1_000


def message(n: int) -> dict[str, object]:
    """A stored inbound message of the usual size (the text is encrypted at rest, hence opaque)."""
    return {"_id": f"in_bench_{n}", "conversation_id": f"cv_bench_{n % CONVERSATIONS}", "seq": n, "direction": "in",
            "sender": "youth", "type": "text", "text": "gAAAAAB" + "x" * 180, "created_at": utcnow(),
            "status": "received", "processed": True}


async def preload(store: Store, count: int) -> None:
    """Fill ``messages`` to ``count`` documents in batches (one transaction each)."""
    stored = await store.messages.count_documents({})
    while stored < count:
        batch = min(5_000, count - stored)
        await store.messages.insert_many([message(stored + i) for i in range(batch)])
        stored += batch


async def _inserts_per_second(store: Store, first: int) -> float:
    started = time.perf_counter()
    for n in range(first, first + SAMPLE):
        await store.messages.insert_one(message(n))
    return SAMPLE / (time.perf_counter() - started)


async def _counter_updates_per_second(store: Store) -> float:
    started = time.perf_counter()
    for n in range(SAMPLE):
        await store.conversations.find_one_and_update({"_id": f"cv_bench_{n % 50}"}, {"$inc": {"last_seq": 1}},
                                                      upsert=True)
    return SAMPLE / (time.perf_counter() - started)


def _full_collection_seconds() -> float:
    gc.collect()  # whatever garbage is waiting goes first: the pass timed walks only what lives
    started = time.perf_counter()
    gc.collect()
    return time.perf_counter() - started


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="youthdesk-bench-store-") as data_dir:
        store = open_store("", "bench", data_dir=data_dir)
        await store.ensure_indexes()
        gc_empty = _full_collection_seconds()
        empty = await _inserts_per_second(store, 10**9)
        started = time.perf_counter()
        await preload(store, PRELOAD)
        loaded_in = time.perf_counter() - started
        full = await _inserts_per_second(store, 2 * 10**9)
        counters = await _counter_updates_per_second(store)
        await store.close()
        size_mb = store.client.path.stat().st_size / 1e6  # after close: the WAL is checkpointed into it
        del store  # only the reopened store below is in memory when the collector is timed
        started = time.perf_counter()
        reopened = open_store("", "bench", data_dir=data_dir)
        await reopened.ensure_indexes()
        reopen_seconds = time.perf_counter() - started
        gc_loaded = _full_collection_seconds()
        gc.freeze()
        gc_frozen = _full_collection_seconds()
        gc.unfreeze()
        await reopened.close()
    print(f"   single insert_one, each committed (SQLite WAL, synchronous=NORMAL): {empty:,.0f}/s on an empty store, "
          f"{full:,.0f}/s with {PRELOAD:,} messages stored")
    print(f"   find_one_and_update $inc upsert (sequence counter): {counters:,.0f}/s")
    print(f"   preload of {PRELOAD:,} messages: {loaded_in:.1f} s; file {size_mb:.0f} MB; "
          f"reopen (load + indexes): {reopen_seconds:.1f} s")
    print(f"   one full garbage collection: {gc_empty * 1000:.0f} ms with an empty store; with {PRELOAD:,} messages "
          f"loaded {gc_loaded * 1000:.0f} ms, after gc.freeze() {gc_frozen * 1000:.0f} ms")
