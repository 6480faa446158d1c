"""The handoff engine: one object for the wiring and the API over its parts.

It is the ``contract.handoff.HandoffSink`` triage (and the stream, when routing fails) hands
conversations to. The work is done by ``handoff.assignment`` (queueing, claiming, auto-assignment),
``handoff.escalation`` (risk), ``handoff.actions`` (replies, joining, closing) and
``handoff.transfer``; time-based rules live in ``handoff.deadlines``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from contract.channel import ReplyPolicy
from contract.config import Settings
from contract.handoff import HandoffRequest
from contract.models import Conversation, ConversationState, Message
from contract.people import User
from gateway.stream import ConversationStream
from handoff import ratings
from handoff.actions import WITH_A_HUMAN, ConversationActions
from handoff.assignment import Assignment
from handoff.context import HandoffContext
from handoff.errors import NotFound
from handoff.escalation import Escalation
from handoff.leave_message import LeaveMessages
from handoff.overflow import Overflow
from handoff.queue import load
from handoff.transfer import TransferTarget, transfer
from store.client import Store

log = logging.getLogger("youthdesk.handoff")


class HandoffEngine:
    def __init__(self, *, stream: ConversationStream, settings: Settings,
                 reply_policies: dict[str, ReplyPolicy | None],
                 text_notice_platforms: frozenset[str] = frozenset(),
                 clock: Callable[[], datetime] | None = None) -> None:
        self.context = HandoffContext(stream=stream, settings=settings, reply_policies=reply_policies,
                                      text_notice_platforms=text_notice_platforms)
        if clock is not None:
            self.context.now = clock
        self.assignment = Assignment(self.context)
        self.overflow = Overflow(self.context, self.assignment)
        self.escalation = Escalation(self.context, self.assignment, self.overflow)
        self.actions = ConversationActions(self.context, self.assignment)
        self.leave_messages = LeaveMessages(self.context, self.assignment, self.overflow)
        self._listener: asyncio.Task[None] | None = None

    @property
    def stream(self) -> ConversationStream:
        return self.context.stream

    @property
    def store(self) -> Store:
        return self.context.store

    @property
    def settings(self) -> Settings:
        return self.context.settings

    @property
    def reply_policies(self) -> dict[str, ReplyPolicy | None]:
        return self.context.reply_policies

    @property
    def now(self) -> Callable[[], datetime]:
        return self.context.now

    @now.setter
    def now(self, clock: Callable[[], datetime]) -> None:
        self.context.now = clock

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.overflow.start()
        self._listener = asyncio.create_task(self._follow_closed_windows(), name="handoff:windows")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        await self.assignment.places.stop()

    async def _follow_closed_windows(self) -> None:
        """The outbox reports a platform refusing a counsellor's message only on the bus."""
        while True:
            subscription = self.stream.bus.subscribe(lambda e: e.type == "conversation.window_closed", maxsize=10_000,
                                                       local_only=True)
            async for event in subscription:
                try:
                    await self.actions.window_closed(event)
                except Exception:  # noqa: BLE001 - one bad event must not stop the alerts
                    log.exception("handoff: window alert failed for %s", event.conversation_id)
            if not subscription.lagged:
                return
            log.error("handoff listener lagged behind the bus; resubscribing")

    # --------------------------------------------------------- HandoffSink

    async def request_handoff(self, request: HandoffRequest) -> None:
        item = await load(self.store, request.conversation_id)
        if item is None:
            raise NotFound(request.conversation_id)
        await self.escalation.note_detection(request)
        conversation = item.conversation
        if conversation.state in WITH_A_HUMAN:
            await self.escalation.raise_to(conversation, request)
            await self.leave_messages.back_to_risk_path(conversation.id)
            if conversation.state == ConversationState.QUEUED:  # still waiting: now they hear a person is coming
                await self.assignment.tell_youth(conversation.id)
            return
        if conversation.state == ConversationState.CLOSED:
            log.warning("handoff requested for closed conversation %s; ignored", conversation.id)
            return
        queued = await self.assignment.enqueue(conversation, request)
        if queued is None:
            await self.request_handoff(request)  # someone else moved it first; apply the request to the new state
            return
        if queued.conversation.risk_level >= 3 and not queued.info.level3_alerted:  # a flood's is its group's
            await self.escalation.alert_level3(queued.conversation, queued.info)
        await self.assignment.announce(queued.conversation)
        await self.overflow.check(queued)  # nobody here can take a risk: the desk above sees it at once

    async def youth_wrote(self, conversation: Conversation, message: Message | None = None, *,
                          risk_probability: float | None = None) -> None:
        await self.actions.youth_wrote(conversation.id, message)
        if message is not None:
            if risk_probability is not None:
                await self.escalation.note_probability(message.id, risk_probability)
            await self.leave_messages.take_callback_number(conversation, message)

    async def take_rating(self, conversation: Conversation, message: Message) -> bool:
        return await ratings.record_rating_if_answer(self.store, self.stream, conversation, message)

    # ------------------------------------------------------------- the API

    async def claim(self, conversation_id: str, user: User) -> Conversation:
        return await self.assignment.claim(conversation_id, user)

    async def take_next(self, user: User, desk: str | None = None) -> Conversation | None:
        return await self.assignment.take_next(user, desk)

    async def set_presence_changed(self, user: User) -> None:
        await self.assignment.presence_changed(user)

    async def set_risk(self, conversation_id: str, level: int, category: str | None, *, by: str | None,
                       reason: str) -> Conversation:
        changed = await self.escalation.set_risk(conversation_id, level, category, by=by, reason=reason)
        await self.leave_messages.back_to_risk_path(conversation_id)
        return changed

    async def reply(self, conversation_id: str, user: User, text: str) -> Message:
        return await self.actions.reply(conversation_id, user, text)

    async def join(self, conversation_id: str, user: User) -> Conversation:
        return await self.actions.join(conversation_id, user)

    async def close(self, conversation_id: str, user: User, *, outcome: str, request_rating: bool,
                    no_referral_reason: str | None = None) -> Conversation:
        return await self.actions.close(conversation_id, user, outcome=outcome, request_rating=request_rating,
                                        no_referral_reason=no_referral_reason)

    async def transfer(self, conversation_id: str, actor: User, *, to: TransferTarget, note: str,
                       user_id: str | None = None, desk_id: str | None = None) -> Conversation:
        return await transfer(self.context, self.assignment, conversation_id, actor, to=to, note=note,
                              user_id=user_id, desk_id=desk_id)
