"""QQ official bot, one-to-one chats (QQ 机器人开放平台, webhook mode): ``/channels/qq/{appid}``.

Every callback carries ``X-Signature-Ed25519`` over ``X-Signature-Timestamp`` + body. The key is
an Ed25519 key whose 32-byte seed is the bot secret repeated until it is long enough; the platform
signs with it and we verify with its public half (so the check is constant-time by construction).
``op: 13`` is the callback-URL check: we sign ``event_ts + plain_token`` with the same key and
answer ``{plain_token, signature}``. ``op: 0`` dispatches events; we store ``C2C_MESSAGE_CREATE``
(the youth's message; ``d.id`` is the message id), ``FRIEND_ADD`` (opens) and ``FRIEND_DEL``
(closes), and acknowledge the rest without storing them. A replayed callback is the same signed
body, hence the same message id: stored once. A stale timestamp is refused.

Replies: ``POST /v2/users/{openid}/messages`` with ``Authorization: QQBot <token>`` (token from
``getAppAccessToken``, cached until a minute before expiry). QQ no longer lets bots write first in
one-to-one chats, so every reply is *passive*: it names the youth's latest ``msg_id`` and a
``msg_seq``. The documented limits: a message may be answered within 60 minutes, at most 5 times
(each ``msg_id`` + ``msg_seq`` once). The adapter keeps the youth's latest ``msg_id`` and the
``msg_seq`` each of our messages used in ``ChannelContext.state``, so a retried delivery reuses
its ``msg_seq`` and the sixth reply or a late one is a closed window, not an API error.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import datetime, timedelta
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from channels.payloads import load_json_object, read_body, timestamp_seconds
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
)
from contract.config import ChannelAccountConfig
from contract.models import MediaRef, MessageType
from gateway.stream import StreamClosed

log = logging.getLogger("youthdesk.channels.qq")

API_BASE = "https://api.sgroup.qq.com"
AUTH_BASE = "https://bots.qq.com"
PASSIVE_REPLY_WINDOW = timedelta(minutes=60)
PASSIVE_REPLIES_PER_MESSAGE = 5
OP_DISPATCH, OP_CALLBACK_ACK, OP_VALIDATION = 0, 12, 13
WINDOW_EVENTS = {"FRIEND_ADD": "open", "FRIEND_DEL": "close"}
TOKEN_MARGIN_SECONDS = 60
OPENID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def signing_key(bot_secret: str) -> Ed25519PrivateKey:
    """The bot's Ed25519 key: the secret, repeated to 32 bytes, is the seed (QQ's documented scheme)."""
    secret = bot_secret.encode()
    if not secret:
        raise ValueError("a QQ bot needs its secret")
    return Ed25519PrivateKey.from_private_bytes((secret * (32 // len(secret) + 1))[:32])


def sign(bot_secret: str, timestamp: str, body: bytes) -> str:
    return signing_key(bot_secret).sign(timestamp.encode() + body).hex()


def verify(public_key: Ed25519PublicKey, signature_hex: str, timestamp: str, body: bytes) -> bool:
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return False
    if len(signature) != 64:
        return False
    try:
        public_key.verify(signature, timestamp.encode() + body)
    except InvalidSignature:
        return False
    return True


def parse_dispatch(account: ChannelAccountConfig, payload: dict[str, Any]) -> InboundMessage | None:
    """An ``op: 0`` event → InboundMessage, None for events we acknowledge without storing, else 400."""
    kind, data = payload.get("t"), payload.get("d")
    if not isinstance(kind, str) or not isinstance(data, dict):
        raise WebhookRejected(400, "t and d required")
    if kind in WINDOW_EVENTS:
        openid, event_id = data.get("openid"), payload.get("id")
        if not _openid(openid) or not _token(event_id):
            raise WebhookRejected(400, "openid and id required")
        return InboundMessage(platform="qq", account=account.id, external_user_id=openid,
                              channel_message_id=str(event_id), type=MessageType.EVENT, event=kind.lower(),
                              window=WINDOW_EVENTS[kind], sent_at=_sent_at(data.get("timestamp")))
    if kind != "C2C_MESSAGE_CREATE":
        return None
    author = data.get("author") if isinstance(data.get("author"), dict) else {}
    openid, message_id, content = author.get("user_openid"), data.get("id"), data.get("content", "")
    if not _openid(openid):
        raise WebhookRejected(400, "author.user_openid missing or malformed")
    if not _token(message_id):
        raise WebhookRejected(400, "message id missing")
    if not isinstance(content, str):
        raise WebhookRejected(400, "content must be a string")
    fields: dict[str, Any] = {"type": MessageType.TEXT, "text": content.strip()}
    attachments = data.get("attachments")
    if isinstance(attachments, list) and attachments and isinstance(attachments[0], dict):
        first = attachments[0]
        url, content_type = first.get("url"), str(first.get("content_type", ""))
        if isinstance(url, str) and url and content_type.startswith("image/"):
            fields = {"type": MessageType.IMAGE, "text": content.strip(),
                      "media": MediaRef(kind="image", url=url[:1024], format=content_type[:64])}
        elif not content.strip():
            # Voice, video, files: keep them visible to a counsellor rather than dropping them.
            fields["text"] = f"[暂不支持的QQ消息类型：{content_type[:32] or '附件'}]"
    if fields["type"] == MessageType.TEXT and not fields["text"]:
        raise WebhookRejected(400, "message without content")
    return InboundMessage(platform="qq", account=account.id, external_user_id=openid, channel_message_id=message_id,
                          sent_at=_sent_at(data.get("timestamp")), **fields)


def _openid(value: Any) -> bool:
    """Openids go into the reply URL's path: letters, digits, ``_`` and ``-`` only."""
    return isinstance(value, str) and OPENID.fullmatch(value) is not None


