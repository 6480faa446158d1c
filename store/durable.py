"""The durable default store: PyMongo's async collection API in process, written through to disk.

Without ``MONGODB_URI`` youthdesk runs on this. Queries and updates are answered by mongomock
in memory, with the same call shapes and exceptions as ``AsyncMongoClient`` (mongomock raises
PyMongo's error classes), for exactly the subset of the API that the code uses. Every write
then stores the documents it changed in ``store.document_file`` (SQLite, one transaction per
operation) before the call returns; on start the whole dataset is loaded back. When that commit
fails (disk full, I/O error) the documents in memory are put back as they were and the caller
gets ``OperationFailure``, as from a server that could not write: memory never holds what the
disk does not. All operations
run synchronously on the event loop thread, which makes each of them atomic, as on a server.

Why not a MongoDB-wire server such as mongoeco: measured in the README's storage section.

mongomock scans every document for every query, which makes a busy store quadratic. So every
field of each declared index (and ``_id``) gets an in-memory equality index here, used only to
narrow the candidates (the condition with the fewest wins); mongomock's own matcher still
decides what matches, and sorts only those candidates.
"""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import mongomock
from bson import ObjectId
from mongomock.filtering import filter_applies
from mongomock.helpers import patch_datetime_awareness_in_document
from mongomock.store import CollectionStore
from pymongo import ReturnDocument
from pymongo.errors import OperationFailure

from store.document_file import DocumentFile

T = TypeVar("T")


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


class _IndexedCollectionStore(CollectionStore):
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


def _indexed(collection: mongomock.Collection) -> _IndexedCollectionStore:
    store = collection._store
    if not isinstance(store, _IndexedCollectionStore):
        store.__class__ = _IndexedCollectionStore
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


class AsyncCursor:
    """The chainable part of ``AsyncCursor``: sort, skip, limit, ``to_list`` and ``async for``."""

    def __init__(self, cursor: mongomock.collection.Cursor) -> None:
        self._cursor = cursor

    def sort(self, key_or_list: Any, direction: int | None = None) -> AsyncCursor:
        if direction is None:
            self._cursor.sort(key_or_list)
        else:
            self._cursor.sort(key_or_list, direction)
        return self

    def skip(self, count: int) -> AsyncCursor:
        self._cursor.skip(count)
        return self

    def limit(self, count: int) -> AsyncCursor:
        self._cursor.limit(count)
        return self

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        items = []
        for doc in self._cursor:
            items.append(doc)
            if length is not None and len(items) >= length:
                break
        return items

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        for doc in self._cursor:
            yield doc


