"""The deterministic risk detector: runs on every youth message, before and without Rasa.

Levels (after the C-SSRS screener):

- **3** intent, a plan, means obtained or prepared, farewell arrangements, an attempt or a serious
  injury in progress, or danger from another person right now;
- **2** suicidal ideation without plan or preparation (passive or active), self-harm, abuse, sexual
  abuse, violent bullying, exploitation, a third party at risk;
- **1** distress without risk content;
- **0** none: hyperbole, slang, fiction, study, information requests.

Steps: normalise (``bot.normalise``: Traditional -> Simplified, width, filter-dodging separators,
emoji, slang, pinyin; hyperbole blanked), match the lexicon's literal cues, then its compositional
rules (cue families that must co-occur within a window: 废物 x 活着, 刀 x 放在枕头下 x 等爸妈睡着,
兼职 x 不能告诉家里 ...), drop negated matches (我不想死 — but "不想活" is itself a cue and cannot be
negated), decide whose risk it is (我同学说她想跳楼 is a friend at risk), then combine: a suicidal
cue plus a plan, a time, a farewell or a method is level 3; an ambiguous cue ("药吃了") is level 3
only with something else that says risk. A retraction ("…哈哈开玩笑的") or a generic question that
names nobody ("家暴可以报警吗") keeps a level-2 match at level 1 — but not a risk said after the
retraction ("开玩笑的……不，我是认真的，我想死"). jieba (with the lexicon's words as custom
dictionary) segments the text so that negation is judged on words and whole-word families do not
match inside other words.
"""

from __future__ import annotations

import io
import logging
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field

import jieba

from bot.lexicon import Cue, Immediacy, Lexicon, Rule, load_lexicon
from bot.normalise import Normaliser, latin_bounded
from bot.risk_combine import Hit, category_of, corroborated, retraction
from bot.risk_reading import ClauseFacts, Reading, Spans
from bot.risk_scan import LexiconScan

log = logging.getLogger("youthdesk.risk")
jieba.setLogLevel(logging.WARNING)  # its dictionary-loading chatter is not ours to print

_PIECE = 2000  # characters assessed at once: the widget's own limit per message
_PIECE_OVERLAP = 200  # longer than any rule's window, so no rule is cut in two
_NEGATION_REACH = 16  # characters before a cue in which its negation is looked for
# "我在想要不要跳楼", "会不会哪天就跳下去": a verb, its negation and the verb again ask a question; they
# deny nothing, unless a negation comes before them ("我绝对不会不会跳楼的")
_A_NOT_A = re.compile(r"(?<![不没])(\w)[不没]\1$")
_CUES_SHOWN = 12  # the cues a result carries to the counsellor, most serious first
_SELF_MARKERS = re.compile(r"我|俺|自己|被")
# "伤害自己" is reflexive, not first person; "我喜欢的角色" names what the youth likes, not the youth.
_FIRST_PERSON = re.compile(r"我(?!们)(?!最?(?:喜欢|爱|追)的)|俺")
_DESIRE = re.compile(r"想|要|准备|打算|计划|决定|会|去|该|只能|就")
_PRONOUNS = frozenset({"他", "她", "ta", "它"})
# Cues about what someone does to the youth: a bare "他/她" there is the perpetrator, not a friend.
_PERPETRATED = frozenset({"abuse_home", "sexual_abuse", "bullying", "exploitation", "runaway"})
# Words that may stand between a negation and its cue ("我没有想过要自杀").
_FILLERS = frozenset({"想", "要", "会", "是", "再", "去", "打算", "过", "想过", "曾", "曾经", "敢", "真的", "有", "也",
                      "都", "会去", "要去", "想要", "说", "就", "还", "真", "被", "觉得", "认为", "感觉", "自己"})
_OBJECT_BEFORE = frozenset("等趁跟和陪给帮问")
_REPORTED = re.compile(r"说|发了|写了|写着|签名|改成|留言|朋友圈|动态")
_HYPOTHETICAL = re.compile(r"如果|假如|万一|要是")
_WISH = re.compile(r"就好了|该多好|多好啊?$")
_SELF_PASSIVE = re.compile(r"(?:我|俺)[^#，。！？]{0,4}被")
# "被孤立的同学", "离家出走的孩子": a person named only as an example, not someone the youth knows.
_DESCRIBED_PERSON = re.compile(r"的(?:人|孩子|同学|学生|角色|女生|男生|小孩)")
_GENERIC = re.compile(r"的(?:同学|孩子|学生|朋友|女生|男生)")


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    level: int  # 0-3; 3 = imminent danger to life
    category: str | None
    cues: list[str] = field(default_factory=list)
    lexicon_version: str = ""
    # A suicide or self-harm method or topic in the writer's own unframed words, short of level 2 ("上吊",
    # "烧炭的话 去超市买一袋木炭"): not a risk by itself, but a second voice for the model (bot.triage).
    mentions_means: bool = False


