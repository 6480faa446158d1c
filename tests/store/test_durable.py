"""The durable store when the disk refuses a write: memory goes back to what the disk holds.

A failed commit must not leave the change in memory while the caller hears of an error (later
reads would see data that a restart loses). SQLite's own ``max_page_count`` gives a real
"database or disk is full"; an I/O error is injected for the write kinds that need no new page.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mongomock
import pytest
from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import OperationFailure

from store import memory_index
from store.durable import AsyncCollection, DurableMongoClient

BIG = "满" * 20_000  # needs new pages: refused once the file may not grow


@pytest.fixture
async def durable(tmp_path: Path):
    client = DurableMongoClient(tmp_path / "store.sqlite3")
    collection = client["db"]["cases"]
    await collection.create_index([("conversation_id", ASCENDING)], unique=True)
    await collection.create_index([("status", ASCENDING)])
    await collection.insert_many([{"_id": f"k{n}", "conversation_id": f"c{n}", "status": "open", "notes": []}
                                  for n in range(10)])
    yield client, collection
    await client.close()


async def _everything(collection: AsyncCollection) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The documents, and what the in-memory indexes answer (a stale index entry shows here)."""
    documents = await collection.find({}).to_list(None)
    opened = [d["_id"] for d in await collection.find({"status": "open"}).to_list(None)]
    by_conversation = [d["_id"] for n in range(12)
                       for d in await collection.find({"conversation_id": f"c{n}"}).to_list(None)]
    return documents, opened, by_conversation


WRITES: dict[str, Callable[[AsyncCollection], Awaitable[Any]]] = {
    "insert_one": lambda c: c.insert_one({"_id": "new", "conversation_id": "c11", "status": "open", "notes": [BIG]}),
    "insert_many": lambda c: c.insert_many([{"_id": "n1", "conversation_id": "c10", "status": "open"},
                                            {"_id": "n2", "conversation_id": "c11", "status": "x", "big": BIG}]),
    "update_one $push": lambda c: c.update_one({"_id": "k1"}, {"$push": {"notes": BIG}, "$set": {"status": "closed"}}),
    "update_many": lambda c: c.update_many({"status": "open"}, {"$set": {"status": "closed", "big": BIG}}),
    "find_one_and_update upsert": lambda c: c.find_one_and_update(
        {"conversation_id": "c10"}, {"$set": {"status": "open", "big": BIG}}, upsert=True,
        return_document=ReturnDocument.AFTER),
    "replace_one": lambda c: c.replace_one({"_id": "k2"}, {"conversation_id": "c2", "status": "gone", "big": BIG}),
}


@pytest.mark.parametrize("write", WRITES)
async def test_a_full_disk_leaves_memory_as_the_disk_has_it(durable, write: str) -> None:
    client, collection = durable
    before = await _everything(collection)
    pages = client._file._db.execute("PRAGMA page_count").fetchone()[0]
    client._file._db.execute(f"PRAGMA max_page_count = {pages}")

    with pytest.raises(OperationFailure, match="disk is full"):
        await WRITES[write](collection)
    assert await _everything(collection) == before

    client._file._db.execute("PRAGMA max_page_count = 1073741823")
    await WRITES[write](collection)  # the same write succeeds once there is room
    assert await _everything(collection) != before


