"""The durable store's in-memory indexes and undo record, kept inside mongomock's document store.

mongomock scans every document for every query, which makes a busy store quadratic. So every
field of each declared index gets an in-memory index here (``store.field_index``: by value, and
in order for ranges), used only to narrow the candidates: the conditions the indexes can answer
are intersected, smallest first, and an ``$or`` is the union of its branches, each narrowed with
the conditions around it. mongomock's own matcher still decides what matches, and sorts only those
candidates. The same store records what each write touched, so that ``store.durable`` can write it
to disk, or undo it when the disk refuses.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping, Set
from datetime import datetime
from typing import Any

import mongomock
from bson import ObjectId
from mongomock import DuplicateKeyError
from mongomock.filtering import filter_applies
from mongomock.helpers import get_value_by_dot
from mongomock.store import CollectionStore

from store.field_index import Candidates, Entry, FieldIndex

_ID_TYPES = (str, int, bool, ObjectId)


def _wanted_ids(wanted: Any) -> list[Any] | None:
    """The ids an ``_id`` equality or ``$in`` accepts, or None when it is another kind of condition."""
    if isinstance(wanted, dict):
        if set(wanted) != {"$in"} or not isinstance(wanted["$in"], list | tuple):
            return None
        ids = list(wanted["$in"])
    else:
        ids = [wanted]
    return ids if all(isinstance(i, _ID_TYPES) for i in ids) else None


# Values mongomock stores as they are given (its time-zone patch returns them), none changeable in place.
AS_STORED = frozenset({str, int, float, bool, type(None), bytes, ObjectId})
# Stored values that are never changed in place (datetimes are stored naive): shared by a copy, not copied.
_IMMUTABLE = AS_STORED | {datetime}


def copied(value: Any) -> Any:
    """A deep copy of a stored value, for undoing a write: dicts and lists are copied, values that cannot
    change in place shared. ``copy.deepcopy`` takes each datetime through its reduce protocol: copying a
    conversation's reply window that way was most of the cost of numbering a message."""
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if kind is dict:
        return {key: item if type(item) in _IMMUTABLE else copied(item) for key, item in value.items()}
    if kind is list:
        return [copied(item) for item in value]
    return copy.deepcopy(value)


def _intersection(conditions: list[Candidates]) -> Set[Any]:
    """The ids in every one of ``conditions``: the smallest is walked, the others only asked."""
    conditions = sorted(conditions, key=lambda union: sum(map(len, union)))
    smallest, others = conditions[0], conditions[1:]
    if not others and len(smallest) == 1:
        return smallest[0]  # the index's own set: callers only read it
    return {doc_id for ids in smallest for doc_id in ids
            if all(any(doc_id in other_ids for other_ids in union) for union in others)}


class _Fields:
    """What an update can change of a document, as it was: those top-level fields, and the field order."""

    __slots__ = ("order", "values")

    def __init__(self, document: Mapping[str, Any], fields: Set[str]) -> None:
        self.order = list(document)
        self.values = {field: copied(document[field]) for field in fields if field in document}

    def restored(self, current: Mapping[str, Any] | None) -> dict[str, Any]:
        """The document as it was, from ``current`` (the same document after the update)."""
        current = current or {}
        return {field: self.values[field] if field in self.values else current[field] for field in self.order}


