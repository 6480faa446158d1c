"""A risk hint for the routing backlog: does a message's raw text contain a level-2-or-higher cue?

Only an order of work, not an assessment: a hit puts the conversation ahead of ordinary ones in the
routing backlog (``gateway.routing``), where the full detector (``bot.risk``) then decides. It runs
in the webhook's request path, so it is one precompiled search of the raw text — no normalisation,
segmentation, negation or rules — and a miss (a Traditional-character or pinyin cue) only means the
message is routed in arrival order, as every message was before.
"""

from __future__ import annotations

import re

from bot.lexicon import Lexicon

URGENT = 2  # the backlog's urgency for a hit: the detector's level 2, what the desk must not keep waiting
_LOOKED_AT = 500  # characters searched: a crisis is said early, and the cost must stay bounded


class RiskHint:
    def __init__(self, lexicon: Lexicon) -> None:
        # Ambiguous cues ("药吃了") are ordinary life as often as risk: they would only dilute the hint.
        cues = [cue.regex.pattern for cue in lexicon.cues if cue.level >= 2 and not cue.ambiguous]
        self._urgent = re.compile("|".join(f"(?:{pattern})" for pattern in cues)) if cues else None

    def __call__(self, text: str) -> int:
        """``URGENT`` when the text holds a risk cue, else 0."""
        if self._urgent is None or not text:
            return 0
        return URGENT if self._urgent.search(text, 0, _LOOKED_AT) else 0
