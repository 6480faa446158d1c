"""The learned risk model: its corpus, deterministic training, and what it adds to triage."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.risk import RiskAssessment, RiskDetector
from bot.risk_artifact import load_current
from bot.risk_model import SAFE_EXAMPLES_PATH, LabelledMessage, RiskModel, RiskScores, load_training_messages
from bot.triage import (
    MODEL_ALONE,
    MODEL_ALONE_NOW,
    MODEL_DOUBT,
    MODEL_IMMINENT,
    MODEL_VETO,
    MODEL_VETO_NOW,
    decide,
    load_risk_intents,
)

INTENTS = load_risk_intents()
NOTHING = RiskAssessment(0, None, [])

TOY = [LabelledMessage(text, level, category) for text, level, category in [
    ("今天吃了火锅", 0, None), ("作业好多", 0, None), ("周末去爬山", 0, None), ("数学考了九十分", 1, None),
    ("不想活了", 2, "suicide"), ("活着没意思", 2, "suicide"), ("药已经吃下去了", 3, "suicide"),
    ("我站在天台上了", 3, "suicide"), ("爸爸又打我了", 2, "abuse_home"), ("我妈拿皮带抽我", 3, "abuse_home"),
    ("真的不想活了", None, "suicide"),
]]


def identity(text: str) -> str:
    return text


def scores(risk: float, imminent: float, category: str = "suicide") -> RiskScores:
    return RiskScores(risk=risk, imminent=imminent, category=category)


def test_training_is_deterministic_and_separates_what_it_was_shown() -> None:
    first, second = RiskModel.train(identity, TOY), RiskModel.train(identity, TOY)
    for text in ("不想活了", "周末吃火锅", "药吃下去了"):
        assert first.scores(text) == second.scores(text)
    assert first.scores("活着真没意思").risk > 0.5 > first.scores("周末去吃火锅").risk
    assert first.scores("我已经站在天台上了").imminent > 0.5 > first.scores("有时候觉得活着没意思").imminent
    assert (first.scores("爸又打我").category, first.scores("活着真没意思").category) == ("abuse_home", "suicide")


def test_training_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="positive and negative"):
        RiskModel.train(identity, [LabelledMessage("不想活了", 2, "suicide")] * 3)


def test_the_corpus_is_the_level_files_the_frozen_safe_examples_and_rasa_risk_examples(tmp_path: Path) -> None:
    levels, nlu, safe = tmp_path / "levels", tmp_path / "nlu", tmp_path / "safe.jsonl"
    levels.mkdir()
    nlu.mkdir()
    (levels / "a.jsonl").write_text('{"text": "刚吞了一瓶药", "risk": 3, "category": "suicide"}\n\n'
                                    '{"text": "笑死", "risk": 0, "category": null}\n', encoding="utf-8")
    safe.write_text('{"text": "你好", "intent": "greet"}\n{"text": "睡不着怎么办", "intent": "faq/sleep"}\n',
                    encoding="utf-8")
    # An FAQ question added to Rasa's data (here one that tells of harm) is not read as safe: only the
    # frozen file gives level-0 rows from Rasa's examples.
    (nlu / "x.yml").write_text('version: "3.1"\nnlu:\n- intent: risk_suicide\n  examples: |\n    - 不想活了\n'
                               '- intent: greet\n  examples: |\n    - 你好\n'
                               '- intent: faq/help_friend\n  examples: |\n    - 我朋友说想自杀我该怎么办\n'
                               '- synonym: 自杀\n  examples: |\n    - 紫砂\n', encoding="utf-8")
    messages = load_training_messages(levels, nlu, safe_path=safe)
    assert messages == [LabelledMessage("刚吞了一瓶药", 3, "suicide"), LabelledMessage("笑死", 0),
                        LabelledMessage("你好", 0), LabelledMessage("睡不着怎么办", 0),
                        LabelledMessage("不想活了", None, "suicide")]
    for bad in ('{"text": "没有等级"}', '{"text": "想死", "risk": 2, "category": null}',
                '{"text": "笑死", "risk": 0, "category": "suicide"}'):
        (levels / "b.jsonl").write_text(bad + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match="b.jsonl:1"):
            load_training_messages(levels, nlu, safe_path=safe)
    (levels / "b.jsonl").unlink()
    for bad in ('{"text": "你好"}', '{"text": "不想活了", "intent": "risk_suicide"}', '{"intent": "greet"}'):
        safe.write_text('{"text": "嗨", "intent": "greet"}\n' + bad + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match="safe.jsonl:2"):
            load_training_messages(levels, nlu, safe_path=safe)


def test_the_committed_safe_examples_are_rasa_examples_of_non_risk_intents() -> None:
    rows = [json.loads(line) for line in SAFE_EXAMPLES_PATH.read_text(encoding="utf-8").splitlines() if line.strip()]
    risk_intents = set(load_risk_intents())
    assert rows and not any(row["intent"] in risk_intents or row["intent"].startswith("risk_") for row in rows)


@dataclass(frozen=True)
class Parse:
    intent: str
    confidence: float
    ranking: list[tuple[str, float]]


def test_a_risk_only_rasa_found_does_not_count_when_the_model_doubts_it() -> None:
    rasa = Parse("risk_suicide", 0.99, [("risk_suicide", 0.99)])
    doubted = decide(NOTHING, rasa, intents=INTENTS, scores=scores(MODEL_VETO - 0.05, 0.0))
    assert doubted.risk == 1 and doubted.reason == "low_confidence"
    assert f"model:risk:{MODEL_VETO - 0.05:.2f}" in doubted.cues
    agreed = decide(NOTHING, rasa, intents=INTENTS, scores=scores(MODEL_VETO + 0.05, 0.0))
    assert (agreed.risk, agreed.category, agreed.reason) == (2, "suicide", "risk")
    # Unsure it is a risk but sure it would be happening now (a farewell): no veto, and level 3.
    now = scores(MODEL_VETO - 0.05, MODEL_VETO_NOW / (MODEL_VETO - 0.05) + 0.01)
    assert decide(NOTHING, rasa, intents=INTENTS, scores=now).risk == 3


def test_the_model_alone_finds_a_risk_and_names_its_category() -> None:
    unsure = Parse("out_of_scope", 0.7, [("out_of_scope", 0.7), ("risk_runaway", 0.2), ("risk_suicide", 0.1)])
    sure = scores(MODEL_ALONE, 0.0, "runaway")
    found = decide(NOTHING, unsure, intents=INTENTS, scores=sure)
    assert (found.risk, found.category, found.reason) == (2, "runaway", "risk")
    assert f"model:risk:{MODEL_ALONE:.2f}" in found.cues
    # Without Rasa too; a told-about message is never raised.
    assert decide(NOTHING, None, intents=INTENTS, bot_available=False, scores=sure).risk == 2
    told = decide(NOTHING, None, intents=INTENTS, scores=sure, told_about="fiction:剧本杀")
    assert told.risk == 0
    below = scores(MODEL_ALONE - 0.01, 0.0)
    assert decide(NOTHING, unsure, intents=INTENTS, scores=below).risk == 0
    # Less sure it is a risk, but sure that it is happening now: a danger to life, level 3.
    now = scores(MODEL_ALONE_NOW + 0.01, 1.0)
    assert decide(NOTHING, unsure, intents=INTENTS, scores=now).risk == 3
    unsure_now = scores(MODEL_ALONE - 0.01, 0.5)  # product below MODEL_ALONE_NOW
    assert decide(NOTHING, unsure, intents=INTENTS, scores=unsure_now).risk == 0


def test_model_imminence_makes_any_level_2_level_3_and_never_raises_a_safe_message() -> None:
    now = scores(0.9, MODEL_IMMINENT, "self_harm")
    lexicon_risk = decide(RiskAssessment(2, "self_harm", ["self_harm.cut:划"]), None, intents=INTENTS, scores=now)
    assert (lexicon_risk.risk, lexicon_risk.category) == (3, "self_harm") and lexicon_risk.crisis_reply
    assert f"model:imminent:{MODEL_IMMINENT:.2f}" in lexicon_risk.cues
    safe = decide(NOTHING, Parse("greet", 0.99, [("greet", 0.99)]), intents=INTENTS,
                  scores=scores(0.1, 0.99))
    assert safe.risk == 0 and not safe.handoff


@pytest.fixture(scope="module")
def model(detector: RiskDetector) -> RiskModel:
    """The shipped artifact (bot/risk_models/), as the gateway loads it."""
    loaded = load_current(detector.normalise, detector.lexicon.version)
    assert loaded.model is not None, loaded.detail
    return loaded.model


@pytest.mark.parametrize("text", [
    "一整板安眠药刚才都咽下去了，现在眼皮好重",
    "人已经坐在江堤栏杆外面了，水好急",
])
def test_the_repository_model_hears_an_act_told_without_the_lexicons_words(model: RiskModel, text: str) -> None:
    found = model.scores(text)
    assert found.risk >= MODEL_VETO and found.imminent >= MODEL_IMMINENT, found


@pytest.mark.parametrize("text", ["今天食堂的红烧肉好好吃", "请问你们几点下班", "周末和同学去看电影了"])
def test_the_repository_model_leaves_everyday_chat_alone(model: RiskModel, text: str) -> None:
    assert model.scores(text).risk < MODEL_ALONE


def test_no_punctuation_mark_alone_weighs_much_in_the_shipped_model(model: RiskModel) -> None:
    # With a weak penalty "！" weighed -4.95 in log-odds: a plain farewell ending in "！" read as harmless.
    weights = model._risk.weights
    assert all(abs(weights.get(mark, 0.0)) < 1.0 for mark in "！？，。…~"), {m: weights.get(m) for m in "！？，。…~"}


def test_the_shipped_model_learned_from_the_whole_repository_corpus(model: RiskModel) -> None:
    # No longer trained at start-up; tests/bot/test_risk_artifact.py checks the corpus's hash too.
    assert model.examples >= len(load_training_messages())


def test_a_lexicon_level_2_the_model_is_near_certain_about_goes_to_a_person_at_normal_priority() -> None:
    lexicon = RiskAssessment(2, "bullying", ["bullying.act:被欺负"])
    doubted = decide(lexicon, None, intents=INTENTS, scores=scores(MODEL_DOUBT / 2, 0.9))
    assert (doubted.risk, doubted.handoff, doubted.reason) == (1, True, "low_confidence")
    assert doubted.cues[0].startswith("model:doubt:") and "bullying.act:被欺负" in doubted.cues
    kept = decide(lexicon, None, intents=INTENTS, scores=scores(MODEL_DOUBT * 2, 0.0))
    assert (kept.risk, kept.reason) == (2, "risk")
    # A lexicon level 3 (a plan with means, an act) is never second-guessed.
    plan = RiskAssessment(3, "suicide", ["suicide.plan:今晚"])
    assert decide(plan, None, intents=INTENTS, scores=scores(0.0, 0.0)).risk == 3


@pytest.mark.parametrize("cue", ["suicide.companions:有没有人一起烧炭", "suicide.method_efficacy:烧炭+能死透吗",
                                 "suicide.farewell_strong:遗书"])
def test_the_lexicons_most_specific_signs_of_suicidal_intent_are_not_doubted(cue: str) -> None:
    decision = decide(RiskAssessment(2, "suicide", [cue]), None, intents=INTENTS, scores=scores(0.0, 0.0))
    assert (decision.risk, decision.reason) == (2, "risk")
    assert not any(c.startswith("model:doubt:") for c in decision.cues)
    # The same sign in a friend's words is the friend's risk, and the usual doubt applies to it.
    friend = decide(RiskAssessment(2, "friend_concern", [f"friend:{cue}"]), None, intents=INTENTS,
                    scores=scores(0.0, 0.0))
    assert friend.risk == 1


def test_a_risk_takes_the_models_category_and_keeps_what_the_others_read_as_cues() -> None:
    lexicon = RiskAssessment(2, "abuse_home", ["abuse_home.violence:被打"])
    decision = decide(lexicon, None, intents=INTENTS, scores=scores(0.9, 0.0, "bullying"))
    assert (decision.risk, decision.category) == (2, "bullying") and "abuse_home.violence:被打" in decision.cues
    rasa = Parse("risk_runaway", 0.95, [("risk_runaway", 0.95)])
    assert decide(NOTHING, rasa, intents=INTENTS, scores=scores(0.9, 0.0, "exploitation")).category == "exploitation"


@pytest.mark.parametrize(("text", "category"), [
    ("我哥半夜在房间里一直不出声，门缝里一股烧炭的味道", "friend_concern"),
    ("班里几个人天天堵我要钱，不给就拖到厕所打", "bullying"),
    ("网上认识的哥哥说拍了我的照片，不转钱就发到班级群", "exploitation"),
])
def test_the_repository_model_names_the_category(model: RiskModel, text: str, category: str) -> None:
    assert model.scores(text).category == category