class AsyncCollection:
    def __init__(self, collection: mongomock.Collection, persist: Callable[[str, dict[Any, Any]], None]) -> None:
        self._collection = collection
        self._store = _indexed(collection)
        self._persist = persist
        self.name = collection.name

    def _matching_ids(self, filter: Mapping[str, Any]) -> list[Any]:  # noqa: A002
        # mongomock stores datetimes naive; its public methods convert the filter the same way.
        spec = patch_datetime_awareness_in_document(filter)
        return [doc["_id"] for doc in self._collection._iter_documents(spec)]

    def _first_id(self, filter: Mapping[str, Any], sort: Any = None) -> list[Any]:  # noqa: A002
        """The id a single-document write will pick: mongomock's order, so the same document."""
        found = self._collection.find_one(filter, {"_id": 1}, sort=sort)
        return [] if found is None else [found["_id"]]

    def _write(self, updated_in_place: Iterable[Any], operation: Callable[[], T]) -> T:
        """Run a mongomock write, then store every document it touched before returning.

        Even a failing operation (a duplicate key halfway through ``insert_many``) may have
        changed documents, so they are written in any case. If the disk refuses them, memory
        goes back to what the disk holds and the caller gets ``OperationFailure``.
        """
        updated_in_place = list(updated_in_place)
        before = self._store.indexed_values(updated_in_place)
        self._store.forget()
        self._store.remember(updated_in_place)
        try:
            return operation()
        finally:
            self._store.reindex(before)
            changed = self._store.changed_ids.union(updated_in_place)
            if changed:
                documents = self._store._documents
                try:
                    self._persist(self.name, {doc_id: documents.get(doc_id) for doc_id in changed})
                except sqlite3.Error as exc:
                    self._store.roll_back()
                    raise OperationFailure(f"the durable store could not write to disk: {exc}") from exc
            self._store.forget()

    async def insert_one(self, document: Mapping[str, Any]) -> Any:
        return self._write((), lambda: self._collection.insert_one(dict(document)))

    async def insert_many(self, documents: Sequence[Mapping[str, Any]], ordered: bool = True) -> Any:
        return self._write((), lambda: self._collection.insert_many([dict(d) for d in documents], ordered=ordered))

    async def find_one(self, filter: Mapping[str, Any] | None = None, *args: Any, **kwargs: Any) -> Any:  # noqa: A002
        return self._collection.find_one(filter, *args, **kwargs)

    def find(self, filter: Mapping[str, Any] | None = None, *args: Any, **kwargs: Any) -> AsyncCursor:  # noqa: A002
        return AsyncCursor(self._collection.find(filter, *args, **kwargs))

    async def find_one_and_update(
        self,
        filter: Mapping[str, Any],  # noqa: A002
        update: Mapping[str, Any],
        *,
        sort: Any = None,
        upsert: bool = False,
        return_document: bool = ReturnDocument.BEFORE,
        projection: Any = None,
    ) -> Any:
        return self._write(self._first_id(filter, sort), lambda: self._collection.find_one_and_update(
            filter, update, sort=sort, upsert=upsert, return_document=return_document, projection=projection))

    async def update_one(self, filter: Mapping[str, Any], update: Mapping[str, Any], upsert: bool = False) -> Any:  # noqa: A002
        return self._write(self._first_id(filter), lambda: self._collection.update_one(filter, update, upsert=upsert))

    async def update_many(self, filter: Mapping[str, Any], update: Mapping[str, Any], upsert: bool = False) -> Any:  # noqa: A002
        return self._write(self._matching_ids(filter),
                           lambda: self._collection.update_many(filter, update, upsert=upsert))

    async def replace_one(self, filter: Mapping[str, Any], replacement: Mapping[str, Any], upsert: bool = False) -> Any:  # noqa: A002
        # mongomock replaces the stored document's content in place.
        return self._write(self._first_id(filter),
                           lambda: self._collection.replace_one(filter, dict(replacement), upsert=upsert))

    async def delete_one(self, filter: Mapping[str, Any]) -> Any:  # noqa: A002
        return self._write((), lambda: self._collection.delete_one(filter))

    async def delete_many(self, filter: Mapping[str, Any]) -> Any:  # noqa: A002
        return self._write((), lambda: self._collection.delete_many(filter))

    async def count_documents(self, filter: Mapping[str, Any], **kwargs: Any) -> int:  # noqa: A002
        if not filter and not kwargs:
            return len(self._store._documents)
        return self._collection.count_documents(filter, **kwargs)

    async def distinct(self, key: str, filter: Mapping[str, Any] | None = None) -> list[Any]:  # noqa: A002
        return self._collection.distinct(key, filter)

    async def aggregate(self, pipeline: Sequence[Mapping[str, Any]]) -> AsyncCursor:
        # PyMongo's async aggregate() is a coroutine returning a cursor; keep that shape.
        return _ListCursor(list(self._collection.aggregate(list(pipeline))))

    async def create_index(self, keys: Any, **kwargs: Any) -> str:
        # Indexes are not stored: every start declares them again (Store.ensure_indexes). Each field
        # of a compound index gets its own equality index, so any prefix (and a later field alone) is
        # narrowed: {"direction": "in", "processed": False} looks at the unprocessed few, not every
        # inbound message.
        for field in [keys] if isinstance(keys, str) else [field for field, _ in keys]:
            self._store.index_field(field)
        return self._collection.create_index(keys, **kwargs)


class _ListCursor(AsyncCursor):
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self._items = items

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        return self._items if length is None else self._items[:length]

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        for doc in self._items:
            yield doc


class AsyncDatabase:
    """One database, loaded from the file when first used."""

    def __init__(self, database: mongomock.Database, file: DocumentFile) -> None:
        self._database = database
        self._file = file
        self._collections: dict[str, AsyncCollection] = {}
        for collection, document in file.documents(database.name):
            self[collection]._store[document["_id"]] = document
        for loaded in self._collections.values():
            loaded._store.forget()

    def _persist(self, collection: str, changed: dict[Any, Any]) -> None:
        self._file.write(self._database.name, collection, changed)

    def __getitem__(self, name: str) -> AsyncCollection:
        if name not in self._collections:
            self._collections[name] = AsyncCollection(self._database[name], self._persist)
        return self._collections[name]

    async def command(self, command: str) -> dict[str, Any]:
        if command != "ping":
            raise NotImplementedError(f"the durable store supports only 'ping', not {command!r}")
        return {"ok": 1.0}


class DurableMongoClient:
    """What the store needs of ``AsyncMongoClient``'s shape, with every database kept in ``path``."""

    def __init__(self, path: Path) -> None:
        self._client = mongomock.MongoClient(tz_aware=True)
        self._file = DocumentFile(path)
        self._databases: dict[str, AsyncDatabase] = {}

    @property
    def path(self) -> Path:
        return self._file.path

    def __getitem__(self, name: str) -> AsyncDatabase:
        if name not in self._databases:
            self._databases[name] = AsyncDatabase(self._client[name], self._file)
        return self._databases[name]

    @property
    def admin(self) -> AsyncDatabase:
        return self["admin"]

    async def close(self) -> None:
        """Release the file for the next process; every write is already on disk.

        A write after this raises (SQLite: closed database) rather than going nowhere.
        """
        self._file.close()
