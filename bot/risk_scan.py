"""The lexicon as the risk detector scans a message with it, compiled once per detector.

Cue and family patterns sit in ``PatternIndex``es (``bot.first_characters``): a message is scanned only
with those that can match it. Word lists the detector asks "is any of these in the text?" (negation,
frames, fiction) are one alternation each: one scan, where a search per word walked the whole list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.first_characters import PatternIndex
from bot.lexicon import Family, Lexicon, Rule


def any_of(words: Iterable[str]) -> re.Pattern[str]:
    """A pattern found in a text exactly when one of ``words`` is (no words: never)."""
    return re.compile("|".join(map(re.escape, sorted(words))) or "(?!)")


class LexiconScan:
    def __init__(self, lexicon: Lexicon, hypothetical: re.Pattern[str]) -> None:
        """``hypothetical``: the if-words that do not frame a clause ending in a wish."""
        self.cue_index = PatternIndex([cue.regex for cue in lexicon.cues])
        self.families: list[tuple[str, Family]] = list(lexicon.families.items())
        self.family_index = PatternIndex([family.regex for _, family in self.families])
        # Each rule with the families it needs all of and those that veto it, as sets.
        self.rules: list[tuple[Rule, frozenset[str], frozenset[str]]] = [
            (rule, frozenset(rule.all), frozenset(rule.none)) for rule in lexicon.rules]
        self.negation = any_of(lexicon.negation)
        self.inner_negation = any_of(lexicon.inner_negation)
        self.frame = any_of(lexicon.frames)
        self.frame_but_if = any_of(frame for frame in lexicon.frames if not hypothetical.match(frame))
        self.fiction = any_of(lexicon.fiction)
