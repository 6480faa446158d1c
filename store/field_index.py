"""One field's in-memory index for the durable store: document ids by value, and the values in order.

``store.memory_index`` keeps one for every field of each declared index. Equality and ``$in`` look
values up; ``$lt``/``$lte``/``$gt``/``$gte`` take a slice of the values in order, within the bound's
comparison bracket (numbers, strings, datetimes): mongomock, like MongoDB, never matches a bound
of one bracket against a value of another. A lookup answers with a superset of what matches —
mongomock's matcher still decides — and ``None`` for a condition the index cannot answer.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Hashable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# What an index lookup yields: a union of id sets, left unbuilt (a range may span many values).
Candidates = list[Set[Any]]

_KEY_TYPES = (str, int, float, bool, type(None), datetime)
_RANGE_OPERATORS = ("$gt", "$gte", "$lt", "$lte")
_NUMBERS, _STRINGS, _DATETIMES = 0, 1, 2


def _bracket(value: Any) -> int | None:
    """The comparison bracket whose values are kept in order, or None for a value no range reaches.

    Booleans share the numbers' list (Python orders them as 0 and 1, and ``True == 1`` makes them one
    key): a range over numbers then also offers booleans, which the matcher refuses.
    """
    if isinstance(value, bool | int):
        return _NUMBERS
    if isinstance(value, float):
        return None if math.isnan(value) else _NUMBERS
    if isinstance(value, str):
        return _STRINGS
    if isinstance(value, datetime):
        return _DATETIMES if value.tzinfo is None else None  # mongomock keeps datetimes naive
    return None


def _is_key(value: Any) -> bool:
    # NaN equals nothing, itself included: no query finds it by value, and it could never be removed.
    return isinstance(value, _KEY_TYPES) and not (isinstance(value, float) and math.isnan(value))


def _keys(values: Sequence[Any]) -> list[Hashable] | None:
    """The index keys of the values an equality or ``$in`` accepts, or None when one of them is no key
    (a list matches as a whole, an embedded document field by field, a pattern as a regex)."""
    return list(values) if all(_is_key(value) for value in values) else None


@dataclass(frozen=True, slots=True)
class Entry:
    """What one document contributes to a field's index."""

    keys: tuple[Hashable, ...] = ()
    is_list: bool = False  # an array: two bounds of one range may be met by two different elements
    unsure: bool = False  # the path crosses an array: the index cannot place it, so every lookup offers it


