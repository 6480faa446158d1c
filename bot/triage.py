"""Triage: combine the risk detector with Rasa's intent into one decision.

Pure logic plus one shared async entry point (``triage_text``) used by the live router, the
``youthdesk triage`` command and the evaluation, so all three take exactly the same path.

Rules: risk = max(detector, Rasa risk-intent mapping), but DIET's confidence is never a risk
score on its own: a risk intent counts only at confidence >= the threshold (or when the risk
intents' summed share of the ranking reaches it: DIET often splits one risky message between two
risk intents or loses it to the fallback) and adds at most level 2 unless the detector agrees on
the category. A level 2 that only Rasa found becomes level 3 when the message also carries one of
the lexicon's immediacy signs for that category (an act in progress, a very near time, being
trapped, a call for help, a farewell: ``RiskDetector.immediacy_sign``, the detector's own
escalation); the signs are generic, so they only ever raise a risk someone already found.
A risk only Rasa found stays level 1 when the detector sees the message as told about rather
than lived (a retraction, a game or a set title, an informational frame naming nobody, a topic
question: ``RiskDetector.told_about``): DIET hears the topic words, not the frame around them.
When Rasa reads a risk into a message with chat hyperbole (想死你了, 累死了: the lexicon's list), it
is asked again with the hyperbole blanked out, and that answer counts.
The learned model (``bot.risk_model``, loaded from the shipped artifact, ``bot/risk_models/``) is the
third voice, and like the detector it needs no Rasa. It gives P(risk) (level >= 2) and P(imminent)
(level 3 given a risk). One rule, in this order, each step leaving a ``model:…`` cue:
1. a lexicon level 3 (its specific signs: a plan with means, a time, a place, an act in progress,
   a farewell) stands, whatever the model says (cost: the lexicon's own false level 3s stay, 6 of
   the 6,431 COLD dev comments);
2. a lexicon level 2 the model is near certain about (``MODEL_DOUBT``: a story, a part in a play,
   bullying long over) stays a concern, handed off at normal priority, unless it rests on one of the
   lexicon's most specific signs of suicidal intent (``UNDOUBTED_CUES``);
3. the model alone finds a risk at ``MODEL_ALONE``, or at risk x imminence ``MODEL_ALONE_NOW``, or at
   ``MODEL_WITH_MEANS`` when the lexicon read a suicide or self-harm method or topic in the writer's own
   unframed words (``RiskAssessment.mentions_means``: a second voice, too weak alone); in a message the
   detector reads as framed (a story, the news, a question to everyone, a retraction) only at
   ``MODEL_OVER_FRAME``, and then to level 2 at most;
4. level 3 takes two voices: a level 2 the lexicon or Rasa found plus the model's imminence at
   ``MODEL_IMMINENT``, or the model sure of both the risk and the now (risk x imminence at
   ``MODEL_ALONE_NOW``). No single ambiguous cue makes level 3: not the imminence head on a risk only
   the model suspects (cost, measured with the repository-only model: level-3 recall on the 2,653
   ``nlu_data/eval`` messages 0.972 instead of 0.980; level-3 false alarms on COLD dev 1.7 % instead of
   3.1 %), nor a Rasa intent without the detector's agreement or one of its immediacy signs;
5. with Rasa: a risk only Rasa found does not count when the model puts it below ``MODEL_VETO`` (DIET
   is sure of itself on fiction and hyperbole; the model has seen such negatives labelled), unless the
   model reads it as a danger happening now (risk x imminence at ``MODEL_VETO_NOW``).
The thresholds were re-checked on validation data only (``nlu_data/eval``, dev data by now, and one
half of COLD dev by text hash; the other half and SOS4K's validation split were only measured); the
grid kept them where they were. Figures: bot/risk_models/README.md.
Level >= 2 hands off at once (reason "risk"); level 3 also sends the crisis reply first. A
detector level >= 2 does not wait for Rasa at all. Low confidence or ``ask_human`` hands off at
normal priority; no Rasa (down, timed out, not configured) hands off with "bot_unavailable".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml

from bot.lexicon import CATEGORIES
from bot.risk import RiskAssessment, RiskDetector
from bot.risk_model import RiskModel, RiskScores
from contract.config import PROJECT_ROOT
from contract.handoff import HandoffReason

log = logging.getLogger("youthdesk.triage")

RISK_INTENTS_PATH = PROJECT_ROOT / "nlu_data" / "risk_intents.yml"
DEFAULT_CONFIDENCE_THRESHOLD = 0.6
LOW_CONFIDENCE_INTENTS = frozenset({"nlu_fallback"})
# The model's probabilities (bot/risk_model.py), chosen on nlu_data/eval/blind3-7 (README) and re-checked
# with the COLD-trained model on nlu_data/eval and half of COLD dev (bot/risk_models/README.md).
MODEL_VETO = 0.5
MODEL_VETO_NOW = 0.25  # no veto when the model reads a danger now: "猫粮在柜子第二层 记得帮我喂它"
# Only where the model is near certain: on the 2,353 evaluation messages this demotes 26 false alarms
# and 3 real risks (to a normal-priority handoff with the lexicon's cues, never to the bot).
MODEL_DOUBT = 0.005
# Except the lexicon's most specific signs of suicidal intent, which the model has seen too few of to
# doubt: company sought for dying ("有没有人一起烧炭"), a method asked about for how well it works
# ("烧炭能死透吗"), a farewell letter or a goodbye to the world. Found in the error analysis of SOS4K val
# (no licence to train on) and checked on SOS4K train: the model was near certain against 21 and 41
# urgent posts carrying them, and 1 and 1 calm ones; on nlu_data/eval against none, on COLD dev one insult.
UNDOUBTED_CUES = ("suicide.companions:", "suicide.method_efficacy:", "suicide.farewell_strong:")
# Re-chosen with the model trained on the ten 2026-12-07 writer sets, on blind10-14 (read, never trained on),
# COLD dev and SOS4K val: 0.85 -> 0.75 finds 0.007 more risks for 0.006 more false alarms on blind10-14 and
# none on SOS4K's calm posts; 0.6 -> 0.45 finds level 3 on blind11 and blind13 at no false alarm anywhere.
MODEL_ALONE = 0.75
MODEL_ALONE_NOW = 0.45  # "血滴到地板上了 压了十几分钟还在流": not sure it is a risk, sure it is now
# A method or risk topic the lexicon read in the writer's own unframed words ("上吊", "烧炭的话 去超市买一袋木炭")
# plus the model leaning to risk: two voices. On nlu_data/eval and COLD dev every threshold from 0.05 to 0.55
# costs the same one false alarm (a cat jumping off a balcony, P 0.57) and finds nothing new there; 0.1 is
# low on purpose, like MODEL_IMMINENT, since a missed risk costs more than a handoff (bot/risk_models/README.md).
MODEL_WITH_MEANS = 0.1
# A frame the detector read (a story, the news, "如果", a question to everyone, a retraction) keeps the
# model from raising a message alone and caps what Rasa finds, except where the model is this sure: "写了一份
# 清单：游戏账号给阿杰，漫画给小雨……明天就不用再去学校了" (framed by "漫画", P 1.00). Past a frame the model makes
# level 2 at most. Chosen on blind1-17 and heldout, COLD dev and SOS4K train: from no exception to 0.9,
# recall on blind1-17 and heldout 0.978 -> 0.981, at no new false alarm on any of them
# (bot/risk_models/README.md).
MODEL_OVER_FRAME = 0.9
# Low on purpose: a level 3 read as level 2 costs far more than a crisis reply sent to a level 2
# (on the evaluation splits 6-12% of level-2 messages become level 3, all signs together).
MODEL_IMMINENT = 0.1


class ParseResult(Protocol):
    """What triage needs from ``bot.rasa_client.RasaParse`` (its ``ranking`` is read when present)."""

    @property
    def intent(self) -> str: ...

    @property
    def confidence(self) -> float: ...


class IntentParser(Protocol):
    async def parse(self, text: str) -> ParseResult: ...


@dataclass(frozen=True, slots=True)
class RiskIntent:
    level: int
    category: str


@dataclass(frozen=True, slots=True)
class TriageDecision:
    risk: int  # 0-3
    category: str | None
    intent: str | None
    handoff: bool
    reason: HandoffReason | None
    cues: list[str] = field(default_factory=list)
    confidence: float | None = None
    # The model's calibrated P(level >= 2), shown to counsellors; None without a calibrated model. No
    # decision reads it: the thresholds above stay on the raw scale (bot.risk_calibration).
    risk_probability: float | None = None

    @property
    def crisis_reply(self) -> bool:
        return self.risk >= 3


def load_risk_intents(path: Path = RISK_INTENTS_PATH) -> dict[str, RiskIntent]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    mapping: dict[str, RiskIntent] = {}
    for intent, entry in (raw.get("intents") or {}).items():
        level, category = entry.get("level"), entry.get("category")
        if level not in (1, 2, 3) or category not in CATEGORIES:
            raise ValueError(f"{path}: intents.{intent}: level 1-3 and a known category required")
        mapping[str(intent)] = RiskIntent(level=level, category=category)
    return mapping


def _rasa_risk(parse: ParseResult, intents: dict[str, RiskIntent],
               threshold: float) -> tuple[str, RiskIntent, float] | None:
    """The risk intent Rasa stands for, with the confidence it counts at, or None."""
    mapped = intents.get(parse.intent)
    if mapped is not None and parse.confidence >= threshold:
        return parse.intent, mapped, parse.confidence
    # A menu click has no ranking; a parse does. A message torn between suicide and self-harm,
    # or pushed under the fallback line, is still risky when the risk intents together are sure.
    ranking: list[tuple[str, float]] = getattr(parse, "ranking", None) or []
    risky = [(name, confidence) for name, confidence in ranking if name in intents]
    share = sum(confidence for _, confidence in risky)
    if not risky or share < threshold:
        return None
    name = max(risky, key=lambda item: item[1])[0]
    return name, intents[name], share


def decide(assessment: RiskAssessment, parse: ParseResult | None, *, intents: dict[str, RiskIntent],
           threshold: float = DEFAULT_CONFIDENCE_THRESHOLD, bot_available: bool = True,
           immediacy: Callable[[str], str | None] | None = None, told_about: str | None = None,
           scores: RiskScores | None = None) -> TriageDecision:
    """``immediacy(category)`` names the message's sign that a danger of that category is now;
    ``told_about`` is the detector's reason the message is quoted, framed, fiction, a question to
    everyone or taken back: unless the model is near certain of a risk anyway (``MODEL_OVER_FRAME``),
    a risk only Rasa found then stays a concern, level 1, handed off at normal priority, and the model
    does not raise the message alone; past the frame it raises it to level 2 at most. It is read nowhere
    else, so ``triage_text`` leaves it None where neither can happen (``_told_about_if_it_counts``): a new
    use of it here must widen that condition too. ``scores`` are
    the learned model's."""
    risk, category = assessment.level, assessment.category
    intent = parse.intent if parse is not None else None
    confidence = parse.confidence if parse is not None else None
    cues = list(assessment.cues)
    found = _rasa_risk(parse, intents, threshold) if parse is not None else None
    capped = False
    past_frame = told_about is not None and scores is not None and scores.risk >= MODEL_OVER_FRAME
    frame = None if past_frame else told_about
    if found is not None:
        name, mapped, counted = found
        agrees = assessment.level >= 1 and assessment.category in (mapped.category, "friend_concern")
        rasa_level = mapped.level if agrees else min(mapped.level, 2)
        cues.append(f"rasa:{name}:{counted:.2f}")
        caveat = frame
        if (caveat is None and scores is not None and assessment.level < 2 and scores.risk < MODEL_VETO
                and scores.risk * scores.imminent < MODEL_VETO_NOW):
            caveat = f"model:risk:{scores.risk:.2f}"
        if caveat is not None:
            # DIET hears the topic words of "电影里那个人从楼上跳下去" and "作业多到想紫砂（bushi"
            # but not the frame around them; the detector and the model do.
            rasa_level = min(rasa_level, 1)
            capped = rasa_level < mapped.level
            if caveat not in cues:
                cues.append(caveat)
        if rasa_level > risk:
            risk, category = rasa_level, mapped.category
            if risk == 2 and immediacy is not None and (sign := immediacy(mapped.category)) is not None:
                risk = 3
                cues.append(sign)
    if (scores is not None and assessment.level == 2 and risk == 2 and scores.risk < MODEL_DOUBT
            and not any(cue.startswith(UNDOUBTED_CUES) for cue in assessment.cues)):
        # The lexicon's words in a story, a part in a play, a bullying long over: the model has seen
        # such messages labelled and is near certain. A person still reads it, at normal priority.
        risk, capped = 1, True
        cues.insert(0, f"model:doubt:{scores.risk:.3f}")
    model_alone = False
    if scores is not None and risk < 2 and not capped and frame is None and _model_raises_alone(assessment, scores):
        risk, model_alone = 2, True
        cues.append(f"model:risk:{scores.risk:.2f}")
        if past_frame:
            cues.append(f"overruled:{told_about}")  # the frame was read, and a counsellor should weigh it
    # Level 3 takes two voices: a level 2 the lexicon or Rasa found plus the model's imminence, or the
    # model sure of both the risk and the now. The imminence head alone, on a risk only the model
    # suspects, is one ambiguous cue (on COLD dev it made most of the level-3 false alarms). Nor does a
    # message the detector read as framed reach level 3 on the model's word: the frame is a voice against.
    if (scores is not None and risk == 2 and not past_frame and scores.imminent >= MODEL_IMMINENT
            and (not model_alone or scores.risk * scores.imminent >= MODEL_ALONE_NOW)):
        risk = 3
        cues.append(f"model:imminent:{scores.imminent:.2f}")
    if scores is not None and risk >= 2:
        # The model names the right category more often than the lexicon's rules or Rasa's intent
        # (README); the cues still show what each of them read.
        category = scores.category
    reason: HandoffReason | None = None
    if risk >= 2:
        reason = "risk"
    elif not bot_available:
        reason = "bot_unavailable"
    elif capped:
        # Not urgent, but risk words were read (and Rasa's answer to a risk intent would promise a
        # counsellor): a person reads it.
        reason = "low_confidence"
    elif parse is None:
        reason = None  # the detector alone decided there is nothing urgent and Rasa was not asked
    elif confidence is not None and confidence < threshold or intent in LOW_CONFIDENCE_INTENTS:
        reason = "low_confidence"
    elif intent == "ask_human":
        reason = "ask_human"
    return TriageDecision(risk=risk, category=category if risk else None, intent=intent, handoff=reason is not None,
                          reason=reason, cues=cues, confidence=confidence,
                          risk_probability=scores.calibrated if scores is not None else None)


