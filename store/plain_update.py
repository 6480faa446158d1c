"""Plain updates of one stored document, applied without mongomock's update machinery.

Most writes on a message's way are an update of one document by ``_id`` that sets, increments or
removes a few fields: the sequence counter, the processed flag, an outbox claim, a conversation's
handoff state. mongomock answers each by running its query to find the document, deep-copying the
whole document to tell afterwards whether it changed, and walking its updater table: about a third of
a write's CPU, profiled under load. Here such an update is applied to the stored document directly,
with mongomock's results: the same values stored (datetimes naive, to the millisecond; containers
copied), the same ``UpdateResult`` counts, the same refusals with the document left as it was.

Only ``$set``, ``$inc``, ``$unset`` and ``$setOnInsert`` (ignored: the document exists) of paths that
do not overlap, through embedded documents only, are taken. Anything else answers ``None`` and goes to
mongomock unchanged: another operator, a positional or ``$`` path, an array on the path, an ``$inc``
of something that is not a number, a value BSON cannot hold (mongomock raises for it only after
applying the operators before it, and the caller keeps that behaviour by letting it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import bson
import mongomock
from mongomock import DuplicateKeyError
from mongomock.helpers import patch_datetime_awareness_in_document

from store.memory_index import AS_STORED, copied, unique_conflict

_PLAIN_OPERATORS: Final = frozenset({"$set", "$inc", "$unset", "$setOnInsert"})


@dataclass(frozen=True, slots=True)
class _Change:
    operator: str
    path: tuple[str, ...]
    value: Any


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _changes(update: Any) -> list[_Change] | None:
    """The update as changes applied in its order, or None when it is not plain."""
    if type(update) is not dict or not update or not update.keys() <= _PLAIN_OPERATORS:
        return None
    changes = []
    for operator, fields in update.items():
        if type(fields) is not dict or not fields:  # mongomock refuses an empty operator: its own way
            return None
        if operator == "$setOnInsert":
            continue  # the document exists: nothing of it is applied, nothing validated
        for path, value in fields.items():
            if not isinstance(path, str) or "$" in path or "\0" in path:
                return None
            parts = tuple(path.split("."))
            if not all(parts) or parts[0] == "_id" or (operator == "$inc" and not _is_number(value)):
                return None
            changes.append(_Change(operator, parts, value if type(value) in AS_STORED else
                                   patch_datetime_awareness_in_document(value)))
    paths = sorted(change.path for change in changes)
    if any(later[:len(path)] == path for path, later in zip(paths, paths[1:], strict=False)):
        return None  # one path inside (or equal to) another: applied in order by mongomock alone
    return changes


def _applies_plainly(document: dict[str, Any], change: _Change) -> bool:
    """Whether mongomock would apply ``change`` through embedded documents only (or skip it, as it
    does below a scalar): no array on the path, and an ``$inc`` adds to a number or to nothing."""
    node: Any = document
    for part in change.path[:-1]:
        if isinstance(node, list):
            return False
        if not isinstance(node, dict) or part not in node:
            return True  # below a scalar: skipped; a missing part: created as an embedded document
        node = node[part]
    if isinstance(node, list):
        return False
    if change.operator == "$inc" and isinstance(node, dict) and change.path[-1] in node:
        return _is_number(node[change.path[-1]])
    return True


def _bson_valid(changes: list[_Change]) -> bool:
    """What mongomock's ``$set`` checks of each value before storing it (all values in one encoding)."""
    values = {str(n): change.value for n, change in enumerate(changes) if change.operator == "$set"}
    try:
        bson.encode(values)
    except Exception:  # noqa: BLE001 - whatever bson refuses, mongomock raises it: left to mongomock
        return False
    return True


def _apply(document: dict[str, Any], change: _Change) -> bool:
    """Apply one change as mongomock's updaters do; whether the document changed."""
    node: Any = document
    created = False
    for part in change.path[:-1]:
        if not isinstance(node, dict) or (change.operator == "$unset" and part not in node):
            return created
        if part not in node:
            node[part] = {}
            created = True
        node = node[part]
    if not isinstance(node, dict):
        return created
    name, present = change.path[-1], change.path[-1] in node
    if change.operator == "$unset":
        node.pop(name, None)
        return created or present
    old = node.get(name)
    new = change.value if change.operator == "$set" else node.get(name, 0) + change.value
    node[name] = new
    return created or not present or old != new


def plain_update(collection: mongomock.Collection, document: dict[str, Any], update: Any) -> dict[str, Any] | None:
    """Apply ``update`` to ``document`` (stored in ``collection``) as mongomock's ``update_one`` would;
    its raw result, or None (nothing done) when the update is not plain.

    Raises ``DuplicateKeyError``, with the stored document put back as it was, when the update breaks a
    unique index.
    """
    changes = _changes(update)
    if changes is None or not all(_applies_plainly(document, change) for change in changes):
        return None
    if not _bson_valid(changes):
        return None
    fields = frozenset(change.path[0] for change in changes)
    kept = _kept(collection, document, fields)
    modified = False
    for change in changes:
        modified |= _apply(document, change)
    if modified and kept is not None and unique_conflict(collection, document, fields):
        order, values = kept
        # As mongomock does: the stored document is replaced by what it was.
        collection._store[document["_id"]] = {field: values.get(field, document.get(field)) for field in order}
        raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)
    return {"connectionId": collection.database.client._id, "err": None, "n": 1, "nModified": int(modified),
            "ok": 1, "upserted": None, "updatedExisting": True}


def _kept(collection: mongomock.Collection, document: dict[str, Any],
          fields: Iterable[str]) -> tuple[list[str], dict[str, Any]] | None:
    """The field order and copies of the ``fields`` a unique index reads, to put back on a refusal; None
    when no unique index reads them (nothing can be refused)."""
    unique = {key.split(".", 1)[0] for index in collection._store.indexes.values() if index.get("unique")
              for key, _ in index.get("key", ())}
    if not unique.intersection(fields):
        return None
    return list(document), {field: copied(document[field]) for field in fields if field in document}
