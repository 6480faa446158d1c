"""The routing backlog's risk screen: how urgent a newly stored message looks, before it is routed.

Only an order of work, not the assessment that routing makes: a level of 2 or more puts the
conversation ahead of every ordinary one (``gateway.routing``), where triage then decides. The
backlog screens each new message off the request path and before any ordinary routing starts,
with the full detector (normalisation, negation, rules: a raw-text search of the level-2 cues
missed "我已经把一整瓶安眠药都吞了", which the detector reads as level 3). About 0.3-0.5 ms for a
message of a few dozen characters; the cost grows with the length, so only the start is screened
(a crisis is said early) and routing reads the whole text.

Triage then reads the same text with the same detector: ``RememberingDetector`` hands it the
screen's assessment instead of working it out twice (a fifth of routing's CPU on the production
bench). The detector is a pure function of the text and its lexicon, which is loaded once per process.
"""

from __future__ import annotations

from collections import OrderedDict

from bot.lexicon import Lexicon
from bot.risk import RiskAssessment, RiskDetector

_SCREENED = 500  # characters: about 6 ms at most
KEEP = 10_000  # assessments waiting for triage; beyond that the oldest are read again when routed


class RememberingDetector(RiskDetector):
    """The detector, keeping each assessment of a text up to ``_SCREENED`` characters until the text is
    assessed again (once: the screen reads a message, then triage), the ``keep`` most recent at most."""

    def __init__(self, lexicon: Lexicon | None = None, keep: int = KEEP) -> None:
        super().__init__(lexicon)
        self._keep = keep
        self._kept: OrderedDict[str, RiskAssessment] = OrderedDict()

    def assess(self, text: str) -> RiskAssessment:
        kept = self._kept.pop(text, None)
        if kept is not None:
            return kept
        assessment = super().assess(text)
        if len(text) <= _SCREENED:
            self._kept[text] = assessment
            if len(self._kept) > self._keep:
                self._kept.popitem(last=False)
        return assessment


class RiskHint:
    def __init__(self, detector: RiskDetector) -> None:
        self._detector = detector

    def __call__(self, text: str) -> int:
        """The detector's level (0-3) for the start of ``text``."""
        return self._detector.assess(text[:_SCREENED]).level if text else 0
