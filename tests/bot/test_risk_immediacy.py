"""The generic immediacy escalator and the semantic families: any level-2 risk next to a sign that it
is happening now becomes level 3, whatever cue found it; the signs alone, in hyperbole, negated or
in an if-clause raise nothing. Sentences here are not in any evaluation split."""

from __future__ import annotations

import pytest

from bot.lexicon import LexiconError, load_lexicon, parse_lexicon
from bot.risk import RiskDetector


@pytest.mark.parametrize(("text", "category", "sign"), [
    ("二十分钟后我就从宿舍楼跳下去", "suicide", "imminent:soon"),
    ("凌晨两点，我准备好离开这个世界了", "suicide", "imminent:soon"),
    ("那几个人现在在楼梯口堵着我，说要弄死我", "bullying", "imminent:there_now"),
    ("他们说放学带刀来收拾我", "bullying", "imminent:armed"),
    ("继父正在砸我房门，我好怕，快来", "abuse_home", "imminent:"),
    ("我被骗进一个厂里，门锁着不让出去，帮我报警", "exploitation", "imminent:"),
    ("我表姐刚刚给我发了遗言，现在电话也打不通", "friend_concern", "imminent:"),
])
def test_a_level_2_next_to_an_immediacy_sign_is_level_3(detector: RiskDetector, text: str, category: str,
                                                        sign: str) -> None:
    result = detector.assess(text)
    assert result.level == 3, result
    assert result.category == category
    assert any(cue.startswith(sign) for cue in result.cues), result.cues


@pytest.mark.parametrize("text", [
    "救命，这道物理题我真的不会",
    "马上就要期末考了，今晚通宵复习",
    "现在就在天台晒被子，太阳好大",
    "我不想死，现在只是有点累",
    "游戏里我的角色正在被怪追，快来救我",
])
def test_signs_alone_raise_nothing(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level < 2, detector.assess(text)


@pytest.mark.parametrize("text", [
    "如果哪天我不回消息了，别找我，我只是去旅游了",  # a sign in an if-clause
    "我现在在网吧，跟家里吵架跑出来了",  # a runaway's whereabouts are not a danger now
    "我爸今天又打我了",  # a near time counts only for suicide and self-harm
])
def test_signs_that_do_not_escalate(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level <= 2, detector.assess(text)


@pytest.mark.parametrize(("text", "level"), [
    ("刚刚吞了半瓶敌敌畏，肚子好疼", 3),  # a method named without a wish, next to an act just done
    ("我爷爷刚刚在菜地里喷了农药", 1),  # a method, no act of taking it
    ("小说里的女孩刚刚跳楼了", 1),  # framed: told about, not lived
])
def test_a_bare_method_next_to_an_act_just_done(detector: RiskDetector, text: str, level: int) -> None:
    assert detector.assess(text).level == level, detector.assess(text)


@pytest.mark.parametrize("text", [
    "我哥用啤酒瓶砸我的头，流了好多血",  # violence that has done serious harm
    "他们把我打得晕过去了好几分钟",
])
def test_violence_with_a_serious_injury_is_level_3(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level == 3, detector.assess(text)


def test_a_cue_does_not_escalate_itself(detector: RiskDetector) -> None:
    # "遗书" is both a farewell cue and a farewell sign; alone it stays the level it had.
    assert detector.assess("老师布置我们写一封遗书，说是生命教育").level <= 2


def test_a_wish_in_an_if_clause_is_the_youths(detector: RiskDetector) -> None:
    assert detector.assess("如果睡着了就不用醒来就好了").level >= 2


def test_a_retracted_message_is_not_escalated(detector: RiskDetector) -> None:
    assert detector.assess("救命，作业多得我不想活了，开玩笑的").level == 1


@pytest.mark.parametrize(("text", "category"), [
    ("好想和这个世界说声再见", "suicide"),
    ("连一个活下去的理由都没有了", "suicide"),
    ("哪种死法最不痛苦", "suicide"),
    ("我应该熬不过这个学期了", "suicide"),
    ("想给这辈子画个句号", "suicide"),
    ("那天在KTV他硬来，我一直在推", "sexual_abuse"),
    ("我说了不要，他还是跟我发生了关系", "sexual_abuse"),
    ("学姐说每拉一个同学进群就给二十块", "exploitation"),
    ("有人让我帮他带个包裹过去，说千万不能打开看", "exploitation"),
    ("后妈收了我的手机，不让我去学校", "abuse_home"),
    ("打游戏的时候我爸冲进来打我", "abuse_home"),  # a game mentioned, a real act
    ("最近又想zs了", "suicide"),  # slang rewritten before matching
    ("我弟一不顺心就拿我出气", "abuse_home"),
    ("有个老乡叫我帮他寄个箱子，还说别问里面是啥", "exploitation"),
    ("结的痂又被我抠开了", "self_harm"),
    ("把我的书包扔进了厕所", "bullying"),
])
def test_semantic_families(detector: RiskDetector, text: str, category: str) -> None:
    result = detector.assess(text)
    assert result.level >= 2, result
    assert result.category == category


@pytest.mark.parametrize("text", [
    "尴尬到想原地去世",
    "好想原地消失，上课睡觉被点名了",
    "我想跟这个暑假说再见",
    "我妈把我手机收了，不让我出门，要期末考试了",
    "老师让我拉同学一起去参加运动会",
    "我妈拿着刀在厨房切菜",
    "这关的死法也太多了吧",
    "话剧里我正在演一个被欺负的同学",  # a kind of person described, not something that happened
    "副本里那个boss把我按在墙上打了三回",  # a game's world: "我" is a player
    "我最喜欢的角色在小说结尾自杀了",  # what the youth likes, not the youth
    "辩题是如果我不在了，世界会不会不一样",  # a set title quoted
])
def test_family_hard_negatives(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level < 2, detector.assess(text)


def test_immediacy_groups_are_validated() -> None:
    import tomllib

    from bot.lexicon import LEXICON_PATH

    raw = tomllib.loads(LEXICON_PATH.read_text(encoding="utf-8"))
    raw["immediacy"]["groups"]["soon"]["categories"] = ["nonsense"]
    with pytest.raises(LexiconError, match="immediacy.groups.soon"):
        parse_lexicon(raw)
    raw["immediacy"]["groups"]["soon"]["categories"] = ["suicide"]
    raw["immediacy"]["window"] = 0
    with pytest.raises(LexiconError, match="immediacy.window"):
        parse_lexicon(raw)
    assert load_lexicon().immediacy
