"""A text as the risk detector reads it: boundaries and look-ups that answer as the plain searches do."""

from __future__ import annotations

import random
import re

import pytest

from bot.risk_reading import Reading, Spans

_ALPHABET = "我想死要如果，。！？；\n不被他"


def _texts() -> list[str]:
    rng = random.Random(15)
    return ["", "，", "我想死", "。我。"] + ["".join(rng.choices(_ALPHABET, k=rng.randint(1, 40))) for _ in range(300)]


def test_clause_and_sentence_are_the_searched_boundaries() -> None:
    for text in _texts():
        reading = Reading(text)
        for position in range(len(text) + 1):
            start = max(text.rfind(mark, 0, position) for mark in "，。！？；\n") + 1
            following = re.compile(r"[，。！？；\n]").search(text, position)
            assert reading.clause(position) == (start, following.start() if following else len(text))
            start = max(text.rfind(mark, 0, position) for mark in "。！？\n") + 1
            following = re.compile(r"[。！？\n]").search(text, position)
            assert reading.sentence(position) == (start, following.start() if following else len(text))


@pytest.mark.parametrize("pattern", [re.compile(r"如果|要是"), re.compile(r"想|要|想死要"), re.compile(r"死要?")])
def test_occurs_answers_as_a_search_of_the_slice(pattern: re.Pattern[str]) -> None:
    for text in _texts():
        reading = Reading(text)
        for position in range(len(text) + 1):
            start, end = reading.clause(position)
            assert reading.occurs(pattern, start, position, end) == bool(pattern.search(text[start:position]))


def test_spans_cover_as_any_single_span_does() -> None:
    rng = random.Random(15)
    for _ in range(200):
        spans = [(start, start + rng.randint(1, 6)) for start in rng.choices(range(30), k=rng.randint(0, 8))]
        covering = Spans(spans)
        for start in range(32):
            for end in range(start + 1, start + 8):
                expected = any(first <= start and end <= last for first, last in spans)
                assert covering.cover(start, end) == expected
