"""Full passes of the cyclic garbage collector kept short while the embedded store grows.

The embedded store keeps every document in memory. At start the app freezes what the store loaded
(``gc.freeze``: frozen objects are in no generation), so full passes skip it; documents stored after
the start are not frozen, and every full pass walks them all again. On the production bench
(20,000 messages loaded, 200 pushes/s) two full passes took 150 and 320 ms within 10 s of load, and
every webhook waiting meanwhile paid for them. So a full pass that took longer than ``LONG_PASS_SECONDS``
freezes what it left alive: the next passes walk only what came after, and stay short.

What that costs: an object alive at such a moment that later becomes garbage caught in a reference cycle
is never collected (reference counting still frees everything else, which is nearly all of it: stored
documents hold no cycles). That is at most what was in flight during one long pass, and long passes come
only after the store has grown by as much as a pass can walk in ``LONG_PASS_SECONDS``.
"""

from __future__ import annotations

import gc
import time
from typing import Any

LONG_PASS_SECONDS = 0.02


class FullPassFreezer:
    """Freezes what survived each full collection that took longer than ``long_pass`` seconds."""

    def __init__(self, long_pass: float = LONG_PASS_SECONDS) -> None:
        self.long_pass = long_pass
        self.freezes = 0
        self._started = 0.0

    def start(self) -> None:
        gc.callbacks.append(self._observe)

    def stop(self) -> None:
        gc.callbacks.remove(self._observe)

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        elif time.perf_counter() - self._started > self.long_pass:
            gc.freeze()
            self.freezes += 1
