"""The durable store's in-memory indexes: queries narrowed by them answer exactly as a full scan would.

Every query is checked against mongomock's own answer on an unindexed copy of the same
documents, after inserts, in-place updates (``$set``, ``$inc``, ``$push``), replacements and
deletes, so that a stale index entry shows up as a wrong answer. No timings are asserted.
"""

from __future__ import annotations

from pathlib import Path

import mongomock
import pytest
from pymongo import ASCENDING, ReturnDocument

from store.durable import DurableMongoClient

QUERIES = [
    {"direction": "in", "processed": False},
    {"direction": "out", "status": {"$in": ["pending", "sending"]}},
    {"conversation_id": "c1", "direction": "in", "processed": False},
    {"conversation_id": {"$in": ["c1", "c2"]}, "seq": {"$gt": 2}},
    {"status": "pending", "conversation_id": {"$nin": ["c1"]}},
    {"_id": {"$in": ["m1", "m5", "nope"]}},
    {"_id": "m3", "status": "sent"},
    {"processed": None},
    {"tags": "urgent"},
    {"direction": "in"},
    {},
]


def _documents() -> list[dict]:
    return [{"_id": f"m{n}", "conversation_id": f"c{n % 3}", "seq": n, "direction": "in" if n % 2 else "out",
             "status": "pending" if n % 4 == 0 else "sent", "processed": n % 5 != 0, "tags": ["urgent"] if n % 7 == 0
             else []} for n in range(40)]


@pytest.fixture
async def collections(tmp_path: Path):
    client = DurableMongoClient(tmp_path / "store.sqlite3")
    durable = client["db"]["messages"]
    for keys in ([("conversation_id", ASCENDING), ("seq", ASCENDING)],
                 [("direction", ASCENDING), ("status", ASCENDING), ("next_attempt_at", ASCENDING)],
                 [("direction", ASCENDING), ("processed", ASCENDING)], [("tags", ASCENDING)]):
        await durable.create_index(keys)
    reference = mongomock.MongoClient()["db"]["messages"]
    documents = _documents()
    await durable.insert_many(documents)
    reference.insert_many(documents)
    yield durable, reference, client
    await client.close()


async def _same_answers(durable, reference) -> None:
    for query in QUERIES:
        assert [d["_id"] for d in await durable.find(query).to_list(None)] == \
            [d["_id"] for d in reference.find(query)], query
        assert await durable.count_documents(query) == reference.count_documents(query), query
        assert sorted(await durable.distinct("conversation_id", query)) == \
            sorted(reference.distinct("conversation_id", query)), query
    assert await durable.find_one({"direction": "out", "status": "pending"}, sort=[("seq", -1)]) == \
        reference.find_one({"direction": "out", "status": "pending"}, sort=[("seq", -1)])


async def test_indexed_queries_answer_like_a_full_scan_after_every_kind_of_write(collections) -> None:
    durable, reference, _ = collections
    await _same_answers(durable, reference)

    for target in (durable, reference):
        writes = [
            ("update_many", {"direction": "in", "processed": False}, {"$set": {"processed": True}}),
            ("update_one", {"_id": "m4"}, {"$set": {"status": "sending", "conversation_id": "c9"}}),
            ("update_one", {"_id": "m8"}, {"$push": {"tags": "urgent"}}),
            ("update_one", {"_id": "m14"}, {"$set": {"tags": []}}),
            ("update_one", {"_id": "new"}, {"$set": {"direction": "in", "processed": False}}),
            ("replace_one", {"_id": "m3"}, {"direction": "out", "status": "pending", "conversation_id": "c1"}),
            ("delete_one", {"_id": "m5"}),
            ("delete_many", {"conversation_id": "c2", "status": "sent"}),
        ]
        for name, *args in writes:
            kwargs = {"upsert": True} if args[0] == {"_id": "new"} else {}
            result = getattr(target, name)(*args, **kwargs)
            if target is durable:
                await result
        found = target.find_one_and_update({"direction": "out", "status": "pending"}, {"$inc": {"seq": 100},
                                           "$set": {"status": "sending"}}, sort=[("seq", 1)],
                                           return_document=ReturnDocument.AFTER)
        if target is durable:
            await found
    await _same_answers(durable, reference)


async def test_indexes_and_answers_survive_a_restart(collections, tmp_path: Path) -> None:
    durable, reference, client = collections
    await durable.update_many({"conversation_id": "c1"}, {"$set": {"processed": False}})
    reference.update_many({"conversation_id": "c1"}, {"$set": {"processed": False}})
    await client.close()
    reopened = DurableMongoClient(tmp_path / "store.sqlite3")
    try:
        again = reopened["db"]["messages"]
        await again.create_index([("direction", ASCENDING), ("processed", ASCENDING)])
        await again.create_index([("conversation_id", ASCENDING), ("seq", ASCENDING)])
        await _same_answers(again, reference)
    finally:
        await reopened.close()


async def test_index_entries_of_deleted_documents_are_dropped(collections) -> None:
    durable, _, _ = collections
    await durable.delete_many({})
    assert durable._store._eq_indexes["conversation_id"] == {}
    assert durable._store._eq_indexes["processed"] == {}
    assert await durable.count_documents({}) == 0
