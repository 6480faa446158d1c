"""Read pinyin and initial letters of the lexicon's risk phrases ("bu xiang huo le", "bxhl", "zs").

The table is derived at load time, with pypinyin, from the lexicon's own phrases: every literal cue
phrase (a pattern that is plain Chinese) of three characters or more, plus the lexicon's
``[pinyin].phrases`` (the commonest wordings of cues written as patterns, such as 我想死). Each
phrase is keyed by its full toneless pinyin ("buxianghuole") and, when it is a wish to die or to
hurt oneself, by its initial letters ("bxhl"). Two-character phrases are too ambiguous by sound
(fangxue is 放学 far more often than 放血, qingsheng 庆生 more than 轻生) and by initials, so they
are read only from the lexicon's short allow-lists. Initials with a vowel could be an English word
(安眠药 is "amy") and are left out.

A Latin run of the message ("wo xiang si le") is split into words; the longest span of whole
words whose concatenation is in the table is rewritten to the phrase. A span is never part of a
word: "switch" is not read as anything.
"""

from __future__ import annotations

import re

from pypinyin import Style, lazy_pinyin

from bot.lexicon import Lexicon

_LITERAL = re.compile(r"[\u4e00-\u9fff]+")
# Letters and the separators people type between syllables ("bu xiang huo le", "zi.sha").
_LATIN_RUN = re.compile(r"[a-z]+(?:[\s.\-_*/·]+[a-z]+)*")
_LATIN_WORD = re.compile(r"[a-z]+")
_VOWELS = frozenset("aeiou")
_ABBREVIATED = frozenset({"suicide", "self_harm"})


class PinyinReader:
    def __init__(self, lexicon: Lexicon) -> None:
        source = lexicon.pinyin
        literal = [(cue, pattern) for cue in lexicon.cues if cue.category is not None and cue.kind != "escalator"
                   for pattern in cue.patterns if len(pattern) >= 3 and _LITERAL.fullmatch(pattern)]
        phrases = ({pattern for _, pattern in literal} | set(source.phrases)) - source.exclude
        # Three initials are also someone's name ("lsy", "zxs"): only the wordings people abbreviate to
        # dodge a filter, a wish to die or to hurt oneself, are read from initials.
        abbreviated = ({pattern for cue, pattern in literal if cue.category in _ABBREVIATED and cue.kind != "method"}
                       | set(source.phrases)) - source.exclude
        self.table: dict[str, str] = {}
        # Longer phrases first, so that a key two phrases share names the fuller one.
        for phrase in sorted(phrases, key=lambda p: (-len(p), p)):
            self.table.setdefault("".join(lazy_pinyin(phrase)), phrase)
        for phrase in sorted(abbreviated, key=lambda p: (-len(p), p)):
            initials = "".join(lazy_pinyin(phrase, style=Style.FIRST_LETTER))
            if not _VOWELS & set(initials):
                self.table.setdefault(initials, phrase)
        for phrase in source.two_character:
            self.table.setdefault("".join(lazy_pinyin(phrase)), phrase)
        self.table.update(source.initials)
        self._longest = max(map(len, self.table), default=0)

    def rewrite(self, text: str) -> str:
        """``text`` with every Latin span that spells a risk phrase replaced by the phrase."""
        if not self.table or not text or not any("a" <= c <= "z" for c in text):
            return text
        return _LATIN_RUN.sub(self._rewrite_run, text)

    def _rewrite_run(self, run: re.Match[str]) -> str:
        words = _LATIN_WORD.findall(run.group(0))
        pieces: list[str] = []
        changed = False
        start = 0
        while start < len(words):
            phrase, end = self._longest_phrase(words, start)
            if phrase is None:
                pieces.append(words[start])
                start += 1
            else:
                pieces.append(phrase)
                changed = True
                start = end
        if not changed:
            return run.group(0)
        # Chinese joins its neighbours directly; Latin words keep a space between them.
        out = pieces[0]
        for previous, piece in zip(pieces, pieces[1:], strict=False):
            out += " " + piece if previous.isascii() and piece.isascii() else piece
        return out

    def _longest_phrase(self, words: list[str], start: int) -> tuple[str | None, int]:
        found: tuple[str | None, int] = (None, start)
        spelled = ""
        for end in range(start, len(words)):
            spelled += words[end]
            if len(spelled) > self._longest:
                break
            phrase = self.table.get(spelled)
            if phrase is not None:
                found = (phrase, end + 1)
        return found
