"""The first documents of a query in the durable store: picked in sort order before anything is copied.

mongomock answers a sorted query by matching every document, sorting the whole match (comparing
through its BSON ordering) and copying each document it yields; its ``find_one`` even copies every
match to return the first. With a few thousand replies waiting in the outbox, each delivery claim
("the 20 due soonest") and each idle check ("when is the next one due") cost 30-100 ms of the event
loop, and ``/healthz``'s "oldest unrouted message" as much with a routing backlog: the webhooks waited
behind them. Here the matching documents are walked once, keeping only the ``first`` in order (a
bounded insertion, stable like mongomock's sorts), and only those are copied. Order and ties are
mongomock's: the same sort keys (``resolve_sort_key``) and natural order among equals.

Even that walk grows with the match: the outbox's claim reads "pending replies due by now, soonest
first", and with a few thousand queued it was still 40 % of the gateway's CPU while routing drained a
backlog. When the query bounds the sort field to a range and the field is indexed, the documents are
taken along the index in order instead (``IndexedCollectionStore.in_index_order``), and the walk
stops at the ``first`` that match. And when the indexes know exactly which documents match
(``IndexedCollectionStore.exact_matches``: ``/healthz``'s oldest unrouted message) and each holds a
plain datetime to sort by, those are ordered by it directly: no document goes through the matcher.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import insort
from collections.abc import Iterable, Iterator, Mapping, Set
from datetime import datetime
from operator import itemgetter
from typing import Any

import mongomock
from mongomock.filtering import filter_applies, resolve_sort_key

from store.memory_index import IndexedCollectionStore

SortKeys = list[tuple[str, int]]


def sort_keys(sort: Any) -> SortKeys:
    """A cursor's or ``find``'s sort as (field, direction) pairs."""
    if not sort:
        return []
    return list(sort.items()) if isinstance(sort, Mapping) else [tuple(pair) for pair in sort]


class _Place:
    """A document's place in the sort: its sort values compared key by key, each in its direction."""

    __slots__ = ("ascending", "values")

    def __init__(self, document: Mapping[str, Any], keys: SortKeys) -> None:
        self.values = [resolve_sort_key(field, document) for field, _ in keys]
        self.ascending = [direction >= 0 for _, direction in keys]  # mongomock: reverse=direction < 0

    def __lt__(self, other: _Place) -> bool:
        for mine, theirs, ascending in zip(self.values, other.values, self.ascending, strict=True):
            if mine < theirs:
                return ascending
            if theirs < mine:
                return not ascending
        return False


def _first_in_order(documents: Iterable[dict[str, Any]], keys: SortKeys, first: int) -> list[dict[str, Any]]:
    """The ``first`` documents in sort order; among equals the earlier (natural order) first, as a stable sort."""
    best: list[tuple[_Place, dict[str, Any]]] = []
    for document in documents:
        place = _Place(document, keys)
        if len(best) == first and not place < best[-1][0]:
            continue
        insort(best, (place, document), key=itemgetter(0))  # after its equals: stable
        if len(best) > first:
            best.pop()
    return [document for _, document in best]


def _first_by_datetime(store: IndexedCollectionStore, ids: Set[Any], field: str, descending: bool,
                       first: int) -> list[dict[str, Any]] | None:
    """The ``first`` of these documents by ``field``, equals in natural order as mongomock sorts them, or
    None unless every one holds a naive datetime there (anything else sorts by BSON's type order)."""
    documents, positions = store._documents, store._positions
    placed: list[tuple[datetime, int, Any]] = []
    for doc_id in ids:
        value = documents[doc_id].get(field)
        if value.__class__ is not datetime or value.tzinfo is not None:
            return None
        placed.append((value, positions[doc_id], doc_id))
    if descending:
        chosen = heapq.nlargest(first, placed, key=lambda place: (place[0], -place[1]))
    else:
        chosen = heapq.nsmallest(first, placed)
    return [documents[doc_id] for _, _, doc_id in chosen]


def first_documents(collection: mongomock.Collection, spec: Mapping[str, Any], sort: Any,
                    projection: Any, first: int) -> Iterator[dict[str, Any]]:
    """What mongomock's ``_get_dataset`` yields for the query, its first ``first`` documents only.

    ``spec`` is as mongomock's cursor holds it (datetimes made naive).
    """
    chosen = first_stored(collection, spec, sort, first)
    if chosen is None:  # $natural and what mongomock refuses: its own way
        return itertools.islice(collection._get_dataset(spec, sort, projection, dict), first)
    return (collection._copy_only_fields(document, projection, dict) for document in chosen)


def matching_stored(collection: mongomock.Collection, spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The stored documents ``spec`` matches, in natural order (not copies): from index entries alone
    when they know exactly which (``IndexedCollectionStore.exact_matches``), else through the matcher."""
    store = collection._store
    if isinstance(store, IndexedCollectionStore) and (ids := store.exact_matches(spec)) is not None:
        documents = store._documents
        return [documents[doc_id] for doc_id in sorted(ids, key=store._positions.__getitem__)]
    return list(collection._iter_documents(spec))


def first_stored(collection: mongomock.Collection, spec: Mapping[str, Any], sort: Any,
                 first: int) -> list[dict[str, Any]] | None:
    """The stored documents (not copies) ``first_documents`` copies, or None for a sort by ``$natural``
    or another operator, which only mongomock's own way answers."""
    keys = sort_keys(sort)
    if any(field.startswith("$") for field, _ in keys):
        return None
    chosen: Iterable[dict[str, Any]] | None = None
    if len(keys) == 1 and isinstance(store := collection._store, IndexedCollectionStore):
        (field, direction), = keys
        walk = store.in_index_order(spec, field, descending=direction < 0)
        if walk is not None:
            chosen = itertools.islice((document for document in walk if filter_applies(spec, document)), first)
        elif "." not in field and (ids := store.exact_matches(spec)) is not None:
            chosen = _first_by_datetime(store, ids, field, direction < 0, first)
    if chosen is None:
        matching = collection._iter_documents(spec)
        chosen = _first_in_order(matching, keys, first) if keys else itertools.islice(matching, first)
    return list(chosen)
