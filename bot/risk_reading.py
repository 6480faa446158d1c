"""One normalised text as the risk detector reads it: its clause and sentence boundaries, found once.

The detector asks about the clause or sentence around every cue it matched: is it framed, is it the
writer's own, is there a wish or an "if" before the cue, is the cue negated. Searching back from each
cue for the clause start, or reading the clause again for each cue, makes a long unpunctuated message
quadratic in its length ("我想死" 667 times is one clause of 2,001 characters and 667 cues). Here the
boundaries are found in one pass and looked up by bisection, what a clause says is kept per clause
(``clause_facts``), and whether a pattern occurs between a boundary and a cue is answered from the
pattern's first match after that boundary, so the whole reading grows with the text's length.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

CLAUSE_BREAK = re.compile(r"[，。！？；\n]")
SENTENCE_BREAK = re.compile(r"[。！？\n]")


@dataclass(frozen=True, slots=True)
class ClauseFacts:
    """What the detector reads in a clause, the same for every cue in it."""

    framed: bool  # a frame or fiction word, not undone by a wish ("如果…就好了")
    personal: bool  # the writer's own: 我, or 被 outside a frame
    has_frame: bool  # any frame word at all


class Reading:
    """``text`` with lookups the detector makes around each cue; built per text, never shared."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._clause_breaks = [match.start() for match in CLAUSE_BREAK.finditer(text)]
        self._sentence_breaks = [match.start() for match in SENTENCE_BREAK.finditer(text)]
        self._first: dict[tuple[re.Pattern[str], int], re.Match[str] | None] = {}
        self.clause_facts: dict[int, ClauseFacts] = {}  # by the clause's start
        # Whether the few characters before a cue negate it, by those characters: a flood repeats them.
        self.negated: dict[str, bool] = {}

    def clause(self, position: int) -> tuple[int, int]:
        """Start and end of the clause holding ``position``; a break at ``position`` ends it."""
        return _span(self._clause_breaks, position, len(self.text))

    def sentence(self, position: int) -> tuple[int, int]:
        """Start and end of the sentence holding ``position`` (clause marks such as "，" do not end one)."""
        return _span(self._sentence_breaks, position, len(self.text))

    def occurs(self, pattern: re.Pattern[str], start: int, position: int, end: int) -> bool:
        """Whether ``pattern`` matches inside ``text[start:position]``, for ``start <= position <= end``.

        Answered from the first match in ``text[start:end]``, searched once per (pattern, start).
        Only for patterns without anchors or look-arounds, whose matches do not depend on where the
        searched text ends.
        """
        key = (pattern, start)
        if key not in self._first:
            self._first[key] = pattern.search(self.text, start, end)
        first = self._first[key]
        if first is None or first.start() >= position:
            return False
        if first.end() <= position:
            return True
        # The first match runs past the cue; a shorter one may still fit before it (rare, and only
        # for the few cues inside that first match).
        return pattern.search(self.text, start, position) is not None


def _span(breaks: list[int], position: int, length: int) -> tuple[int, int]:
    index = bisect_left(breaks, position)
    start = breaks[index - 1] + 1 if index else 0
    end = breaks[index] if index < len(breaks) else length
    return start, end


class Spans:
    """Character spans, asked whether one of them covers another span: sorted by start, with the
    furthest end reached so far, so each question is one bisection."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        spans = sorted(spans)
        self._starts = [start for start, _ in spans]
        self._reach: list[int] = []
        for _, end in spans:
            self._reach.append(max(end, self._reach[-1]) if self._reach else end)

    def cover(self, start: int, end: int) -> bool:
        before = bisect_right(self._starts, start)
        return bool(before) and self._reach[before - 1] >= end
