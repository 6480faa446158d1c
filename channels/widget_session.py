"""One widget WebSocket connection: identity, resume, live events, rate limit.

Frames from the iframe (JSON): ``hello`` (first, within 10 s), ``text``, ``image``, ``typing``,
``read``, ``rating``, ``ping``. Frames to it: ``welcome``, ``message``, ``ack``, ``status``,
``state``, ``queue``, ``typing``, ``synced``, ``error``, ``pong``.

No loss, no duplicates across reconnects: the bus subscription is opened *before* history is
read, every message goes out at most once per connection (``_sent``), and the client sends the
last ``seq`` it has per conversation so only what it missed is replayed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, web

from channels.payloads import load_json_object
from channels.widget_identity import WidgetIdentity
from channels.widget_media import MediaRejected, MediaStore, decode_image
from contract.channel import ConversationAccess, InboundMessage, IngestResult, WebhookRejected
from contract.models import Conversation, ConversationState, Event, Message, MessageType, SenderKind
from gateway.stream import StreamClosed

log = logging.getLogger("youthdesk.channels.widget")

MAX_TEXT_CHARS = 2000
MAX_COMMENT_CHARS = 500
RATE_PER_SECOND = 5.0
RATE_BURST = 10.0
TYPING_INTERVAL = 2.0
FORWARDED = {"message.created", "message.status", "conversation.state_changed", "queue.position", "typing"}

CLOSE_RATE_LIMIT = 4429
CLOSE_LAGGED = 4408


class FrameRejected(Exception):
    """A frame the widget must not act on; the reason goes back to the iframe as an ``error``."""


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass(frozen=True, slots=True)
class SessionDeps:
    ingest: Callable[[InboundMessage], Awaitable[IngestResult]]
    conversations: ConversationAccess
    media: MediaStore
    desk: str
    # Counts a new conversation against the address's and partner's limits; the refusal reason if over.
    admit_new_conversation: Callable[[], Awaitable[str | None]]
    # Tags every youth message carries: the keyed source the handoff engine groups floods by.
    source_tags: dict[str, str]
    # The channel's open sockets: a session registers there each conversation it follows.
    open_sessions: OpenSessions


def channel_message_id(identity: WidgetIdentity, client_id: str) -> str:
    """The iframe's own id for a message, scoped to the youth: a resend after reconnect is a duplicate."""
    return hashlib.sha256(f"{identity.external_user_id}\x1f{client_id}".encode()).hexdigest()[:32]


def public_message(message: Message) -> dict[str, Any]:
    return message.model_dump(mode="json", include={"id", "conversation_id", "seq", "direction", "sender", "type",
                                                    "text", "media", "event", "created_at", "status"})


class OpenSessions:
    """The open sockets, and which of them follow each conversation: delivering to one conversation
    touches only its own sockets, however many are open."""

    def __init__(self) -> None:
        self._open: set[WidgetSession] = set()
        self._following: dict[str, set[WidgetSession]] = {}

    def __len__(self) -> int:
        return len(self._open)

    def all(self) -> list[WidgetSession]:
        return list(self._open)

    def following(self, conversation_id: str) -> list[WidgetSession]:
        return list(self._following.get(conversation_id, ()))

    def add(self, session: WidgetSession) -> None:
        self._open.add(session)

    def follow(self, session: WidgetSession, conversation_id: str) -> None:
        if session in self._open:
            self._following.setdefault(conversation_id, set()).add(session)

    def remove(self, session: WidgetSession) -> None:
        self._open.discard(session)
        for conversation_id in session.conversation_ids:
            followers = self._following.get(conversation_id)
            if followers is not None:
                followers.discard(session)
                if not followers:
                    del self._following[conversation_id]


