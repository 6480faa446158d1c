"""The phone hotline: call events posted by a call-centre platform, ``/channels/hotline/{centre}/events``.

The call centre (``[[accounts]] platform = "hotline"``, ``id`` = its id) signs each event like a
partner (``channels/signed_rest.py``, its ``secret``) and sends one JSON object per call event:

    {"call_id": "…", "event": "ringing" | "answered" | "transferred" | "ended", "at": <unix seconds>,
     "caller": "13812345678" (empty when withheld), "line": "12355",
     "counsellor": "…" (answered, transferred), "transfer_to": "…" (transferred),
     "recording": "<the platform's recording reference>" (ended, optional),
     "duration_seconds": <int> (ended, optional)}

Mapping into the conversation stream: one conversation per caller, as for a chat user. The caller's
number is never stored: the youth's id is ``tel:`` + HMAC-SHA256 of the number keyed with the first data
key (the last of ``service.previous_data_keys``, else ``service.data_key``), so the same caller's calls
land in one conversation across key rotations and nobody can read the number back; the timeline shows it
masked (``138****5678``). A withheld number gets one conversation per call. Each event is an
``InboundMessage`` of type ``event`` with ``event`` = ``call_<event>``, a short Chinese line for the
counsellor as text, and the details in ``tags`` (``call_id``, ``caller_masked``, ``line``,
``counsellor``, ``transfer_to``, ``recording``, ``duration_seconds``); it is stored once per (call,
event, transfer target), so the platform's retries and replays are harmless. Call events do not open a
text reply window (``window="keep"``): the youth is on the phone, not in a chat.

Text to a caller (an appointment confirmation, a reply) goes as an SMS through the call centre, when
it offers one (``webhook_url``; in demo/test ``api_base`` is its stand-in): we never hold the number,
so the SMS names the caller's latest call (``{"call_id", "message_id", "text"}``, signed like the
events, ``Idempotency-Key`` = our message id), which the adapter remembers per caller in its channel
state. Without an SMS endpoint, or for a withheld number, the message fails visibly ("call the youth
back"); 408/425/429/5xx and network errors are retried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiohttp import web

from channels.payloads import MAX_UNIX_SECONDS, load_json_object, read_body
from channels.signed_rest import RateLimits, check_signature, post_signed
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
from contract.handoff import PHONE_CALL_EVENTS
from contract.models import MessageType
from gateway.stream import StreamClosed

CALL_EVENTS = tuple(name.removeprefix("call_") for name in PHONE_CALL_EVENTS)  # ringing … ended
NO_SMS = "this call centre sends no SMS: call the youth back"
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
    privacy_notice_by_voice: ClassVar[bool] = True  # the call centre's IVR greeting; SMS is for replies only
    queue_notice: ClassVar[QueueNotice] = "none"  # a caller is on the phone: no SMS about a queue

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        self.limits = RateLimits()

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post("/channels/hotline/{centre}/events", self._event)]

    def setup(self, app: web.Application) -> None:
        self.limits.setup(app, self.context.settings.service.redis_url, "hotline:requests")

    def _identity_key(self, account: ChannelAccountConfig) -> str:
        # The data key (required in production) keeps callers' ids from being recomputed from a number.
        # The first key ever used, like the blind indexes: a key rotation must not split a caller's history.
        service = self.context.settings.service
        replaced = [key.strip() for key in service.previous_data_keys.split(",") if key.strip()]
        return (replaced[-1] if replaced else service.data_key) or f"youthdesk-hotline:{account.id}"

    async def _event(self, request: web.Request) -> web.Response:
        try:
            account = self.account(request.match_info["centre"])
            service = self.context.settings.service
            body = await read_body(request, service.max_body_bytes, service.http_idle_timeout_seconds)
            check_signature(account.secret, request.headers, body, service.timestamp_window_seconds)
            await self.limits.check(account.id, account.requests_per_minute)
            inbound = parse_call_event(account, load_json_object(body, "event"), self._identity_key(account))
        except WebhookRejected as error:
            return await self.reject(request, error)
        try:
            result = await self.context.ingest(inbound)
        except StreamClosed:
            return web.json_response({"error": "shutting down"}, status=503)  # the call centre retries
        await self._remember_call(inbound)
        return web.json_response({"message_id": result.message_id, "conversation_id": result.conversation_id,
                                  "duplicate": result.duplicate})

    async def _remember_call(self, inbound: InboundMessage) -> None:
        """The caller's latest call, the one an SMS to them names (events may arrive out of order)."""
        state = self.context.state
        if state is None or inbound.external_user_id.startswith("withheld:"):
            return
        key = f"{inbound.account}:{inbound.external_user_id}"
        at = int(inbound.sent_at.timestamp()) if inbound.sent_at else 0
        known = await state.load(self.platform, key)
        if known is None or known.get("at", 0) <= at:
            await state.save(self.platform, key, {"call_id": inbound.tags["call_id"], "at": at})

    def _sms_url(self, account: ChannelAccountConfig) -> str:
        if account.api_base:  # demo/test: the stand-in call centre
            return f"{account.api_base.rstrip('/')}/{account.id}/sms"
        return account.webhook_url

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        account = self.accounts.get(message.account)
        if account is None or not self._sms_url(account) or self.context.state is None:
            raise PermanentDeliveryError(NO_SMS)
        if message.external_user_id.startswith("withheld:"):
            raise PermanentDeliveryError("the caller withheld their number: no SMS is possible")
        call = await self.context.state.load(self.platform, f"{account.id}:{message.external_user_id}")
        if call is None:
            raise PermanentDeliveryError("no call of this caller to send an SMS to: call the youth back")
        body = json.dumps({"call_id": call["call_id"], "message_id": message.message_id, "text": message.text},
                          ensure_ascii=False).encode()
        return await post_signed(self.context.http(), self._sms_url(account), account.secret, body,
                                 message_id=message.message_id, peer="call centre SMS")