def _token(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 128 and value.isprintable()


def _sent_at(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


class AccessTokens:
    """``getAppAccessToken`` per bot, cached until a minute before it expires, one refresh at a time."""

    def __init__(self, http: Any) -> None:
        self.http = http
        self._cached: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    def forget(self, appid: str) -> None:
        self._cached.pop(appid, None)

    async def get(self, account: ChannelAccountConfig) -> str:
        async with self._lock:
            cached = self._cached.get(account.id)
            if cached and cached[1] > time.time():
                return cached[0]
            url = f"{(account.api_base or AUTH_BASE).rstrip('/')}/app/getAppAccessToken"
            try:
                async with self.http().post(url, json={"appId": account.id, "clientSecret": account.secret}) as r:
                    body = await r.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise TransientDeliveryError(f"qq token endpoint unreachable: {exc!r}"[:200]) from None
            token = body.get("access_token") if isinstance(body, dict) else None
            if not token:
                raise PermanentDeliveryError(f"qq refused the bot credentials: {str(body)[:160]}")
            lifetime = int(body.get("expires_in") or 0)  # QQ sends it as a string of seconds
            self._cached[account.id] = (token, time.time() + lifetime - TOKEN_MARGIN_SECONDS)
            return token


class QQChannel(Channel):
    platform: ClassVar[str] = "qq"
    reply_policy: ClassVar[ReplyPolicy | None] = ReplyPolicy(window=PASSIVE_REPLY_WINDOW,
                                                             max_messages=PASSIVE_REPLIES_PER_MESSAGE)

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        if context.state is None:
            raise RuntimeError("the QQ channel needs ChannelContext.state for the messages it replies to")
        self.state: ChannelState = context.state
        self.keys = {account.id: signing_key(account.secret) for account in self.accounts.values()}
        self.tokens = AccessTokens(context.http)
        self._reply_lock = asyncio.Lock()

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post("/channels/qq/{appid}", self._callback)]

    async def _callback(self, request: web.Request) -> web.Response:
        try:
            account = self.account(request.match_info["appid"])
            service = self.context.settings.service
            body = await read_body(request, service.max_body_bytes, service.http_idle_timeout_seconds)
            self._check_signature(account, request, body)
            payload = load_json_object(body, "callback")
            if payload.get("op") == OP_VALIDATION:
                return self._validation_answer(account, payload)
            if payload.get("op") != OP_DISPATCH:
                raise WebhookRejected(400, "unsupported op")
            inbound = parse_dispatch(account, payload)
        except WebhookRejected as error:
            return await self.reject(request, error)
        if inbound is not None:
            try:
                await self.context.ingest(inbound)
            except StreamClosed:
                return web.json_response({"error": "shutting down"}, status=503)  # QQ retries
            if inbound.type != MessageType.EVENT:
                await self._remember_latest(inbound)
        # The older docs' HTTP callback ACK (op 12); the current ones ask only for a 200.
        return web.json_response({"op": OP_CALLBACK_ACK})

    def _check_signature(self, account: ChannelAccountConfig, request: web.Request, body: bytes) -> None:
        signature = request.headers.get("X-Signature-Ed25519", "")
        timestamp = request.headers.get("X-Signature-Timestamp", "")
        if not signature or not timestamp:
            raise WebhookRejected(403, "X-Signature-Ed25519 and X-Signature-Timestamp required")
        if request.headers.get("X-Bot-Appid", account.id) != account.id:
            raise WebhookRejected(403, "X-Bot-Appid is not this bot")
        if not verify(self.keys[account.id].public_key(), signature, timestamp, body):
            raise WebhookRejected(403, "signature mismatch")
        window = self.context.settings.service.timestamp_window_seconds
        if abs(time.time() - timestamp_seconds(timestamp)) > window:
            raise WebhookRejected(403, "timestamp outside the allowed window")

    def _validation_answer(self, account: ChannelAccountConfig, payload: dict[str, Any]) -> web.Response:
        data = payload.get("d") if isinstance(payload.get("d"), dict) else {}
        plain_token, event_ts = data.get("plain_token"), data.get("event_ts")
        if not _token(plain_token) or not isinstance(event_ts, str | int) or isinstance(event_ts, bool):
            raise WebhookRejected(400, "plain_token and event_ts required")
        signature = self.keys[account.id].sign(f"{event_ts}{plain_token}".encode()).hex()
        return web.json_response({"plain_token": plain_token, "signature": signature})

    # ----------------------------------------------------------------- replies

    async def _remember_latest(self, inbound: InboundMessage) -> None:
        """The youth's newest message is the one our passive replies answer."""
        key = f"{inbound.account}:{inbound.external_user_id}"
        async with self._reply_lock:
            latest = await self.state.load(self.platform, key)
            if latest and latest.get("msg_id") == inbound.channel_message_id:
                return  # QQ's retry of the same message: keep the replies already counted
            await self.state.save(self.platform, key, {"msg_id": inbound.channel_message_id,
                                                       "received_at": time.time(), "seqs": {}})

    async def _reply_slot(self, message: OutboundMessage) -> tuple[str, int]:
        """(msg_id, msg_seq) for this outbound message: the same pair when a delivery is retried."""
        key = f"{message.account}:{message.external_user_id}"
        async with self._reply_lock:
            latest = await self.state.load(self.platform, key)
            if not latest:
                raise ReplyWindowClosedError("qq: no message from this youth to reply to")
            seqs: dict[str, int] = dict(latest.get("seqs", {}))
            if message.message_id not in seqs:
                if time.time() - float(latest["received_at"]) > PASSIVE_REPLY_WINDOW.total_seconds():
                    raise ReplyWindowClosedError("qq: passive reply window (60 minutes) is over")
                if len(seqs) >= PASSIVE_REPLIES_PER_MESSAGE:
                    raise ReplyWindowClosedError("qq: 5 passive replies to this message already sent")
                seqs[message.message_id] = len(seqs) + 1
                await self.state.save(self.platform, key, {**latest, "seqs": seqs})
            return str(latest["msg_id"]), seqs[message.message_id]

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        account = self.accounts.get(message.account)
        if account is None:
            raise PermanentDeliveryError(f"unknown qq bot {message.account}")
        text = message.text
        if message.type != MessageType.TEXT:  # passive replies here are text only: fall back to words
            text = text or (message.media.title if message.media and message.media.title else "[图片]")
        msg_id, msg_seq = await self._reply_slot(message)
        body = {"content": text, "msg_type": 0, "msg_id": msg_id, "msg_seq": msg_seq}
        status, answer = await self._post(account, message.external_user_id, body)
        if status == 401:  # the token expired early or was revoked: one fresh token, one more try
            self.tokens.forget(account.id)
            status, answer = await self._post(account, message.external_user_id, body)
        if status < 300 and answer.get("id"):
            return DeliveryReceipt(channel_message_id=str(answer["id"]))
        reason = f"qq error {answer.get('code')}: {answer.get('message', '')} (HTTP {status})"
        if status >= 500 or status == 429:
            raise TransientDeliveryError(reason)
        raise PermanentDeliveryError(reason)

    async def _post(self, account: ChannelAccountConfig, openid: str, body: dict[str, Any]) -> tuple[int, dict]:
        token = await self.tokens.get(account)
        url = f"{(account.api_base or API_BASE).rstrip('/')}/v2/users/{openid}/messages"
        try:
            async with self.context.http().post(url, json=body, headers={"Authorization": f"QQBot {token}"}) as r:
                answer = await r.json(content_type=None)
                return r.status, answer if isinstance(answer, dict) else {}
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise TransientDeliveryError(f"qq unreachable: {exc!r}"[:200]) from None
