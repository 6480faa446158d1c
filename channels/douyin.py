"""Douyin enterprise-account private messages (抖音开放平台 私信): ``/channels/douyin/{client_key}``.

Every push is a JSON POST signed in ``X-Douyin-Signature``: ``sha1(client_secret + body)`` in hex,
compared in constant time. ``verify_webhook`` (sent when the URL is saved in the console) is
answered with ``{"challenge": …}``. ``im_receive_msg`` is a youth's message: ``content`` (a JSON
string or object) carries ``conversation_short_id``, ``server_message_id``, ``message_type``,
``text`` and ``create_time``; it is stored once per ``server_message_id``. Douyin retries a push
three times and says to deduplicate on ``Msg-Id``; since the signature covers the whole body and
a replay repeats it byte for byte, a replay is deduplicated the same way (stored once). Events we
do not act on (``im_send_msg``, ``im_message_read``, …) get 200 without being stored.

Replies: ``POST /im/send/msg/?open_id=<the enterprise account's open_id>`` with the ``access-token``
header (the account's ``token``: the enterprise account's authorised access token, refreshed
outside the gateway), naming the conversation and the youth's latest message (kept in
``ChannelContext.state``). The reply budget: the public pages we could reach do not state the
enterprise-account limits, so we assume 24 hours after the youth's last message and 5 messages
(tighter than WeChat's 48 h / 5) until the Douyin console confirms them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import aiohttp
from aiohttp import web

from channels.payloads import MAX_UNIX_SECONDS, load_json, load_json_object, read_body
from contract.channel import (
    Channel,
    ChannelContext,
    ChannelState,
    DeliveryReceipt,
    InboundMessage,
    OutboundMessage,
    PermanentDeliveryError,
    ReplyPolicy,
    ReplyWindowClosedError,
    TransientDeliveryError,
    WebhookRejected,
    constant_time_equals,
)
from contract.config import ChannelAccountConfig
from contract.models import MediaRef, MessageType
from gateway.stream import StreamClosed

log = logging.getLogger("youthdesk.channels.douyin")

API_BASE = "https://open.douyin.com"
REPLY_POLICY = ReplyPolicy(window=timedelta(hours=24), max_messages=5)
OPEN_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
TEXT_MESSAGE = 1  # content.msg_type of a text reply


def douyin_signature(client_secret: str, body: bytes) -> str:
    return hashlib.sha1(client_secret.encode() + body).hexdigest()  # noqa: S324  # Douyin's scheme, not ours


def _open_id(value: Any) -> bool:
    return isinstance(value, str) and OPEN_ID.fullmatch(value) is not None


def _content(payload: dict[str, Any]) -> dict[str, Any]:
    """``content`` arrives as a JSON string in most pushes and as an object in some: accept both."""
    content = payload.get("content")
    if isinstance(content, str):
        content = load_json(content)
    if not isinstance(content, dict):
        raise WebhookRejected(400, "content must be a JSON object")
    return content


def _sent_at(create_time: Any) -> datetime | None:
    if isinstance(create_time, str) and create_time.isdigit():
        create_time = int(create_time)
    if not isinstance(create_time, int) or isinstance(create_time, bool):
        return None
    seconds = create_time / 1000 if create_time > MAX_UNIX_SECONDS else create_time
    return datetime.fromtimestamp(seconds, UTC) if 0 < seconds <= MAX_UNIX_SECONDS else None


def parse_message(account: ChannelAccountConfig, payload: dict[str, Any]) -> InboundMessage:
    """An ``im_receive_msg`` push → InboundMessage, or WebhookRejected(400) naming what is wrong."""
    youth, enterprise = payload.get("from_user_id"), payload.get("to_user_id")
    if not _open_id(youth) or not _open_id(enterprise):
        raise WebhookRejected(400, "from_user_id and to_user_id must be open ids")
    content = _content(payload)
    message_id, conversation = content.get("server_message_id"), content.get("conversation_short_id")
    if not isinstance(message_id, str | int) or isinstance(message_id, bool) or not str(message_id):
        raise WebhookRejected(400, "server_message_id missing")
    if not isinstance(conversation, str) or not 0 < len(conversation) <= 256:
        raise WebhookRejected(400, "conversation_short_id missing")
    kind, text = content.get("message_type", "text"), content.get("text", "")
    if not isinstance(text, str) or not isinstance(kind, str):
        raise WebhookRejected(400, "text and message_type must be strings")
    fields: dict[str, Any] = {"type": MessageType.TEXT, "text": text.strip()}
    if kind == "image":
        url = content.get("resource_url") or content.get("image_url")
        fields = {"type": MessageType.IMAGE, "text": "",
                  "media": MediaRef(kind="image", url=str(url)[:1024] if url else None)}
    elif kind != "text":
        # Cards, videos, stickers: keep them visible to a counsellor rather than dropping them.
        fields["text"] = f"[暂不支持的抖音消息类型：{kind[:32]}] {text.strip()}".strip()
    elif not fields["text"]:
        raise WebhookRejected(400, "text message without text")
    return InboundMessage(
        platform="douyin", account=account.id, external_user_id=youth, channel_message_id=str(message_id),
        sent_at=_sent_at(content.get("create_time")),
        tags={"douyin_conversation": conversation, "douyin_enterprise_open_id": enterprise}, **fields,
    )


class DouyinChannel(Channel):
    platform: ClassVar[str] = "douyin"
    reply_policy: ClassVar[ReplyPolicy | None] = REPLY_POLICY

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        if context.state is None:
            raise RuntimeError("the Douyin channel needs ChannelContext.state for the conversations it replies in")
        self.state: ChannelState = context.state
        self._state_lock = asyncio.Lock()

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post("/channels/douyin/{client_key}", self._push)]

    async def _push(self, request: web.Request) -> web.Response:
        try:
            account = self.account(request.match_info["client_key"])
            service = self.context.settings.service
            body = await read_body(request, service.max_body_bytes, service.http_idle_timeout_seconds)
            signature = request.headers.get("X-Douyin-Signature", "")
            if not signature:
                raise WebhookRejected(403, "X-Douyin-Signature required")
            if not constant_time_equals(douyin_signature(account.secret, body), signature.lower()):
                raise WebhookRejected(403, "signature mismatch")
            payload = load_json_object(body)
            if payload.get("client_key") not in (account.id, ""):
                raise WebhookRejected(400, "client_key is not this account")
            event = payload.get("event")
            if event == "verify_webhook":
                challenge = _content(payload).get("challenge")
                if not isinstance(challenge, int | str) or isinstance(challenge, bool):
                    raise WebhookRejected(400, "challenge missing")
                return web.json_response({"challenge": challenge})
            if not isinstance(event, str) or not event:
                raise WebhookRejected(400, "event missing")
            inbound = parse_message(account, payload) if event == "im_receive_msg" else None
        except WebhookRejected as error:
            return await self.reject(request, error)
        if inbound is not None:
            try:
                await self.context.ingest(inbound)
            except StreamClosed:
                return web.json_response({"error": "shutting down"}, status=503)  # Douyin retries
            await self._remember_latest(inbound)
        return web.json_response({})

    # ----------------------------------------------------------------- replies

    async def _remember_latest(self, inbound: InboundMessage) -> None:
        """The reply API names the conversation and the youth's message it answers: keep the newest."""
        key = f"{inbound.account}:{inbound.external_user_id}"
        async with self._state_lock:
            await self.state.save(self.platform, key, {
                "msg_id": inbound.channel_message_id, "conversation_id": inbound.tags["douyin_conversation"],
                "enterprise_open_id": inbound.tags["douyin_enterprise_open_id"], "received_at": time.time()})

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        account = self.accounts.get(message.account)
        if account is None:
            raise PermanentDeliveryError(f"unknown douyin account {message.account}")
        latest = await self.state.load(self.platform, f"{message.account}:{message.external_user_id}")
        if not latest:
            raise ReplyWindowClosedError("douyin: no message from this youth to reply to")
        if time.time() - float(latest["received_at"]) > REPLY_POLICY.window.total_seconds():
            raise ReplyWindowClosedError("douyin: reply window (24 hours) is over")
        text = message.text
        if message.type != MessageType.TEXT:  # replies here are text only: fall back to words
            text = text or (message.media.title if message.media and message.media.title else "[图片]")
        url = f"{(account.api_base or API_BASE).rstrip('/')}/im/send/msg/"
        body = {"msg_id": latest["msg_id"], "conversation_id": latest["conversation_id"],
                "to_user_id": message.external_user_id,
                "content": {"msg_type": TEXT_MESSAGE, "text": {"text": text}}}
        try:
            async with self.context.http().post(url, params={"open_id": latest["enterprise_open_id"]}, json=body,
                                                headers={"access-token": account.token}) as response:
                status = response.status
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise TransientDeliveryError(f"douyin unreachable: {exc!r}"[:200]) from None
        answer = answer if isinstance(answer, dict) else {}
        extra = answer.get("extra") if isinstance(answer.get("extra"), dict) else {}
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        code = extra.get("error_code", data.get("error_code"))
        if status < 300 and code == 0:
            return DeliveryReceipt(channel_message_id=str(data["msg_id"]) if data.get("msg_id") else None)
        reason = f"douyin error {code}: {extra.get('description') or data.get('description', '')} (HTTP {status})"
        if status >= 500 or status == 429:
            raise TransientDeliveryError(reason)
        raise PermanentDeliveryError(reason)
