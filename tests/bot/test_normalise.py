"""The normaliser, table by table: scripts, width, dodging, emoji, Latin slang, pinyin, robustness."""

from __future__ import annotations

import time

import pytest

from bot.lexicon import LexiconError, parse_lexicon
from bot.normalise import Normaliser, latin_bounded
from bot.pinyin import PinyinReader
from bot.risk import RiskDetector


@pytest.fixture(scope="module")
def normalise(detector: RiskDetector) -> Normaliser:
    return Normaliser(detector.lexicon)


@pytest.mark.parametrize(("text", "expected"), [
    ("我已經決定了", "我已经决定了"),  # Traditional -> Simplified
    ("這個世界沒有我會更好", "这个世界没有我会更好"),
    ("ＡＢＣ１２３", "abc123"),  # full width -> half width, lower case
    ("ＺＩ　ＳＨＡ", "自杀"),  # full-width pinyin
    ("我很好！明天见", "我很好！明天见"),  # Simplified text passes through unchanged
])
def test_script_and_width(normalise: Normaliser, text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("佢叫我唔好同屋企人講", "他叫我不要同家人讲"),  # written Cantonese -> its Mandarin twin
    ("我真係唔想再醒", "我真是不想再醒"),
    ("冇人會發現我唔喺度", "没有人会发现我不在这里"),
    ("唔該晒", "谢谢晒"),  # the longer key wins: 唔该 is thanks, not a negation
    ("幫我把帳號關掉", "帮我把账号关掉"),  # OpenCC's 帐号 spelled as the lexicon's 账号
])
def test_written_cantonese_and_variant_spellings(normalise: Normaliser, text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize("text", ["自/杀", "自 杀", "自.杀", "自 . 杀", "自*杀", "自\u200b杀", "自\u200d杀",
                                  "自\ufeff杀", "自\u00ad杀", "自\x00杀", "自🌸杀", "紫.砂", "自 鲨"])
def test_separators_and_invisible_characters_dodging_a_filter(normalise: Normaliser, text: str) -> None:
    assert normalise(text) == "自杀"


@pytest.mark.parametrize(("text", "expected"), [
    ("我好难过😭", "我好难过"),  # mapped to a clause break, trailing break stripped
    ("🔪", "刀"),
    ("我买了💊", "我买了药"),
    ("今天好开心🎉🎉", "今天好开心"),  # unmapped emoji are removed
    ("😀😀😀", ""),
])
def test_emoji(normalise: Normaliser, text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("想s", "想死"),
    ("我想zs了", "我想自杀了"),
    ("又zc了", "又自残了"),
    ("被qj", "被强奸"),
    # Inside an English word a Latin rewrite never applies.
    ("我想switch到别的班", "我想switch到别的班"),
    ("他被block了", "他被block了"),
    ("来自china的同学", "来自china的同学"),
    ("我想sleep", "我想sleep"),
    ("被blue的歌感动了", "被blue的歌感动了"),
])
def test_slang_applies_on_latin_token_boundaries_only(normalise: Normaliser, text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("bu xiang huo le", "不想活了"),
    ("buxianghuole", "不想活了"),
    ("wo xiang si", "我想死"),
    ("WO XIANG SI", "我想死"),
    ("wǒ xiǎng sǐ", "我想死"),  # tone marks
    ("zi sha", "自杀"),
    ("zi-sha", "自杀"),
    ("zisha", "自杀"),
    ("bxhl", "不想活了"),
    ("b x h l", "不想活了"),
    ("wxs", "我想死"),
    ("zs", "自杀"),  # on the two-letter allow-list, as a token of its own
    ("我真的bxhl", "我真的不想活了"),
    ("好累 wo xiang si le", "好累，我想死le"),
])
def test_pinyin_and_initials_of_risk_phrases(normalise: Normaliser, text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize("text", [
    "fang xue", "qing sheng kuai le", "xun si yi xia", "yi shu",  # 放学, 庆生, 寻思, 艺术: same sounds as risk words
    "amy", "lsy", "zsxx", "abzs", "zsh", "dx", "sb",  # names, initials and words that are no risk phrase
    "i love my school", "switch", "this is", "assistant",
])
def test_latin_that_spells_no_risk_phrase_stays_latin(normalise: Normaliser, text: str) -> None:
    assert all("a" <= c <= "z" or c == "，" for c in normalise(text)), normalise(text)


def test_the_pinyin_table_comes_from_the_lexicon(detector: RiskDetector) -> None:
    table = PinyinReader(detector.lexicon).table
    assert table["buxianghuole"] == "不想活了" and table["bxhl"] == "不想活了"
    assert table["lijiachuzou"] == "离家出走"  # a literal cue phrase, read by full pinyin
    assert "ljcz" not in table  # initials only for a wish to die or to hurt oneself
    two_letters = {key for key in table if len(key) == 2}
    assert two_letters == set(detector.lexicon.pinyin.initials)  # only the explicit allow-list
    assert "amy" not in table  # 安眠药's initials would be an English name
    assert "fangxue" not in table and "qingsheng" not in table  # 放血 and 轻生 sound like 放学 and 庆生


def test_initials_in_the_lexicon_must_be_latin() -> None:
    raw = {"version": "t", "hyperbole": {"patterns": ["笑死"]}, "retraction": {"patterns": ["开玩笑"]},
           "generic_question": {"patterns": ["违法吗"]},
           "cues": [{"id": "ok", "category": "suicide", "level": 2, "kind": "experience", "patterns": ["想死"]}]}
    parse_lexicon(dict(raw))
    with pytest.raises(LexiconError):
        parse_lexicon({**raw, "pinyin": {"initials": {"自s": "自杀"}}})
    with pytest.raises(LexiconError):
        parse_lexicon({**raw, "cues": [{**raw["cues"][0], "ambiguous": True, "ordinary": ["(unclosed"]}]})


@pytest.mark.parametrize(("literal", "inside", "alone"), [
    ("zs", "xzsy", "我想zs"), ("想s", "想switch", "想s了"), ("ta", "data", "ta说"), ("自杀", "自杀", "自杀"),
])
def test_latin_bounded(literal: str, inside: str, alone: str) -> None:
    import re

    pattern = re.compile(latin_bounded(literal))
    assert bool(pattern.search(inside)) is (literal == "自杀")
    assert pattern.search(alone)


@pytest.mark.parametrize(("text", "expected"), [
    ("笑死我了", "，"),  # blanked to a clause break
    ("恨自己恨到想死", "恨自己恨到想死"),  # serious before it in the clause: not hyperbole
    ("我想把自己饿死", "我想把自己饿死"),
    ("开玩笑的……不", "开玩笑的。不"),  # an ellipsis is a pause, not a dodging separator
])
def test_hyperbole_and_ellipsis(normalise: Normaliser, text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize("text", [
    "", " ", "\n\n\n", "\x00\x01\x02\x7f", "\u200b" * 50, "😀" * 30, "x\ud800y", "\U0010ffff", "a" * 10_001,
    "我" * 12_000, "我 " * 6000, "é" * 20_000, "I 想 die 😭 ไม่ 死にたい Привет", "bu xiang " * 3000,
    "\u202e翻转的文字", "ｚｓ" * 2000, "。" * 5000, None,
])
def test_never_raises(detector: RiskDetector, normalise: Normaliser, text: str) -> None:
    assert isinstance(normalise(text), str)
    assert detector.assess(text).level in (0, 1, 2, 3)  # type: ignore[arg-type]


def test_a_long_message_is_read_whole_and_in_bounded_time(detector: RiskDetector) -> None:
    started = time.perf_counter()
    result = detector.assess("今天上课好无聊。" * 1500 + "我不想活了")
    assert result.level >= 2 and result.category == "suicide"  # the risk at the very end is still found
    assert time.perf_counter() - started < 10  # generous: a shared CI machine, not a benchmark
