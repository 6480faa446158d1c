"""Load and validate the versioned risk lexicon (``nlu_data/lexicon/risk.toml``).

Validation happens once at start-up: a lexicon with an unknown category, a bad level, a
pattern that does not compile or a rule naming an undefined cue family stops the service
instead of silently missing risk later.

Two layers: literal ``cues`` (a phrase that is risk on its own) and compositional ``rules``
(risk only when cue families co-occur within a window: worthlessness x existence, means x
readiness x time, job offer x secrecy, ...). Rules are what let the detector recognise
paraphrases that contain no stock keyword.

Around them: the normaliser's tables (``normalise`` slang, ``separators``, ``pinyin``), hyperbole to
blank (unless ``serious_before`` it), retraction (unless ``insistence`` after it), negation, frames,
and immediacy signs. A cue marked ``ambiguous`` never makes level 3 alone (``Cue``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from contract.config import PROJECT_ROOT

LEXICON_PATH = PROJECT_ROOT / "nlu_data" / "lexicon" / "risk.toml"

CATEGORIES = ("suicide", "self_harm", "abuse_home", "sexual_abuse", "bullying", "runaway", "exploitation",
              "friend_concern")
CueKind = Literal["experience", "topic", "method", "escalator"]
_KINDS = ("experience", "topic", "method", "escalator")
_MACRO = re.compile(r"<([A-Z0-9]+)>")


class LexiconError(ValueError):
    """The lexicon file is unusable; the message names the entry."""


@dataclass(frozen=True, slots=True)
class Cue:
    id: str
    category: str | None  # None: distress without a category
    level: int
    kind: CueKind
    negatable: bool
    regex: re.Pattern[str]
    patterns: tuple[str, ...] = ()  # as written: pinyin is derived from the literal ones
    # An ambiguous cue reads as ordinary life as often as risk ("感冒药吃了"): it never makes level 3
    # alone, ``ordinary`` anywhere in the message (感冒药, 晒太阳) drops it, and ``corroborated_by``
    # (头好晕 after the pills, 对不起), like any other risk hit in the message, confirms it — even
    # in an everyday context.
    ambiguous: bool = False
    ordinary: re.Pattern[str] | None = None
    corroborated_by: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class PinyinSource:
    """What ``bot.pinyin`` may read from Latin letters, besides the literal cue phrases."""

    phrases: tuple[str, ...] = ()  # cue wordings the patterns do not spell out literally (我想死)
    two_character: tuple[str, ...] = ()  # two-character phrases whose full pinyin is unambiguous enough
    initials: dict[str, str] = field(default_factory=dict)  # two-letter abbreviations allowed ("zs": 自杀)
    exclude: frozenset[str] = frozenset()  # phrases whose pinyin is a common other word


@dataclass(frozen=True, slots=True)
class Family:
    """A cue family: one role in a rule (a means, a place, a time, a secrecy marker ...)."""

    name: str
    regex: re.Pattern[str]
    negatable: bool  # "我没有不配活着": a negation right before the match drops it
    whole_words: bool  # match must start and end on jieba token boundaries ("刀" is not in "刀削面")


@dataclass(frozen=True, slots=True)
class Rule:
    """Risk when every family in ``all`` matches within ``window`` characters of the first one."""

    id: str
    category: str | None
    level: int
    all: tuple[str, ...]
    none: tuple[str, ...]  # any of these anywhere in the message vetoes the rule
    window: int


@dataclass(frozen=True, slots=True)
class Immediacy:
    """A generic sign that a danger is happening now (an act in progress, a very near time, a call
    for help, being trapped, a farewell): it turns a nearby level-2 hit of ``categories`` into level 3."""

    name: str
    categories: frozenset[str]
    regex: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Lexicon:
    version: str
    normalise: dict[str, str]
    separators: str
    hyperbole: re.Pattern[str]
    hyperbole_serious: re.Pattern[str] | None  # before hyperbole in its clause: meant ("恨自己恨到想死")
    negation: frozenset[str]
    absent: tuple[str, ...]  # "家里没人": contains a negation word but negates nothing
    inner_negation: tuple[str, ...]
    third_person: tuple[str, ...]
    frames: tuple[str, ...]
    fiction: tuple[str, ...]  # "游戏的boss把我按在地上打": even "我" is a player or a character here
    cues: tuple[Cue, ...]
    families: dict[str, Family]
    rules: tuple[Rule, ...]
    retraction: re.Pattern[str]  # "…哈哈开玩笑的", "(bushi": the writer takes a level-2 remark back
    insistence: re.Pattern[str] | None  # "不，我是认真的": after a retraction, it takes the retraction back
    generic_question: re.Pattern[str]  # "家暴可以报警吗": asks about a topic, names nobody
    immediacy: tuple[Immediacy, ...]
    immediacy_window: int  # characters between a level-2 hit and the immediacy sign
    pinyin: PinyinSource = field(default_factory=PinyinSource)

    def dictionary_words(self) -> list[str]:
        """Words jieba must keep whole (its custom dictionary): negations and markers."""
        words = set(self.negation) | set(self.absent) | set(self.third_person) | set(self.frames)
        words.update(value for value in self.normalise.values() if len(value) > 1)
        return sorted(word for word in words if len(word) > 1)


def load_lexicon(path: Path = LEXICON_PATH) -> Lexicon:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LexiconError(f"{path}: {exc}") from exc
    return parse_lexicon(raw)


def parse_lexicon(raw: dict[str, Any]) -> Lexicon:
    version = raw.get("version")
    if not isinstance(version, str) or not version:
        raise LexiconError("version: required")
    macros: dict[str, str] = raw.get("macros", {})

    def expand(pattern: str, where: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in macros:
                raise LexiconError(f"{where}: unknown macro <{name}>")
            return macros[name]

        return _MACRO.sub(replace, pattern)

    def compile_optional(patterns: list[str], where: str) -> re.Pattern[str] | None:
        return compile_all(patterns, where) if patterns else None

    def compile_all(patterns: list[str], where: str) -> re.Pattern[str]:
        if not patterns:
            raise LexiconError(f"{where}: no patterns")
        try:
            return re.compile("|".join(f"(?:{expand(p, where)})" for p in patterns))
        except re.error as exc:
            raise LexiconError(f"{where}: {exc}") from exc

    cues: list[Cue] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw.get("cues", [])):
        where = f"cues.{index} ({entry.get('id')})"
        cue_id = entry.get("id")
        if not cue_id or cue_id in seen:
            raise LexiconError(f"{where}: id missing or duplicate")
        seen.add(cue_id)
        category = entry.get("category") or None
        if category is not None and category not in CATEGORIES:
            raise LexiconError(f"{where}: unknown category {category!r}")
        level = entry.get("level")
        if level not in (1, 2, 3):
            raise LexiconError(f"{where}: level must be 1, 2 or 3")
        kind = entry.get("kind")
        if kind not in _KINDS:
            raise LexiconError(f"{where}: kind must be one of {_KINDS}")
        patterns = list(entry.get("patterns", []))
        cues.append(Cue(id=cue_id, category=category, level=level, kind=kind,
                        negatable=bool(entry.get("negatable", True)),
                        regex=compile_all(patterns, where), patterns=tuple(patterns),
                        ambiguous=bool(entry.get("ambiguous", False)),
                        ordinary=compile_optional(list(entry.get("ordinary", [])), f"{where}.ordinary"),
                        corroborated_by=compile_optional(list(entry.get("corroborated_by", [])),
                                                         f"{where}.corroborated_by")))
    if not cues:
        raise LexiconError("cues: none defined")
    families: dict[str, Family] = {}
    for name, entry in raw.get("families", {}).items():
        where = f"families.{name}"
        families[name] = Family(name=name, regex=compile_all(list(entry.get("patterns", [])), where),
                                negatable=bool(entry.get("negatable", True)),
                                whole_words=bool(entry.get("whole_words", False)))
    rules: list[Rule] = []
    for index, entry in enumerate(raw.get("rules", [])):
        where = f"rules.{index} ({entry.get('id')})"
        rule_id = entry.get("id")
        if not rule_id or rule_id in seen:
            raise LexiconError(f"{where}: id missing or duplicate")
        seen.add(rule_id)
        category = entry.get("category") or None
        if category is not None and category not in CATEGORIES:
            raise LexiconError(f"{where}: unknown category {category!r}")
        if entry.get("level") not in (1, 2, 3):
            raise LexiconError(f"{where}: level must be 1, 2 or 3")
        needed, vetoes = tuple(entry.get("all", [])), tuple(entry.get("none", []))
        if len(needed) < 2:
            raise LexiconError(f"{where}: a rule combines at least two families")
        unknown = [name for name in needed + vetoes if name not in families]
        if unknown:
            raise LexiconError(f"{where}: unknown families {unknown}")
        window = entry.get("window", 30)
        if not isinstance(window, int) or window < 1:
            raise LexiconError(f"{where}: window must be a positive number of characters")
        rules.append(Rule(id=rule_id, category=category, level=entry["level"], all=needed, none=vetoes,
                          window=window))
    immediacy: list[Immediacy] = []
    section = raw.get("immediacy", {})
    for name, entry in section.get("groups", {}).items():
        where = f"immediacy.groups.{name}"
        categories = frozenset(entry.get("categories", []))
        if not categories or not categories <= set(CATEGORIES):
            raise LexiconError(f"{where}: categories must be a non-empty list of known categories")
        immediacy.append(Immediacy(name=name, categories=categories,
                                   regex=compile_all(list(entry.get("patterns", [])), where)))
    immediacy_window = section.get("window", 24)
    if not isinstance(immediacy_window, int) or immediacy_window < 1:
        raise LexiconError("immediacy.window: must be a positive number of characters")
    pinyin = raw.get("pinyin", {})
    initials = {str(k).lower(): str(v) for k, v in pinyin.get("initials", {}).items()}
    if any(not key.isascii() or not key.isalpha() for key in initials):
        raise LexiconError("pinyin.initials: keys must be Latin letters")
    return Lexicon(
        version=version,
        normalise={str(k).lower(): str(v) for k, v in raw.get("normalise", {}).items()},
        separators=str(raw.get("separators", {}).get("chars", "")),
        hyperbole=compile_all(list(raw.get("hyperbole", {}).get("patterns", [])), "hyperbole"),
        hyperbole_serious=compile_optional(list(raw.get("hyperbole", {}).get("serious_before", [])),
                                           "hyperbole.serious_before"),
        negation=frozenset(raw.get("negation", {}).get("words", [])),
        absent=tuple(raw.get("negation", {}).get("absent", [])),
        inner_negation=tuple(raw.get("negation", {}).get("inner", [])),
        third_person=tuple(sorted(raw.get("third_person", {}).get("markers", []), key=len, reverse=True)),
        frames=tuple(raw.get("frames", {}).get("words", [])),
        fiction=tuple(raw.get("frames", {}).get("fiction", [])),
        cues=tuple(cues),
        families=families,
        rules=tuple(rules),
        retraction=compile_all(list(raw.get("retraction", {}).get("patterns", [])), "retraction"),
        insistence=compile_optional(list(raw.get("retraction", {}).get("insistence", [])), "retraction.insistence"),
        generic_question=compile_all(list(raw.get("generic_question", {}).get("patterns", [])),
                                     "generic_question"),
        immediacy=tuple(immediacy),
        immediacy_window=immediacy_window,
        pinyin=PinyinSource(phrases=tuple(pinyin.get("phrases", [])),
                            two_character=tuple(pinyin.get("two_character", [])), initials=initials,
                            exclude=frozenset(pinyin.get("exclude", []))),
    )
