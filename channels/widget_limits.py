"""Limits on new widget conversations, per client address and per partner, in a sliding window.

An open socket is already limited (frames per second, sockets per address); what floods the
counsellors is new conversations, one per fresh anonymous identity. Past the limit the youth is
told, in the frame, to try again shortly and where to turn if in danger now; their message is not
acknowledged, so the iframe still has it. Risk conversations that get through from one source are
grouped for a supervisor by the handoff engine (``handoff.floods``), using the ``widget_source`` tag.
With ``service.redis_url`` the windows are kept in Redis (``channels.shared_limits``), across instances.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable

from channels.shared_limits import SharedWindow
from contract.config import PartnerConfig, ServiceConfig

TOO_MANY_FROM_ADDRESS = "too many new conversations from this address"
TOO_MANY_FOR_PARTNER = "too many new conversations for this partner"


class NewConversationLimits:
    def __init__(self, service: ServiceConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_address = service.widget_new_conversations_per_ip
        self.window = service.widget_new_conversation_window_seconds
        self.clock = clock
        self._by_address: defaultdict[str, deque[float]] = defaultdict(deque)
        self._by_partner: defaultdict[str, deque[float]] = defaultdict(deque)
        self.shared: SharedWindow | None = None  # several instances: counted in Redis instead

    def _recent(self, starts: deque[float], now: float) -> int:
        while starts and starts[0] <= now - self.window:
            starts.popleft()
        return len(starts)

    async def admit(self, partner: PartnerConfig, address: str) -> str | None:
        """Count one new conversation; the refusal reason instead when a limit is reached."""
        if self.shared is not None:
            refused = await self.shared.admit([(f"address:{address}", self.per_address),
                                               (f"partner:{partner.id}", partner.new_conversations_per_window)],
                                              self.window)
            return None if refused is None else (TOO_MANY_FROM_ADDRESS, TOO_MANY_FOR_PARTNER)[refused]
        now = self.clock()
        by_address, by_partner = self._by_address[address], self._by_partner[partner.id]
        if self._recent(by_address, now) >= self.per_address:
            return TOO_MANY_FROM_ADDRESS
        if self._recent(by_partner, now) >= partner.new_conversations_per_window:
            return TOO_MANY_FOR_PARTNER
        by_address.append(now)
        by_partner.append(now)
        return None
