"""Stored documents copied out as the durable store returns them: projected, with aware datetimes, in one pass.

mongomock answers a projected ``find`` by building a nested spec of the projection for every document
it yields, copying the included fields value by value, then copying the result once more to give its
datetimes their UTC zone (``tz_aware``). The place-notice pass reads the desk's whole queue (~500
waiting at 500 pushes/s) projected to a queue position's few fields: 30-40 ms of the event loop in one
block, most of it those copies. An inclusion projection (plain or dotted paths, ``_id`` shown or not) is
parsed once per read here and each document copied once; anything else stays with mongomock. The
answers are mongomock's, field order included (``tests/store/test_projection.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bson.tz_util import utc

from store.memory_index import AS_STORED  # values returned as they are stored: skipped without a call each

# A path's end in an ``Included`` tree: the whole value under it is copied.
WHOLE = True

Included = dict[str, Any]  # field -> WHOLE, or the Included tree of its subdocument's fields


def aware(value: Any) -> Any:
    """A copy of a stored value as mongomock's ``tz_aware`` client returns it: datetimes in UTC."""
    if isinstance(value, dict):
        return {key: item if type(item) in AS_STORED else aware(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [aware(item) for item in value]
    if isinstance(value, datetime):
        return value.replace(tzinfo=utc)
    return value  # str, int, bytes, ObjectId, None ...: immutable


def inclusion(projection: Any) -> tuple[Included, bool] | None:
    """The fields an inclusion projection names, as a tree of paths, and whether it shows ``_id``; None for
    any other projection (exclusions, operators, ``$`` paths, one path inside another): mongomock's to answer."""
    if not isinstance(projection, Mapping):
        return None
    shown_id = projection.get("_id", 1)
    named = [field for field in projection if field != "_id"]
    if not named or not all(_is_one(projection[field]) for field in named) or \
            not (_is_one(shown_id) or _is_zero(shown_id)):
        return None
    tree: Included = {}
    for field in named:
        parts = field.split(".")
        if parts[0] == "_id" or any(not part or part.startswith("$") for part in parts):
            return None
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if node is WHOLE:
                return None  # "a" and "a.b": mongomock refuses the collision
        if parts[-1] in node:
            return None
        node[parts[-1]] = WHOLE
    return tree, _is_one(shown_id)


def _is_one(value: Any) -> bool:
    return type(value) in (int, bool) and value == 1


def _is_zero(value: Any) -> bool:
    return type(value) in (int, bool) and value == 0


class Unprojectable(Exception):  # noqa: N818 - a signal to fall back, not an error
    """A path runs into a list holding something other than subdocuments (mongomock fails on it)."""


def projected(document: Mapping[str, Any], tree: Included, with_id: bool) -> dict[str, Any]:
    """``document`` projected to ``tree``, as mongomock's projected ``find`` returns it: the included
    fields in the document's order, ``_id`` last; a dotted path through a list projects each subdocument.
    Raises ``Unprojectable`` where mongomock would fail."""
    copy = _fields(document, tree)
    if with_id and "_id" in document:
        copy["_id"] = aware(document["_id"])
    return copy


def _fields(document: Mapping[str, Any], tree: Included) -> dict[str, Any]:
    copy: dict[str, Any] = {}
    for key, value in document.items():
        below = tree.get(key)
        if below is None:
            continue
        if below is WHOLE:
            copy[key] = value if type(value) in AS_STORED else aware(value)
        elif isinstance(value, dict):
            copy[key] = _fields(value, below)
        elif isinstance(value, list | tuple):
            if not all(isinstance(item, dict) for item in value):
                raise Unprojectable(key)
            copy[key] = [_fields(item, below) for item in value]
        # a plain value where the path goes on: left out
    return copy
