"""Which of many patterns can match a text at all, told by the characters their matches can start with.

The risk detector reads every message with each of the lexicon's ~50 cue and ~170 family patterns, on
the event loop (the routing backlog's screen of every new message), and scanning with all of them was
most of its time. A match starts with one of a set of characters that can be read off the parsed
pattern: a text holding none of them is not scanned with that pattern at all (most patterns, for most
messages), and the others scan behind a lookahead for those characters (``PatternIndex.checked``).
Neither changes what a pattern finds.

Where the first characters cannot be told for certain — case-insensitive matching, any character, a
class by category or by negation, or a pattern that can match the empty string — the
pattern is scanned on every text, as before.
"""

from __future__ import annotations

import re
import re._constants as sre  # the parsed form's opcodes (the same module ``re`` compiles with)
import re._parser as sre_parse
from collections.abc import Iterable, Sequence
from typing import Any

_WIDEST_RANGE = 512  # characters of a class range spelled out; a wider one (\u4e00-\u9fff) is "unknown"


class _Unknown(Exception):
    """The pattern holds something whose first characters are not spelled out."""


def first_characters(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """The characters any match of ``pattern`` starts with, or None when they cannot be told."""
    if pattern.flags & re.IGNORECASE:
        return None
    try:
        characters, may_be_empty = _sequence(sre_parse.parse(pattern.pattern, pattern.flags))
    except _Unknown:
        return None
    return None if may_be_empty else frozenset(characters)


def _sequence(items: Iterable[tuple[Any, Any]]) -> tuple[set[str], bool]:
    """(first characters, whether the sequence can match nothing) of items matched one after another."""
    characters: set[str] = set()
    for opcode, argument in items:
        more, may_be_empty = _item(opcode, argument)
        characters |= more
        if not may_be_empty:
            return characters, False
    return characters, True


def _item(opcode: Any, argument: Any) -> tuple[set[str], bool]:
    if opcode is sre.LITERAL:
        return {chr(argument)}, False
    if opcode is sre.IN:
        return _class(argument), False
    if opcode is sre.BRANCH:
        characters: set[str] = set()
        may_be_empty = False
        for alternative in argument[1]:
            more, empty = _sequence(alternative)
            characters |= more
            may_be_empty = may_be_empty or empty
        return characters, may_be_empty
    if opcode is sre.SUBPATTERN:
        _, added_flags, _, items = argument
        if added_flags & re.IGNORECASE:
            raise _Unknown
        return _sequence(items)
    if opcode in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        least, _, items = argument
        characters, may_be_empty = _sequence(items)
        return characters, may_be_empty or least == 0
    if opcode is sre.ATOMIC_GROUP:
        return _sequence(argument)
    if opcode in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):  # anchors and lookarounds take no character
        return set(), True
    raise _Unknown


def _class(members: Iterable[tuple[Any, Any]]) -> set[str]:
    characters: set[str] = set()
    for opcode, argument in members:
        if opcode is sre.LITERAL:
            characters.add(chr(argument))
        elif opcode is sre.RANGE and argument[1] - argument[0] < _WIDEST_RANGE:
            characters.update(map(chr, range(argument[0], argument[1] + 1)))
        else:  # NEGATE, CATEGORY (\w, \d), a wide range
            raise _Unknown
    return characters


def _behind_check(pattern: re.Pattern[str], characters: frozenset[str] | None) -> re.Pattern[str]:
    """``pattern`` behind a lookahead for its first ``characters``: the same matches (spans, groups), found sooner.

    The regex engine tries every alternative of a pattern at every position of the text, and skips ahead
    by first characters on its own only when every alternative starts with a literal (a lexicon pattern
    has dozens of alternatives, some starting with a lookbehind or a group of words). Behind the
    lookahead, a position that cannot start a match costs one character test. A pattern whose first
    characters cannot be told, or whose flags the wrapping could change (verbose), is returned as it is.
    """
    if characters is None or pattern.flags & re.VERBOSE:
        return pattern
    lookahead = "".join(re.escape(character) for character in sorted(characters))
    try:
        return re.compile(f"(?=[{lookahead}])(?:{pattern.pattern})", pattern.flags)
    except re.error:  # global flags written inline ("(?s)…") must stay at the start
        return pattern


class PatternIndex:
    """Patterns read together: only those that can match a text scan it, each as ``checked`` holds it:
    behind a lookahead for its first characters where they can be told."""

    def __init__(self, patterns: Sequence[re.Pattern[str]]) -> None:
        self.checked: list[re.Pattern[str]] = []
        self._always: list[int] = []  # patterns whose first characters cannot be told: they scan every text
        self._by_character: dict[str, list[int]] = {}
        for position, pattern in enumerate(patterns):
            characters = first_characters(pattern)  # parsed once: for the check and for the index
            self.checked.append(_behind_check(pattern, characters))
            if characters is None:
                self._always.append(position)
                continue
            for character in characters:
                self._by_character.setdefault(character, []).append(position)

    def candidates(self, text: str) -> list[tuple[int, re.Pattern[str]]]:
        """(position, pattern to scan with) of every pattern that can match somewhere in ``text``, in the
        patterns' order; the others cannot match it."""
        positions = set(self._always)
        by_character = self._by_character
        for character in set(text):
            found = by_character.get(character)
            if found is not None:
                positions.update(found)
        return [(position, self.checked[position]) for position in sorted(positions)]
