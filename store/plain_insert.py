"""Inserts into the durable store, done without mongomock's insert machinery for a plain document.

Every message stored, and most of a first message's writes, is an insert. mongomock's ``insert_one``
walks each key of the document for a null character (``isinstance(…, Mapping)`` per value, an abc
check), parses its PyMongo version string, copies the document through its time-zone patch, and asks
the store twice under its lock: about half of an insert's CPU, the disk's commit included (cProfile of
5,000 inserts into a messages collection holding 20,000; 150-200 -> 130-170 us of CPU an insert, timed).
Here a plain document is checked, copied and stored in one pass, as mongomock stores it: datetimes
naive UTC to the millisecond, tuples made lists, every container copied, a missing ``_id`` appended as a
new ``ObjectId`` (also to the dict given, as mongomock does; the durable store gives it a copy of the
caller's).

Plain: string keys without a null character, none at the top level starting with ``$``, subdocuments
that are dicts, an ``_id`` that is not a subdocument, and a document BSON can encode. Anything else goes
to mongomock unchanged, so that every refusal (``ValueError``, ``InvalidDocument``, ``TypeError``) is
its own. A duplicate ``_id`` or a broken unique index raises ``DuplicateKeyError`` with nothing stored,
as from mongomock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import bson
import mongomock
from bson import ObjectId
from mongomock.helpers import patch_datetime_awareness_in_document
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError
from pymongo.results import InsertManyResult, InsertOneResult

from store.memory_index import AS_STORED


class _NotPlain(Exception):  # noqa: N818 - a signal to leave the document to mongomock, not an error
    pass


def _stored(value: Any, *, top_level: bool = False) -> Any:
    """``value`` as mongomock stores it (``patch_datetime_awareness_in_document``), after the key checks
    it makes; raises ``_NotPlain`` where those checks (or BSON's) could refuse a key."""
    if type(value) in AS_STORED:
        return value
    if isinstance(value, dict):
        copy = OrderedDict() if isinstance(value, OrderedDict) else {}
        for key, item in value.items():
            if type(key) is not str or "\0" in key or (top_level and key[:1] == "$"):
                raise _NotPlain
            copy[key] = item if type(item) in AS_STORED else _stored(item)
        return copy
    if isinstance(value, list | tuple):
        return [_stored(item) for item in value]
    if isinstance(value, Mapping):
        raise _NotPlain  # another kind of mapping: mongomock checks its keys, and may refuse them
    return patch_datetime_awareness_in_document(value)  # a datetime, a Timestamp, or kept as it is


def _plain_copy(data: dict[str, Any]) -> dict[str, Any] | None:
    """The document as mongomock would store it, or None when mongomock must decide about it."""
    if isinstance(data.get("_id"), dict):
        return None  # mongomock keys it by a hashable copy
    try:
        stored = _stored(data, top_level=True)
        bson.encode(data)  # what mongomock checks of the document as given
    except Exception:  # noqa: BLE001 - _NotPlain, or whatever BSON refuses: mongomock raises it its own way
        return None
    return stored


def _insert(collection: mongomock.Collection, data: dict[str, Any]) -> Any:
    """Insert ``data`` as mongomock's ``_insert`` does, directly when it is plain; the id it is stored by."""
    stored = _plain_copy(data)
    if stored is None:
        return collection._insert(data)
    if "_id" not in data:
        data["_id"] = stored["_id"] = ObjectId()
    doc_id = data["_id"]
    store = collection._store
    if doc_id in store._documents:
        raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)
    store[doc_id] = stored
    try:
        collection._ensure_uniques(stored)
    except DuplicateKeyError:
        del store[doc_id]
        raise
    return doc_id


def insert_one(collection: mongomock.Collection, data: dict[str, Any]) -> InsertOneResult:
    """mongomock's ``insert_one`` of ``data`` (a dict the caller gives up)."""
    return InsertOneResult(_insert(collection, data), acknowledged=True)


def insert_many(collection: mongomock.Collection, documents: list[dict[str, Any]], ordered: bool) -> InsertManyResult:
    """mongomock's ``insert_many``: every document in turn; a duplicate is reported in a ``BulkWriteError``
    after the others (``ordered``: the first one stops the rest); any other refusal is raised at once."""
    if not documents:
        return collection.insert_many(documents, ordered=ordered)  # mongomock's refusal of an empty list
    ids: list[Any] = []
    errors: list[dict[str, Any]] = []
    for index, data in enumerate(documents):
        try:
            ids.append(_insert(collection, data))
        except WriteError as error:
            errors.append({"index": index, "code": error.code, "errmsg": str(error), "op": data})
            if ordered:
                break
    if errors:
        raise BulkWriteError({"writeErrors": errors, "nInserted": len(ids)})
    return InsertManyResult(ids, acknowledged=True)
