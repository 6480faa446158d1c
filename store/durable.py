"""The durable default store: PyMongo's async collection API in process, written through to disk.

Without ``MONGODB_URI`` youthdesk runs on this. Queries and updates are answered by mongomock
in memory, with the same call shapes and exceptions as ``AsyncMongoClient`` (mongomock raises
PyMongo's error classes), for exactly the subset of the API that the code uses. Every write
then stores the documents it changed in ``store.document_file`` (SQLite, one transaction per
operation) before the call returns; on start the whole dataset is loaded back. When that commit
fails (disk full, I/O error) the documents in memory are put back as they were and the caller
gets ``OperationFailure``, as from a server that could not write: memory never holds what the
disk does not. All operations run synchronously on the event loop thread, which makes each of
them atomic, as on a server.

Why not a MongoDB-wire server such as mongoeco: measured in the README's storage section.

mongomock scans every document for every query, which makes a busy store quadratic: every field
of each declared index gets an in-memory index, for equality and ranges (``store.memory_index``).
Reading one document by ``_id`` — most reads of a message's way in: its conversation, contact,
dedupe — skips mongomock's query machinery altogether (``_copy_out``): that took about a third of
the gateway's time per webhook when profiled at 300 messages/s.
"""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import mongomock
from bson import ObjectId
from mongomock.filtering import filter_applies
from mongomock.helpers import hashdict, patch_datetime_awareness_in_document
from pymongo import ReturnDocument
from pymongo.errors import OperationFailure
from pymongo.results import UpdateResult

from store import plain_insert
from store.document_file import DocumentFile
from store.first_documents import first_documents, first_stored, matching_stored
from store.memory_index import indexed
from store.plain_update import plain_update
from store.projection import Unprojectable, aware, inclusion, projected

T = TypeVar("T")

_ID_TYPES = (str, int, ObjectId)
_NOT_BY_ID = object()


def _holds_containers(update: Mapping[str, Any]) -> bool:
    """Whether an update writes a list or a subdocument (which mongomock would share between documents)."""
    return any(isinstance(value, list | dict) for fields in update.values() if isinstance(fields, Mapping)
               for value in fields.values())


# Update operators whose every key is a path of the document that they change.
_PATH_OPERATORS = frozenset({"$set", "$unset", "$inc", "$mul", "$min", "$max", "$push", "$pull", "$pullAll",
                             "$addToSet", "$pop", "$setOnInsert", "$currentDate"})


def _updated_fields(update: Mapping[str, Any] | None) -> frozenset[str] | None:
    """The top-level fields an update document can change, or None when that is not known."""
    if not isinstance(update, Mapping) or not update or not set(update) <= _PATH_OPERATORS:
        return None
    if not all(isinstance(paths, Mapping) for paths in update.values()):
        return None
    return frozenset(path.split(".", 1)[0] for paths in update.values() for path in paths)


def _plain_projection(projection: Any) -> bool:
    """None, or top-level fields all included or all excluded (``_id`` either way): what ``_copy_out`` does."""
    if projection is None:
        return True
    if not isinstance(projection, Mapping) or any("." in field or "$" in field for field in projection):
        return False
    return len({bool(shown) for field, shown in projection.items() if field != "_id"}) <= 1


