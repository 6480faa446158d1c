"""Projected reads copied by the durable store itself (``store.projection``) and ``$in``/``$or`` queries
answered from index entries: the same answers as mongomock's, field order included, checked side by side."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from store.projection import inclusion
from tests.fakes import ExaminedDocuments, side_by_side

START = datetime(2026, 1, 1)


def _documents() -> list[dict[str, object]]:
    """Subdocuments, lists of them, plain values where a path goes on, missing fields, nested datetimes."""
    documents: list[dict[str, object]] = []
    for n in range(120):
        handoff: object = {"waiting_since": START + timedelta(seconds=n), "flood_group": None if n % 3 else "f1",
                           "offers": [{"from_desk": f"d{n % 4}", "at": START}, {"note": "x"}] if n % 5 else [],
                           "deep": {"at": [START, {"at": START}], "n": n}}
        if n % 7 == 0:
            handoff = "not a subdocument"
        elif n % 11 == 0:
            handoff = {}
        also = [f"d{(n + 1) % 4}"] if n % 6 == 0 else []
        document: dict[str, object] = {"_id": f"c{n:03d}", "state": "queued" if n % 2 else "closed",
                                       "desk": f"d{n % 4}", "also_visible_to": also, "risk_level": n % 4,
                                       "created_at": START, "handoff": handoff}
        if n % 13 == 0:
            del document["desk"]
        documents.append(document)
    return documents


@pytest.fixture
async def pair(tmp_path: Path):  # type: ignore[no-untyped-def]
    indexes = [[(field, 1)] for field in ("state", "desk", "also_visible_to")]
    async with side_by_side(tmp_path, "conversations", _documents, indexes) as both:
        yield both


PROJECTIONS = [
    {"desk": 1, "also_visible_to": 1, "risk_level": 1, "created_at": 1, "handoff.waiting_since": 1,
     "handoff.flood_group": 1, "handoff.offers.from_desk": 1},  # the queue's read
    {"desk": 1, "_id": 0},
    {"handoff.deep.at": True, "_id": True},
    {"handoff": 1},
    {"handoff.offers": 1, "missing.path": 1},
]

QUERIES = [
    {"state": "queued", "$or": [{"desk": {"$in": ["d1"]}}, {"also_visible_to": {"$in": ["d1"]}}]},
    {"state": "queued", "desk": {"$in": ["d1", "d2", "nowhere"]}},
    {"$or": [{"desk": "d3"}, {"state": "closed"}]},
    {"state": "queued", "risk_level": {"$gte": 2}},  # a range: the matcher decides
    {},
]


@pytest.mark.parametrize("projection", PROJECTIONS)
@pytest.mark.parametrize("query", QUERIES)
async def test_a_projected_read_answers_as_mongomock_does(pair, projection, query) -> None:  # type: ignore[no-untyped-def]
    durable, reference = pair
    mine = await durable.find(query, projection).to_list(None)
    theirs = list(reference.find(query, projection))
    assert mine == theirs
    assert [list(doc) for doc in mine] == [list(doc) for doc in theirs]  # field order too
    skipped = [doc async for doc in durable.find(query, projection).skip(3)]
    assert skipped == list(reference.find(query, projection).skip(3))
    limited = await durable.find(query, projection).sort("_id", -1).skip(2).limit(5).to_list(None)
    assert limited == list(reference.find(query, projection).sort("_id", -1).skip(2).limit(5))


async def test_a_copy_shares_nothing_with_the_stored_document(pair) -> None:  # type: ignore[no-untyped-def]
    durable, _ = pair
    first = (await durable.find({"_id": "c001"}, {"handoff.offers": 1}).to_list(None))[0]
    first["handoff"]["offers"][0]["from_desk"] = "changed"
    again = (await durable.find({"_id": "c001"}, {"handoff.offers": 1}).to_list(None))[0]
    assert again["handoff"]["offers"][0]["from_desk"] == "d1"


async def test_a_path_into_a_list_of_plain_values_fails_as_in_mongomock(pair) -> None:  # type: ignore[no-untyped-def]
    durable, reference = pair
    for target in (durable, reference):
        result = target.insert_one({"_id": "odd", "state": "queued", "handoff": {"offers": [1, {"from_desk": "d1"}]}})
        if target is durable:
            await result
    with pytest.raises(AttributeError):
        list(reference.find({"_id": "odd"}, {"handoff.offers.from_desk": 1}))
    with pytest.raises(AttributeError):  # left to mongomock, which fails the same way
        await durable.find({"_id": "odd"}, {"handoff.offers.from_desk": 1}).to_list(None)


def test_only_plain_inclusions_are_projected_by_the_store() -> None:
    assert inclusion({"a": 1, "b.c": True, "_id": 0}) == ({"a": True, "b": {"c": True}}, False)
    for other in ({"a": 0}, {"a": 1, "b": 0}, {"_id": 1}, {}, {"a": 1, "a.b": 1}, {"a.b": 1, "a": 1},
                  {"a.$": 1}, {"a": {"$slice": 2}}, {"_id.x": 1}, {"a": 2}, ["a"], None):
        assert inclusion(other) is None, other


async def test_in_and_or_of_indexed_strings_are_answered_from_index_entries(pair) -> None:  # type: ignore[no-untyped-def]
    durable, reference = pair
    examined = ExaminedDocuments(durable)
    for query in QUERIES[:3]:
        assert await durable.count_documents(query) == reference.count_documents(query)
    assert examined.count == 0  # not one document through the matcher
    for left_to_the_matcher in ({"state": "queued", "desk": {"$in": [True, "d1"]}}, {"desk": {"$in": []}},
                                {"$or": [{"desk": "d1"}, {"risk_level": 2}]}):
        assert await durable.count_documents(left_to_the_matcher) == reference.count_documents(left_to_the_matcher)
    assert examined.count > 0  # the last: a branch on an unindexed field