class RiskDetector:
    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon or load_lexicon()
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        words = "\n".join(f"{word} 2000" for word in self.lexicon.dictionary_words())
        self._tokenizer.load_userdict(io.BytesIO(words.encode("utf-8")))
        self._normaliser = Normaliser(self.lexicon)
        self._cues = {cue.id: cue for cue in self.lexicon.cues}
        self._scan = LexiconScan(self.lexicon, _HYPOTHETICAL)
        # "ta" is a pronoun on its own, not inside "data" or "start".
        markers = "|".join(latin_bounded(m) for m in self.lexicon.third_person)
        self._subject = re.compile(rf"({markers})|(我|俺)(?!们)")
        self._subject_phrase = re.compile(markers)

    # ------------------------------------------------------------ public

    def assess(self, text: str) -> RiskAssessment:
        normalised = self.normalise(text)
        if not normalised:
            return RiskAssessment(0, None, [], self.lexicon.version)
        if len(normalised) <= _PIECE:
            return self._assess_normalised(normalised)
        # A message longer than any channel allows (a paste, a flood) is read in overlapping pieces,
        # so that its cost grows with its length and not faster; the most serious piece decides.
        step = _PIECE - _PIECE_OVERLAP
        pieces = (normalised[start:start + _PIECE] for start in range(0, len(normalised) - _PIECE_OVERLAP, step))
        return max((self._assess_normalised(piece) for piece in pieces), key=lambda result: result.level)

    def _assess_normalised(self, normalised: str) -> RiskAssessment:
        reading = Reading(normalised)
        hits = self._hits(reading) + self._rule_hits(reading)
        return self._combine(reading, hits)

    def immediacy_sign(self, text: str, category: str) -> str | None:
        """The lexicon's sign that a risk of ``category`` someone else found (Rasa) is happening now.

        The same groups and guards as the detector's own escalation, over the whole message: Rasa
        names no position. A friend's danger has no known category, so any group counts for it.
        """
        reading = Reading(self.normalise(text))
        if retraction(self.lexicon, reading.text, self._hits(reading) + self._rule_hits(reading)):
            return None
        categories = None if category == "friend_concern" else {category}
        group, match = next(self._immediacy_signs(reading, categories), (None, None))
        return None if group is None or match is None else f"imminent:{group.name}:{match.group(0)}"

    def told_about(self, text: str) -> str | None:
        """Why a risk someone else found (Rasa) here is told about rather than lived, or None.

        The detector's own guards over the whole message: a retraction ("…bushi"), a game's world
        or a set title (lexicon ``fiction``), an informational frame with no self marker ("电影里…",
        "纪录片"), or a question about a topic that names nobody. Rasa sees none of these.
        """
        reading = Reading(self.normalise(text))
        normalised = reading.text
        hits = self._hits(reading) + self._rule_hits(reading)
        if taken_back := retraction(self.lexicon, normalised, hits):
            return f"retracted:{taken_back.group(0)}"
        if fiction := next((word for word in self.lexicon.fiction if word in normalised), None):
            return f"fiction:{fiction}"
        if self._framed(normalised):
            return f"framed:{next(frame for frame in self.lexicon.frames if frame in normalised)}"
        return self._caveat(reading, hits)

    def normalise(self, text: str) -> str:
        """The text the lexicon's patterns read (see ``bot.normalise``); never raises."""
        return self._normaliser(text)

    # ------------------------------------------------------------ matching

    def _hits(self, reading: Reading) -> list[Hit]:
        text = reading.text
        hits: list[Hit] = []
        for position, pattern in self._scan.cue_index.candidates(text):
            cue = self.lexicon.cues[position]
            if (cue.ambiguous and cue.ordinary is not None and cue.ordinary.search(text)
                    and not (cue.corroborated_by is not None and cue.corroborated_by.search(text))):
                continue  # "感冒药吃了还是头疼": the everyday reading, and nothing of its own says otherwise
            for match in pattern.finditer(text):
                start = match.start()
                conditional = text.startswith(("就", "我就"), match.end())  # 不伤害自己我就睡不着
                if cue.negatable and not conditional and (self._negated(reading, start)
                                      or self._scan.inner_negation.search(match.group(0))):
                    continue
                if match.group(0).startswith("被") and _DESCRIBED_PERSON.match(text, match.end()):
                    continue  # "演一个被欺负的人": a kind of person described, not something that happened
                third = self._third_person(text, start, match.group(0), cue.category)
                level = self._level(cue, reading, start)
                clause_start, clause_end = reading.clause(start)
                if third and reading.occurs(_HYPOTHETICAL, clause_start, start, clause_end):
                    level = min(level, 1)  # "如果朋友说想轻生我该怎么做": a question, nobody named at risk
                if cue.ambiguous:
                    level = min(level, 2)  # raised back in _combine when something else says risk
                hits.append(Hit(id=cue.id, category=cue.category, kind=cue.kind, text=match.group(0), start=start,
                                level=level, third_person=third, ambiguous=cue.ambiguous))
        return hits

    def _rule_hits(self, reading: Reading) -> list[Hit]:
        """Compositional rules: every family of a rule must match (un-negated) near the first one."""
        text = reading.text
        found: dict[str, list[tuple[int, str]]] = {}
        boundaries: set[int] | None = None
        for position, pattern in self._scan.family_index.candidates(text):
            name, family = self._scan.families[position]
            spans = []
            for match in pattern.finditer(text):
                if family.whole_words:
                    if boundaries is None:
                        boundaries = self._boundaries(text)
                    if match.start() not in boundaries or match.end() not in boundaries:
                        continue
                if family.negatable and self._negated(reading, match.start()):
                    continue
                spans.append((match.start(), match.group(0)))
            if spans:
                found[name] = spans
        hits: list[Hit] = []
        for rule, needed, vetoes in self._scan.rules:
            if not needed <= found.keys() or not vetoes.isdisjoint(found):
                continue
            chosen = self._co_occurring(rule, found)
            if chosen is None:
                continue
            start, first = min(chosen)
            label = "+".join(word for _, word in chosen)
            # Done to "我" (扎我, 摸我) is the youth's; "…告诉我" in a friend's farewell is not.
            third = self._third_person(text, start, label if rule.category in _PERPETRATED else first, rule.category)
            level = rule.level
            if rule.level < 3 and self._framed(text):
                level = 1  # "作文写一个觉得自己多余的人": told about, not lived
            hits.append(Hit(id=rule.id, category=rule.category, kind="experience", text=label, start=start,
                            level=level, third_person=third))
        return hits

    @staticmethod
    def _co_occurring(rule: Rule, found: dict[str, list[tuple[int, str]]]) -> list[tuple[int, str]] | None:
        """The first anchor of the rule's first family with every other family within its window,
        each family's nearest span (the earlier one on a tie), or None. Spans are in text order."""
        starts = {name: [span[0] for span in found[name]] for name in rule.all[1:]}
        for anchor in found[rule.all[0]]:
            chosen = [anchor]
            for name in rule.all[1:]:
                # The nearest spans are the last one at or before the anchor and the first one after it.
                after = bisect_right(starts[name], anchor[0])
                near = [span for span in found[name][max(after - 1, 0):after + 1]
                        if abs(span[0] - anchor[0]) <= rule.window]
                if not near:
                    break
                chosen.append(min(near, key=lambda span: abs(span[0] - anchor[0])))
            else:
                return chosen
        return None

    def _boundaries(self, text: str) -> set[int]:
        edges, position = {0}, 0
        for token in self._tokenizer.lcut(text, HMM=False):
            position += len(token)
            edges.add(position)
        return edges

    def _framed(self, text: str) -> bool:
        return bool(self._scan.frame.search(text)) and not _SELF_MARKERS.search(text)

    def _negated(self, reading: Reading, position: int) -> bool:
        start, _ = reading.clause(position)
        # Three words back, fillers included, fit in a few characters: segmenting the whole clause
        # before every cue would make a long unpunctuated message quadratic.
        prefix = reading.text[max(start, position - _NEGATION_REACH):position]
        if not prefix or not self._scan.negation.search(prefix):
            return False  # no word jieba could cut from it is a negation
        if _A_NOT_A.search(prefix):
            return False
        if prefix not in reading.negated:
            reading.negated[prefix] = self._negates(prefix)
        return reading.negated[prefix]

    def _negates(self, prefix: str) -> bool:
        tokens = self._tokenizer.lcut(prefix, HMM=False)
        skipped = 0
        for token in reversed(tokens):
            if token in self.lexicon.negation:
                return True
            if token in _FILLERS and skipped < 3:
                skipped += 1
                continue
            return False
        return False

    def _third_person(self, text: str, start: int, matched: str, cue_category: str | None) -> bool:
        """Whose risk is it? The nearest subject before the cue decides; "…打我" is always the youth's."""
        if "我" in matched or "俺" in matched:
            return False
        window = text[max(0, start - 24):start]
        last = None
        if cue_category in _PERPETRATED and _SELF_PASSIVE.search(self._subject_phrase.sub("#", window)):
            return False  # "我被男朋友…": the youth is the one it happens to
        reporter = None
        for subject in self._subject.finditer(window):
            if subject.group(1) in _PRONOUNS and cue_category in _PERPETRATED:
                continue
            if subject.start() and window[subject.start() - 1] in _OBJECT_BEFORE:
                continue  # "等室友睡了", "她给我发了遗言": an object here, not whose risk it is
            if subject.group(1):
                reporter = subject
            elif (reporter is not None and cue_category not in _PERPETRATED
                  and _REPORTED.search(window, reporter.end(), subject.start())):
                continue  # "舍友朋友圈发了：我累了，晚安世界": a quoted "我" is still the friend
            last = subject
        return bool(last and last.group(1))

    def _level(self, cue: Cue, reading: Reading, position: int) -> int:
        if cue.kind == "escalator":
            return 0
        start, end = reading.clause(position)
        facts = self._clause_facts(reading, start, end)
        if cue.kind == "topic":
            return 2 if (facts.personal or len(reading.text) <= 6) and not facts.framed else 1
        if facts.framed and not facts.personal and cue.level < 3:
            return 1  # "电影里主角最后自杀了": told about, not lived
        if cue.kind == "method":
            return 2 if reading.occurs(_DESIRE, start, position, end) else 1
        return cue.level

    def _clause_facts(self, reading: Reading, start: int, end: int) -> ClauseFacts:
        """Whether the clause ``text[start:end]`` is framed and whether it is the writer's own; read
        once per clause, however many cues it holds."""
        if start in reading.clause_facts:
            return reading.clause_facts[start]
        clause = reading.text[start:end]
        # "如果明天不用醒来就好了": an if-clause that ends in a wish is the youth's wish, not a frame.
        wish = bool(_WISH.search(clause))
        has_frame = bool(self._scan.frame.search(clause))
        framed = bool(self._scan.frame_but_if.search(clause)) if wish and has_frame else has_frame
        # "被" marks the youth's own experience, except in a framed clause ("课题是留守儿童被拐卖").
        fiction = bool(self._scan.fiction.search(clause))
        personal = not fiction and (bool(_FIRST_PERSON.search(clause)) or ("被" in clause and not framed))
        facts = ClauseFacts(framed=framed or fiction, personal=personal,
                             has_frame=has_frame)
        reading.clause_facts[start] = facts
        return facts

    # ------------------------------------------------------------ combining

    def _combine(self, reading: Reading, hits: list[Hit]) -> RiskAssessment:
        text = reading.text
        levels = {id(hit): hit.level for hit in hits}
        confirmed: dict[str, bool] = {}  # by cue: whether something else says risk depends on the cue alone
        for hit in hits:
            if hit.ambiguous and hit.level == 2:
                if hit.id not in confirmed:
                    confirmed[hit.id] = corroborated(self._cues[hit.id], text, hit, hits)
                if confirmed[hit.id]:
                    levels[id(hit)] = 3
        # An unconfirmed ambiguous hit does not count as the suicidal half of a plan or a time:
        # "现在在天台" would otherwise confirm itself through its own "在天台".
        suicidal = [h for h in hits
                    if h.category == "suicide" and h.level >= 2 and (not h.ambiguous or levels[id(h)] == 3)]
        methods = [h for h in hits if h.kind == "method"]
        plans = [h for h in hits if h.id == "suicide.plan"]
        times = [h for h in hits if h.id == "suicide.time"]
        farewells = [h for h in suicidal if h.id == "suicide.farewell_strong"]
        times += [h for h in hits if h.id == "suicide.farewell_weak"]
        others = [h for h in suicidal if h.id != "suicide.farewell_strong"]
        imminent = ((plans and (suicidal or methods)) or (times and (suicidal or methods))
                    or (farewells and (others or methods or times)))
        if imminent:
            for hit in suicidal + methods:
                levels[id(hit)] = 3
        caveat = self._caveat(reading, hits) if max(levels.values(), default=0) == 2 else None
        signs: list[str] = []
        if caveat is not None:  # never for level 3: a plan with means is not taken back by "哈哈"
            levels = {key: min(value, 1) for key, value in levels.items()}
        else:
            signs = self._escalate(reading, hits, levels)
        ranked = [h for h in hits if levels[id(h)] > 0]
        if not ranked:
            return RiskAssessment(0, None, [], self.lexicon.version)
        mentions_means = caveat is None and any(
            h.kind in ("method", "topic") and h.category in ("suicide", "self_harm") and not h.third_person
            and not self._framed_clause(reading, h.start) for h in ranked)
        level = max(levels[id(h)] for h in ranked)
        top = [h for h in ranked if levels[id(h)] == level]
        category = category_of(text, top, ranked)
        cues = [caveat] if caveat else signs
        for hit in sorted(hits, key=lambda h: (-levels[id(h)], h.start)):
            if len(cues) >= _CUES_SHOWN:
                break
            label = f"{'friend:' if hit.third_person else ''}{hit.id}:{hit.text}"
            if label not in cues:
                cues.append(label)
        return RiskAssessment(level, category, cues[:_CUES_SHOWN], self.lexicon.version, mentions_means)

    def _escalate(self, reading: Reading, hits: list[Hit], levels: dict[int, int]) -> list[str]:
        """Any level-2 hit near a generic immediacy sign (正在, 今晚, 救命, 出不去, 遗言 ...) is level 3.

        Generic rather than per phrase: whatever category found the risk, an act in progress, a very
        near time, a call for help or being trapped next to it means danger now. Hyperbole is already
        blanked, framed/retracted messages never reach level 2, and a negated sign ("不是现在") counts
        for nothing; on their own the signs never raise anything.
        """
        risky = [h for h in hits if levels[id(h)] == 2 and h.category]
        if not retraction(self.lexicon, reading.text, hits):
            # A method named without a wish ("喝了半瓶农药") is level 1, but next to an act just done,
            # being there or a call for help it is the act itself.
            risky += [h for h in hits
                      if h.kind == "method" and levels[id(h)] == 1 and not self._framed_clause(reading, h.start)]
        if not risky:
            return []
        window = self.lexicon.immediacy_window
        signs: dict[str, tuple[Immediacy, list[re.Match[str]]]] = {}
        for group, match in self._immediacy_signs(reading, {h.category for h in risky if h.category}):
            signs.setdefault(group.name, (group, []))[1].append(match)
        starts = {name: [match.start() for match in matches] for name, (_, matches) in signs.items()}
        fired: list[str] = []
        for hit in risky:
            for name, (group, matches) in signs.items():  # the lexicon's order, then the text's
                if hit.category not in group.categories:
                    continue
                nearby = matches[bisect_left(starts[name], hit.start - window):
                                 bisect_right(starts[name], hit.start + window)]
                sign = next((match for match in nearby if not (
                    match.group(0) == hit.text or (hit.ambiguous and hit.start <= match.start()
                                                   and match.end() <= hit.start + len(hit.text)))), None)
                if sign is None:
                    continue  # "遗书", "现在在天台" are the cue itself; a sign must add something to it
                levels[id(hit)] = 3
                label = f"imminent:{group.name}:{sign.group(0)}"
                if label not in fired:
                    fired.append(label)
                break
        return fired

    def _immediacy_signs(self, reading: Reading,
                         categories: set[str] | None) -> Iterator[tuple[Immediacy, re.Match[str]]]:
        """The immediacy signs in the text of groups for any of ``categories`` (None: every group)
        that count: not negated and not in an if-sentence."""
        for group in self.lexicon.immediacy:
            if categories is not None and not categories & group.categories:
                continue
            for match in group.regex.finditer(reading.text):
                if not self._negated(reading, match.start()) and not _hypothetical(reading, match.start()):
                    yield group, match

    def _framed_clause(self, reading: Reading, position: int) -> bool:
        start, end = reading.clause(position)
        return self._clause_facts(reading, start, end).has_frame

    def _caveat(self, reading: Reading, hits: list[Hit]) -> str | None:
        """Why a level-2 match stays at level 1: the writer took it back, or asked about a topic."""
        text = reading.text
        taken_back = retraction(self.lexicon, text, hits)
        if taken_back:
            return f"retracted:{taken_back.group(0)}"
        # A guard's words inside a risk cue's own words ask nothing: "活着还有什么意思".
        cues = Spans([(hit.start, hit.start + len(hit.text)) for hit in hits if hit.level >= 2])
        question = next((match for match in self.lexicon.generic_question.finditer(text)
                         if not cues.cover(match.start(), match.end())), None)
        if question and not _FIRST_PERSON.search(text) and not self._subject_phrase.search(_GENERIC.sub("", text)):
            return f"topic_question:{question.group(0)}"
        return None


def _hypothetical(reading: Reading, position: int) -> bool:
    """"如果哪天我没回消息，别找我": a sign in an if-sentence describes no present danger."""
    start, end = reading.sentence(position)
    return reading.occurs(_HYPOTHETICAL, start, position, end)

