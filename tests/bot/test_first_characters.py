"""The detector scans a message only with the lexicon patterns that can match it, and finds the same."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.first_characters import PatternIndex, first_characters
from bot.lexicon import Lexicon, load_lexicon
from bot.risk import RiskDetector
from contract.config import PROJECT_ROOT


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return load_lexicon()


@pytest.fixture(scope="module")
def eval_texts(detector: RiskDetector) -> list[str]:
    """Every labelled message of the evaluation sets, as the detector's patterns read them (normalised)."""
    texts = []
    for path in sorted(Path(PROJECT_ROOT, "nlu_data", "eval").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(detector.normalise(json.loads(line)["text"]))
    assert len(texts) > 1000
    return texts


def _patterns(lexicon: Lexicon) -> list[re.Pattern[str]]:
    return [cue.regex for cue in lexicon.cues] + [family.regex for family in lexicon.families.values()]


@pytest.mark.parametrize(("pattern", "first"), [
    ("想死", "想"),
    ("(?:想(?:要)?死)|(?:寻死)", "想寻"),
    ("(?:要)?死", "要死"),  # an optional start: the next character can start a match too
    ("(?<!写了)去死", "去"),  # a lookbehind takes no character
    ("(?:想|要|准备)[^，。]{0,4}自杀", "想要准"),
    ("[刀剪]子", "刀剪"),
    ("a{0,2}b+", "ab"),
    ("(?=我)我想", "我"),
])
def test_a_match_starts_with_one_of_the_characters_read_off_the_pattern(pattern: str, first: str) -> None:
    assert first_characters(re.compile(pattern)) == frozenset(first)


@pytest.mark.parametrize("pattern", [
    "(?i)die",  # case-insensitive: "D" starts a match too
    ".死",  # any character
    r"\w+死",  # a class by category
    "[^我]死",  # a negated class
    "[\u4e00-\u9fff]死",  # a range too wide to spell out
    "(?:想)?",  # matches the empty string: anywhere
])
def test_a_pattern_whose_first_characters_cannot_be_told_scans_every_text(pattern: str) -> None:
    assert first_characters(re.compile(pattern)) is None
    assert PatternIndex([re.compile(pattern)]).candidates("你好") == [(0, re.compile(pattern))]


def test_a_pattern_with_inline_global_flags_is_scanned_as_written() -> None:
    pattern = re.compile("(?s)想.死")
    assert PatternIndex([pattern]).checked[0] is pattern
    assert [match.group(0) for match in PatternIndex([pattern]).candidates("好想\n死")[0][1].finditer("好想\n死")] == [
        "想\n死"]


def test_a_pattern_left_out_for_a_text_cannot_match_it(lexicon: Lexicon, eval_texts: list[str]) -> None:
    patterns = _patterns(lexicon)
    index = PatternIndex(patterns)
    for text in eval_texts:
        scanned = {position for position, _ in index.candidates(text)}
        for position in set(range(len(patterns))) - scanned:
            assert patterns[position].search(text) is None, (patterns[position].pattern[:60], text)


def test_a_pattern_behind_its_first_character_check_finds_the_same_matches(lexicon: Lexicon,
                                                                            eval_texts: list[str]) -> None:
    patterns = _patterns(lexicon)
    for pattern, checked in zip(patterns, PatternIndex(patterns).checked, strict=True):
        for text in eval_texts:
            found = [(match.span(), match.groups()) for match in checked.finditer(text)]
            assert found == [(match.span(), match.groups()) for match in pattern.finditer(text)]


def test_an_everyday_message_is_scanned_by_few_of_the_lexicon_s_patterns(lexicon: Lexicon) -> None:
    patterns = _patterns(lexicon)
    index = PatternIndex(patterns)
    assert len(index.candidates("今天食堂的饭还挺好吃")) < len(patterns) // 5
    assert len(index.candidates("")) < 5  # only those whose first characters cannot be told


class CountingIndex:
    """A detector's pattern index that counts the patterns it hands out for scanning."""

    def __init__(self, index: PatternIndex) -> None:
        self.index = index
        self.scanned = 0

    def candidates(self, text: str) -> list[tuple[int, re.Pattern[str]]]:
        found = self.index.candidates(text)
        self.scanned += len(found)
        return found


def test_the_detector_reads_a_message_with_the_patterns_that_can_match_it_only(
        detector: RiskDetector, monkeypatch: pytest.MonkeyPatch) -> None:
    cues, families = CountingIndex(detector._scan.cue_index), CountingIndex(detector._scan.family_index)
    monkeypatch.setattr(detector._scan, "cue_index", cues)
    monkeypatch.setattr(detector._scan, "family_index", families)

    assert detector.assess("我想自杀，今晚就去").level == 3
    assert 0 < cues.scanned < len(detector.lexicon.cues)
    assert 0 < families.scanned < len(detector.lexicon.families) // 2
