"""The durable store's sorted and limited reads: mongomock's answers, copying only what is returned."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import mongomock
import pytest

from store.durable import DurableMongoClient
from tests.fakes import ExaminedDocuments, side_by_side

START = datetime(2026, 1, 1)


def _documents() -> list[dict[str, object]]:
    """Ties, missing fields, nulls, lists, mixed types and datetimes: every way a sort can go wrong."""
    documents: list[dict[str, object]] = []
    for n in range(300):
        document: dict[str, object] = {"_id": f"d{n:03d}", "kind": "a" if n % 4 else "b", "rank": n % 7}
        if n % 11 == 0:
            del document["rank"]
        elif n % 13 == 0:
            document["rank"] = None
        elif n % 17 == 0:
            document["rank"] = [n % 5, 1]
        elif n % 19 == 0:
            document["rank"] = f"r{n % 3}"
        document["due"] = START + timedelta(seconds=n % 23)
        documents.append(document)
    return documents


@pytest.fixture
async def pair(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with side_by_side(tmp_path, "things", _documents, [[("kind", 1), ("due", 1)]]) as both:
        yield both


SORTS = [[("rank", 1)], [("rank", -1)], [("due", 1), ("rank", -1)], [("kind", -1), ("due", -1), ("_id", 1)],
         [("missing", 1)]]


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize(("skip", "limit"), [(0, 1), (0, 20), (7, 5), (0, 500), (290, 20)])
async def test_a_sorted_limited_query_answers_as_mongomock_does(pair, sort, skip: int, limit: int) -> None:  # type: ignore[no-untyped-def]
    durable, reference = pair
    query = {"kind": "a", "due": {"$lte": START + timedelta(seconds=15)}}
    mine = await durable.find(query, {"rank": 1, "due": 1}).sort(sort).skip(skip).limit(limit).to_list(None)
    theirs = list(reference.find(query, {"rank": 1, "due": 1}).sort(sort).skip(skip).limit(limit))
    assert mine == theirs


@pytest.mark.parametrize("sort", SORTS)
async def test_find_one_with_a_sort_answers_as_mongomock_does(pair, sort) -> None:  # type: ignore[no-untyped-def]
    durable, reference = pair
    for query in ({"kind": "b"}, {}, {"kind": "none"}):
        assert await durable.find_one(query, {"rank": 1}, sort=sort) == reference.find_one(query, {"rank": 1},
                                                                                           sort=sort)


async def test_find_one_copies_one_document_however_many_match(pair, copied_ids: list[object]) -> None:  # type: ignore[no-untyped-def]
    # /healthz's oldest unrouted message and the outbox's next due reply were each a copy of the whole match.
    durable, _ = pair
    oldest = await durable.find_one({"kind": "a"}, {"due": 1}, sort=[("due", 1)])
    assert oldest is not None and oldest["due"] == START.replace(tzinfo=oldest["due"].tzinfo)
    assert len(copied_ids) == 1
    copied_ids.clear()
    assert await durable.find_one({"kind": "a"}) is not None and len(copied_ids) == 1


async def test_a_sorted_update_picks_the_document_mongomock_picks(pair) -> None:  # type: ignore[no-untyped-def]
    durable, reference = pair
    for sort in SORTS:
        update = {"$inc": {"touched": 1}}
        mine = await durable.find_one_and_update({"kind": "a"}, update, sort=sort)
        theirs = reference.find_one_and_update({"kind": "a"}, update, sort=sort)
        assert mine == theirs


async def test_the_soonest_due_of_thousands_are_read_along_the_index(tmp_path: Path) -> None:
    # The outbox's claim with 3,000 replies waiting: it examines the 20 it takes (and one it skips), not
    # the 3,000, and answers as mongomock does, ties (the same due time) in natural order.
    client = DurableMongoClient(tmp_path / "store.sqlite3")
    durable = client["db"]["messages"]
    reference = mongomock.MongoClient(tz_aware=True)["db"]["messages"]
    await durable.create_index([("status", 1), ("due", 1)])
    documents = [{"_id": f"m{n:04d}", "status": "pending", "conversation": f"c{n % 50}",
                  "due": START + timedelta(seconds=(n * 7919) % 600)} for n in range(3_000)]
    await durable.insert_many([dict(d) for d in documents])
    reference.insert_many([dict(d) for d in documents])
    examined = ExaminedDocuments(durable)
    for sort in ([("due", 1)], [("due", -1)]):
        query = {"status": "pending", "due": {"$lte": START + timedelta(seconds=300)}, "conversation": {"$nin": ["c7"]}}
        mine = await durable.find(query, {"_id": 1, "due": 1}).sort(sort).limit(20).to_list(None)
        assert mine == list(reference.find(query, {"_id": 1, "due": 1}).sort(sort).limit(20))
    assert examined.count < 50
    await client.close()
