"""Normalise a youth's message before the risk detector reads it.

Real writing dodges filters and arrives in every script: Traditional characters, full-width
letters, "自/杀" and "自 杀", zero-width characters, emoji, slang ("紫砂", "想zs"), pinyin
("bu xiang huo le") and initial letters ("bxhl"). The detector's lexicon is written once, in
Simplified Chinese; this module brings every spelling back to it. Steps, in order:

1. invisible and control characters out (they split words without showing), NFKC (full width ->
   half width), lower case, tone marks off Latin letters, Traditional -> Simplified (OpenCC ``t2s``);
2. emoji the lexicon maps (🔪 -> 刀) rewritten, every other emoji removed;
3. separators and spaces put inside a word to dodge filters removed ("自.杀", "自 / 杀", "我 想 死");
4. the lexicon's slang table, whose Latin spellings apply on token boundaries only ("想s" is 想死,
   "我想switch" is not);
5. Latin runs read as pinyin or initial letters of the lexicon's own risk phrases (``bot.pinyin``);
6. punctuation to its full-width form, spaces to clause breaks, hyperbole blanked (笑死, 累死了),
   unless something serious stands before it in the clause ("恨自己恨到想死", "把自己饿死").

It never raises: whatever comes in (empty, huge, control characters, emoji only), a string comes out.
"""

from __future__ import annotations

import re
import unicodedata

import opencc

from bot.lexicon import Lexicon
from bot.pinyin import PinyinReader

CJK = "\u4e00-\u9fff\u3400-\u4dbf"
# Zero-width and formatting characters split a word without showing ("自\u200b杀").
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u206f\ufe00-\ufe0f\ufeff\U000e0000-\U000e007f]")
# Control characters: a line break stays a break; the rest are noise.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")  # and lone surrogates, which no codec takes
_EMOJI = re.compile("[\u2190-\u21ff\u2300-\u23ff\u2460-\u24ff\u25a0-\u27bf\u2900-\u297f\u2b00-\u2bff"
                    "\u3030\u303d\u3297\u3299\U0001f000-\U0001faff]")
# "……" is an ellipsis, a pause between clauses; NFKC makes it "..." which would read as a separator.
_ELLIPSIS = re.compile(r"…+|\.{3,}|。{2,}")
_SPACES = re.compile(r"[\s\u3000]+")
# "我想 自 杀": a space around a lone character is dodging, not a clause break.
_LONE_CHAR_SPACE = re.compile(rf"(?<=[{CJK}])\s+(?=[{CJK}](?:\s|$))|(?:(?<=^[{CJK}])|(?<=\s[{CJK}]))\s+(?=[{CJK}])")
_PUNCT = str.maketrans({",": "，", "!": "！", "?": "？", ";": "；", "~": "。", "～": "。"})
# Pinyin typed with tone marks ("wǒ xiǎng sǐ") reads as plain letters; ü is typed v.
_TONES = str.maketrans({c: base for base, marked in {
    "a": "āáǎà", "e": "ēéěè", "i": "īíǐì", "o": "ōóǒò", "u": "ūúǔù", "v": "üǖǘǚǜ"}.items() for c in marked})


def latin_bounded(literal: str) -> str:
    """``literal`` as a regex that never matches inside a Latin word: "想s" is not in "想switch"."""
    pattern = re.escape(literal)
    if literal[:1].isascii() and literal[:1].isalpha():
        pattern = f"(?<![a-z]){pattern}"
    if literal[-1:].isascii() and literal[-1:].isalpha():
        pattern = f"{pattern}(?![a-z])"
    return pattern


class Normaliser:
    """Turns any message into the lexicon's spelling; built once per lexicon (OpenCC, pinyin table)."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self._t2s = opencc.OpenCC("t2s")
        emoji = {k: v for k, v in lexicon.normalise.items() if _EMOJI.fullmatch(k)}
        words = {k: v for k, v in lexicon.normalise.items() if k not in emoji}
        self._emoji, self._emoji_map = _alternation(emoji), emoji
        self._slang, self._slang_map = _alternation(words), words
        seps = re.escape(lexicon.separators)
        self._dodge = (re.compile(rf"(?<=[{CJK}])[\s{seps}]*[{seps}][\s{seps}]*(?=[{CJK}])") if seps else None)
        self.pinyin = PinyinReader(lexicon)

    def __call__(self, text: object) -> str:
        text = text if isinstance(text, str) else ("" if text is None else str(text))
        if not text:
            return ""
        text = _CONTROL.sub("", _INVISIBLE.sub("", text.replace("\r", "\n").replace("\t", " ")))
        text = unicodedata.normalize("NFKC", text).lower()
        if not text.isascii():
            text = self._t2s.convert(text.translate(_TONES))
            text = _ELLIPSIS.sub("。", text)
            if self._emoji is not None:
                text = self._emoji.sub(lambda m: self._emoji_map[m.group(0)], text)
            text = _EMOJI.sub("", text)
            # Spacing and separators go before the slang table so that "自 鲨" / "紫.砂" meet it whole.
            if self._dodge is not None:
                text = self._dodge.sub("", text)
            text = _LONE_CHAR_SPACE.sub("", text)
        else:
            text = _ELLIPSIS.sub("。", text)
        if self._slang is not None:
            text = self._slang.sub(lambda m: self._slang_map[m.group(0)], text)
        text = self.pinyin.rewrite(text)
        text = _SPACES.sub("，", text.translate(_PUNCT)).strip("，")
        return self.blank_hyperbole(text)

    def blank_hyperbole(self, text: str) -> str:
        """Blank chat hyperbole with a clause break, so that it neither fires nor joins its neighbours.

        Not when the clause before it is serious: "恨自己恨到想死" and "把自己饿死" mean what they say.
        """
        serious = self.lexicon.hyperbole_serious

        def blank(match: re.Match[str]) -> str:
            if serious is not None:
                clause_start = max(text.rfind(mark, 0, match.start()) for mark in "，。！？；\n") + 1
                if serious.search(text[clause_start:match.start()]):
                    return match.group(0)
            return "，"

        return self.lexicon.hyperbole.sub(blank, text)


def _alternation(table: dict[str, str]) -> re.Pattern[str] | None:
    """One regex over the table's keys, longest first, Latin keys bounded (see ``latin_bounded``)."""
    if not table:
        return None
    return re.compile("|".join(latin_bounded(key) for key in sorted(table, key=len, reverse=True)))
