"""The phone hotline: call events posted by a call-centre platform, ``/channels/hotline/{centre}/events``.

The call centre (``[[accounts]] platform = "hotline"``, ``id`` = its id) signs each event like a
partner (``channels/signed_rest.py``, its ``secret``) and sends one JSON object per call event:

    {"call_id": "…", "event": "ringing" | "answered" | "transferred" | "ended", "at": <unix seconds>,
     "caller": "13812345678" (empty when withheld), "line": "12355",
     "counsellor": "…" (answered, transferred), "transfer_to": "…" (transferred),
     "recording": "<the platform's recording reference>" (ended, optional),
     "duration_seconds": <int> (ended, optional)}

Mapping into the conversation stream: one conversation per caller, as for a chat user. The caller's
number is never stored: the youth's id is ``tel:`` + HMAC-SHA256 of the number keyed with
``service.data_key`` (so the same caller's calls land in the same conversation and nobody can read
the number back), and the timeline shows it masked (``138****5678``). A withheld number gets one
conversation per call. Each event is an ``InboundMessage`` of type ``event`` with ``event`` =
``call_<event>``, a short Chinese line for the counsellor as text, and the details in ``tags``
(``call_id``, ``caller_masked``, ``line``, ``counsellor``, ``transfer_to``, ``recording``,
``duration_seconds``); it is stored once per (call, event, transfer target), so the platform's
retries and replays are harmless. Call events do not open a text reply window (``window="keep"``):
the youth is on the phone, not in a chat, and ``send`` refuses text replies.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiohttp import web

from channels.payloads import MAX_UNIX_SECONDS, load_json_object, read_body
from channels.signed_rest import RateLimits, check_signature
from contract.channel import (
    Channel,
    ChannelContext,
    DeliveryReceipt,
    InboundMessage,
    OutboundMessage,
    PermanentDeliveryError,
    QueueNotice,
    WebhookRejected,
)
from contract.config import ChannelAccountConfig
from contract.models import MessageType
from gateway.stream import StreamClosed

CALL_EVENTS = ("ringing", "answered", "transferred", "ended")
PHONE_NUMBER = re.compile(r"\+?[0-9]{3,20}")
MAX_FIELD_CHARS = 128


def national(number: str) -> str:
    """Digits without ``+86``, so a caller is the same youth whichever way the platform writes the number."""
    digits = number.lstrip("+")
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


def mask_number(number: str) -> str:
    """``13812345678`` → ``138****5678``; short numbers keep only their last two digits."""
    digits = national(number)
    if len(digits) >= 11:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * (len(digits) - 2) + digits[-2:]


def caller_id(number: str, key: str) -> str:
    return "tel:" + hmac.new(key.encode(), national(number).encode(), hashlib.sha256).hexdigest()[:32]


def _text_field(payload: dict[str, Any], name: str, *, required: bool) -> str:
    value = payload.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > MAX_FIELD_CHARS or not value.isprintable():
        raise WebhookRejected(400, f"{name} must be a string of at most {MAX_FIELD_CHARS} characters")
    if required and not value:
        raise WebhookRejected(400, f"{name} required")
    return value


def _duration_text(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}分{rest}秒" if minutes else f"{rest}秒"


def parse_call_event(account: ChannelAccountConfig, payload: dict[str, Any], identity_key: str) -> InboundMessage:
    """A call-centre event → InboundMessage, or WebhookRejected(400) naming what is wrong."""
    call_id = _text_field(payload, "call_id", required=True)
    event = payload.get("event")
    if event not in CALL_EVENTS:
        raise WebhookRejected(400, f"event must be one of {', '.join(CALL_EVENTS)}")
    at = payload.get("at")
    if not isinstance(at, int) or isinstance(at, bool) or not 0 < at <= MAX_UNIX_SECONDS:
        raise WebhookRejected(400, "at must be unix seconds")
    caller = _text_field(payload, "caller", required=False)
    if caller and not PHONE_NUMBER.fullmatch(caller):
        raise WebhookRejected(400, "caller must be a phone number or empty (withheld)")
    tags = {"call_id": call_id, "caller_masked": mask_number(caller) if caller else "号码未显示"}
    if line := _text_field(payload, "line", required=False):
        tags["line"] = line
    counsellor = _text_field(payload, "counsellor", required=event in ("answered", "transferred"))
    masked = tags["caller_masked"]
    if event == "ringing":
        text = f"[电话] 来电 {masked}，正在振铃"
    elif event == "answered":
        tags["counsellor"] = counsellor
        text = f"[电话] 已接通，接听人：{counsellor}"
    elif event == "transferred":
        tags["transfer_to"] = _text_field(payload, "transfer_to", required=True)
        tags["counsellor"] = counsellor
        text = f"[电话] {counsellor} 已将来电转接至 {tags['transfer_to']}"
    else:
        duration = payload.get("duration_seconds")
        if duration is not None and (not isinstance(duration, int) or isinstance(duration, bool) or duration < 0):
            raise WebhookRejected(400, "duration_seconds must be a non-negative integer")
        text = "[电话] 通话结束"
        if duration is not None:
            tags["duration_seconds"] = str(duration)
            text += f"，时长 {_duration_text(duration)}"
        if recording := _text_field(payload, "recording", required=False):
            tags["recording"] = recording
            text += f"，录音编号 {recording}"
    key = f"{call_id}\x1f{event}\x1f{tags.get('transfer_to', '')}"
    return InboundMessage(
        platform="hotline", account=account.id,
        external_user_id=caller_id(caller, identity_key) if caller else f"withheld:{call_id}",
        channel_message_id=hashlib.sha256(key.encode()).hexdigest()[:32], type=MessageType.EVENT,
        event=f"call_{event}", text=text, tags=tags, window="keep", sent_at=datetime.fromtimestamp(at, UTC),
    )


class HotlineChannel(Channel):
    platform: ClassVar[str] = "hotline"
    queue_notice: ClassVar[QueueNotice] = "none"  # a caller cannot be sent text

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        self.limits = RateLimits()

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post("/channels/hotline/{centre}/events", self._event)]

    def _identity_key(self, account: ChannelAccountConfig) -> str:
        # The data key (required in production) keeps callers' ids from being recomputed from a number.
        return self.context.settings.service.data_key or f"youthdesk-hotline:{account.id}"

    async def _event(self, request: web.Request) -> web.Response:
        try:
            account = self.account(request.match_info["centre"])
            service = self.context.settings.service
            body = await read_body(request, service.max_body_bytes, service.http_idle_timeout_seconds)
            check_signature(account.secret, request.headers, body, service.timestamp_window_seconds)
            self.limits.check(account.id, account.requests_per_minute)
            inbound = parse_call_event(account, load_json_object(body, "event"), self._identity_key(account))
        except WebhookRejected as error:
            return await self.reject(request, error)
        try:
            result = await self.context.ingest(inbound)
        except StreamClosed:
            return web.json_response({"error": "shutting down"}, status=503)  # the call centre retries
        return web.json_response({"message_id": result.message_id, "conversation_id": result.conversation_id,
                                  "duplicate": result.duplicate})

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        raise PermanentDeliveryError("hotline conversations take no text replies: call the youth back")