@pytest.mark.parametrize("write", ["delete_one", "delete_many", "insert_many with a duplicate"])
async def test_an_io_error_leaves_memory_as_the_disk_has_it(durable, monkeypatch, write: str) -> None:
    client, collection = durable
    before = await _everything(collection)

    def refuse(*args: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(client._file, "write", refuse)
    with pytest.raises(OperationFailure, match="disk I/O error"):
        if write == "delete_one":
            await collection.delete_one({"conversation_id": "c3"})
        elif write == "delete_many":
            await collection.delete_many({"status": "open"})
        else:  # the first document goes in before the duplicate stops the batch: it must leave too
            await collection.insert_many([{"_id": "n1", "conversation_id": "c10", "status": "open"},
                                          {"_id": "n2", "conversation_id": "c1", "status": "open"}])
    assert await _everything(collection) == before


async def test_after_a_refused_write_memory_and_disk_agree_across_a_restart(durable, tmp_path: Path) -> None:
    client, collection = durable
    client._file._db.execute("PRAGMA max_page_count = 1")
    for write in WRITES.values():
        with pytest.raises(OperationFailure):
            await write(collection)
    client._file._db.execute("PRAGMA max_page_count = 1073741823")
    await collection.update_one({"_id": "k4"}, {"$set": {"status": "closed"}})
    in_memory = await _everything(collection)
    await client.close()

    reopened = DurableMongoClient(tmp_path / "store.sqlite3")
    try:
        again = reopened["db"]["cases"]
        await again.create_index([("conversation_id", ASCENDING)], unique=True)
        await again.create_index([("status", ASCENDING)])
        documents, opened, by_conversation = await _everything(again)
        assert sorted(documents, key=lambda d: d["_id"]) == sorted(in_memory[0], key=lambda d: d["_id"])
        assert sorted(opened) == sorted(in_memory[1]) and sorted(by_conversation) == sorted(in_memory[2])
    finally:
        await reopened.close()


async def test_documents_updated_together_do_not_share_a_subdocument(durable, tmp_path: Path) -> None:
    """update_many writes one subdocument into many documents; a later update of one leaves the others,
    their index entries and the disk alone."""
    client, collection = durable
    await collection.create_index([("review.by", ASCENDING)])
    await collection.update_many({"status": "open"}, {"$set": {"review": {"by": "u1"}}})
    await collection.update_one({"_id": "k3"}, {"$set": {"review.by": "u2"}})

    assert [d["_id"] for d in await collection.find({"review.by": "u2"}).to_list(None)] == ["k3"]
    assert len(await collection.find({"review.by": "u1"}).to_list(None)) == 9
    await collection.delete_many({"review.by": "u1"})
    assert [d["_id"] for d in await collection.find({}).to_list(None)] == ["k3"]
    await client.close()
    reopened = DurableMongoClient(tmp_path / "store.sqlite3")
    try:
        stored = await reopened["db"]["cases"].find({}, {"review": 1}).to_list(None)
        assert stored == [{"_id": "k3", "review": {"by": "u2"}}]
    finally:
        await reopened.close()


# ------------------------------------------------------------------ reads and updates by _id

_NESTED = {"conversation_id": "c1", "status": "open", "at": datetime(2026, 5, 1, 8, 30, tzinfo=UTC),
           "window": {"opened_at": datetime(2026, 5, 1, 8, 0, tzinfo=UTC), "count": 2},
           "notes": [{"by": "u1", "at": datetime(2026, 5, 2, tzinfo=UTC)}, "plain"], "ref": ObjectId()}
_PROJECTIONS = [None, {}, {"status": 1}, {"status": 1, "_id": 0}, {"notes": 0, "window": 0}, {"_id": 1},
                {"_id": 0}, {"window.count": 1}, ["status"]]


async def test_a_read_by_id_returns_what_mongomock_returns(tmp_path: Path) -> None:
    client = DurableMongoClient(tmp_path / "store.sqlite3")
    durable = client["db"]["things"]
    reference = mongomock.MongoClient(tz_aware=True)["db"]["things"]
    await durable.insert_one({"_id": "t1", **_NESTED})
    reference.insert_one({"_id": "t1", **_NESTED})

    for projection in _PROJECTIONS:
        for doc_id in ("t1", "missing"):
            expected = reference.find_one({"_id": doc_id}, projection)
            assert await durable.find_one({"_id": doc_id}, projection) == expected, projection
    read = await durable.find_one({"_id": "t1"})
    assert read["at"].tzinfo is not None and read["at"] == _NESTED["at"]
    read["window"]["count"] = 99  # the caller's copy, not the stored document
    read["notes"][0]["by"] = "someone else"
    assert await durable.find_one({"_id": "t1"}) == reference.find_one({"_id": "t1"})
    await client.close()


@pytest.mark.parametrize("after", [ReturnDocument.BEFORE, ReturnDocument.AFTER])
@pytest.mark.parametrize("upsert", [False, True])
async def test_find_one_and_update_by_id_returns_and_stores_what_mongomock_does(tmp_path: Path, after: bool,
                                                                                upsert: bool) -> None:
    client = DurableMongoClient(tmp_path / "store.sqlite3")
    durable = client["db"]["things"]
    reference = mongomock.MongoClient(tz_aware=True)["db"]["things"]
    await durable.insert_one({"_id": "t1", **_NESTED})
    reference.insert_one({"_id": "t1", **_NESTED})
    update = {"$inc": {"window.count": 1}, "$set": {"status": "queued"}, "$push": {"notes": "more"}}

    for doc_id in ("t1", "new"):
        for projection in (None, {"window": 1}):
            mine = await durable.find_one_and_update({"_id": doc_id}, update, upsert=upsert, return_document=after,
                                                     projection=projection)
            theirs = reference.find_one_and_update({"_id": doc_id}, update, upsert=upsert, return_document=after,
                                                   projection=projection)
            assert mine == theirs
    expected = list(reference.find({}).sort("_id", 1))
    assert await durable.find({}).sort("_id", 1).to_list(None) == expected
    await client.close()

    reopened = DurableMongoClient(tmp_path / "store.sqlite3")  # and the disk has it
    assert await reopened["db"]["things"].find({}).sort("_id", 1).to_list(None) == expected
    await reopened.close()


async def test_a_limited_query_copies_only_the_documents_it_returns(tmp_path: Path, copied_ids: list[object]) -> None:
    # The outbox claims the first 20 of its pending replies: with a thousand waiting, copying all of
    # them for every claim made each claim as costly as the whole backlog.
    client = DurableMongoClient(tmp_path / "store.sqlite3")
    things = client["db"]["things"]
    await things.insert_many([{"_id": f"t{n:04d}", "status": "pending", "due": n % 97} for n in range(1_000)])
    first = await things.find({"status": "pending"}, {"_id": 1}).sort("due", 1).skip(5).limit(20).to_list(None)
    assert len(first) == 20 and len(copied_ids) == 25
    copied_ids.clear()
    assert len(await things.find({"status": "pending"}).sort("due", -1).to_list(3)) == 3 and len(copied_ids) == 3
    copied_ids.clear()
    assert len([doc async for doc in things.find({}).limit(7)]) == 7 and len(copied_ids) == 7
    await client.close()


@pytest.mark.parametrize(("skip", "limit", "length"), [(0, 0, None), (0, 20, None), (5, 20, None), (990, 20, None),
                                                       (0, 20, 3), (3, 0, 10), (0, -4, None), (2000, 5, None)])
async def test_a_limited_query_answers_as_mongomock_does(tmp_path: Path, skip: int, limit: int,
                                                         length: int | None) -> None:
    client = DurableMongoClient(tmp_path / "store.sqlite3")
    durable = client["db"]["things"]
    reference = mongomock.MongoClient(tz_aware=True)["db"]["things"]
    documents = [{"_id": f"t{n:04d}", "status": "pending" if n % 3 else "sent", "due": n % 97,
                  "window": {"count": n % 5}} for n in range(1_000)]
    await durable.insert_many([dict(d) for d in documents])
    reference.insert_many([dict(d) for d in documents])
    for sort in ([("due", 1), ("_id", 1)], [("window.count", -1), ("_id", 1)]):
        mine = durable.find({"status": "pending"}, {"due": 1, "window.count": 1}).sort(sort).skip(skip).limit(limit)
        theirs = list(reference.find({"status": "pending"}, {"due": 1, "window.count": 1}).sort(sort)
                      .skip(skip).limit(limit))
        assert await mine.to_list(length) == (theirs if length is None else theirs[:length])
    await client.close()


async def test_a_refused_update_puts_back_the_fields_it_changed_in_their_order(durable, monkeypatch) -> None:
    # Only the fields an update names are copied before it (not the whole document): undoing it must
    # still give the document back exactly, field order included, whatever the update did to them.
    client, collection = durable
    await collection.update_one({"_id": "k5"}, {"$set": {"window": {"sent": 1, "closed": None}, "tail": "t"}})
    before = await collection.find_one({"_id": "k5"})
    copied: list[object] = []  # what the durable store copies to undo the update with
    copy_of = memory_index.copied
    monkeypatch.setattr(memory_index, "copied", lambda value: copied.append(value) or copy_of(value))

    def refuse(*args: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(client._file, "write", refuse)
    updates = [{"$set": {"new": 1, "status": "closed"}, "$inc": {"window.sent": 2}, "$unset": {"tail": ""},
                "$push": {"notes": "n"}},
               {"$set": {"window.opened": True}, "$unset": {"conversation_id": ""}}]
    for update in updates:
        with pytest.raises(OperationFailure):
            await collection.update_one({"_id": "k5"}, update)
        after = await collection.find_one({"_id": "k5"})
        assert after == before and list(after) == list(before) and list(after["window"]) == list(before["window"])
    with pytest.raises(OperationFailure):
        await collection.find_one_and_update({"_id": "k5"}, {"$set": {"status": "x"}})
    assert await collection.find_one({"_id": "k5"}) == before
    assert copied and not any(isinstance(value, dict) and value.get("_id") == "k5" for value in copied)  # not all


def test_an_undo_copy_equals_the_document_and_shares_no_container_with_it() -> None:
    stored = {"_id": "k", "at": datetime(2026, 1, 1), "window": {"sent": [1, {"n": 2}], "at": datetime(2026, 1, 2)},
              "ordered": OrderedDict([("b", [3]), ("a", 1)]), "raw": b"x", "oid": ObjectId("65f0a1b2c3d4e5f6a7b8c9d0")}
    kept = memory_index.copied(stored)
    assert kept == stored and list(kept) == list(stored) and type(kept["ordered"]) is OrderedDict
    kept["window"]["sent"][1]["n"] = 3
    kept["window"]["sent"].append(4)
    kept["ordered"]["b"].append(5)
    assert stored["window"] == {"sent": [1, {"n": 2}], "at": datetime(2026, 1, 2)} and stored["ordered"]["b"] == [3]
