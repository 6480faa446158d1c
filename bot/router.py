"""The triage router: what happens to every stored youth message (``gateway.stream.MessageRouter``).

The risk detector and the learned model run on every youth text first, whatever the
conversation's state: with a counsellor already (queued/assigned) they only report a raised risk to
the handoff engine and the bot stays silent. In the ``bot`` state the bot answers through Rasa
unless triage hands off; a handed-off conversation is paused in Rasa and gets no bot reply until it
is back in ``bot``.
Rasa down, slow or absent → the conversation goes to a counsellor; nothing is dropped.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Protocol

from bot.replies import crisis_reply
from bot.risk import RiskDetector
from bot.risk_model import RiskModel
from bot.triage import (
    DEFAULT_CONFIDENCE_THRESHOLD,
    IntentParser,
    RiskIntent,
    TriageDecision,
    decide,
    triage_text,
)
from contract.config import ChannelAccountConfig, Settings
from contract.handoff import HandoffReason, HandoffRequest, HandoffSink, phone_call_handoff
from contract.models import Conversation, ConversationState, Direction, Message, MessageType, SenderKind
from gateway.stream import ConversationStream
from store import bot_sessions

log = logging.getLogger("youthdesk.bot")

WELCOME_EVENTS = frozenset({"subscribe", "follow", "scan_follow", "user_enter_tempsession", "enter_session"})
CLICK_EVENTS = frozenset({"click", "CLICK"})
INTENT_KEY_PREFIX = "intent:"
DEFAULT_WELCOME = ChannelAccountConfig.model_fields["welcome"].default


def reply_message_id(answered_id: str, kind: str, number: int) -> str:
    """The id of the bot's ``number``-th ``kind`` reply to a message: the same each time it is routed."""
    digest = hashlib.sha256("\x1f".join((answered_id, kind, str(number))).encode()).hexdigest()
    return f"out_bot_{digest[:24]}"


class ReplyText(Protocol):
    texts: list[str]


class BotClient(IntentParser, Protocol):
    """The part of ``bot.rasa_client.RasaClient`` the router uses."""

    async def respond(self, sender_id: str, text: str) -> ReplyText: ...

    async def pause(self, sender_id: str) -> None: ...

    async def resume(self, sender_id: str) -> None: ...

    async def status(self) -> bool: ...


