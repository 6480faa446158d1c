"""The durable store's in-memory indexes and undo record, kept inside mongomock's document store.

mongomock scans every document for every query, which makes a busy store quadratic. So every
field of each declared index (and ``_id``) gets an in-memory equality index here, used only to
narrow the candidates (the condition with the fewest wins); mongomock's own matcher still
decides what matches, and sorts only those candidates. The same store records what each write
touched, so that ``store.durable`` can write it to disk, or undo it when the disk refuses.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any

import mongomock
from bson import ObjectId
from mongomock.filtering import filter_applies
from mongomock.store import CollectionStore


def _index_keys(value: Any) -> list[Hashable]:
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str | int | float | bool | type(None))]


def _wanted_keys(wanted: Any, plain: tuple[type, ...] = (str, int, bool)) -> list[Any] | None:
    """The values an equality or ``$in`` condition accepts, or None when an index cannot answer it."""
    if isinstance(wanted, dict):
        if set(wanted) != {"$in"} or not isinstance(wanted["$in"], list | tuple):
            return None
        keys = list(wanted["$in"])
    else:
        keys = [wanted]
    # None also matches a missing field, a list matches as a whole, a pattern as a regex: the scan decides.
    return keys if all(isinstance(k, plain) for k in keys) else None


_ID_TYPES = (str, int, bool, ObjectId)


class IndexedCollectionStore(CollectionStore):
    """mongomock's document store, keeping equality indexes current on every insert and delete.

    It also collects the ids of documents inserted, replaced or deleted (``changed_ids``), so
    that the collection can write them to disk; in-place updates are reported by the caller,
    with the indexed values they had before (``indexed_values``), so that only their own index
    entries change. What each touched document was before the write (``originals``: the
    document or None, and its position) lets ``roll_back`` undo a write the disk refused.
    """

    _eq_indexes: dict[str, dict[Hashable, set[Any]]]
    changed_ids: set[Any]
    originals: dict[Any, tuple[dict[str, Any] | None, int | None]]

    def index_field(self, field: str) -> None:
        if field in self._eq_indexes or "." in field or field == "_id":
            return
        self._eq_indexes[field] = {}
        for doc_id, document in self._documents.items():
            self._add_keys(field, doc_id, document.get(field))

    def _add_keys(self, field: str, doc_id: Any, value: Any) -> None:
        index = self._eq_indexes[field]
        for key in _index_keys(value):
            ids = index.get(key)
            if ids is None:
                index[key] = {doc_id}
            else:
                ids.add(doc_id)

    def _remove_keys(self, field: str, doc_id: Any, value: Any) -> None:
        index = self._eq_indexes[field]
        for key in _index_keys(value):
            ids = index.get(key)
            if ids is not None:
                ids.discard(doc_id)
                if not ids:
                    del index[key]

    def indexed_values(self, doc_ids: Iterable[Any]) -> dict[Any, dict[str, Any]]:
        """The indexed fields of these documents as they are now (before an in-place update).

        Lists are copied: an update such as ``$push`` changes them in place.
        """
        values: dict[Any, dict[str, Any]] = {}
        for doc_id in doc_ids:
            document = self._documents.get(doc_id)
            if document is not None:
                values[doc_id] = {field: _index_keys(document.get(field)) for field in self._eq_indexes}
        return values

    def reindex(self, before: Mapping[Any, Mapping[str, Any]]) -> None:
        """Documents mongomock updated in place: drop their old keys and add the current ones."""
        for doc_id, old in before.items():
            document = self._documents.get(doc_id)
            for field, value in old.items():
                if field not in self._eq_indexes:
                    continue
                new = document.get(field) if document is not None else None
                if document is not None and _index_keys(new) == value:
                    continue
                self._remove_keys(field, doc_id, value)
                if document is not None:
                    self._add_keys(field, doc_id, new)

    def remember(self, doc_ids: Iterable[Any]) -> None:
        """Copy these documents before mongomock changes them in place (or replaces them)."""
        for doc_id in doc_ids:
            if doc_id not in self.originals:
                self.originals[doc_id] = (copy.deepcopy(self._documents.get(doc_id)), self._positions.get(doc_id))

    def forget(self) -> None:
        self.changed_ids.clear()
        self.originals.clear()

    def roll_back(self) -> None:
        """Put every document touched since ``forget()`` back as it was, indexes and order included."""
        restored_deleted = False
        for doc_id, (document, position) in self.originals.items():
            self._remove(doc_id)
            if document is None:
                self._documents.pop(doc_id, None)
                self._positions.pop(doc_id, None)
                continue
            restored_deleted |= doc_id not in self._documents
            self._documents[doc_id] = document
            self._positions[doc_id] = position if position is not None else len(self._positions)
            for field in self._eq_indexes:
                self._add_keys(field, doc_id, document.get(field))
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
        for field in self._eq_indexes:
            self._add_keys(field, key, val.get(field))

    def _remove(self, doc_id: Any) -> None:
        document = self._documents.get(doc_id)
        if document is not None:
            for field in self._eq_indexes:
                self._remove_keys(field, doc_id, document.get(field))

    def __delitem__(self, key: Any) -> None:
        self.originals.setdefault(key, (self._documents.get(key), self._positions.get(key)))
        self.changed_ids.add(key)
        self._remove(key)
        super().__delitem__(key)
        self._positions.pop(key, None)

    def candidates(self, spec: Mapping[str, Any] | None) -> list[Any] | None:
        """Ids that can match ``spec``, in insertion order, or None when no index narrows it.

        Of the conditions an index can answer (equality or ``$in`` on ``_id`` or an indexed field),
        the one with the fewest candidates wins, as a query planner would pick; mongomock's own
        matcher still decides what matches.
        """
        if not spec:
            return None
        best: set[Any] | None = None
        id_keys = _wanted_keys(spec["_id"], _ID_TYPES) if "_id" in spec else None
        if id_keys is not None:
            best = {key for key in id_keys if key in self._documents}
        else:
            for field, index in self._eq_indexes.items():
                if field not in spec or (keys := _wanted_keys(spec[field])) is None:
                    continue
                found = [index[key] for key in keys if key in index]
                size = sum(map(len, found))
                if best is None or size < len(best):
                    best = set().union(*found)
                    if not best:
                        break
        if best is None:
            return None
        # Keep insertion ("natural") order, as mongomock's full scan does.
        return sorted(best, key=self._positions.__getitem__)


def indexed(collection: mongomock.Collection) -> IndexedCollectionStore:
    store = collection._store
    if not isinstance(store, IndexedCollectionStore):
        store.__class__ = IndexedCollectionStore
        store._eq_indexes = {}
        store.changed_ids = set()
        store.originals = {}
        store._positions = {doc_id: n for n, doc_id in enumerate(store._documents)}

        def iter_documents(spec: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
            ids = store.candidates(spec)
            if ids is None:
                ids = list(store._documents)
            documents = [store._documents[i] for i in ids if i in store._documents]
            return (document for document in documents if filter_applies(spec, document))

        collection._iter_documents = iter_documents
    return store
