"""The routing backlog's risk hint: a cue of level 2 or more in the raw text, nothing more."""

from __future__ import annotations

import pytest

from bot.lexicon import load_lexicon
from bot.risk_hint import URGENT, RiskHint


@pytest.fixture(scope="module")
def hint() -> RiskHint:
    return RiskHint(load_lexicon())


@pytest.mark.parametrize("text", ["我不想活了，今晚就从楼上跳下去", "我真的好想死", "我想自杀",
                                  "他又打我了，我身上全是伤"])
def test_a_risk_cue_makes_the_message_urgent(hint: RiskHint, text: str) -> None:
    assert hint(text) == URGENT


@pytest.mark.parametrize("text", ["", "你好", "我最近压力很大，睡不着", "作业太多了烦死了"])
def test_ordinary_text_is_not_urgent(hint: RiskHint, text: str) -> None:
    assert hint(text) == 0


def test_only_the_start_of_a_long_text_is_searched(hint: RiskHint) -> None:
    assert hint("今天天气不错。" * 100 + "我想自杀") == 0  # a bounded cost in the request path
    assert hint("我想自杀" + "今天天气不错。" * 100) == URGENT
