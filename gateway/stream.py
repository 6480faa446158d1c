"""The conversation stream: ingest → dedupe → store, route from the stored backlog, and send → outbox.

Every inbound message is stored before anyone acknowledges it to the platform; that is all the
platform waits for. Routing (bot or human) happens afterwards, from the backlog of stored unrouted
messages (``gateway.routing``: each new message screened for risk first, urgent conversations at once,
ordinary ones in the event loop's spare time), one conversation at a time in stored order, marking
each message processed, so a crash between storing and routing loses nothing: ``resume`` fills the
backlog again from the store. When routing fails the conversation goes to a human through the handoff
seam. After a youth's message is routed, a contact not yet shown the current privacy notice gets it
(``gateway.privacy_notice``). Outbound messages are stored as ``pending`` and delivered by
``gateway.outbox``. The stream is the one gateway place that moves a conversation's reply window
(see ``store.conversations``); its read side (history, read receipts) is ``gateway.history``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from contract import crash_points
from contract.channel import InboundMessage, IngestResult
from contract.config import Settings
from contract.crypto import DataProtector
from contract.handoff import HandoffRequest, HandoffSink
from contract.models import (
    ChannelIdentity,
    Conversation,
    ConversationState,
    DeliveryStatus,
    Direction,
    Event,
    MediaRef,
    Message,
    MessageType,
    SenderKind,
    new_id,
    utcnow,
)
from gateway.bus import EventBus
from gateway.history import ConversationHistory, UnknownConversation
from gateway.leases import ConversationLeases, KeyedLocks
from gateway.privacy_notice import PrivacyNotices
from gateway.routing import LoopPace, RoutingBacklog
from store import contacts, conversations, events, messages
from store.conversations import ReplyWindowChange
from store.database import Store

log = logging.getLogger("youthdesk.stream")

# A gap in intake this long lets routing use the loop freely (at 200 messages/s one comes every 5 ms).
INTAKE_QUIET_SECONDS = 0.1


class MessageRouter(Protocol):
    """The stage after storage: the bot (triage) or the handoff engine decides what happens."""

    async def route(self, conversation: Conversation, message: Message) -> None: ...


class PassThroughRouter:
    """Until a bot or handoff is wired in, stored messages need no further action."""

    async def route(self, conversation: Conversation, message: Message) -> None:
        return None


class StreamClosed(Exception):
    """The service is shutting down and takes no new messages (platforms will retry)."""


def inbound_message_id(protector: DataProtector, platform: str, account: str, channel_message_id: str) -> str:
    """Deterministic id: the primary-key index makes a platform's retry a duplicate key.

    A keyed HMAC, not a plain hash: a channel message id may embed the youth's openid (events, media
    without a MsgId), and a plain hash of it could be confirmed by anyone holding a candidate openid.
    """
    return f"in_{protector.blind_index('inbound_message', platform, account, channel_message_id)[:32]}"


def _no_handoff() -> HandoffSink:
    raise LookupError("no handoff is wired into the stream")


def _no_risk_hint(text: str) -> int:
    return 0


class ConversationStream(ConversationHistory):
    def __init__(
        self,
        *,
        store: Store,
        bus: EventBus,
        protector: DataProtector,
        settings: Settings,
        router: MessageRouter | None = None,
        handoff: Callable[[], HandoffSink] = _no_handoff,
    ) -> None:
        """``handoff`` is a getter: the handoff engine is built after the stream (it needs the stream)."""
        super().__init__(store=store, bus=bus, protector=protector)
        self.settings = settings
        self.router: MessageRouter = router or PassThroughRouter()
        self.handoff = handoff
        self.notices: PrivacyNotices | None = None  # the privacy notice on first contact, when wired in
        # How urgent a new message's text looks (0-3) before it is routed: triage wires in bot.risk_hint,
        # which the backlog runs off the request path, before any ordinary routing.
        self.risk_hint: Callable[[str], int] = _no_risk_hint
        self.outbox_ready = asyncio.Event()
        self.accepting = True
        self.route_timeout = 30.0
        self._conversations = ConversationLeases(store)
        self._contact_locks = KeyedLocks()
        self._last_intake = 0.0  # time.monotonic() of the last message taken in
        self.backlog = RoutingBacklog(self._process, workers=settings.service.routing_workers,
                                      screen=lambda text: self.risk_hint(text),
                                      pace=LoopPace(intake_quiet=self._intake_quiet))

    # ----------------------------------------------------------------- ingest

    async def ingest(self, inbound: InboundMessage) -> IngestResult:
        """Store one inbound message exactly once; returns only after it is durable."""
        if not self.accepting:
            raise StreamClosed("shutting down")
        self._last_intake = time.monotonic()
        message_id = inbound_message_id(self.protector, inbound.platform, inbound.account, inbound.channel_message_id)
        stored_in = await messages.conversation_of(self.store, message_id)
        if stored_in is not None:
            return IngestResult(message_id, stored_in, duplicate=True)

        opened = await self._open_conversation_or_store_first(await self._contact_for(inbound), message_id, inbound)
        if isinstance(opened, IngestResult):
            return opened
        async with self._conversations.hold(f"seq:{opened}"):
            stored_in = await messages.conversation_of(self.store, message_id)
            if stored_in is not None:
                return IngestResult(message_id, stored_in, duplicate=True)
            conversation = await conversations.take_next_seq(self.store, opened, tags=inbound.tags,
                                                             window=_window_change(inbound))
            if conversation is None:
                raise UnknownConversation(opened)
            return await self._store_numbered(conversation, message_id, inbound)

    async def _contact_for(self, inbound: InboundMessage) -> str:
        """The id of the youth's contact, created on their first message."""
        contact_id = contacts.contact_id_for(self.protector, inbound.platform, inbound.account,
                                             inbound.external_user_id)
        async with self._contact_locks.hold(contact_id):
            identity = ChannelIdentity(platform=inbound.platform, account=inbound.account,
                                       external_id=inbound.external_user_id, union_id=inbound.union_id)
            return await contacts.contact_id_for_identity(self.store, self.protector, identity)

    async def _open_conversation_or_store_first(self, contact_id: str, message_id: str,
                                                inbound: InboundMessage) -> str | IngestResult:
        """The id of the contact's open conversation on the inbound's channel account; if none is open, the
        inbound stored as the first message of a new one (its result).

        A new conversation is stored with its first message already numbered, and its numbering is held
        from before it is stored until that message is, so no other message (another instance's, once
        the conversation can be found) is numbered or published ahead of it.
        """
        async with self._contact_locks.hold(f"{contact_id}\x1f{inbound.platform}\x1f{inbound.account}"):
            existing = await conversations.open_conversation_id(self.store, contact_id, inbound.platform,
                                                                inbound.account)
            if existing is not None:
                return existing
            candidate = conversations.numbered_first(Conversation(
                id=new_id("cv"),
                contact_id=contact_id,
                platform=inbound.platform,
                account=inbound.account,
                desk=self.settings.desk_for_account(inbound.platform, inbound.account),
                tags=dict(inbound.tags),
            ), _window_change(inbound))
            async with self._conversations.hold(f"seq:{candidate.id}"):
                conversation, created = await conversations.open_conversation(self.store, candidate)
                if not created:
                    return conversation.id
                # Published, not stored as an event document: the conversation document is the record
                # of its opening (created_at, desk, platform, state), and a write fewer on a first message.
                await self.bus.publish(Event(type="conversation.created", conversation_id=conversation.id,
                                             desk=conversation.desk,
                                             data={"platform": conversation.platform, "state": conversation.state}))
                return await self._store_numbered(conversation, message_id, inbound)

    async def _store_numbered(self, conversation: Conversation, message_id: str,
                              inbound: InboundMessage) -> IngestResult:
        """Store the inbound as the conversation's ``last_seq``, its numbering held, and put it in the backlog."""
        message = Message(
            id=message_id,
            conversation_id=conversation.id,
            seq=conversation.last_seq,
            direction=Direction.INBOUND,
            sender=SenderKind.YOUTH,
            type=inbound.type,
            text=inbound.text,
            media=inbound.media,
            event=inbound.event,
            channel_message_id=inbound.channel_message_id,
            created_at=inbound.sent_at or utcnow(),
            status=DeliveryStatus.RECEIVED,
        )
        if not await messages.insert_message(self.store, message):
            # Another gateway instance stored the same platform message first.
            return IngestResult(message_id, conversation.id, duplicate=True)
        # Published while numbering is still held, so every instance sees the events in seq order.
        await self.publish("message.created", conversation, message=_public_message(message))
        self._schedule(conversation.id, conversation.risk_level, inbound.text)
        return IngestResult(message_id, conversation.id, duplicate=False)

    # ------------------------------------------------------------ processing

    def _intake_quiet(self) -> bool:
        """No message taken in for a moment: routing need not leave the loop to the webhooks."""
        return time.monotonic() - self._last_intake > INTAKE_QUIET_SECONDS

    def _schedule(self, conversation_id: str, urgency: int, text: str = "") -> None:
        self.backlog.add(conversation_id, urgency, text)

    async def _process(self, conversation_id: str) -> None:
        """Route the conversation's unprocessed messages in order, in one place at a time (a backlog worker).

        Another instance may be routing it: then wait for it, unless that instance routes
        everything meanwhile (including the message that made this one start). Messages stored
        while this runs bring the conversation back into the backlog (``RoutingBacklog.add``).
        """
        async def all_routed() -> bool:
            return not await messages.has_unprocessed(self.store, conversation_id)

        async with self._conversations.hold(f"route:{conversation_id}", unless=all_routed) as held:
            if not held:
                return
            for message in await messages.unprocessed_messages(self.store, conversation_id):
                if not await self._route_one(message):
                    return  # this and later messages stay unprocessed, in order, for a retry

    async def _route_one(self, message: Message) -> bool:
        """Route one message and mark it processed; False if it could be neither routed nor handed to a human."""
        conversation = await self.get_conversation(message.conversation_id)
        try:
            await asyncio.wait_for(self.router.route(conversation, message), self.route_timeout)
        except Exception as exc:  # noqa: BLE001 - a routing failure must reach a human, not vanish
            log.exception("routing failed for message %s; sending the conversation to a counsellor", message.id)
            await messages.record_routing_error(self.store, message.id, f"routing failed: {exc!r}")
            if not await self._hand_to_human(message):
                return False
        if message.sender == SenderKind.YOUTH:
            await self._privacy_notice(message.conversation_id)
        crash_points.reached("routing.finished")
        await messages.mark_processed(self.store, message.id)
        return True

    async def _privacy_notice(self, conversation_id: str) -> None:
        """After routing, so a crisis reply is already ahead of it; a failure waits for the next message."""
        if self.notices is None:
            return
        try:
            await self.notices.after_routing(await self.get_conversation(conversation_id), self.send)
        except Exception:  # noqa: BLE001 - the youth's message is routed; the notice is tried again next time
            log.exception("the privacy notice for conversation %s failed; retried with the next message",
                          conversation_id)

    async def _hand_to_human(self, message: Message) -> bool:
        request = HandoffRequest(conversation_id=message.conversation_id, reason="routing_failed",
                                 message_id=message.id)
        try:
            await self.handoff().request_handoff(request)
        except Exception:  # noqa: BLE001 - the message must survive even this: it stays unprocessed
            log.critical("routing failed AND the handoff of conversation %s failed: message %s stays unprocessed "
                         "and is routed again with the conversation's next message or on restart",
                         message.conversation_id, message.id, exc_info=True)
            return False
        return True

    async def resume(self) -> int:
        """Put every conversation with stored but unprocessed messages into the backlog (after a restart).

        Each as urgent as it was known to be, its unrouted texts screened again: a crash must not
        send a level-3 message to the back of the queue.
        """
        ids = await messages.conversations_with_unprocessed(self.store)
        found: list[tuple[datetime, str, int, list[str]]] = []  # (oldest waiting, conversation, urgency, texts)
        for conversation_id in ids:
            if conversation_id in self.backlog:
                continue
            conversation = await self.get_conversation(conversation_id)
            waiting = await messages.unprocessed_messages(self.store, conversation_id)
            if waiting:
                found.append((min(message.created_at for message in waiting), conversation_id,
                              conversation.risk_level, [message.text for message in waiting]))
        for _, conversation_id, urgency, texts in sorted(found):  # first come, first served among the equally urgent
            for text in texts:
                self._schedule(conversation_id, urgency, text)
        return len(ids)

    async def drain(self, timeout: float) -> bool:
        """Stop intake and wait for the routing backlog to empty; True when it did in time, else the
        routing still in progress is cancelled (its messages resume after the restart)."""
        self.accepting = False
        if await self.backlog.idle(timeout):
            return True
        await self.backlog.stop()
        return False

    @property
    def in_flight(self) -> int:
        """Conversations in this process waiting for routing or being routed."""
        return len(self.backlog)

    async def unprocessed_count(self) -> int:
        return await messages.count_unprocessed(self.store)

    async def routing_backlog(self) -> tuple[int, float]:
        """(stored inbound messages not yet routed, seconds the oldest of them has waited)."""
        count = await messages.count_unprocessed(self.store)
        oldest = await messages.oldest_unprocessed_at(self.store) if count else None
        return count, (utcnow() - oldest).total_seconds() if oldest is not None else 0.0

    # ------------------------------------------------------------------ send

    async def send(
        self,
        conversation_id: str,
        text: str,
        *,
        sender: SenderKind,
        sender_id: str | None = None,
        type: MessageType = MessageType.TEXT,  # noqa: A002
        media: MediaRef | None = None,
        private: bool = False,
        message_id: str | None = None,
    ) -> Message:
        """Store an outbound message in the outbox; a delivery worker sends it.

        Private messages (counsellor notes, supervisor whispers) are stored and published to the
        console but never leave for the youth's channel. A caller that must send something once
        (the privacy notice) names the ``message_id``; a second message with that id is not stored.
        """
        async with self._conversations.hold(f"seq:{conversation_id}"):
            conversation = await conversations.take_next_seq(self.store, conversation_id)
            if conversation is None:
                raise UnknownConversation(conversation_id)
            now = utcnow()
            message = Message(
                id=message_id or new_id("out"),
                conversation_id=conversation_id,
                seq=conversation.last_seq,
                direction=Direction.OUTBOUND,
                sender=sender,
                sender_id=sender_id,
                type=type,
                text=text,
                media=media,
                created_at=now,
                status=DeliveryStatus.RECEIVED if private else DeliveryStatus.PENDING,
                next_attempt_at=None if private else now,
                private=private,
            )
            if not await messages.insert_message(self.store, message):
                return message
            # Published while the numbering is held, so every instance hears a conversation in order.
            await self.publish("message.created", conversation, message=_public_message(message))
        if not private:
            self.outbox_ready.set()
        return message

    # ------------------------------------------------------------ reply window

    async def reply_delivered(self, conversation_id: str) -> None:
        """A message reached the youth: one more of the platform's replies is used up."""
        await conversations.change_reply_window(self.store, conversation_id,
                                                ReplyWindowChange(reply_delivered=True))

    async def reply_window_closed(self, message: Message, reason: str) -> None:
        """The platform refused ``message`` because its reply window closed; the console is told."""
        await conversations.change_reply_window(self.store, message.conversation_id,
                                                ReplyWindowChange(closed_reason=reason))
        conversation = await self.get_conversation(message.conversation_id)
        await self.record_event(Event.about("conversation.window_closed", conversation,
                                            {"reason": reason, "message_id": message.id}))

    # ------------------------------------------------------ state and events

    async def set_state(self, conversation_id: str, state: ConversationState, *, reason: str,
                        by: str | None = None, **changes: Any) -> Conversation:
        """Change a conversation's state and record who did it and why."""
        before = await self.get_conversation(conversation_id)
        conversation = await conversations.write_state(self.store, conversation_id, state, changes)
        if conversation is None:
            raise UnknownConversation(conversation_id)
        await self.record_event(Event.about("conversation.state_changed", conversation, {
            "from": before.state, "to": state, "reason": reason, "by": by,
            **{k: v for k, v in changes.items() if isinstance(v, str | int | None)}}))
        return conversation

    async def record_event(self, event: Event) -> None:
        """Store a state-changing event, then publish it."""
        await events.store_event(self.store, event)
        await self.bus.publish(event)


def _window_change(inbound: InboundMessage) -> ReplyWindowChange | None:
    """What the youth writing (or leaving) does to the conversation's reply window."""
    if inbound.window == "open":
        return ReplyWindowChange(youth_wrote_at=utcnow())
    if inbound.window == "close":
        return ReplyWindowChange(closed_reason=inbound.event or "closed by platform")
    return None


def _public_message(message: Message) -> dict[str, Any]:
    return message.model_dump(
        mode="json", include={"id", "conversation_id", "seq", "direction", "sender", "sender_id", "type",
                              "text", "media", "event", "created_at", "status", "private"}
    )
