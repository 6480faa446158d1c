"""Plain updates by ``_id``, applied by the durable store itself, store and answer what mongomock does.

Each case runs on a fresh durable collection and a plain mongomock one side by side; the stored
document is compared with its field order (nested too), then read back from the disk.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

import mongomock
import pytest
from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from store import memory_index
from store.durable import DurableMongoClient

AT = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
STORED: dict[str, Any] = {"_id": "d1", "key": "a", "n": 3, "x": 1.5, "flag": True, "text": "你好",
                          "window": {"sent": 1, "closed": None, "deep": {"level": 2}}, "tags": ["t"],
                          "notes": [{"by": "c1"}], "scalar": 7, "at": datetime(2026, 1, 1, tzinfo=UTC)}
OTHER = {"_id": "d2", "key": "b", "n": 0}

PLAIN: dict[str, dict[str, Any]] = {
    "set new and existing fields": {"$set": {"text": "再见", "new": 1, "n": 3}},
    "set the same values": {"$set": {"n": 3, "text": "你好", "x": 1.5}},
    "set an int over an equal float": {"$set": {"x": 1.5, "n": 3.0}},
    "set dotted, existing and missing parents": {"$set": {"window.sent": 2, "window.deep.new": "y", "a.b.c": 1}},
    "set below a scalar (mongomock skips it)": {"$set": {"scalar.inner": 1, "n": 4}},
    "set containers": {"$set": {"list": [1, [2, {"k": 3}]], "sub": {"z": 1, "a": {"b": [AT]}}, "tup": (1, 2)}},
    "set aware and naive datetimes": {"$set": {"at": AT, "naive": datetime(2026, 5, 5, 1, 2, 3, 999999)}},
    "set None and ObjectId": {"$set": {"window.closed": None, "oid": ObjectId("65f0a1b2c3d4e5f6a7b8c9d0")}},
    "inc existing, missing, float, dotted": {"$inc": {"n": 2, "missing": 5, "x": 0.25, "window.sent": -1,
                                                       "window.new.count": 1}},
    "inc by zero": {"$inc": {"n": 0}},
    "inc a missing field by zero": {"$inc": {"zero": 0}},
    "unset existing, missing, dotted, below a missing parent": {"$unset": {"text": "", "nothing": "",
                                                                           "window.closed": 1, "no.such": ""}},
    "unset then set in one update": {"$unset": {"text": ""}, "$set": {"after": 1}, "$inc": {"n": 1}},
    "setOnInsert on a stored document": {"$setOnInsert": {"created": AT, "n": 100}, "$set": {"seen": True}},
    "the key of a unique index, to a free value": {"$set": {"key": "c"}},
    "a unique key unset": {"$unset": {"key": ""}},
}

# Taken by mongomock as before: the durable store must still answer as it does.
NOT_PLAIN: dict[str, dict[str, Any]] = {
    "push": {"$push": {"tags": "u"}, "$set": {"n": 1}},
    "array on the path": {"$set": {"notes.0.by": "c2"}},
    "min": {"$min": {"n": -1}},
    "overlapping paths": {"$set": {"window": {"sent": 5}}, "$inc": {"window.sent": 1}},
    "inc of a string": {"$inc": {"text": 1}},
    "inc by a boolean": {"$inc": {"n": True}},
    "max": {"$max": {"n": 10}},
}


def _order(value: Any) -> Any:
    """The document with every embedded document's field order made visible."""
    if isinstance(value, dict):
        return [(key, _order(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_order(item) for item in value]
    return value


@pytest.fixture
async def both(tmp_path: Path):
    client = DurableMongoClient(tmp_path / "store.sqlite3")
    durable = client["db"]["things"]
    reference = mongomock.MongoClient(tz_aware=True)["db"]["things"]
    await durable.create_index([("key", ASCENDING)], unique=True, sparse=True)
    await durable.create_index([("n", ASCENDING)])
    reference.create_index([("key", ASCENDING)], unique=True, sparse=True)
    reference.create_index([("n", ASCENDING)])
    for document in (STORED, OTHER):
        await durable.insert_one(document)
        reference.insert_one(dict(document))
    yield client, durable, reference
    await client.close()


async def _same(client: DurableMongoClient, durable: Any, reference: mongomock.Collection) -> None:
    """The same documents in memory, as the in-memory indexes find them, and on disk after a restart."""
    expected = [_order(d) for d in reference.find({}).sort("_id", 1)]
    assert [_order(d) for d in await durable.find({}).sort("_id", 1).to_list(None)] == expected
    for n in (-1, 0, 2, 3, 4, 5, 100):
        assert await durable.count_documents({"n": n}) == reference.count_documents({"n": n})
    for key in ("a", "b", "c", None):
        assert await durable.count_documents({"key": key}) == reference.count_documents({"key": key})
    await client.close()
    on_disk = DurableMongoClient(client.path)
    try:
        assert [_order(d) for d in await on_disk["db"]["things"].find({}).sort("_id", 1).to_list(None)] == expected
    finally:
        await on_disk.close()


@pytest.mark.parametrize("case", [*PLAIN, *NOT_PLAIN])
async def test_update_one_by_id_stores_and_answers_what_mongomock_does(both, case: str) -> None:
    client, durable, reference = both
    update = {**PLAIN, **NOT_PLAIN}[case]
    try:
        theirs: Any = reference.update_one({"_id": "d1"}, update)
    except TypeError as refused:  # mongomock's $inc of a string
        theirs = refused
    try:
        mine: Any = await durable.update_one({"_id": "d1"}, update)
    except TypeError as refused:
        mine = refused
    if isinstance(theirs, Exception):
        assert type(mine) is type(theirs)
    else:
        assert (mine.matched_count, mine.modified_count, mine.upserted_id) == \
            (theirs.matched_count, theirs.modified_count, theirs.upserted_id)
    await _same(client, durable, reference)


@pytest.mark.parametrize("case", list(PLAIN))
@pytest.mark.parametrize("after", [ReturnDocument.BEFORE, ReturnDocument.AFTER])
async def test_find_one_and_update_by_id_returns_and_stores_what_mongomock_does(both, case: str,
                                                                                after: bool) -> None:
    client, durable, reference = both
    for projection in (None, {"window": 1, "n": 1}):
        mine = await durable.find_one_and_update({"_id": "d1"}, PLAIN[case], return_document=after,
                                                 projection=projection)
        theirs = reference.find_one_and_update({"_id": "d1"}, PLAIN[case], return_document=after,
                                               projection=projection)
        assert mine == theirs  # a projection's field order differs, as for every read by _id (store.durable)
    await _same(client, durable, reference)


async def test_a_stored_value_is_not_the_callers_object(both) -> None:
    client, durable, reference = both
    sub, items = {"a": 1}, [1, {"b": 2}]
    await durable.update_one({"_id": "d1"}, {"$set": {"sub": sub, "items": items}})
    reference.update_one({"_id": "d1"}, {"$set": {"sub": {"a": 1}, "items": [1, {"b": 2}]}})
    sub["a"], items[1]["b"] = 99, 99
    await _same(client, durable, reference)


@pytest.mark.parametrize("upsert", [False, True])
async def test_an_update_of_a_missing_id_does_what_mongomock_does(both, upsert: bool) -> None:
    client, durable, reference = both
    update = {"$setOnInsert": {"created": AT}, "$inc": {"hits": 1}, "$set": {"window.sent": 1}}
    for _ in range(2):  # inserted, then updated: $setOnInsert only the first time
        mine = await durable.update_one({"_id": "new"}, update, upsert=upsert)
        theirs = reference.update_one({"_id": "new"}, update, upsert=upsert)
        assert (mine.matched_count, mine.modified_count, mine.upserted_id) == \
            (theirs.matched_count, theirs.modified_count, theirs.upserted_id)
    assert (await durable.find_one_and_update({"_id": "gone"}, {"$set": {"n": 1}})) is None
    await _same(client, durable, reference)


@pytest.mark.parametrize("update", [{"$set": {"key": "b", "n": 9, "added": 1}},
                                    {"$unset": {"n": ""}, "$set": {"key": "b"}, "$inc": {"window.sent": 1}}],
                         ids=["set", "unset, set and inc"])
async def test_an_update_breaking_a_unique_index_is_refused_and_leaves_the_document_as_before(
        both, update: dict[str, Any]) -> None:
    client, durable, reference = both
    for write in (lambda c: c.update_one({"_id": "d1"}, update),
                  lambda c: c.find_one_and_update({"_id": "d1"}, update)):
        with pytest.raises(DuplicateKeyError):
            await write(durable)
        with pytest.raises(DuplicateKeyError):
            write(reference)
    await _same(client, durable, reference)
    assert await durable.count_documents({"key": "b"}) == 1
    assert [d["_id"] for d in await durable.find({"key": "a"}).to_list(None)] == ["d1"]


async def test_a_refused_update_the_store_does_not_take_is_refused_too(both) -> None:
    # Before, mongomock's own check looked for the duplicate through the stale index entry and missed it.
    client, durable, reference = both
    update = {"$set": {"key": "b"}, "$push": {"tags": "u"}}
    with pytest.raises(DuplicateKeyError):
        await durable.update_one({"_id": "d1"}, update)
    with pytest.raises(DuplicateKeyError):
        reference.update_one({"_id": "d1"}, update)
    await _same(client, durable, reference)


async def test_a_value_bson_refuses_is_refused_as_mongomock_refuses_it(both) -> None:
    client, durable, reference = both
    update = {"$set": {"n": 5, "bad": {1, 2}}}
    with pytest.raises(Exception) as mine:  # noqa: PT011 - whatever mongomock raises
        await durable.update_one({"_id": "d1"}, update)
    with pytest.raises(Exception) as theirs:  # noqa: PT011
        reference.update_one({"_id": "d1"}, update)
    assert type(mine.value) is type(theirs.value)
    await _same(client, durable, reference)  # mongomock set "n" before refusing "bad": so does the store


async def test_plain_updates_skip_mongomocks_update_and_the_rest_go_through_it(both, monkeypatch) -> None:
    _, durable, _ = both
    calls: list[object] = []
    update = mongomock.Collection._update

    def counting(self, spec, document, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(document)
        return update(self, spec, document, *args, **kwargs)

    monkeypatch.setattr(mongomock.Collection, "_update", counting)
    for change in PLAIN.values():
        await durable.update_one({"_id": "d1"}, change)
        await durable.find_one_and_update({"_id": "d1"}, change)
    await durable.update_one({"_id": "d1", "flag": True}, {"$inc": {"n": 1}})  # the document and its state
    assert await durable.find_one_and_update({"_id": "d1", "flag": True}, {"$set": {"status": "x"}}) is not None
    assert calls == []
    await durable.insert_one({**STORED, "_id": "d3", "key": "z"})
    for change in NOT_PLAIN.values():
        try:
            await durable.update_one({"_id": "d3"}, change)
        except TypeError:  # mongomock's $inc of a string
            pass
    assert len(calls) == len(NOT_PLAIN)


async def test_an_update_looks_at_the_index_entries_of_the_fields_it_names_only(both, monkeypatch) -> None:
    # Index entries are worked out before and after each update to move the document in the indexes; a
    # field the update does not name cannot have moved.
    client, durable, reference = both
    looked_at: list[str] = []
    entry = memory_index.FieldIndex.entry

    def counting(self, document):  # type: ignore[no-untyped-def]
        looked_at.append(self.field)
        return entry(self, document)

    monkeypatch.setattr(memory_index.FieldIndex, "entry", counting)
    await durable.update_one({"_id": "d1"}, {"$set": {"text": "再见"}})
    reference.update_one({"_id": "d1"}, {"$set": {"text": "再见"}})
    assert looked_at == []
    await durable.update_one({"_id": "d1"}, {"$inc": {"n": 1}})
    reference.update_one({"_id": "d1"}, {"$inc": {"n": 1}})
    assert set(looked_at) == {"n"}
    await durable.update_one({"_id": "d1"}, {"$push": {"tags": "u"}, "$set": {"n": 0}})
    reference.update_one({"_id": "d1"}, {"$push": {"tags": "u"}, "$set": {"n": 0}})
    await _same(client, durable, reference)


async def _outcome(write: Any) -> Any:
    """What ``write()`` answered, or the kind of error it raised (an upsert whose _id is taken: duplicate key)."""
    try:
        result = write()
        if hasattr(result, "__await__"):
            result = await result
    except DuplicateKeyError as refused:
        return type(refused)
    if hasattr(result, "matched_count"):
        return result.matched_count, result.modified_count, result.upserted_id
    return result


@pytest.mark.parametrize("upsert", [False, True])
@pytest.mark.parametrize("conditions", [{"key": "a"}, {"key": "zzz"}, {"n": {"$gte": 3}, "flag": True},
                                        {"$or": [{"n": 0}, {"text": "你好"}]}, {"at": {"$lt": AT}}],
                         ids=["matching", "not matching", "range and flag", "or", "aware datetime"])
async def test_an_update_by_id_and_more_conditions_does_what_mongomock_does(both, conditions: dict[str, Any],
                                                                            upsert: bool) -> None:
    # The outbox claim, leases and hand-off state changes name the document and the state it must be in.
    client, durable, reference = both
    update = {"$set": {"status": "sending"}, "$inc": {"n": 1}}
    for doc_id in ("d1", "d1", "new"):  # a second time: now it may not match any more
        query = {"_id": doc_id, **conditions}
        for collection in (durable, reference):
            outcomes = [await _outcome(partial(collection.update_one, query, update, upsert=upsert))]
            for after in (ReturnDocument.BEFORE, ReturnDocument.AFTER):
                outcomes.append(await _outcome(partial(collection.find_one_and_update, query, update, upsert=upsert,
                                                       return_document=after)))
            if collection is durable:
                mine = outcomes
        assert mine == outcomes
    await _same(client, durable, reference)
