"""The deterministic risk detector: hyperbole, negation, third person, every category, level 3."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

import bot.risk
from bot.lexicon import LexiconError, load_lexicon, parse_lexicon
from bot.risk import RiskDetector


@pytest.mark.parametrize("text", ["笑死我了", "累死了", "热死了", "想死你了", "饿死了，快开饭", "困死了", "困到去世",
                                  "气死我了哈哈", "游戏角色又死了", "我们在玩狼人杀", "今天练了跳绳"])
def test_hyperbole_is_not_risk(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level == 0


@pytest.mark.parametrize("text", ["我不想死", "我没有想自杀", "放心，我不会做傻事的", "我从来没有割过自己",
                                  "我绝对不会自杀"])
def test_negated_cues_are_dropped(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level < 2


@pytest.mark.parametrize("text", ["我不想活了", "我不想再活下去", "活着没意思", "我不开心，想死"])
def test_negative_phrasing_that_is_itself_risk(detector: RiskDetector, text: str) -> None:
    result = detector.assess(text)
    assert result.level >= 2 and result.category == "suicide"


def test_third_person_report_is_friend_concern(detector: RiskDetector) -> None:
    result = detector.assess("我同学说她想跳楼")
    assert result.level >= 2 and result.category == "friend_concern"
    assert any(cue.startswith("friend:") for cue in result.cues)


def test_friend_in_imminent_danger_is_level_3(detector: RiskDetector) -> None:
    result = detector.assess("我朋友说他今晚要从楼上跳下去")
    assert result.level == 3 and result.category == "friend_concern"


def test_perpetrator_pronoun_is_not_a_friend(detector: RiskDetector) -> None:
    assert detector.assess("同学们天天欺负我").category == "bullying"
    assert detector.assess("他拿着刀说要砍死我").level == 3


@pytest.mark.parametrize(("text", "category"), [
    ("我好想死啊😭", "suicide"),
    ("我又用刀片划手了", "self_harm"),
    ("昨晚割开了手腕 血流了好多", "self_harm"),
    ("我又割开了自己的手臂", "self_harm"),
    ("我爸喝醉了就打我", "abuse_home"),
    ("继父晚上会进我房间摸我", "sexual_abuse"),
    ("班上同学都孤立我", "bullying"),
    ("我从家里跑出来了，今晚没地方住", "runaway"),
    ("有人威胁我不给钱就把我的裸照发出去", "exploitation"),
    ("我闺蜜最近老是割自己", "friend_concern"),
])
def test_each_category(detector: RiskDetector, text: str, category: str) -> None:
    result = detector.assess(text)
    assert result.level >= 2 and result.category == category, result


@pytest.mark.parametrize("text", ["安眠药我已经攒了一瓶，今晚吃", "遗书写好了，对不起爸妈，我不想活了",
                                  "我现在站在天台上", "我今晚就去跳河", "我割得太深了，血止不住"])
def test_plans_times_farewells_and_acts_in_progress_are_level_3(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level == 3


@pytest.mark.parametrize("text", ["药都吃了 现在头好晕", "他说要杀了我 我好怕", "他们说要开盒我 把我的地址发群里",
                                  "我以前自残过 现在已经好了 可是今天又划了"])
def test_the_false_alarm_guards_keep_the_real_risks(detector: RiskDetector, text: str) -> None:
    # "药吃了会…吗" is a question about a side effect, "要杀了我…hhh" a joke, "是什么意思" a definition,
    # "现在已经好了" a past that is over (unless something reopens it):
    # each guard is narrow enough that the same words, lived, are still risk.
    assert detector.assess(text).level >= 2


@pytest.mark.parametrize("text", ["我想 紫砂", "我想自.杀", "不想火了", "想s"])
def test_slang_typos_and_dodging_separators(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level >= 2


@pytest.mark.parametrize("text", ["家暴的法律定义是什么", "怎么预防校园霸凌", "你好", "我妈让我打扫房间", "",
                                  "今天新闻说有个学生跳楼了", "网上说的'开盒'是什么意思 经常看到",
                                  "我爸的紫砂壶被我打碎了", "闺蜜说要杀了我 因为我剧透了结局 hhh",
                                  "医生给我开的药吃了会发胖吗 我有在按时吃",
                                  "以前我也自残过 现在已经好了两年了", "我朋友初中被欺负过 不过现在转学了过得挺好",
                                  "拆快递的时候不小心划开了手指", "切菜划伤了手 贴了个创可贴",
                                  "我用美工刀划开自己的快递箱", "医生用剪刀割开了手臂上的石膏"])
def test_informational_and_everyday_messages_stay_below_risk(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level < 2


def test_result_names_the_lexicon_version(detector: RiskDetector) -> None:
    assert detector.assess("我想死").lexicon_version == load_lexicon().version


@pytest.mark.parametrize("change", [
    {"version": ""},
    {"cues": [{"id": "x", "category": "nope", "level": 2, "kind": "experience", "patterns": ["a"]}]},
    {"cues": [{"id": "x", "category": "suicide", "level": 5, "kind": "experience", "patterns": ["a"]}]},
    {"cues": [{"id": "x", "category": "suicide", "level": 2, "kind": "experience", "patterns": ["(unclosed"]}]},
    {"cues": [{"id": "x", "category": "suicide", "level": 2, "kind": "experience", "patterns": ["<NOPE>"]}]},
])
def test_a_broken_lexicon_is_refused(change: dict) -> None:
    raw = {"version": "t", "hyperbole": {"patterns": ["笑死"]}, "retraction": {"patterns": ["开玩笑"]},
           "generic_question": {"patterns": ["违法吗"]},
           "cues": [{"id": "ok", "category": "suicide", "level": 2, "kind": "experience", "patterns": ["想死"]}]}
    parse_lexicon(dict(raw))  # valid as it stands, so each change below is what breaks it
    raw.update(change)
    with pytest.raises(LexiconError):
        parse_lexicon(raw)


def test_a_long_unpunctuated_message_is_read_in_work_proportional_to_its_length(
        detector: RiskDetector, monkeypatch: pytest.MonkeyPatch) -> None:
    """One clause of thousands of characters and cues: the clause is read once, not once per cue, and
    jieba segments a few characters per cue, not the clause. Work is counted, not timed."""
    work: Counter[str] = Counter()
    segment, clause_facts = detector._tokenizer.lcut, bot.risk.ClauseFacts

    def counting_segment(text: str, *args: Any, **kwargs: Any) -> list[str]:
        work["segmented"] += len(text)
        return segment(text, *args, **kwargs)

    def counting_facts(**facts: bool) -> Any:
        work["clauses"] += 1
        return clause_facts(**facts)

    monkeypatch.setattr(detector._tokenizer, "lcut", counting_segment)
    monkeypatch.setattr(bot.risk, "ClauseFacts", counting_facts)
    rng = random.Random(15)
    phrases = ["我想死", "我不想活了", "没有人在乎我", "我没想过自杀", "今天又考砸了", "别管我", "想割自己",
               "活着没意思"]
    for length in (2_000, 8_000):
        work.clear()
        text = ""
        while len(text) < length:
            text += rng.choice(phrases)
        result = detector.assess(text)
        assert result.level >= 2 and result.category in ("suicide", "self_harm")
        pieces = len(range(0, len(text) - 200, 1800))  # read in overlapping pieces of 2,000 characters
        assert work["clauses"] <= pieces  # one clause per piece, read once
        assert work["segmented"] <= 20 * len(text)  # a cue's few characters, plus the piece once for whole words