def _copy_out(document: dict[str, Any], projection: Mapping[str, Any] | None) -> dict[str, Any]:
    """What ``find_one`` returns for a stored document under a plain projection (``_plain_projection``)."""
    if not projection:
        return aware(document)
    named = {field: bool(show) for field, show in projection.items() if field != "_id"}
    with_id = bool(projection.get("_id", True))
    if any(named.values()) or (not named and with_id):  # inclusion: the named fields (and _id)
        fields = [field for field in document if named.get(field) or (field == "_id" and with_id)]
    else:  # exclusion: all but the named fields
        fields = [field for field in document if field not in named and (field != "_id" or with_id)]
    return {field: aware(document[field]) for field in fields}


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

    def _bounded(self, length: int | None = None) -> mongomock.collection.Cursor:
        """The cursor, made to pick and copy only the documents it can return (``store.first_documents``).

        mongomock copies (projects) every matching document, and sorts all of them, before it applies
        ``skip`` and ``limit``: reading the first 20 of a thousand pending replies cost as much as the
        thousand. Only the first ``skip + limit`` in sort order are taken here.
        """
        cursor = self._cursor
        wanted = [n for n in (cursor._limit and abs(cursor._limit), length) if n]
        if wanted:
            collection, first = cursor.collection, cursor._skip + min(wanted)
            spec, sort, projection = cursor._spec, cursor._sort, cursor._projection
            cursor._factory = lambda: first_documents(collection, spec, sort, projection, first)
        return cursor

    def _projected(self, length: int | None = None) -> list[dict[str, Any]] | None:
        """The answer read directly when the projection includes fields (``store.projection``): the stored
        documents picked as mongomock would (``first_stored`` when bounded, in natural order when not
        sorted) and each copied once. None for any other read: mongomock's cursor answers it."""
        cursor = self._cursor
        included = inclusion(cursor._projection)
        if included is None:
            return None
        collection, spec, skip = cursor.collection, cursor._spec, cursor._skip
        wanted = [n for n in (cursor._limit and abs(cursor._limit), length) if n]
        if wanted:
            stored = first_stored(collection, spec, cursor._sort, skip + min(wanted))
        elif not cursor._sort:
            stored = matching_stored(collection, spec)
        else:
            return None
        if stored is None:
            return None
        try:
            return [projected(document, *included) for document in stored[skip:]]
        except Unprojectable:
            return None

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        if (answer := self._projected(length)) is not None:
            return answer
        items = []
        for doc in self._bounded(length):
            items.append(doc)
            if length is not None and len(items) >= length:
                break
        return items

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        answer = self._projected()
        for doc in self._bounded() if answer is None else answer:
            yield doc


