"""The routing backlog's risk screen: the detector's level for the start of a new message."""

from __future__ import annotations

import pytest

from bot.risk import RiskDetector
from bot.risk_hint import RiskHint


@pytest.fixture(scope="module")
def hint(detector: RiskDetector) -> RiskHint:
    return RiskHint(detector)


@pytest.mark.parametrize("text", ["我不想活了，今晚就从楼上跳下去", "我已经把一整瓶安眠药都吞了，跟大家说再见"])
def test_a_crisis_in_progress_is_level_3(hint: RiskHint, text: str) -> None:
    assert hint(text) == 3


@pytest.mark.parametrize("text", ["我真的好想死", "他又打我了，我身上全是伤"])
def test_a_risk_cue_makes_the_message_urgent(hint: RiskHint, text: str) -> None:
    assert hint(text) >= 2


@pytest.mark.parametrize("text", ["", "你好", "我最近压力很大，睡不着", "作业太多了烦死了"])
def test_ordinary_text_is_not_urgent(hint: RiskHint, text: str) -> None:
    assert hint(text) < 2


def test_only_the_start_of_a_long_text_is_screened(hint: RiskHint) -> None:
    assert hint("今天天气不错。" * 100 + "我想自杀") == 0  # a bounded cost; routing reads the whole text
    assert hint("我想自杀" + "今天天气不错。" * 100) >= 2
