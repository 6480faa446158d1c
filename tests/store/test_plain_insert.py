"""Inserts done by the durable store itself (``store.plain_insert``): stored, answered and refused as
mongomock does, side by side, the stored documents compared with their field order and value types, in
memory and on disk after a restart."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import mongomock
import pytest
from bson import Decimal128, ObjectId, Timestamp
from bson.son import SON
from pymongo import ASCENDING
from pymongo.errors import BulkWriteError, DuplicateKeyError

from store.durable import DurableMongoClient

AT = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))

PLAIN: dict[str, dict[str, Any]] = {
    "a message": {"_id": "wechat:a:1", "conversation_id": "c1", "seq": 7, "direction": "in", "text": "你好",
                  "processed": False, "status": None, "attempts": [], "created_at": datetime(2026, 1, 1, tzinfo=UTC)},
    "numbers and bytes": {"_id": 5, "int": 1, "float": 1.0, "big": 2**62, "flag": True, "raw": b"\x00\x01",
                          "decimal": Decimal128("1.10"), "oid": ObjectId("65f0a1b2c3d4e5f6a7b8c9d0")},
    "aware, naive and far-off datetimes": {"_id": "t", "aware": AT, "naive": datetime(2026, 5, 5, 1, 2, 3, 999999),
                                           "old": datetime(1900, 1, 1, 0, 0, 0, 500, tzinfo=UTC)},
    "nested containers": {"_id": "n", "sub": {"z": 1, "a": {"b": [AT, {"at": AT}], "c": ()}},
                          "list": [1, [2, (3, {"k": AT})]], "tuple": ("x", AT), "ops": {"$inner": {"$ok": 1}}},
    "ordered and SON subdocuments": {"_id": "o", "ordered": OrderedDict([("b", 1), ("a", {"d": AT})]),
                                     "son": SON([("y", 1), ("x", [SON([("q", AT)])])])},
    "no _id": {"text": "没有编号", "at": AT},
    "an ObjectId _id after the fields": {"text": "x", "_id": ObjectId("65f0a1b2c3d4e5f6a7b8c9d1")},
}

# mongomock refuses these (or stores them its own way): left to it, they must end the same.
NOT_PLAIN: dict[str, dict[Any, Any]] = {
    "a key that is not a string": {"_id": "k", 1: "one"},
    "a top-level $ key": {"_id": "k", "$set": 1},
    "a null character in a nested key": {"_id": "k", "sub": {"a\0b": 1}},
    "a key that is not a string, nested": {"_id": "k", "sub": {2: "two"}},
    "a key that is not a string inside a list": {"_id": "k", "list": [{3: "three"}]},
    "a value BSON cannot hold": {"_id": "k", "thing": object()},
    "an int too large for BSON": {"_id": "k", "n": 2**64},
    "a subdocument _id": {"_id": {"platform": "wechat", "n": 1}, "text": "x"},
    "a zero Timestamp (mongomock stamps it)": {"_id": "k", "ts": Timestamp(0, 0)},
}


def _typed(value: Any) -> Any:
    """The value with every field order, container and value type visible (``1 == 1.0 == True`` otherwise)."""
    if isinstance(value, dict):
        return (type(value).__name__, [(key, _typed(item)) for key, item in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_typed(item) for item in value])
    return (type(value).__name__, value)


def _stored(collection: Any) -> list[Any]:
    return [_typed(document) for document in collection._store._documents.values()]


def _without_generated_ids(documents: list[Any]) -> list[Any]:
    """Stored documents with a generated ``ObjectId`` (each side makes its own) shown as its type only."""
    return [(kind, [(key, ("ObjectId", None) if key == "_id" and item[0] == "ObjectId" else item)
                    for key, item in fields]) for kind, fields in documents]


@pytest.fixture
async def both(tmp_path: Path):
    client = DurableMongoClient(tmp_path / "store.sqlite3")
    durable = client["db"]["things"]
    reference = mongomock.MongoClient(tz_aware=True)["db"]["things"]
    for collection in (durable, reference):
        index = collection.create_index([("key", ASCENDING)], unique=True, sparse=True)
        if not isinstance(index, str):
            await index
    await durable.insert_one({"_id": "first", "key": "a"})
    reference.insert_one({"_id": "first", "key": "a"})
    yield client, durable, reference
    await client.close()


async def _after_a_restart(client: DurableMongoClient) -> list[Any]:
    """The documents read back from the file, in ``_id`` order (the file's order, not the insertion order)."""
    await client.close()
    reopened = DurableMongoClient(client.path)
    try:
        return sorted((fields for _, fields in _stored(reopened["db"]["things"]._collection)), key=repr)
    finally:
        await reopened.close()


def _on_disk(documents: list[Any]) -> list[Any]:
    """Stored documents as the file gives them back: ``_id`` first, subdocuments plain dicts, large ints
    ``Int64`` (BSON's doing, whoever inserted them)."""
    return sorted(([(key, _plain_dicts(item)) for key, item in sorted(fields, key=lambda field: field[0] != "_id")]
                   for _, fields in documents), key=repr)


def _plain_dicts(typed: Any) -> Any:
    kind, value = typed
    if kind in ("dict", "OrderedDict"):
        return "dict", [(key, _plain_dicts(item)) for key, item in value]
    if kind == "list":
        return kind, [_plain_dicts(item) for item in value]
    if kind == "int" and not -2**31 <= value < 2**31:
        return "Int64", value
    return typed


@pytest.mark.parametrize("case", PLAIN)
async def test_an_insert_stores_and_answers_what_mongomock_does(both, case: str) -> None:
    client, durable, reference = both
    mine = await durable.insert_one(PLAIN[case])
    theirs = reference.insert_one(dict(PLAIN[case]))
    assert type(mine.inserted_id) is type(theirs.inserted_id)
    if "_id" in PLAIN[case]:
        assert mine.inserted_id == theirs.inserted_id
    assert _without_generated_ids(_stored(durable._collection)) == _without_generated_ids(_stored(reference))
    assert await durable.find_one({"_id": mine.inserted_id}) == \
        {**reference.find_one({"_id": theirs.inserted_id}), "_id": mine.inserted_id}
    assert await _after_a_restart(client) == _on_disk(_stored(durable._collection))


@pytest.mark.parametrize("case", NOT_PLAIN)
async def test_what_mongomock_refuses_or_stores_its_own_way_ends_as_with_mongomock(both, case: str) -> None:
    client, durable, reference = both
    outcomes = []
    for insert in (durable.insert_one, reference.insert_one):
        try:
            result = insert(dict(NOT_PLAIN[case]))
            if not isinstance(result, mongomock.results.InsertOneResult):
                result = await result
            outcomes.append(type(result.inserted_id))
        except Exception as refused:  # noqa: BLE001 - which exception is what is compared
            outcomes.append(type(refused))
    assert outcomes[0] is outcomes[1]
    if case.startswith("a zero Timestamp"):  # each side stamps its own time
        assert [doc["_id"] for doc in durable._collection._store._documents.values()] == ["first", "k"]
        assert durable._collection._store._documents["k"]["ts"].time > 0
    else:
        assert _stored(durable._collection) == _stored(reference)
    assert len(await _after_a_restart(client)) == len(reference._store._documents)


async def test_a_stored_document_shares_nothing_with_the_one_given(both) -> None:
    _, durable, _ = both
    given = {"_id": "s", "list": [{"a": 1}], "sub": {"b": [1]}}
    await durable.insert_one(given)
    given["list"][0]["a"] = 2
    given["sub"]["b"].append(2)
    assert await durable.find_one({"_id": "s"}) == {"_id": "s", "list": [{"a": 1}], "sub": {"b": [1]}}


async def test_duplicates_are_refused_and_leave_memory_and_disk_as_they_were(both) -> None:
    client, durable, reference = both
    for document in ({"_id": "first", "key": "z"}, {"_id": "other", "key": "a"}):
        with pytest.raises(DuplicateKeyError):
            await durable.insert_one(document)
        with pytest.raises(DuplicateKeyError):
            reference.insert_one(dict(document))
    assert _stored(durable._collection) == _stored(reference)
    assert await durable.count_documents({"key": "a"}) == 1
    assert await durable.count_documents({"key": "z"}) == 0  # no index entry left behind
    await durable.insert_one({"_id": "no key"})  # sparse: a document without the key is not a duplicate
    await durable.insert_one({"_id": "no key either"})
    assert await _after_a_restart(client) == _on_disk(_stored(durable._collection))


@pytest.mark.parametrize("ordered", [True, False])
async def test_insert_many_reports_duplicates_as_mongomock_does(both, ordered: bool) -> None:
    client, durable, reference = both
    batch = [{"_id": "m1", "key": "b"}, {"_id": "m2", "key": "a"}, {"_id": "first"}, {"_id": "m3", "key": "c"}]
    with pytest.raises(BulkWriteError) as mine:
        await durable.insert_many(batch, ordered=ordered)
    with pytest.raises(BulkWriteError) as theirs:
        reference.insert_many([dict(d) for d in batch], ordered=ordered)
    assert mine.value.details == theirs.value.details
    assert _stored(durable._collection) == _stored(reference)
    assert await _after_a_restart(client) == _on_disk(_stored(reference))


async def test_insert_many_stores_and_answers_what_mongomock_does(both) -> None:
    _, durable, reference = both
    batch = [PLAIN["a message"], PLAIN["nested containers"], PLAIN["no _id"]]
    mine = await durable.insert_many(batch)
    theirs = reference.insert_many([dict(d) for d in batch])
    assert mine.inserted_ids[:2] == theirs.inserted_ids[:2]
    assert type(mine.inserted_ids[2]) is ObjectId
    assert _without_generated_ids(_stored(durable._collection)) == _without_generated_ids(_stored(reference))
    with pytest.raises(TypeError):
        await durable.insert_many([])


async def test_a_plain_insert_never_reaches_mongomock_s_insert(both, monkeypatch) -> None:
    _, durable, _ = both
    reached: list[Any] = []
    insert = mongomock.Collection._insert
    monkeypatch.setattr(mongomock.Collection, "_insert",
                        lambda self, data, *args, **kwargs: reached.append(data) or insert(self, data, *args, **kwargs))
    for case, document in PLAIN.items():
        await durable.insert_one(document) if case != "a message" else await durable.insert_many([document])
    assert reached == []
    await durable.insert_one(NOT_PLAIN["a subdocument _id"])
    assert len(reached) == 1