class IndexedCollectionStore(CollectionStore):
    """mongomock's document store, keeping its field indexes current on every insert and delete.

    It also collects the ids of documents inserted, replaced or deleted (``changed_ids``), so
    that the collection can write them to disk; in-place updates are reported by the caller,
    with the index entries they had before (``indexed_values``), so that only their own index
    entries change. What each touched document was before the write (``originals``: the
    document or None, and its position) lets ``roll_back`` undo a write the disk refused.
    """

    _indexes: dict[str, FieldIndex]
    changed_ids: set[Any]
    originals: dict[Any, tuple[dict[str, Any] | _Fields | None, int | None]]

    def index_field(self, field: str) -> None:
        if field in self._indexes or field == "_id":
            return
        index = self._indexes[field] = FieldIndex(field)
        for doc_id, document in self._documents.items():
            index.add(doc_id, index.entry(document))

    def _add(self, doc_id: Any, document: Mapping[str, Any]) -> None:
        for index in self._indexes.values():
            index.add(doc_id, index.entry(document))

    def indexed_values(self, doc_ids: Iterable[Any], fields: Set[str] | None = None) -> dict[Any, dict[str, Entry]]:
        """The index entries of these documents as they are now (before an in-place update), of the indexes
        below the top-level ``fields`` the update can change (all when None): the others cannot move.

        Entries hold copies: an update such as ``$push`` changes a list in place.
        """
        indexes = [(field, index) for field, index in self._indexes.items()
                   if fields is None or field.split(".", 1)[0] in fields]
        values: dict[Any, dict[str, Entry]] = {}
        for doc_id in doc_ids:
            document = self._documents.get(doc_id)
            if document is not None:
                values[doc_id] = {field: index.entry(document) for field, index in indexes}
        return values

    def reindex(self, before: Mapping[Any, Mapping[str, Entry]]) -> None:
        """Documents mongomock updated in place: drop their old entries and add the current ones."""
        for doc_id, old in before.items():
            document = self._documents.get(doc_id)
            for field, entry in old.items():
                index = self._indexes.get(field)
                if index is None:
                    continue
                new = index.entry(document) if document is not None else None
                if new == entry:
                    continue
                index.remove(doc_id, entry)
                if new is not None:
                    index.add(doc_id, new)

    def remember(self, doc_ids: Iterable[Any], fields: Set[str] | None = None) -> None:
        """Copy these documents before mongomock changes them in place (or replaces them).

        ``fields``: the top-level fields the write can change, when known; only those are copied (a
        conversation document is large, and most writes set a field or two of it).
        """
        for doc_id in doc_ids:
            if doc_id in self.originals:
                continue
            document = self._documents.get(doc_id)
            kept = copied(document) if fields is None or document is None else _Fields(document, fields)
            self.originals[doc_id] = (kept, self._positions.get(doc_id))

    def forget(self) -> None:
        self.changed_ids.clear()
        self.originals.clear()

    def roll_back(self) -> None:
        """Put every document touched since ``forget()`` back as it was, indexes and order included."""
        restored_deleted = False
        for doc_id, (kept, position) in self.originals.items():
            document = kept.restored(self._documents.get(doc_id)) if isinstance(kept, _Fields) else kept
            self._remove(doc_id)
            if document is None:
                self._documents.pop(doc_id, None)
                self._positions.pop(doc_id, None)
                continue
            restored_deleted |= doc_id not in self._documents
            self._documents[doc_id] = document
            self._positions[doc_id] = position if position is not None else len(self._positions)
            self._add(doc_id, document)
        if restored_deleted:  # back in its place in natural order, not at the end
            self._documents = type(self._documents)(sorted(self._documents.items(),
                                                           key=lambda item: self._positions[item[0]]))
        self.forget()

    def __setitem__(self, key: Any, val: Any) -> None:
        # The replaced document object itself is kept: mongomock hands the store a new one.
        self.originals.setdefault(key, (self._documents.get(key), self._positions.get(key)))
        self.changed_ids.add(key)
        self._remove(key)
        self._positions.setdefault(key, len(self._positions))
        super().__setitem__(key, val)
        self._add(key, val)

    def _remove(self, doc_id: Any) -> None:
        document = self._documents.get(doc_id)
        if document is not None:
            for index in self._indexes.values():
                index.remove(doc_id, index.entry(document))

    def __delitem__(self, key: Any) -> None:
        self.originals.setdefault(key, (self._documents.get(key), self._positions.get(key)))
        self.changed_ids.add(key)
        self._remove(key)
        super().__delitem__(key)
        self._positions.pop(key, None)

    def candidates(self, spec: Mapping[str, Any] | None) -> list[Any] | None:
        """Ids that can match ``spec``, in insertion order, or None when no index narrows it."""
        if not spec:
            return None
        found = self._narrow(spec, [])
        if found is None:
            return None
        # Keep insertion ("natural") order, as mongomock's full scan does.
        return sorted(found, key=self._positions.__getitem__)

    def exact_matches(self, spec: Mapping[str, Any] | None) -> Set[Any] | None:
        """The ids of exactly the documents ``spec`` matches, from index entries alone, when every condition
        is an equality (or an ``$in`` of strings) its field's index answers exactly (``FieldIndex.exactly``),
        or an ``$or`` of such branches; None otherwise.

        ``/healthz`` counts the unrouted messages and asks for the oldest every second: handing each of
        a 2,000-message routing backlog to mongomock's matcher cost ~25 ms of the event loop per read.
        """
        if not spec:
            return None
        found: list[Set[Any]] = []
        for field, value in spec.items():
            if field == "$or":
                ids = self._exact_union(value)
            else:
                index = self._indexes.get(field)
                ids = None if index is None else _exactly(index, value)
            if ids is None:
                return None
            found.append(ids)
        if len(found) == 1:
            return found[0]  # the index's own set: callers only read it
        smallest, *others = sorted(found, key=len)
        return set(smallest).intersection(*others)

    def _exact_union(self, branches: Any) -> Set[Any] | None:
        """The ids an ``$or`` matches, when the indexes know every branch's exactly (the queue of a desk:
        at the desk, or moved up from it)."""
        if not isinstance(branches, list) or not branches:
            return None
        return _union(self.exact_matches(branch) if isinstance(branch, Mapping) else None for branch in branches)

    def in_index_order(self, spec: Mapping[str, Any], field: str, descending: bool) -> Iterator[dict[str, Any]] | None:
        """The documents ``spec`` bounds ``field`` to, sorted by it as mongomock sorts (equal values in natural
        order), walked along the field's index: taking the first few that match costs a few. None when the
        index cannot give that order (``FieldIndex.in_order``). The matcher still decides what matches."""
        index = self._indexes.get(field)
        walk = None if index is None else index.in_order(spec.get(field), descending)
        if walk is None:
            return None
        documents, positions = self._documents, self._positions
        return (documents[doc_id] for ids in walk for doc_id in sorted(ids, key=positions.__getitem__))

    def _narrow(self, spec: Mapping[str, Any], around: list[Candidates]) -> Set[Any] | None:
        """Ids that can match ``spec`` and every condition ``around`` it, or None when nothing narrows them.

        Each ``$or`` becomes the union of its branches, every branch narrowed together with the rest
        of the query: in ``{state: queued, $or: [{desk: d}, {also_visible_to: d}]}`` a branch is
        "queued at d", not every conversation d ever had. A branch no index answers leaves its
        ``$or`` to the matcher.
        """
        conditions = [*around, *self._lookups(spec)]
        for branches in _alternatives(spec):
            narrowed = [self._narrow(branch, conditions) for branch in branches]
            if all(ids is not None for ids in narrowed):
                conditions.append([set().union(*narrowed)])
        return _intersection(conditions) if conditions else None

    def _lookups(self, spec: Mapping[str, Any]) -> Iterator[Candidates]:
        for field, condition in spec.items():
            if field == "$and" and isinstance(condition, list):
                for part in condition:
                    if isinstance(part, Mapping):
                        yield from self._lookups(part)
            elif field == "_id":
                if (ids := _wanted_ids(condition)) is not None:
                    yield [{doc_id for doc_id in ids if doc_id in self._documents}]
            elif field in self._indexes:
                yield from self._indexes[field].lookup(condition) or ()


