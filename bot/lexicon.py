"""Load and validate the versioned risk lexicon (``nlu_data/lexicon/risk.toml``).

Validation happens once at start-up: a lexicon with an unknown category, a bad level or a
pattern that does not compile stops the service instead of silently missing risk later.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gateway.config import PROJECT_ROOT

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


@dataclass(frozen=True, slots=True)
class Lexicon:
    version: str
    normalise: dict[str, str]
    separators: str
    hyperbole: re.Pattern[str]
    negation: frozenset[str]
    inner_negation: tuple[str, ...]
    third_person: tuple[str, ...]
    frames: tuple[str, ...]
    cues: tuple[Cue, ...]

    def dictionary_words(self) -> list[str]:
        """Words jieba must keep whole (its custom dictionary): negations and markers."""
        words = set(self.negation) | set(self.third_person) | set(self.frames)
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
        cues.append(Cue(id=cue_id, category=category, level=level, kind=kind,
                        negatable=bool(entry.get("negatable", True)),
                        regex=compile_all(list(entry.get("patterns", [])), where)))
    if not cues:
        raise LexiconError("cues: none defined")
    return Lexicon(
        version=version,
        normalise={str(k).lower(): str(v) for k, v in raw.get("normalise", {}).items()},
        separators=str(raw.get("separators", {}).get("chars", "")),
        hyperbole=compile_all(list(raw.get("hyperbole", {}).get("patterns", [])), "hyperbole"),
        negation=frozenset(raw.get("negation", {}).get("words", [])),
        inner_negation=tuple(raw.get("negation", {}).get("inner", [])),
        third_person=tuple(sorted(raw.get("third_person", {}).get("markers", []), key=len, reverse=True)),
        frames=tuple(raw.get("frames", {}).get("words", [])),
        cues=tuple(cues),
    )
