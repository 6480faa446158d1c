"""The routing backlog's risk screen: the detector's level for the start of a new message."""

from __future__ import annotations

import pytest

from bot.risk import RiskAssessment, RiskDetector
from bot.risk_hint import RememberingDetector, RiskHint


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


class CountingDetector(RememberingDetector):
    """Counts the readings the detector works out (not those it remembers)."""

    worked_out = 0

    def _assess_normalised(self, normalised: str) -> RiskAssessment:
        self.worked_out += 1
        return super()._assess_normalised(normalised)


@pytest.fixture(scope="module")
def lexicon(detector: RiskDetector):  # type: ignore[no-untyped-def]
    return detector.lexicon


def test_triage_gets_the_screens_assessment_of_the_same_text(lexicon) -> None:  # type: ignore[no-untyped-def]
    counting, plain = CountingDetector(lexicon), RiskDetector(lexicon)
    text = "我已经把一整瓶安眠药都吞了，跟大家说再见"
    assert RiskHint(counting)(text) == 3 and counting.worked_out == 1
    assert counting.assess(text) == plain.assess(text) and counting.worked_out == 1  # triage: remembered
    assert counting.assess(text) == plain.assess(text) and counting.worked_out == 2  # once only: a later copy is read


def test_a_text_longer_than_the_screen_reads_is_assessed_whole_by_triage(lexicon) -> None:  # type: ignore[no-untyped-def]
    counting, plain = CountingDetector(lexicon), RiskDetector(lexicon)
    text = "今天过得还行。" * 80 + "我不想活了"
    assert RiskHint(counting)(text) == 0
    assert counting.assess(text) == plain.assess(text) and counting.assess(text).level >= 2


def test_at_most_keep_assessments_wait_for_triage(lexicon) -> None:  # type: ignore[no-untyped-def]
    counting = CountingDetector(lexicon, keep=3)
    hint = RiskHint(counting)
    for n in range(5):
        hint(f"第{n}条消息")
    assert counting.worked_out == 5 and len(counting._kept) == 3
    counting.assess("第0条消息")  # forgotten: worked out again
    counting.assess("第4条消息")  # still kept
    assert counting.worked_out == 6