class WidgetSession:
    def __init__(self, ws: web.WebSocketResponse, identity: WidgetIdentity, deps: SessionDeps) -> None:
        self.ws = ws
        self.identity = identity
        self.deps = deps
        self.conversation_ids: set[str] = set()
        self.current: str | None = None  # the newest conversation: typing goes there
        self.states: dict[str, str] = {}  # conversation id -> its last known state
        self._sent: set[str] = set()
        self._live_places: set[str] = set()  # conversations whose place this connection heard live
        self._last_seq: dict[str, int] = {}
        self._send_lock = asyncio.Lock()
        self._bucket = TokenBucket(RATE_PER_SECOND, RATE_BURST)
        self._last_typing = 0.0
        self.subscription = deps.conversations.subscribe(self._accepts)

    def _accepts(self, event: Event) -> bool:
        return event.type in FORWARDED and event.conversation_id in self.conversation_ids

    # ----------------------------------------------------------------- outgoing

    async def send_json(self, payload: dict[str, Any]) -> None:
        async with self._send_lock:
            if not self.ws.closed:
                await self.ws.send_json(payload)

    async def deliver(self, message: dict[str, Any]) -> None:
        """Send one message to the iframe unless this connection already has it."""
        if message.get("private"):
            return
        async with self._send_lock:
            if message["id"] in self._sent or self.ws.closed:
                return
            self._sent.add(message["id"])
            conversation_id = message["conversation_id"]
            self._last_seq[conversation_id] = max(self._last_seq.get(conversation_id, 0), message["seq"])
            await self.ws.send_json({"type": "message", "message": {k: v for k, v in message.items()
                                                                     if k not in ("private", "sender_id")}})

    async def attach(self, conversation_id: str, after_seq: int = 0) -> None:
        """Follow a conversation live, then replay what the iframe has not seen (in that order)."""
        self.conversation_ids.add(conversation_id)
        self.subscription.follow(conversation_id)
        self.deps.open_sessions.follow(self, conversation_id)
        self.current = conversation_id
        await self.sync(conversation_id, after_seq)

    async def sync(self, conversation_id: str, after_seq: int | None = None) -> None:
        start = self._last_seq.get(conversation_id, 0) if after_seq is None else after_seq
        for message in await self.deps.conversations.history(conversation_id, start):
            await self.deliver(public_message(message))

    async def forward_events(self) -> None:
        """Bus → iframe. A subscription that lagged is closed: the iframe reconnects and resumes."""
        async for event in self.subscription:
            data, conversation_id = event.data, event.conversation_id
            if event.type == "message.created":
                await self.deliver(data["message"])
            elif event.type == "message.status":
                await self.send_json({"type": "status", "conversation_id": conversation_id,
                                      "message_id": data.get("message_id"), "status": data.get("status")})
            elif event.type == "conversation.state_changed":
                self.states[conversation_id or ""] = str(data.get("to"))
                await self.send_json({"type": "state", "conversation_id": conversation_id, "state": data.get("to")})
            elif event.type == "queue.position":
                self._live_places.add(conversation_id or "")
                await self.send_json(_queue_frame(conversation_id, data.get("position"),
                                                  data.get("expected_wait_seconds"), bool(data.get("urgent"))))
            elif event.type == "typing" and data.get("sender") != SenderKind.YOUTH:
                await self.send_json({"type": "typing", "conversation_id": conversation_id,
                                      "sender": data.get("sender")})
        if self.subscription.lagged and not self.ws.closed:
            await self.ws.close(code=CLOSE_LAGGED, message=b"fell behind; reconnect to resume")

    async def tell_place(self, conversation: Conversation) -> None:
        """On (re)connecting, a waiting youth sees where they are without waiting for the queue to move:
        the place they were last told, never a wait in minutes; a youth at risk is never told a place,
        only that a person is coming. A live notice that arrived meanwhile is newer, and wins."""
        if conversation.state != ConversationState.QUEUED:
            return
        if conversation.risk_level >= 2:
            frame = _queue_frame(conversation.id, None, None, urgent=True)
        else:
            place = await self.deps.conversations.queue_place(conversation.id)
            if place is None:
                return
            frame = _queue_frame(conversation.id, place, None, urgent=False)
        async with self._send_lock:
            if conversation.id not in self._live_places and not self.ws.closed:
                await self.ws.send_json(frame)

    # ----------------------------------------------------------------- incoming

    async def handle_frame(self, raw: str) -> bool:
        """Act on one frame; False when the connection must close (flood)."""
        if not self._bucket.take():
            log.warning("widget flood: closing connection", extra={"partner": self.identity.partner})
            await self.send_json({"type": "error", "reason": "rate limit exceeded", "fatal": True})
            await self.ws.close(code=CLOSE_RATE_LIMIT, message=b"rate limit exceeded")
            return False
        try:
            await self._dispatch(load_json_object(raw, "frame"))
        except WebhookRejected as exc:  # malformed or too deeply nested JSON
            await self._reject(exc.reason)
        except FrameRejected as exc:
            await self._reject(str(exc))
        except MediaRejected as exc:
            await self._reject(exc.reason)
        except StreamClosed:
            # Not stored and not acknowledged: the iframe resends it after reconnecting elsewhere.
            await self.send_json({"type": "error", "reason": "server restarting"})
            await self.ws.close(code=WSCloseCode.SERVICE_RESTART, message=b"server restarting")
            return False
        return True

    async def _reject(self, reason: str) -> None:
        log.warning("widget frame rejected: %s", reason, extra={"partner": self.identity.partner})
        await self.send_json({"type": "error", "reason": reason})

    async def _dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "text":
            text = _string(frame, "text", MAX_TEXT_CHARS).strip()
            if not text:
                raise FrameRejected("empty message")
            await self._admit()
            await self._ingest(frame, type=MessageType.TEXT, text=text, tags=dict(self.deps.source_tags))
        elif kind == "image":
            data, mime = decode_image(_string(frame, "data", 4 * 1024 * 1024))
            await self._admit()
            media = await self.deps.media.put(data, mime)
            await self._ingest(frame, type=MessageType.IMAGE, media=media, tags=dict(self.deps.source_tags))
        elif kind == "rating":
            score = frame.get("score")
            if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
                raise FrameRejected("score must be an integer from 1 to 5")
            comment = _string(frame, "comment", MAX_COMMENT_CHARS, required=False).strip()
            tags = {"score": str(score)}
            # The rated conversation is usually closed already, so the stream files the rating in a
            # new one; this tag tells the handoff engine which conversation it is about.
            if frame.get("conversation_id") in self.conversation_ids:
                tags["rated_conversation_id"] = frame["conversation_id"]
            await self._ingest(frame, type=MessageType.EVENT, event="satisfaction", text=comment,
                               tags=tags, window="keep")
        elif kind == "typing":
            await self._typing()
        elif kind == "read":
            conversation_id, seq = frame.get("conversation_id"), frame.get("seq")
            if conversation_id not in self.conversation_ids or not isinstance(seq, int):
                raise FrameRejected("read needs a known conversation_id and an integer seq")
            await self.deps.conversations.mark_read(conversation_id, seq)
        else:
            raise FrameRejected("unknown frame type")

    async def _admit(self) -> None:
        """A message that starts a new conversation counts against the new-conversation limits."""
        if self.current is not None and self.states.get(self.current) != "closed":
            return
        refusal = await self.deps.admit_new_conversation()
        if refusal is not None:
            raise FrameRejected(refusal)

    async def _ingest(self, frame: dict[str, Any], **fields: Any) -> None:
        client_id = _string(frame, "client_id", 64)
        if not client_id:
            raise FrameRejected("client_id required")
        result = await self.deps.ingest(InboundMessage(
            platform="widget", account=self.identity.partner, external_user_id=self.identity.external_user_id,
            channel_message_id=channel_message_id(self.identity, client_id), **fields,
        ))
        if result.conversation_id not in self.conversation_ids:
            self.states.setdefault(result.conversation_id, "bot")
            await self.attach(result.conversation_id)
        else:
            await self.sync(result.conversation_id)
        await self.send_json({"type": "ack", "client_id": client_id, "message_id": result.message_id,
                              "conversation_id": result.conversation_id, "duplicate": result.duplicate})

    async def _typing(self) -> None:
        now = time.monotonic()
        if now - self._last_typing < TYPING_INTERVAL or self.current is None:
            return
        self._last_typing = now
        await self.deps.conversations.publish(Event(type="typing", conversation_id=self.current,
                                                    desk=self.deps.desk, data={"sender": SenderKind.YOUTH}))


def _queue_frame(conversation_id: str | None, position: int | None, expected_wait_seconds: int | None,
                 urgent: bool) -> dict[str, Any]:
    return {"type": "queue", "conversation_id": conversation_id, "position": position,
            "expected_wait_seconds": expected_wait_seconds, "urgent": urgent}


def _string(frame: dict[str, Any], key: str, limit: int, *, required: bool = True) -> str:
    value = frame.get(key, None if required else "")
    if not isinstance(value, str):
        raise FrameRejected(f"{key} must be a string")
    if len(value) > limit:
        raise FrameRejected(f"{key} too long (max {limit} characters)")
    return value