class TriageRouter:
    def __init__(self, *, stream: ConversationStream, settings: Settings, detector: RiskDetector,
                 model: RiskModel, rasa: BotClient | None, handoff: HandoffSink, intents: dict[str, RiskIntent],
                 budgeted_platforms: frozenset[str], threshold: float = DEFAULT_CONFIDENCE_THRESHOLD) -> None:
        self.stream = stream
        self.settings = settings
        self.detector = detector
        self.model = model
        self.rasa = rasa
        self.handoff = handoff
        self.intents = intents
        self.budgeted = budgeted_platforms
        self.threshold = threshold

    async def route(self, conversation: Conversation, message: Message) -> None:
        if message.direction != Direction.INBOUND or message.sender != SenderKind.YOUTH:
            return
        if conversation.state in (ConversationState.QUEUED, ConversationState.ASSIGNED):
            await self._watch(conversation, message)
            return
        if conversation.state != ConversationState.BOT:
            return
        if await self.handoff.take_rating(conversation, message):
            return
        await self._resume_if_paused(conversation)
        if message.type == MessageType.EVENT:
            await self._event(conversation, message)
        elif message.type == MessageType.TEXT and message.text.strip():
            if conversation.platform == "widget" and await self._first_welcome(conversation):
                await self._send(conversation, [self._welcome(conversation)], answering=message, kind="welcome")
            decision = await triage_text(message.text, detector=self.detector, model=self.model, rasa=self.rasa,
                                         intents=self.intents, threshold=self.threshold)
            await self._act(conversation, message, decision, message.text)
        else:
            # Images, voice, links: the bot cannot read them, a person can.
            await self._hand_off(conversation, message, "low_confidence", 0, None, [f"media:{message.type}"])

    # ------------------------------------------------------------ states

    async def _watch(self, conversation: Conversation, message: Message) -> None:
        """With a counsellor: no bot reply; the engine hears the youth wrote (with the model's estimate for
        the counsellor's view), and of a raised risk."""
        if message.type != MessageType.TEXT or not message.text.strip():
            await self.handoff.youth_wrote(conversation, message)
            return
        # Triage without the bot: the detector and the model, never Rasa (it is paused here).
        result = await triage_text(message.text, detector=self.detector, model=self.model, rasa=None,
                                   intents=self.intents, threshold=self.threshold)
        await self.handoff.youth_wrote(conversation, message, risk_probability=result.risk_probability)
        if result.risk >= 2 and result.risk > conversation.risk_level:
            await self.handoff.request_handoff(HandoffRequest(
                conversation_id=conversation.id, reason="risk", risk_level=result.risk, category=result.category,
                cues=result.cues, message_id=message.id, risk_probability=result.risk_probability))

    async def _event(self, conversation: Conversation, message: Message) -> None:
        event = message.event or ""
        if (call := phone_call_handoff(message)) is not None:
            await self._hand_off(conversation, message, call.reason, 0, None, call.cues)
            return
        if event in WELCOME_EVENTS:
            if await self._first_welcome(conversation):
                await self._send(conversation, [self._welcome(conversation)], answering=message, kind="welcome")
            return
        if event in CLICK_EVENTS and message.text.startswith(INTENT_KEY_PREFIX):
            intent = message.text[len(INTENT_KEY_PREFIX):].strip()
            if intent:
                decision = decide(self.detector.assess(""), _Clicked(intent), intents=self.intents,
                                  threshold=self.threshold, bot_available=self.rasa is not None)
                await self._act(conversation, message, decision, f"/{intent}")

    async def _act(self, conversation: Conversation, message: Message, decision: TriageDecision,
                   rasa_text: str) -> None:
        if decision.handoff and decision.reason is not None:
            if decision.crisis_reply:
                # Before the handoff: the youth reads what to do now while a person is found.
                await self._send(conversation, [crisis_reply(decision.category)], answering=message, kind="crisis")
            await self._hand_off(conversation, message, decision.reason, decision.risk, decision.category,
                                 decision.cues, decision.risk_probability)
            return
        if self.rasa is None:
            await self._hand_off(conversation, message, "bot_unavailable", decision.risk, decision.category,
                                 decision.cues, decision.risk_probability)
            return
        try:
            reply = await self.rasa.respond(conversation.id, rasa_text)
        except Exception as exc:  # noqa: BLE001 - a failing bot must never swallow a youth's message
            log.warning("rasa respond failed for %s (%r); handing off", conversation.id, exc)
            await self._hand_off(conversation, message, "bot_unavailable", decision.risk, decision.category,
                                 decision.cues, decision.risk_probability)
            return
        texts = [text for text in reply.texts if text and text.strip()]
        if not texts:
            await self._hand_off(conversation, message, "low_confidence", decision.risk, decision.category,
                                 decision.cues, decision.risk_probability)
            return
        await self._send(conversation, texts, answering=message, kind="bot")

    async def _hand_off(self, conversation: Conversation, message: Message, reason: HandoffReason, risk: int,
                        category: str | None, cues: list[str], risk_probability: float | None = None) -> None:
        await self.handoff.request_handoff(HandoffRequest(
            conversation_id=conversation.id, reason=reason, risk_level=risk, category=category, cues=list(cues),
            message_id=message.id, risk_probability=risk_probability))
        await bot_sessions.mark_paused(self.stream.store, conversation.id)
        if self.rasa is not None:
            try:
                await self.rasa.pause(conversation.id)
            except Exception as exc:  # noqa: BLE001 - the handoff already happened; Rasa just stays unpaused
                log.warning("could not pause the Rasa conversation %s: %r", conversation.id, exc)

    async def _resume_if_paused(self, conversation: Conversation) -> None:
        """Back in ``bot`` after a handoff (transfer to the bot): Rasa listens again."""
        if not await bot_sessions.is_paused(self.stream.store, conversation.id):
            return
        if self.rasa is not None:
            try:
                await self.rasa.resume(conversation.id)
            except Exception as exc:  # noqa: BLE001 - the next Rasa call fails over to a human anyway
                log.warning("could not resume the Rasa conversation %s: %r", conversation.id, exc)
                return
        await bot_sessions.mark_resumed(self.stream.store, conversation.id)

    # ------------------------------------------------------------ replies

    async def _first_welcome(self, conversation: Conversation) -> bool:
        """True exactly once per conversation (conditional writes, safe across gateway instances)."""
        return await bot_sessions.welcome_once(self.stream.store, conversation.id)

    def _welcome(self, conversation: Conversation) -> str:
        account = next((a for a in self.settings.accounts
                        if a.platform == conversation.platform and a.id == conversation.account), None)
        return account.welcome if account is not None else DEFAULT_WELCOME

    async def _send(self, conversation: Conversation, texts: list[str], *, answering: Message, kind: str) -> None:
        """Budgeted platforms (a reply quota per youth message) get one merged message.

        Each reply's id derives from the message it answers: a message routed again after a crash (its
        replies stored, its mark not) gets no second crisis text or answer.
        """
        if conversation.platform in self.budgeted and len(texts) > 1:
            texts = ["\n\n".join(texts)]
        for number, text in enumerate(texts):
            await self.stream.send(conversation.id, text, sender=SenderKind.BOT,
                                   message_id=reply_message_id(answering.id, kind, number))


class _Clicked:
    """A menu click names its intent outright: full confidence, no NLU involved."""

    def __init__(self, intent: str) -> None:
        self.intent = intent
        self.confidence = 1.0
