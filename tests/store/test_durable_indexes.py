"""The durable store's in-memory indexes: queries narrowed by them answer exactly as a full scan would,
and the store's own range, ``$in`` and ``$or`` reads examine only the documents they return.

Every query is checked against mongomock's own answer on an unindexed copy of the same
documents, after inserts, in-place updates (``$set``, ``$inc``, ``$push``), replacements and
deletes, so that a stale index entry shows up as a wrong answer. No timings are asserted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import mongomock
import pytest
from pymongo import ASCENDING, ReturnDocument

from store import handoff as stored
from store import messages as stored_messages
from store import overflow as stored_overflow
from store import queue_places, tasks
from store.client import open_store
from store.durable import DurableMongoClient
from tests.fakes import ExaminedDocuments

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
    for field in ("conversation_id", "seq", "processed", "tags"):
        index = durable._store._indexes[field]
        assert index._ids == {} and not any(index._ordered.values()) and not index._lists, field
    assert await durable.count_documents({}) == 0


# ------------------------------------------------- the store's own reads, answered from the declared indexes

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path):
    client = DurableMongoClient(tmp_path / "indexed.sqlite3")
    store = open_store("", "youthdesk", embedded_client=client)
    await store.ensure_indexes()
    yield store
    await client.close()


def _conversation(number: int, *, state: str, desk: str = "sz", also: tuple[str, ...] = (), risk: int = 0,
                  **handoff: object) -> dict:
    return {"_id": f"cv-{number}", "contact_id": f"ct-{number}", "platform": "widget", "account": "demo",
            "desk": desk, "state": state, "risk_level": risk, "also_visible_to": list(also),
            "created_at": NOW - timedelta(hours=1), "updated_at": NOW,
            "handoff": {"waiting_since": NOW - timedelta(minutes=5), "deadline_due_at": None,
                        "deadline_state": "ok", "leave_message": False, **handoff}}


async def test_queue_and_due_reads_examine_only_what_they_return(store) -> None:
    later, past = NOW + timedelta(hours=2), NOW - timedelta(seconds=5)
    docs = [_conversation(n, state="closed") for n in range(400)]  # history of the desk
    docs += [_conversation(400 + n, state="queued", desk="gz") for n in range(40)]  # another desk's queue
    docs += [_conversation(500 + n, state="assigned", deadline_due_at=past if n < 4 else later,
                           owner="u1") for n in range(100)]
    docs += [_conversation(600 + n, state="queued") for n in range(3)]
    docs += [_conversation(700 + n, state="queued", desk="gd", also=("sz",), risk=2,
                           overflow_due_at=past if n == 0 else later) for n in range(2)]
    docs.append(_conversation(800, state="queued", leave_message=True, first_responded_at=None))
    await store.conversations.insert_many(docs)
    examined = ExaminedDocuments(store.conversations)

    entries = await queue_places.queue_entries(store, {"sz"})
    assert sorted(e.conversation_id for e in entries) == ["cv-600", "cv-601", "cv-602", "cv-700", "cv-701", "cv-800"]
    # Known from index entries alone (queued, and at the desk or moved up from it): not one document goes
    # through the matcher, neither the 400 closed ones of the desk nor the other desk's queue (6 before).
    assert examined.count == 0

    examined.count = 0
    due = await stored.due_for_check(store, deadline_due_by=NOW, requeue_due_before=NOW,
                                     silent_since=NOW - timedelta(minutes=10))
    assert sorted(item.conversation.id for item in due) == ["cv-500", "cv-501", "cv-502", "cv-503", "cv-800"]
    # The four past their deadline and the 留言 off the clock; the two at risk are examined for silence.
    assert examined.count == 7

    examined.count = 0
    assert [item.conversation.id for item in await stored_overflow.due(store, NOW)] == ["cv-700"]
    assert examined.count == 1  # the one at risk whose overflow check is due, not the other one waiting


async def test_outbox_reminder_and_work_order_reads_examine_only_what_is_due(store) -> None:
    messages = [{"_id": f"m{n}", "conversation_id": f"cv-{n % 7}", "seq": n, "direction": "out",
                 "status": "pending" if n % 2 else "sent",
                 "next_attempt_at": NOW - timedelta(seconds=1) if n < 6 else NOW + timedelta(minutes=n)}
                for n in range(300)]
    await store.messages.insert_many(messages)
    examined = ExaminedDocuments(store.messages)
    due = await stored_messages.due_entries(store, NOW, skip_conversations={"cv-1"})
    assert [entry.message_id for entry in due] == ["m3", "m5"]
    # Walked along next_attempt_at up to now, soonest first: the six due by now (the sent ones among them
    # are refused by the matcher), none of the 294 due later however many are pending.
    assert examined.count == 6
    examined.count = 0
    assert await stored_messages.next_attempt_due(store) == NOW - timedelta(seconds=1)
    assert examined.count == 2  # m0 (sent) and m1, the first pending: not every pending one

    await store["tasks"].insert_many([
        {"_id": f"t{n}", "state": "open" if n % 3 else "done", "reminded_at": None, "kind": "outreach",
         "desk": "sz", "title": "回访", "created_at": NOW, "due_at": NOW + timedelta(minutes=n - 3)}
        for n in range(200)])
    examined = ExaminedDocuments(store["tasks"])
    assert sorted(task.id for task in await tasks.due_for_reminder(store, NOW)) == ["t1", "t2"]
    assert examined.count == 2  # open and due by now (t0 and t3 are due but done)

    await store["work_orders"].insert_many([
        {"_id": f"w{n}", "case_id": f"case-{n}", "referral_id": f"r{n}",
         "delivery": {"state": "pending", "next_attempt_at": NOW + timedelta(minutes=n - 1), "lease_until": None}}
        for n in range(200)])
    examined = ExaminedDocuments(store["work_orders"])
    claimed = await store["work_orders"].find_one_and_update(
        {"delivery.state": "pending", "delivery.next_attempt_at": {"$lte": NOW},
         "$or": [{"delivery.lease_until": None}, {"delivery.lease_until": {"$lte": NOW}}]},
        {"$set": {"delivery.lease_until": NOW + timedelta(minutes=1)}}, sort=[("delivery.next_attempt_at", 1)])
    assert claimed["_id"] == "w0"
    # w0 and w1 (the due ones) each time the write looks: the durable store's pick, then mongomock's
    # find and update. A scan would examine the 200 orders each time.
    assert examined.count <= 3 * 2


# ------------------------------------------- counts and firsts from index entries alone (``/healthz``'s reads)

START = datetime(2026, 1, 1)


def _tricky(number: int) -> dict:
    """A message whose ``processed`` or ``created_at`` is one of the ways an index entry can mislead."""
    document: dict = {"_id": f"t{number}", "direction": "in", "processed": False,
                      "created_at": START + timedelta(seconds=number % 5)}  # ties: natural order decides
    variant = number % 9
    if variant == 1:
        document["processed"] = True
    elif variant == 2:
        document["processed"] = [False, True]  # a list holding False matches False
    elif variant == 3:
        document["processed"] = [[False]]  # a list inside does not
    elif variant == 4:
        del document["processed"]
    elif variant == 5:
        document["direction"] = ["in", "out"]
    return document


async def _same_counts_and_firsts(durable, reference, queries) -> None:
    for query in queries:
        assert await durable.count_documents(query) == reference.count_documents(query), query
        for direction in (1, -1):
            for limit in (1, 3, 50):
                sort = [("created_at", direction)]
                found = await durable.find(query, {"_id": 1}).sort(sort).limit(limit).to_list(None)
                expected = reference.find(query, {"_id": 1}).sort(sort).limit(limit)
                assert [d["_id"] for d in found] == [d["_id"] for d in expected], (query, sort, limit)


async def test_counts_and_oldest_from_index_entries_answer_as_mongomock_does(collections) -> None:
    _, _, client = collections
    durable, reference = client["db"]["tricky"], mongomock.MongoClient()["db"]["tricky"]
    for keys in ([("direction", ASCENDING), ("processed", ASCENDING)], [("conversation_id", ASCENDING)]):
        await durable.create_index(keys)
    tricky = [_tricky(n) for n in range(60)]
    await durable.insert_many(tricky)
    reference.insert_many(tricky)
    queries = [{"direction": "in", "processed": False}, {"processed": True}, {"direction": "out"},
               {"direction": "nowhere", "processed": False}, {"processed": False, "conversation_id": "c1"}]
    examined = ExaminedDocuments(durable)
    await _same_counts_and_firsts(durable, reference, queries)
    assert examined.count == 0  # every one of these answered from index entries

    # Numbers keyed as False and True: mongomock's matcher takes them for those booleans, as the index does.
    for target in (durable, reference):
        for doc_id, value in (("t0", 0), ("t9", [1.0]), ("t18", 1)):
            result = target.update_one({"_id": doc_id}, {"$set": {"processed": value}})
            if target is durable:
                await result
    await _same_counts_and_firsts(durable, reference, queries)
    assert examined.count == 0

    # A string to sort by among the datetimes: BSON's type order, left to mongomock; the count still from entries.
    for target in (durable, reference):
        result = target.update_one({"_id": "t27"}, {"$set": {"created_at": "yesterday"}})
        if target is durable:
            await result
    await _same_counts_and_firsts(durable, reference, queries)
    assert examined.count > 0

    # A path crossing an array cannot be placed by the index: the matcher decides.
    for target in (durable, reference):
        result = target.insert_one({"_id": "deep", "direction": [{"x": 1}], "processed": False})
        if target is durable:
            await result
    await durable.create_index([("direction.x", ASCENDING)])
    examined.count = 0
    assert await durable.count_documents({"direction.x": 1}) == reference.count_documents({"direction.x": 1}) == 1
    assert examined.count > 0


async def test_the_routing_backlog_s_size_and_oldest_look_at_no_message(store) -> None:
    waiting = 2_000
    await store.messages.insert_many(
        [{"_id": f"m{n}", "conversation_id": f"cv-{n % 300}", "seq": n, "direction": "in",
          "processed": n >= waiting, "created_at": NOW + timedelta(milliseconds=(n * 7919) % 5_000)}
         for n in range(waiting + 5_000)])
    examined = ExaminedDocuments(store.messages)
    assert await stored_messages.count_unprocessed(store) == waiting
    oldest = min(NOW + timedelta(milliseconds=(n * 7919) % 5_000) for n in range(waiting))
    assert await stored_messages.oldest_unprocessed_at(store) == oldest
    # Neither read hands one of the 7,000 messages to the matcher (both used to take the 2,000 waiting).
    assert examined.count == 0
    await stored_messages.mark_processed(store, "m0")
    assert await stored_messages.count_unprocessed(store) == waiting - 1
    assert examined.count == 0