def _model_raises_alone(assessment: RiskAssessment, scores: RiskScores) -> bool:
    return (scores.risk >= MODEL_ALONE or scores.risk * scores.imminent >= MODEL_ALONE_NOW
            or (assessment.mentions_means and scores.risk >= MODEL_WITH_MEANS))


def _told_about_if_it_counts(text: str, detector: RiskDetector, assessment: RiskAssessment,
                             scores: RiskScores | None, rasa_found_risk: bool) -> str | None:
    """``detector.told_about(text)`` where ``decide`` would read it, else None.

    Below the detector's level 2, the frame changes a decision only through a risk Rasa found or one
    the model would raise alone. Reading it is a second pass of the detector over the message: 9 % of
    a gateway's samples on the production bench (py-spy) when it ran for every routed message.
    """
    if rasa_found_risk or (scores is not None and _model_raises_alone(assessment, scores)):
        return detector.told_about(text)
    return None


async def triage_text(text: str, *, detector: RiskDetector, model: RiskModel | None, rasa: IntentParser | None,
                      intents: dict[str, RiskIntent],
                      threshold: float = DEFAULT_CONFIDENCE_THRESHOLD) -> TriageDecision:
    """The live path: detector and model first; Rasa only when the detector sees no risk (and never
    blocking it). Without a model (its artifact missing or broken) the lexicon and Rasa decide alone."""
    assessment = detector.assess(text)
    scores = model.scores(text) if model is not None else None
    if assessment.level >= 2:
        return decide(assessment, None, intents=intents, threshold=threshold, scores=scores)
    if rasa is None:
        return decide(assessment, None, intents=intents, threshold=threshold, bot_available=False,
                      told_about=_told_about_if_it_counts(text, detector, assessment, scores, False),
                      scores=scores)
    try:
        parse = await rasa.parse(text)
        view = without_hyperbole(text, detector)
        if view != text and _rasa_risk(parse, intents, threshold) is not None:
            # DIET hears "想死" in "想死你了宝贝" and "累死了": ask again without the chat hyperbole
            # the detector already knows, so a real risk next to it still counts.
            parse = await rasa.parse(view)
    except Exception as exc:  # noqa: BLE001 - any bot failure must reach a human, never drop the message
        log.warning("rasa parse failed (%r); the message goes to a counsellor", exc)
        return decide(assessment, None, intents=intents, threshold=threshold, bot_available=False,
                      told_about=_told_about_if_it_counts(text, detector, assessment, scores, False),
                      scores=scores)
    rasa_found_risk = _rasa_risk(parse, intents, threshold) is not None
    told_about = _told_about_if_it_counts(text, detector, assessment, scores, rasa_found_risk)
    return decide(assessment, parse, intents=intents, threshold=threshold,
                  immediacy=lambda category: detector.immediacy_sign(text, category),
                  told_about=told_about, scores=scores)


def without_hyperbole(text: str, detector: RiskDetector) -> str:
    """``text`` with the lexicon's chat hyperbole (笑死, 累死了, 想死你了) blanked by a clause break."""
    return detector.lexicon.hyperbole.sub("，", text)
