"""How the risk detector's hits add up: which category they name, whether an ambiguous hit is
confirmed, whether a retraction takes them back."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.lexicon import Cue, Lexicon

_FAMILY = re.compile(r"(?<!叫)(?<!叫爸)(?<!叫妈)(?:爸|妈|父亲|母亲|继父|继母|爷爷|奶奶|家里)")
_SCHOOL = re.compile(r"宿舍|室友|舍友|同学|学校|班上|班里|学长|学姐|高年级")
# Exploitation rules whose coercion defines the case even when a sexual act is also named.
_COERCION = frozenset({"exploitation.threat", "exploitation.impersonation"})
# "我以为她开玩笑", "老师说是同学之间开玩笑": someone's reading of a remark as a joke, not the writer
# taking their own remark back.
_REPORTED_JOKE = re.compile(r"以为|当成|当作|当做|说是|都说|觉得(?:是|只是|她是|他是)")
_REPORTED_REACH = 8  # characters before the retraction searched for such a reading
_PRIORITY = ("suicide", "self_harm", "sexual_abuse", "abuse_home", "exploitation", "runaway", "bullying")


@dataclass(frozen=True, slots=True)
class Hit:
    """One cue or rule that matched, as the detector first levels it."""

    id: str  # cue or rule id, shown to the counsellor
    category: str | None
    kind: str  # a cue's kind; rules count as "experience"
    text: str
    start: int
    level: int
    third_person: bool
    ambiguous: bool = False  # never level 3 on its own (see ``Cue.ambiguous``)


def corroborated(cue: Cue, text: str, ambiguous: Hit, hits: list[Hit]) -> bool:
    """Whether something besides an ambiguous hit says risk: another risk cue or rule, a method,
    or the cue's own ``corroborated_by`` ("药吃了，头好晕")."""
    if any(h.id != ambiguous.id and h.category and (h.level >= 2 or h.kind == "method") for h in hits):
        return True  # another risk, or a method named ("一整瓶药"), says it is not the everyday reading
    return cue.corroborated_by is not None and bool(cue.corroborated_by.search(text))


def retraction(lexicon: Lexicon, text: str, hits: list[Hit]) -> re.Match[str] | None:
    """The retraction that takes the message's risk back, or None.

    A retraction takes back what came before it: the last one counts, and not when a risk is
    said after it or the writer insists after it ("开玩笑的……不，我不是在开玩笑，我真的想死").
    """
    last = None
    for match in lexicon.retraction.finditer(text):
        if not _REPORTED_JOKE.search(text, max(0, match.start() - _REPORTED_REACH), match.start()):
            last = match
    if last is None:
        return None
    if any(h.start >= last.end() and h.level >= 2 and h.category for h in hits):
        return None
    if lexicon.insistence is not None and lexicon.insistence.search(text, last.end()):
        return None
    return last


def category_of(text: str, top: list[Hit], ranked: list[Hit]) -> str | None:
    """The category of the highest-level hits ``top`` (``ranked``: every hit above 0) in ``text``."""
    own = [h for h in top if not h.third_person]
    candidates = own or top
    categories = {h.category for h in candidates if h.category}
    if "abuse_home" in categories and any(h.id.startswith("danger.") for h in candidates):
        # A threat to life takes the category of the situation it arises in.
        context = {h.category for h in ranked if not h.id.startswith("danger.") and h.category}
        if context - {"abuse_home"} and not _FAMILY.search(text):
            categories = (context - {"abuse_home"}) | (categories - {"abuse_home"})
        elif not context and not _FAMILY.search(text):
            categories = (categories - {"abuse_home"}) | {"bullying"}
    if categories == {"bullying"} and _FAMILY.search(text) and not any("同学" in h.text for h in candidates):
        categories = {"abuse_home"}  # "我妈把我的头往墙上撞": the same act, at home
    if {"abuse_home", "bullying"} <= categories and _SCHOOL.search(text) and not _FAMILY.search(text):
        categories = categories - {"abuse_home"}  # "宿舍的人把我锁在阳台": at school, not at home
    if ({"bullying", "exploitation"} <= categories and any(h.id == "bullying.extortion" for h in candidates)
            and not any(h.id == "exploitation.threat" for h in candidates)):
        categories = categories - {"exploitation"}  # money demanded by schoolmates, no exposure threat
    if {"bullying", "sexual_abuse"} <= categories and any(h.id == "bullying.spread" for h in candidates):
        categories = categories - {"sexual_abuse"}  # classmates spreading a changing-room photo
    if {"sexual_abuse", "exploitation"} <= categories and any(h.id in _COERCION for h in candidates):
        categories = categories - {"sexual_abuse"}  # undressing on camera + a threat: sextortion
    if not own and categories:
        return "friend_concern"
    return next((c for c in _PRIORITY if c in categories), None)