class AsyncCollection:
    def __init__(self, collection: mongomock.Collection, persist: Callable[[str, dict[Any, Any]], None]) -> None:
        self._collection = collection
        self._store = indexed(collection)
        self._persist = persist
        self.name = collection.name

    def _matching_ids(self, filter: Mapping[str, Any]) -> list[Any]:  # noqa: A002
        # mongomock stores datetimes naive; its public methods convert the filter the same way.
        spec = patch_datetime_awareness_in_document(filter)
        return [doc["_id"] for doc in self._collection._iter_documents(spec)]

    def _first_id(self, filter: Mapping[str, Any], sort: Any = None) -> list[Any]:  # noqa: A002
        """The id a single-document write will pick: mongomock's order, so the same document."""
        if (named := self._named_document(filter)) is not _NOT_BY_ID:
            return [] if named is None else [named["_id"]]
        found = next(first_documents(self._collection, patch_datetime_awareness_in_document(filter), sort,
                                     {"_id": 1}, 1), None)
        return [] if found is None else [found["_id"]]

    def _write(self, updated_in_place: Iterable[Any], operation: Callable[[], T],
               update: Mapping[str, Any] | None = None) -> T:
        """Run a mongomock write, then store every document it touched before returning.

        Even a failing operation (a duplicate key halfway through ``insert_many``) may have
        changed documents, so they are written in any case. If the disk refuses them, memory
        goes back to what the disk holds and the caller gets ``OperationFailure``.
        """
        updated_in_place = list(updated_in_place)
        fields = _updated_fields(update)
        before = self._store.indexed_values(updated_in_place, fields)
        self._store.forget()
        self._store.remember(updated_in_place, fields)
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
        return self._write((), lambda: plain_insert.insert_one(self._collection, dict(document)))

    async def insert_many(self, documents: Sequence[Mapping[str, Any]], ordered: bool = True) -> Any:
        return self._write((), lambda: plain_insert.insert_many(self._collection, list(map(dict, documents)), ordered))

    async def find_one(self, filter: Mapping[str, Any] | None = None, projection: Any = None,  # noqa: A002
                       **kwargs: Any) -> Any:
        if not kwargs and (named := self._named_document(filter)) is not _NOT_BY_ID and _plain_projection(projection):
            return None if named is None else _copy_out(named, projection)
        # mongomock's find_one copies every match to return the first.
        found = await AsyncCursor(self._collection.find(filter, projection, **kwargs)).to_list(1)
        return found[0] if found else None

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
        named = self._named_document(filter)
        if sort is None and named is not _NOT_BY_ID and (named is not None or not upsert) and \
                _plain_projection(projection):
            return self._write(self._first_id(filter), lambda: self._update_by_id(
                named, filter, update, after=return_document == ReturnDocument.AFTER, projection=projection), update)
        return self._write(self._first_id(filter, sort), lambda: self._collection.find_one_and_update(
            filter, update, sort=sort, upsert=upsert, return_document=return_document, projection=projection), update)

    def _update_by_id(self, stored: dict[str, Any] | None, filter: Mapping[str, Any],  # noqa: A002
                      update: Mapping[str, Any], *, after: bool, projection: Mapping[str, Any] | None) -> Any:
        """``find_one_and_update`` of the document a filter names by ``_id`` (``_named_document``), without
        mongomock's two full queries around the update."""
        if stored is None:
            return None
        before = None if after else _copy_out(stored, projection)
        self._update_one(filter, update, upsert=False)
        return _copy_out(self._store._documents[stored["_id"]], projection) if after else before

    def _named_document(self, filter: Mapping[str, Any] | None) -> Any:  # noqa: A002
        """The stored document a filter naming a plain ``_id`` (and maybe more conditions) matches, or None;
        ``_NOT_BY_ID`` for a filter that names none. Only that document can match: it alone is looked at."""
        if not isinstance(filter, Mapping) or not isinstance(doc_id := filter.get("_id"), _ID_TYPES):
            return _NOT_BY_ID
        stored = self._store._documents.get(doc_id)
        if stored is None or (len(filter) == 1 and type(stored["_id"]) is type(doc_id)):
            return stored
        # {"_id": 1} finds a stored True or 1.0 in the dict; mongomock's matcher decides, as in a query.
        return stored if filter_applies(patch_datetime_awareness_in_document(filter), stored) else None

    def _update_one(self, filter: Mapping[str, Any], update: Mapping[str, Any], *, upsert: bool) -> UpdateResult:  # noqa: A002
        """mongomock's ``update_one``, or the same done directly for a plain update of a document named by ``_id``."""
        stored = self._named_document(filter)
        if isinstance(stored, dict) and (raw := plain_update(self._collection, stored, update)) is not None:
            return UpdateResult(raw, acknowledged=True)
        return self._collection.update_one(filter, update, upsert=upsert)

    async def update_one(self, filter: Mapping[str, Any], update: Mapping[str, Any], upsert: bool = False) -> Any:  # noqa: A002
        return self._write(self._first_id(filter), lambda: self._update_one(filter, update, upsert=upsert), update)

    async def update_many(self, filter: Mapping[str, Any], update: Mapping[str, Any], upsert: bool = False) -> Any:  # noqa: A002
        ids = self._matching_ids(filter)

        def update_each() -> Any:
            result = self._collection.update_many(filter, update, upsert=upsert)
            if len(ids) > 1 and _holds_containers(update):
                # mongomock gives every document it updates the same list or subdocument object: a
                # later update of one would change them all in memory (not on disk) and behind the
                # indexes' back. Each keeps its own copy, as each has in MongoDB.
                documents = self._store._documents
                for doc_id in ids[1:]:
                    if doc_id in documents:
                        documents[doc_id] = copy.deepcopy(documents[doc_id])
            return result

        return self._write(ids, update_each, update)

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
        if not kwargs and (ids := self._store.exact_matches(filter)) is not None:
            return len(ids)
        return self._collection.count_documents(filter, **kwargs)

    async def distinct(self, key: str, filter: Mapping[str, Any] | None = None) -> list[Any]:  # noqa: A002
        return self._collection.distinct(key, filter)

    async def aggregate(self, pipeline: Sequence[Mapping[str, Any]]) -> AsyncCursor:
        # PyMongo's async aggregate() is a coroutine returning a cursor; keep that shape.
        return _ListCursor(list(self._collection.aggregate(list(pipeline))))

    async def create_index(self, keys: Any, **kwargs: Any) -> str:
        # Indexes are not stored: every start declares them again (Store.ensure_indexes). Each field
        # of a compound index gets its own index (equality and range), so any prefix (and a later field alone) is
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
            # a subdocument id is keyed as mongomock keys it
            self[collection]._store[hashdict(i) if isinstance(i := document["_id"], dict) else i] = document
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
