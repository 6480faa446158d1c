"""Weibo private messages (粉丝服务平台, developer mode): ``/channels/weibo/{uid}``.

GET is the URL check (``sha1(sorted([appsecret, timestamp, nonce]))``, answer ``echostr``).
POST pushes JSON (text, image, voice, position, mention, events); the same signature travels in
the query string and is checked too, with a freshness window. It covers only timestamp and nonce,
so each signed query is remembered with its body's hash: the same query with another body is a
replay (403), the same body again is Weibo's retry. Each push is stored once (dedupe on
sender + created_at + hash(text), Weibo gives no message id) and answered with an empty body.
Replies go out later through ``messages/reply.json`` via the outbox.

Reply policy: 48 hours after the youth's last message (Weibo's current docs; an older page said
72 h — the shorter one is the safe assumption) and at most 99 messages in that window (the
documented per-receiver quota). An unfollow/unsubscribe closes the window.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

import aiohttp
from aiohttp import web

from channels.payloads import load_json, read_body, timestamp_seconds
from channels.replay import SignedPushGuard
from contract.channel import (
    Channel,
    ChannelContext,
    DeliveryReceipt,
    InboundMessage,
    OutboundMessage,
    PermanentDeliveryError,
    ReplyPolicy,
    TransientDeliveryError,
    WebhookRejected,
    constant_time_equals,
)
from contract.config import ChannelAccountConfig
from contract.models import MediaRef, MessageType
from gateway.stream import StreamClosed

log = logging.getLogger("youthdesk.channels.weibo")

API_BASE = "https://m.api.weibo.com"
MAX_REPLY_CHARS = 300  # documented limit of one text reply
CREATED_AT_FORMAT = "%a %b %d %H:%M:%S %z %Y"  # "Mon Jul 16 18:09:20 +0800 2012"
OPENING_EVENTS = {"follow", "subscribe", "scan_follow"}
CLOSING_EVENTS = {"unfollow", "unsubscribe"}
# Weibo API error codes worth retrying: system error, busy, rate limits.
TRANSIENT_ERRORS = {10001, 10002, 10009, 10022, 10023, 10024}


def weibo_signature(appsecret: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([appsecret, timestamp, nonce])).encode()).hexdigest()  # noqa: S324


def dedupe_key(sender_id: str, created_at: str, text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()
    return hashlib.sha256(f"{sender_id}\x1f{created_at}\x1f{digest}".encode()).hexdigest()[:32]


def parse_push(account: ChannelAccountConfig, payload: Any) -> InboundMessage:
    """A Weibo push → InboundMessage, or WebhookRejected(400) naming what is wrong."""
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "push must be a JSON object")
    kind, sender, receiver = payload.get("type"), payload.get("sender_id"), payload.get("receiver_id")
    if not isinstance(kind, str) or not kind:
        raise WebhookRejected(400, "type missing")
    if isinstance(sender, bool) or not isinstance(sender, int | str) or not str(sender).isascii() \
            or not str(sender).isdigit():
        raise WebhookRejected(400, "sender_id missing or not a uid")
    if str(receiver) != account.id:
        raise WebhookRejected(400, "receiver_id is not this account")
    created_at = payload.get("created_at")
    try:
        sent_at = datetime.strptime(str(created_at), CREATED_AT_FORMAT)
    except ValueError:
        raise WebhookRejected(400, "created_at missing or malformed") from None
    text = payload.get("text") or ""
    if not isinstance(text, str):
        raise WebhookRejected(400, "text must be a string")
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    fields: dict[str, Any] = {"type": MessageType.TEXT, "text": text}
    if kind in ("image", "voice"):
        media_id = data.get("tovfid") or data.get("vfid")
        if not media_id:
            raise WebhookRejected(400, f"{kind} push without a file id")
        media_type = MessageType.IMAGE if kind == "image" else MessageType.VOICE
        fields = {"type": media_type, "text": text, "media": MediaRef(kind=kind, media_id=str(media_id))}
    elif kind == "position":
        where = ", ".join(str(data[k]) for k in ("longitude", "latitude") if k in data)
        fields = {"type": MessageType.TEXT, "text": f"[位置] {text or where}".strip()}
    elif kind == "event":
        subtype = data.get("subtype")
        if subtype not in OPENING_EVENTS | CLOSING_EVENTS:
            raise WebhookRejected(400, "unknown event subtype")
        window = "close" if subtype in CLOSING_EVENTS else "open"
        tags = {"weibo_scene": str(data["key"])[:128]} if subtype == "scan_follow" and data.get("key") else {}
        fields = {"type": MessageType.EVENT, "event": subtype, "text": text, "window": window, "tags": tags}
    elif kind not in ("text", "mention"):
        # Keep what we cannot parse visible to a counsellor rather than dropping a youth's message.
        fields = {"type": MessageType.TEXT, "text": f"[暂不支持的微博消息类型：{kind[:32]}] {text}".strip()}
    return InboundMessage(
        platform="weibo", account=account.id, external_user_id=str(sender),
        channel_message_id=dedupe_key(str(sender), str(created_at), f"{kind}\x1f{fields.get('event') or ''}\x1f{text}"),
        sent_at=sent_at, **fields,
    )


def split_reply(text: str, limit: int = MAX_REPLY_CHARS) -> list[str]:
    """Weibo takes at most 300 characters per reply; longer counsellor replies go as several."""
    text = text or " "
    return [text[start:start + limit] for start in range(0, len(text), limit)]


class WeiboChannel(Channel):
    platform: ClassVar[str] = "weibo"
    reply_policy: ClassVar[ReplyPolicy | None] = ReplyPolicy(window=timedelta(hours=48), max_messages=99)

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.get("/channels/weibo/{uid}", self._verify), web.post("/channels/weibo/{uid}", self._push)]

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        self.replays = SignedPushGuard(self.platform, context.settings.service.timestamp_window_seconds)

    def setup(self, app: web.Application) -> None:
        self.replays.setup(app, self.context.settings.service.redis_url)

    def _check_signature(self, account: ChannelAccountConfig, query: Mapping[str, str]) -> tuple[str, str, str]:
        """(signature, timestamp, nonce), once the signature is Weibo's."""
        signature, timestamp, nonce = (query.get(k, "") for k in ("signature", "timestamp", "nonce"))
        if not (signature and timestamp and nonce):
            raise WebhookRejected(403, "signature, timestamp and nonce required")
        if not constant_time_equals(weibo_signature(account.secret, timestamp, nonce), signature.lower()):
            raise WebhookRejected(403, "signature mismatch")
        return signature, timestamp, nonce

    def _check_fresh(self, timestamp: str) -> float:
        seconds = timestamp_seconds(timestamp, milliseconds=True)
        if abs(time.time() - seconds) > self.context.settings.service.timestamp_window_seconds:
            raise WebhookRejected(403, "timestamp outside the allowed window")
        return seconds

    async def _verify(self, request: web.Request) -> web.Response:
        try:
            account = self.account(request.match_info["uid"])
            self._check_signature(account, request.query)
        except WebhookRejected as error:
            return await self.reject(request, error)
        return web.Response(text=request.query.get("echostr", ""))

    async def _push(self, request: web.Request) -> web.Response:
        try:
            account = self.account(request.match_info["uid"])
            signature, timestamp, nonce = self._check_signature(account, request.query)
            seconds = self._check_fresh(timestamp)
            service = self.context.settings.service
            body = await read_body(request, service.max_body_bytes, service.http_idle_timeout_seconds)
            # Weibo signs only timestamp and nonce: without this a captured query carries any body.
            await self.replays.check(account.id, signature, seconds, nonce, body)
            inbound = parse_push(account, load_json(body))
        except WebhookRejected as error:
            return await self.reject(request, error)
        try:
            await self.context.ingest(inbound)
        except StreamClosed:
            return web.json_response({"error": "shutting down"}, status=503)  # Weibo retries
        return web.Response(status=200, body=b"")

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        account = self.accounts.get(message.account)
        if account is None:
            raise PermanentDeliveryError(f"unknown weibo account {message.account}")
        text = message.text
        if message.type != MessageType.TEXT:  # Weibo replies here are text only: fall back to words
            text = text or (message.media.title if message.media and message.media.title else "[图片]")
        receipt = DeliveryReceipt()
        for part in split_reply(text):
            receipt = await self._reply(account, message.external_user_id, part)
        return receipt

    async def _reply(self, account: ChannelAccountConfig, receiver_id: str, text: str) -> DeliveryReceipt:
        url = f"{(account.api_base or API_BASE).rstrip('/')}/2/messages/reply.json"
        form = {"access_token": account.token, "type": "text", "receiver_id": receiver_id, "save_sender_box": "1",
                "data": json.dumps({"text": text}, ensure_ascii=False)}
        try:
            async with self.context.http().post(url, data=form) as response:
                status = response.status
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
            raise TransientDeliveryError(f"weibo unreachable: {exc!r}"[:200]) from None
        if not isinstance(body, dict):
            raise TransientDeliveryError(f"weibo answered HTTP {status} without a JSON object")
        code = body.get("error_code")
        if code is None and status < 400:
            return DeliveryReceipt(channel_message_id=str(body["id"]) if body.get("id") else None)
        reason = f"weibo error {code}: {body.get('error', '')} (HTTP {status})"
        if status >= 500 or code in TRANSIENT_ERRORS:
            raise TransientDeliveryError(reason)
        raise PermanentDeliveryError(reason)


# ---------------------------------------------------------------------- simulator
