"""The routing backlog's risk screen: how urgent a newly stored message looks, before it is routed.

Only an order of work, not the assessment that routing makes: a level of 2 or more puts the
conversation ahead of every ordinary one (``gateway.routing``), where triage then decides. The
backlog screens each new message off the request path and before any ordinary routing starts,
with the full detector (normalisation, negation, rules: a raw-text search of the level-2 cues
missed "我已经把一整瓶安眠药都吞了", which the detector reads as level 3). About 0.7 ms for a
message of a few dozen characters; the cost grows with the length, so only the start is screened
(a crisis is said early) and routing reads the whole text.
"""

from __future__ import annotations

from bot.risk import RiskDetector

_SCREENED = 500  # characters: about 6 ms at most


class RiskHint:
    def __init__(self, detector: RiskDetector) -> None:
        self._detector = detector

    def __call__(self, text: str) -> int:
        """The detector's level (0-3) for the start of ``text``."""
        return self._detector.assess(text[:_SCREENED]).level if text else 0