def _exactly(index: FieldIndex, condition: Any) -> Set[Any] | None:
    """The ids ``{field: condition}`` matches by ``index``'s entries alone: an equality ``FieldIndex.exactly``
    answers, or an ``$in`` of strings (booleans among them are left to the matcher, which takes numbers for them)."""
    if not isinstance(condition, dict):
        return index.exactly(condition)
    wanted = condition.get("$in")
    if set(condition) != {"$in"} or not isinstance(wanted, list | tuple) or not wanted or \
            not all(isinstance(value, str) for value in wanted):
        return None
    return _union(index.exactly(value) for value in wanted)


def _union(parts: Iterable[Set[Any] | None]) -> set[Any] | None:
    """The ids of every part together, or None as soon as one part's are not known from index entries."""
    found: set[Any] = set()
    for ids in parts:
        if ids is None:
            return None
        found.update(ids)
    return found


def _alternatives(spec: Mapping[str, Any]) -> Iterator[list[Mapping[str, Any]]]:
    """The branches of each ``$or`` of ``spec``, those inside an ``$and`` included."""
    for field, condition in spec.items():
        if field == "$or" and isinstance(condition, list) and condition and \
                all(isinstance(branch, Mapping) for branch in condition):
            yield condition
        elif field == "$and" and isinstance(condition, list):
            for part in condition:
                if isinstance(part, Mapping):
                    yield from _alternatives(part)


def unique_conflict(collection: mongomock.Collection, document: dict[str, Any],
                    fields: Set[str] | None = None) -> bool:
    """Whether stored ``document`` breaks a unique index (of those reading ``fields``, else any), as
    mongomock's ``_ensure_uniques`` decides, counting ``document`` itself by its current values.

    mongomock counts the documents matching the document's keys through the indexes, but an update
    changes the stored document before its index entries are brought up to date: found by its old
    entries, a duplicate it has just become went unseen.
    """
    for index in collection._store.indexes.values():
        keys = [key for key, _ in index.get("key", ())]
        if not index.get("unique") or (fields is not None and not {key.split(".", 1)[0] for key in keys} & fields):
            continue
        wanted: dict[str, Any] = {}
        for key in keys:
            try:
                wanted[key] = get_value_by_dot(document, key)
            except KeyError:
                wanted[key] = None
        if index.get("sparse") and set(wanted.values()) == {None}:
            continue
        if (partial := index.get("partialFilterExpression")) is not None:
            wanted = {"$and": [partial, wanted]}
        others = sum(1 for found in collection._iter_documents(wanted) if found is not document)
        if others + filter_applies(wanted, document) > 1:
            return True
    return False


def indexed(collection: mongomock.Collection) -> IndexedCollectionStore:
    store = collection._store
    if not isinstance(store, IndexedCollectionStore):
        store.__class__ = IndexedCollectionStore
        store._indexes = {}
        store.changed_ids = set()
        store.originals = {}
        store._positions = {doc_id: n for n, doc_id in enumerate(store._documents)}

        def iter_documents(spec: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
            ids = store.candidates(spec)
            if ids is None:
                ids = list(store._documents)
            documents = [store._documents[i] for i in ids if i in store._documents]
            return (document for document in documents if filter_applies(spec, document))

        def ensure_uniques(document: dict[str, Any]) -> None:
            if unique_conflict(collection, document):
                raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)

        collection._iter_documents = iter_documents
        collection._ensure_uniques = ensure_uniques
    return store
