"""The decision rule: level 3 takes two voices, never the model's imminence alone on a risk only it suspects;
a frame the detector read keeps the model back unless it is near certain."""

from __future__ import annotations

from bot.rasa_client import RasaParse
from bot.risk import RiskAssessment, RiskDetector
from bot.risk_model import RiskScores
from bot.triage import (
    MODEL_ALONE,
    MODEL_ALONE_NOW,
    MODEL_IMMINENT,
    MODEL_OVER_FRAME,
    MODEL_WITH_MEANS,
    decide,
    load_risk_intents,
)

INTENTS = load_risk_intents()
NOTHING = RiskAssessment(0, None, [])


def test_a_risk_only_the_model_suspects_is_not_made_level_3_by_its_imminence_alone() -> None:
    # Sure enough of a risk to hand off, imminence above the line, but P(risk) x P(imminent) below "sure it is now".
    imminent = max(MODEL_IMMINENT, 0.3)
    suspected = RiskScores(risk=MODEL_ALONE, imminent=imminent, category="suicide")
    assert MODEL_ALONE * imminent < MODEL_ALONE_NOW
    decision = decide(NOTHING, None, intents=INTENTS, bot_available=False, scores=suspected)
    assert (decision.risk, decision.reason) == (2, "risk")
    assert not any(cue.startswith("model:imminent") for cue in decision.cues)


def test_the_model_sure_of_the_risk_and_the_now_makes_level_3() -> None:
    sure = RiskScores(risk=0.99, imminent=0.99, category="suicide")
    decision = decide(NOTHING, None, intents=INTENTS, bot_available=False, scores=sure)
    assert decision.risk == 3 and decision.crisis_reply


def test_the_lexicons_level_2_and_the_models_imminence_make_level_3() -> None:
    lexicon = RiskAssessment(2, "self_harm", ["self_harm.cut:划"])
    decision = decide(lexicon, None, intents=INTENTS, scores=RiskScores(0.5, MODEL_IMMINENT, "self_harm"))
    assert decision.risk == 3
    below = decide(lexicon, None, intents=INTENTS, scores=RiskScores(0.5, MODEL_IMMINENT / 2, "self_harm"))
    assert below.risk == 2


def test_a_lexicon_level_3_stands_whatever_the_model_says() -> None:
    plan = RiskAssessment(3, "suicide", ["suicide.plan:今晚"])
    assert decide(plan, None, intents=INTENTS, scores=RiskScores(0.0, 0.0, "suicide")).risk == 3


def test_a_method_in_the_writers_own_words_and_the_models_lean_make_a_risk() -> None:
    mention = RiskAssessment(1, "suicide", ["suicide.method:上吊"], mentions_means=True)
    leaning = RiskScores(risk=MODEL_WITH_MEANS, imminent=0.0, category="suicide")
    assert decide(mention, None, intents=INTENTS, bot_available=False, scores=leaning).risk == 2
    doubting = RiskScores(risk=MODEL_WITH_MEANS / 2, imminent=0.0, category="suicide")
    assert decide(mention, None, intents=INTENTS, bot_available=False, scores=doubting).risk == 1
    # The lean alone, without the lexicon's mention, is not enough.
    assert decide(NOTHING, None, intents=INTENTS, bot_available=False, scores=leaning).risk == 0


def test_a_method_told_about_or_someone_elses_is_no_mention(detector: RiskDetector) -> None:
    assert detector.assess("烧炭的话 去超市买一袋木炭就行吧").mentions_means
    for told in ("新闻里说有人跳楼了", "我同学说她想上吊", "电影里主角最后割腕了"):
        assert not detector.assess(told).mentions_means, told


def test_a_frame_keeps_the_model_from_raising_a_message_unless_the_model_is_near_certain() -> None:
    framed = "framed:漫画"
    leaning = RiskScores(risk=(MODEL_ALONE + MODEL_OVER_FRAME) / 2, imminent=0.0, category="suicide")
    assert MODEL_ALONE <= leaning.risk < MODEL_OVER_FRAME
    assert decide(NOTHING, None, intents=INTENTS, bot_available=False, told_about=framed, scores=leaning).risk == 0
    assert decide(NOTHING, None, intents=INTENTS, bot_available=False, scores=leaning).risk == 2
    sure = RiskScores(risk=MODEL_OVER_FRAME, imminent=0.0, category="suicide")
    decision = decide(NOTHING, None, intents=INTENTS, bot_available=False, told_about=framed, scores=sure)
    assert (decision.risk, decision.reason) == (2, "risk")
    assert f"overruled:{framed}" in decision.cues


def test_a_risk_rasa_reads_in_a_framed_message_stands_when_the_model_is_near_certain_too() -> None:
    framed = "framed:漫画"
    rasa = RasaParse(intent="risk_suicide", confidence=0.95, ranking=[("risk_suicide", 0.95)])
    doubting = RiskScores(risk=MODEL_ALONE, imminent=0.0, category="suicide")
    assert decide(NOTHING, rasa, intents=INTENTS, told_about=framed, scores=doubting).risk == 1
    sure = RiskScores(risk=MODEL_OVER_FRAME, imminent=0.0, category="suicide")
    assert decide(NOTHING, rasa, intents=INTENTS, told_about=framed, scores=sure).risk == 2


def test_past_a_frame_the_model_makes_level_2_at_most() -> None:
    sure_and_now = RiskScores(risk=0.99, imminent=0.99, category="suicide")
    framed = decide(NOTHING, None, intents=INTENTS, bot_available=False, told_about="topic_question:有没有人",
                    scores=sure_and_now)
    assert framed.risk == 2
    assert decide(NOTHING, None, intents=INTENTS, bot_available=False, scores=sure_and_now).risk == 3
