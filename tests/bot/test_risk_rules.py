"""Compositional risk rules: paraphrases without stock keywords, level 3 by composition, vetoes,
retraction, generic questions, whose risk it is, and the rule section of lexicon validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.evaluation import main as evaluation_main
from bot.lexicon import LexiconError, parse_lexicon
from bot.risk import RiskDetector


@pytest.mark.parametrize(("text", "category", "rule"), [
    ("我这种人的存在就是个错误", "suicide", "suicide.worthless_existence"),
    ("要是我消失了 大家会轻松很多吧", "suicide", "suicide.absence_relief"),
    ("这两天一直在搜吃多少片会醒不过来", "suicide", "suicide.method_research"),
    ("路过天桥的时候总想翻过去", "suicide", "suicide.drawn_to_edge"),
    ("心爱的东西都送给表妹了 反正以后也用不上", "suicide", "suicide.giving_away"),
    ("冬天也只穿长袖 胳膊上的疤不敢让人看", "self_harm", "self_harm.hidden_traces"),
    ("压力大就拿圆规戳自己的手背", "self_harm", "self_harm.tool_on_self"),
    ("我妈一进门我就开始发抖 她一生气就动手", "abuse_home", "abuse_home.fear"),
    ("游泳教练训练完总让我留下 还摸我", "sexual_abuse", "sexual_abuse.adult_act"),
    ("后爸说这是我们之间的秘密 不许告诉妈妈", "sexual_abuse", "sexual_abuse.secret"),
    ("他们把我的丑照p了发到班群里", "bullying", "bullying.spread"),
    ("初三的每周找我要钱 不给就堵我", "bullying", "bullying.extortion"),
    ("在火车站坐了一夜 身上一分钱都没有", "runaway", "runaway.stranded"),
    ("网上认识的姐姐说可以去她家住", "runaway", "runaway.net_friend_stay"),
    ("有人介绍去酒吧上班 说年龄不是问题", "exploitation", "exploitation.job_offer"),
    ("对方说不转钱就上门找我爸妈", "exploitation", "exploitation.threat"),
    ("有人出钱收银行卡 一张给三百", "exploitation", "exploitation.money_mule"),
    ("欠的网贷还不上 他们让我肉偿", "exploitation", "exploitation.debt_for_body"),
])
def test_paraphrases_fire_by_composition(detector: RiskDetector, text: str, category: str, rule: str) -> None:
    result = detector.assess(text)
    assert result.level >= 2 and result.category == category, result
    assert any(cue.startswith(f"{rule}:") for cue in result.cues), result.cues  # shown to the counsellor


@pytest.mark.parametrize("text", [
    "刀片已经藏在笔袋里了 今晚宿舍没人",  # means + ready + time
    "我站在天台边上 对不起",  # place + intent
    "药都准备好了 今晚一口气全吃掉",  # pills + ready + time + swallow
    "割得好深 血一直往外冒",  # bleeding from a cut
    "我爸举着菜刀在踹我房门",  # weapon at the door
    "半夜一个人回家 有个男的一直跟着我",  # followed at night
    "他们收走了我的手机 门口有人看着 出不去",  # confinement
])
def test_level_3_by_composition(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level == 3, detector.assess(text)


@pytest.mark.parametrize("text", [
    "刀削面准备好了 今晚吃",  # "刀" inside a word is not a means (jieba boundary)
    "我弟拿玩具刀追着我跑",  # toy veto
    "跟朋友在楼顶吃烧烤 再见了夏天",  # leisure veto
    "表哥说这是我们俩的秘密 不要告诉妈妈我们偷吃了冰淇淋",  # harmless secret veto
    "家里的药攒了一堆 都过期了 怎么处理",  # disposal veto
    "我妈把我手机收走了 不让我出门",  # confinement by a parent is not trafficking
    "暑假想去外地找个兼职 有靠谱的渠道吗",  # a job question without red flags
    "我没有觉得自己是多余的 活着挺好",  # negated family
    "我们班同学都很好 没人欺负我",  # "没人" negates
    "切水果的时候不小心划到手了 贴了个创可贴",
    "打篮球把膝盖磕破了 流了好多血 还好不严重",
])
def test_look_alikes_stay_below_risk(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level < 2, detector.assess(text)


@pytest.mark.parametrize("text", ["食堂的饭难吃到想死", "尴尬到想原地去世", "社死现场", "我不想活了哈哈开玩笑的",
                                  "作业多到想紫砂(bushi", "这学期挂科了 我爸知道了会打死我的"])
def test_hyperbole_and_retraction(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level < 2


def test_a_denied_joke_is_not_a_retraction(detector: RiskDetector) -> None:
    assert detector.assess("想si 真的 没开玩笑").level >= 2


def test_a_retraction_never_lowers_level_3(detector: RiskDetector) -> None:
    assert detector.assess("药攒够了 今晚全吞了 开玩笑的").level == 3


def test_generic_question_versus_own_case(detector: RiskDetector) -> None:
    assert detector.assess("家暴可以报警吗").level < 2
    assert detector.assess("我被家暴了可以报警吗").level >= 2


def test_nobody_around_is_not_a_negation(detector: RiskDetector) -> None:
    assert detector.assess("我表哥趁家里没人对我做了那种事").category == "sexual_abuse"


@pytest.mark.parametrize("text", ["同桌手腕上有好多疤 问她就说是猫抓的", "舍友朋友圈发了 我累了 晚安 世界",
                                  "我朋友说他现在在楼顶 电话也不接"])
def test_rules_about_someone_else_are_friend_concern(detector: RiskDetector, text: str) -> None:
    result = detector.assess(text)
    assert result.level >= 2 and result.category == "friend_concern", result


def test_a_friend_named_as_an_object_is_not_whose_risk_it_is(detector: RiskDetector) -> None:
    result = detector.assess("今晚等室友睡了 就把攒的药全吃了")
    assert result.level == 3 and result.category == "suicide", result


def test_a_question_about_a_consequence_is_not_a_denial(detector: RiskDetector) -> None:
    assert detector.assess("我妈要是知道我不在了 会不会后悔那样对我").level >= 2


def test_being_made_to_call_someone_dad_is_not_home(detector: RiskDetector) -> None:
    assert detector.assess("他们几个天天让我跪着叫爸爸 不叫就扇我").category == "bullying"


@pytest.mark.parametrize("text", ["心理课老师问我们有没有想过伤害自己 大家都说没有",
                                  "同学把我的照片p成了表情包 发在群里 大家都笑了 我也觉得好好玩",
                                  "我在酒店 外卖到了 有人敲门", "接到自称警察的电话说我涉嫌犯罪 这是诈骗吗"])
def test_more_look_alikes(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level < 2, detector.assess(text)


def test_done_to_the_youth_by_a_classmate_is_bullying(detector: RiskDetector) -> None:
    assert detector.assess("同桌每天拿圆规扎我 老师不管").category == "bullying"


def test_sextortion_is_exploitation(detector: RiskDetector) -> None:
    result = detector.assess("视频的时候他让我脱衣服 现在说不给钱就把录屏发给我同学")
    assert result.category == "exploitation"


_BASE = {"version": "t", "hyperbole": {"patterns": ["笑死"]}, "retraction": {"patterns": ["开玩笑"]},
         "generic_question": {"patterns": ["违法吗"]},
         "cues": [{"id": "ok", "category": "suicide", "level": 2, "kind": "experience", "patterns": ["想死"]}],
         "families": {"A": {"patterns": ["刀"]}, "B": {"patterns": ["今晚"]}},
         "rules": [{"id": "r", "category": "suicide", "level": 3, "all": ["A", "B"]}]}


def test_the_base_lexicon_of_these_tests_is_valid() -> None:
    lexicon = parse_lexicon(_BASE)
    assert lexicon.rules[0].window == 30 and lexicon.families["A"].negatable


@pytest.mark.parametrize("rule", [
    {"id": "r", "category": "suicide", "level": 3, "all": ["A", "NOPE"]},
    {"id": "r", "category": "suicide", "level": 3, "all": ["A"]},
    {"id": "r", "category": "suicide", "level": 3, "all": ["A", "B"], "none": ["NOPE"]},
    {"id": "r", "category": "suicide", "level": 3, "all": ["A", "B"], "window": 0},
    {"id": "r", "category": "nope", "level": 3, "all": ["A", "B"]},
    {"id": "ok", "category": "suicide", "level": 3, "all": ["A", "B"]},
])
def test_a_broken_rule_is_refused(rule: dict) -> None:
    with pytest.raises(LexiconError):
        parse_lexicon({**_BASE, "rules": [rule]})


def test_evaluation_accepts_a_split_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    split = tmp_path / "split.jsonl"
    rows = [{"text": "我想死", "intent": "risk_suicide", "risk": 2, "category": "suicide"},
            {"text": "你好", "intent": "greet", "risk": 0, "category": None}]
    split.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows), encoding="utf-8")
    evaluation_main([str(split)])
    out = capsys.readouterr().out
    assert "(2 messages)" in out and "risk recall (level>=2)   1.000  (1/1)" in out
