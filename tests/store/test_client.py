"""The collection API subset youthdesk uses, with PyMongo's documented semantics.

Runs on the embedded store by default and, unchanged, on a real server when MONGODB_URI is set.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from store.client import SCHEMA


async def test_duplicate_id_raises_pymongo_error(store):
    await store.messages.insert_one({"_id": "m1", "conversation_id": "c1"})
    with pytest.raises(DuplicateKeyError):
        await store.messages.insert_one({"_id": "m1", "conversation_id": "c2"})
    assert (await store.messages.find_one({"_id": "m1"}))["conversation_id"] == "c1"


async def test_find_one_and_update_returns_before_or_after(store):
    await store.conversations.insert_one({"_id": "c1", "last_seq": 0})
    before = await store.conversations.find_one_and_update({"_id": "c1"}, {"$inc": {"last_seq": 1}})
    after = await store.conversations.find_one_and_update(
        {"_id": "c1"}, {"$inc": {"last_seq": 1}}, return_document=ReturnDocument.AFTER)
    assert (before["last_seq"], after["last_seq"]) == (0, 2)
    assert await store.conversations.find_one_and_update({"_id": "nope"}, {"$set": {"x": 1}}) is None


async def test_upsert_creates_once(store):
    for _ in range(2):
        await store.events.update_one({"_id": "k"}, {"$setOnInsert": {"n": 1}, "$inc": {"hits": 1}}, upsert=True)
    assert await store.events.find_one({"_id": "k"}) == {"_id": "k", "n": 1, "hits": 2}


async def test_indexed_equality_queries_follow_updates_and_deletes(store):
    await store.messages.insert_many([
        {"_id": f"m{i}", "conversation_id": "c1" if i % 2 else "c2", "seq": i, "direction": "in"} for i in range(10)
    ])
    await store.messages.update_one({"_id": "m1"}, {"$set": {"conversation_id": "c3"}})
    await store.messages.delete_one({"_id": "m3"})
    c1 = await store.messages.find({"conversation_id": "c1"}).sort("seq", -1).to_list(None)
    assert [d["_id"] for d in c1] == ["m9", "m7", "m5"]
    assert [d["_id"] for d in await store.messages.find({"conversation_id": "c3"}).to_list(None)] == ["m1"]
    in_query = store.messages.find({"conversation_id": {"$in": ["c3", "c2"]}, "seq": {"$lt": 3}})
    assert sorted(d["_id"] for d in await in_query.to_list(None)) == ["m0", "m1", "m2"]
    assert await store.messages.count_documents({"direction": "in"}) == 9
    assert sorted(await store.messages.distinct("conversation_id", {"seq": {"$gte": 8}})) == ["c1", "c2"]


async def test_datetimes_come_back_timezone_aware(store):
    now = datetime.now(UTC)
    await store.events.insert_one({"_id": "e", "at": now})
    found = await store.events.find_one({"at": {"$gt": now - timedelta(seconds=1)}})
    assert found["at"].tzinfo is not None
    assert abs(found["at"] - now) < timedelta(milliseconds=1)


async def test_sort_skip_limit_and_async_iteration(store):
    await store.events.insert_many([{"_id": str(i), "n": i} for i in range(5)])
    page = [d["n"] async for d in store.events.find({}).sort("n", -1).skip(1).limit(2)]
    assert page == [3, 2]


async def test_aggregate_groups(store):
    await store.events.insert_many([{"_id": str(i), "kind": "a" if i < 3 else "b"} for i in range(5)])
    cursor = await store.events.aggregate([{"$group": {"_id": "$kind", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}])
    assert await cursor.to_list(None) == [{"_id": "a", "n": 3}, {"_id": "b", "n": 2}]


def test_each_collection_has_its_indexes_declared_by_one_store_module():
    collections = [name for declarations in SCHEMA for name in declarations]
    assert sorted(collections) == sorted(set(collections))


async def test_ensure_indexes_creates_the_declared_unique_constraints(store):
    await store["ratings"].insert_one({"_id": "r1", "conversation_id": "c1"})
    with pytest.raises(DuplicateKeyError):
        await store["ratings"].insert_one({"_id": "r2", "conversation_id": "c1"})