class FieldIndex:
    """The index of one (possibly dotted) field. A missing field, or one below a missing or scalar
    parent, is keyed as None: that is what ``{field: None}`` matches (and a superset of it)."""

    def __init__(self, field: str) -> None:
        self.field = field
        self._path = field.split(".")
        self._ids: dict[Hashable, set[Any]] = {}
        self._ordered: dict[int, list[Any]] = {_NUMBERS: [], _STRINGS: [], _DATETIMES: []}
        self._lists: set[Any] = set()
        self._unsure: set[Any] = set()

    def entry(self, document: Mapping[str, Any] | None) -> Entry:
        value: Any = document
        for part in self._path:
            if isinstance(value, list):
                return Entry(unsure=True)
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, list):
            return Entry(tuple(item for item in value if _is_key(item)), is_list=True)
        return Entry((value,) if _is_key(value) else ())

    def add(self, doc_id: Any, entry: Entry) -> None:
        if entry.unsure:
            self._unsure.add(doc_id)
        if entry.is_list:
            self._lists.add(doc_id)
        for key in entry.keys:
            ids = self._ids.get(key)
            if ids is not None:
                ids.add(doc_id)
                continue
            self._ids[key] = {doc_id}
            bracket = _bracket(key)
            if bracket is not None:
                insort(self._ordered[bracket], key)

    def remove(self, doc_id: Any, entry: Entry) -> None:
        self._unsure.discard(doc_id)
        self._lists.discard(doc_id)
        for key in entry.keys:
            ids = self._ids.get(key)
            if ids is None:
                continue  # a list holding the same value twice
            ids.discard(doc_id)
            if ids:
                continue
            del self._ids[key]
            bracket = _bracket(key)
            if bracket is not None:
                ordered = self._ordered[bracket]
                del ordered[bisect_left(ordered, key)]

    def lookup(self, condition: Any) -> list[Candidates] | None:
        """For each part of ``condition`` the index can answer, the ids that can meet it (a document
        matching the condition is in every one of them); None when it can answer no part."""
        if not isinstance(condition, dict):
            keys = _keys([condition])
            return None if keys is None else [self._equal(keys)]
        if not condition or not all(isinstance(op, str) and op.startswith("$") for op in condition):
            return None  # equality with an embedded document
        found: list[Candidates] = []
        if "$eq" in condition and (keys := _keys([condition["$eq"]])) is not None:
            found.append(self._equal(keys))
        if isinstance(condition.get("$in"), list | tuple) and (keys := _keys(condition["$in"])) is not None:
            found.append(self._equal(keys))
        bounds: dict[int, dict[str, Any]] = {}
        for op in _RANGE_OPERATORS:
            if op in condition and (bracket := _bracket(condition[op])) is not None:
                bounds.setdefault(bracket, {})[op] = condition[op]
        found.extend(self._range(bracket, ops) for bracket, ops in bounds.items())
        return found or None

    def exactly(self, value: Any) -> Set[Any] | None:
        """The ids of exactly the documents ``{field: value}`` matches, when the index alone can tell: a
        string or a boolean; None for any other value, or while a document's path crosses an array (the
        index cannot place it).

        A list holding the value matches, as its items are keys; a list inside it does not, nor is it keyed.
        ``0`` and ``1.0`` share ``False``'s and ``True``'s keys, and mongomock's matcher, unlike MongoDB's,
        takes them for those booleans too (``tests/store/test_durable_indexes.py`` holds it to that).
        """
        if self._unsure or not isinstance(value, str | bool):
            return None
        return self._ids.get(value, frozenset())

    def _equal(self, keys: list[Hashable]) -> Candidates:
        found: Candidates = [self._ids[key] for key in keys if key in self._ids]
        if self._unsure:
            found.append(self._unsure)
        return found

    def in_order(self, condition: Any, descending: bool) -> Iterator[Set[Any]] | None:
        """The ids within ``condition``'s range (datetimes or strings), value by value in sort order; None
        when the index cannot vouch that they hold every document the condition matches, in that order:
        no range of one such bracket, or a document with a list on the path (sorted by its first item)."""
        if self._lists or self._unsure or not isinstance(condition, dict):
            return None
        ops = {op: condition[op] for op in _RANGE_OPERATORS if op in condition}
        brackets = {_bracket(bound) for bound in ops.values()}
        if len(brackets) != 1 or not brackets <= {_DATETIMES, _STRINGS}:
            return None
        bracket = brackets.pop()
        ordered = self._ordered[bracket]
        low, high = self._bounds(ordered, ops)
        keys = ordered[low:high]
        return (self._ids[key] for key in (reversed(keys) if descending else keys))

    def _range(self, bracket: int, ops: dict[str, Any]) -> Candidates:
        ordered = self._ordered[bracket]
        low, high = self._bounds(ordered, ops)
        found: Candidates = [self._ids[key] for key in ordered[low:high]]
        if self._lists and ops.keys() & {"$gt", "$gte"} and ops.keys() & {"$lt", "$lte"}:
            found.append(self._lists)  # [1, 10] meets {$gt: 5, $lt: 3}: one element each
        if self._unsure:
            found.append(self._unsure)
        return found

    @staticmethod
    def _bounds(ordered: list[Any], ops: dict[str, Any]) -> tuple[int, int]:
        """The slice of ``ordered`` within the range ``ops``."""
        low, high = 0, len(ordered)
        for op, bound in ops.items():
            if op == "$gt":
                low = max(low, bisect_right(ordered, bound))
            elif op == "$gte":
                low = max(low, bisect_left(ordered, bound))
            elif op == "$lt":
                high = min(high, bisect_left(ordered, bound))
            else:
                high = min(high, bisect_right(ordered, bound))
        return low, high
