"""WeChat official accounts (``/channels/wechat/{appid}``) and mini-program customer service
(``/channels/miniprogram/{appid}``).

GET is the URL check (``signature`` over token, timestamp, nonce; answer ``echostr``). POST pushes
XML (official account) or XML/JSON (mini-program) in plaintext, compatible or safe mode. Every push:
verify ``signature`` and its freshness → (safe/compatible) verify ``msg_signature`` and decrypt →
parse with defusedxml → dedupe on ``MsgId`` (events: sender + CreateTime + Event + EventKey) →
store → answer ``success`` at once. Replies go out later via ``custom/send`` through the outbox.

What we answer to bad input, and why:
  forged/missing signature, stale timestamp           403  (a forger learns nothing; WeChat never sends these)
  signed query reused with a different body           403  (a replay; the same body again is WeChat's retry:
                                                           answered ``success``, deduplicated by MsgId)
  unknown appid                                       404
  malformed body, DTD/entities, undecryptable Encrypt 400  (so are nesting past 32 levels, a CreateTime
                                                           outside 1970–2100, compatible/safe without Encrypt)
  ciphertext for another appid                        403
  body still arriving after the idle timeout (10 s)   408
  body over ``service.max_body_bytes`` (64 KiB)       413
  an event we do not act on (VIEW, LOCATION, …)       200 ``success``, nothing stored: an error would only
                                                      make WeChat retry something we will never want
  a message type we cannot show (video, file, …)      stored as a visible placeholder, 200 ``success``
  service shutting down                               503 (WeChat retries; nothing was stored)
"""

from __future__ import annotations

import hashlib
import logging
from abc import abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

from aiohttp import web

from channels.payloads import read_body
from channels.replay import SignedPushGuard
from channels.wechat_api import ApiApp, WeChatApi, shared_tokens_ctx
from channels.wechat_protocol import Envelope, WeChatPush, check_fresh, check_signature, parse_body
from contract.channel import (
    Channel,
    ChannelContext,
    DeliveryReceipt,
    InboundMessage,
    OutboundMessage,
    PermanentDeliveryError,
    ReplyPolicy,
    WebhookRejected,
)
from contract.config import ChannelAccountConfig
from contract.models import MediaRef, MessageType
from gateway.stream import StreamClosed

log = logging.getLogger("youthdesk.channels.wechat")

MAX_TEXT_BYTES = 2048  # customer-service text limit; longer fails with 45002 anyway
# 48 hours after the youth's last message, 5 messages (a menu click or follow opens fewer for a
# minute; the platform's 45047 then closes the window visibly rather than us guessing).
WECHAT_REPLY_POLICY = ReplyPolicy(window=timedelta(hours=48), max_messages=5)
SUCCESS = "success"


def signed_parts(query: Mapping[str, str]) -> tuple[str, str]:
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    if not timestamp or not nonce:
        raise WebhookRejected(403, "signature, timestamp and nonce required")
    return timestamp, nonce


def event_dedupe_key(push: WeChatPush) -> str:
    return f"ev|{push.from_user}|{push.create_time}|{push.event}|{push.event_key}"


def media_fallback_key(push: WeChatPush) -> str:
    digest = hashlib.sha256(f"{push.content}|{push.media_id}|{push.pic_url}".encode()).hexdigest()[:16]
    return f"msg|{push.from_user}|{push.create_time}|{push.msg_type}|{digest}"


class WeChatWebhookChannel(Channel):
    """What the official account and the mini-program share: verification, modes, messages, send."""

    reply_policy: ClassVar[ReplyPolicy | None] = WECHAT_REPLY_POLICY

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        self.api = WeChatApi(context.http)
        self.envelopes = {account.id: Envelope(account.encoding_aes_key, account.id)
                          for account in self.accounts.values() if account.encoding_aes_key}
        self.replays = SignedPushGuard(self.platform, context.settings.service.timestamp_window_seconds)

    def routes(self) -> list[web.AbstractRouteDef]:
        path = f"/channels/{self.platform}/{{appid}}"
        return [web.get(path, self._verify), web.post(path, self._push)]

    def setup(self, app: web.Application) -> None:
        app.cleanup_ctx.append(shared_tokens_ctx(self.api, self.context.settings.service.redis_url))
        self.replays.setup(app, self.context.settings.service.redis_url)

    # ---------------------------------------------------------------- inbound

    async def _verify(self, request: web.Request) -> web.Response:
        try:
            account = self.account(request.match_info["appid"])
            timestamp, nonce = signed_parts(request.query)
            check_signature((account.token, timestamp, nonce), request.query.get("signature", ""))
        except WebhookRejected as error:
            return await self.reject(request, error)
        return web.Response(text=request.query.get("echostr", ""))

    async def _push(self, request: web.Request) -> web.Response:
        service = self.context.settings.service
        try:
            account = self.account(request.match_info["appid"])
            timestamp, nonce = signed_parts(request.query)
            signature = request.query.get("signature", "")
            check_signature((account.token, timestamp, nonce), signature)
            seconds = check_fresh(timestamp, service.timestamp_window_seconds)
            body = await read_body(request, service.max_body_bytes, service.http_idle_timeout_seconds)
            await self.replays.check(account.id, signature, seconds, nonce, body)
            fields = self.decode(account, request.query, body, timestamp, nonce)
            inbound = self.normalise(account, WeChatPush.parse(fields))
        except WebhookRejected as error:
            return await self.reject(request, error)
        if inbound is None:
            log.debug("ignored %s push without a youth message", self.platform)
            return web.Response(text=SUCCESS)
        try:
            await self.context.ingest(inbound)
        except StreamClosed:
            return web.json_response({"error": "shutting down"}, status=503)  # WeChat retries
        return web.Response(text=SUCCESS)

    def decode(self, account: ChannelAccountConfig, query: Mapping[str, str], body: bytes,
               timestamp: str, nonce: str) -> dict[str, Any]:
        """The push's fields: plaintext as sent, or the decrypted ``Encrypt`` (checked by msg_signature)."""
        fields = parse_body(body)
        encrypt = fields.get("Encrypt")
        if account.mode == "plain":
            if encrypt:
                raise WebhookRejected(400, "encrypted push to a plaintext-mode account")
            return fields
        if not encrypt:
            # WeChat always sends Encrypt in compatible mode too: a plaintext-only push is not WeChat's,
            # and its body is covered by no signature.
            raise WebhookRejected(400, f"{account.mode} mode: Encrypt required")
        if not isinstance(encrypt, str):
            raise WebhookRejected(400, "Encrypt must be a string")
        check_signature((account.token, timestamp, nonce, encrypt), query.get("msg_signature", ""))
        envelope = self.envelopes.get(account.id)
        if envelope is None:
            raise WebhookRejected(400, "account has no encoding_aes_key")
        return parse_body(envelope.decrypt(encrypt).encode())

    def normalise(self, account: ChannelAccountConfig, push: WeChatPush) -> InboundMessage | None:
        """A push → InboundMessage; None for events that carry nothing for a counsellor or the bot."""
        if push.msg_type == "event":
            return self.event(account, push)
        return InboundMessage(
            platform=self.platform, account=account.id, external_user_id=push.from_user,
            channel_message_id=push.msg_id or media_fallback_key(push),
            sent_at=datetime.fromtimestamp(push.create_time, UTC), **message_fields(push),
        )

    @abstractmethod
    def event(self, account: ChannelAccountConfig, push: WeChatPush) -> InboundMessage | None:
        """The platform's events → InboundMessage, or None for those we do not act on."""

    def event_message(self, account: ChannelAccountConfig, push: WeChatPush, *, event: str, text: str = "",
                      window: Literal["open", "close", "keep"] = "open",
                      tags: dict[str, str] | None = None) -> InboundMessage:
        return InboundMessage(
            platform=self.platform, account=account.id, external_user_id=push.from_user,
            channel_message_id=event_dedupe_key(push), type=MessageType.EVENT, event=event, text=text,
            window=window,
            tags=tags or {}, sent_at=datetime.fromtimestamp(push.create_time, UTC),
        )

    # --------------------------------------------------------------- outbound

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        account = self.accounts.get(message.account)
        if account is None:
            raise PermanentDeliveryError(f"unknown {self.platform} account {message.account}")
        await self.api.custom_send(ApiApp.for_account(account), custom_payload(message))
        return DeliveryReceipt()


def message_fields(push: WeChatPush) -> dict[str, Any]:
    """Type, text and media of a youth message (not an event)."""
    kind = push.msg_type
    if kind == "text":
        return {"type": MessageType.TEXT, "text": push.content}
    if kind == "image":
        if not (push.media_id or push.pic_url):
            raise WebhookRejected(400, "image push without MediaId or PicUrl")
        return {"type": MessageType.IMAGE,
                "media": MediaRef(kind="image", media_id=push.media_id or None, url=push.pic_url or None)}
    if kind == "voice":
        if not push.media_id:
            raise WebhookRejected(400, "voice push without MediaId")
        media = MediaRef(kind="voice", media_id=push.media_id, format=push.format or None)
        # With voice recognition on, the words are the message: the detector and the bot read them.
        if push.recognition:
            return {"type": MessageType.TEXT, "text": push.recognition, "media": media}
        return {"type": MessageType.VOICE, "media": media}
    if kind == "miniprogrampage":
        media = MediaRef(kind="miniprogrampage", media_id=push.thumb_media_id or None, url=push.page_path or None,
                         title=push.title or None)
        return {"type": MessageType.LINK, "text": f"[小程序卡片] {push.title}".strip(), "media": media}
    if kind == "link":
        return {"type": MessageType.LINK, "text": f"[链接] {push.title} {push.url}".strip(),
                "media": MediaRef(kind="link", url=push.url or None, title=push.title or None)}
    if kind == "location":
        return {"type": MessageType.TEXT, "text": f"[位置] {push.label}".strip()}
    # Keep what we cannot show visible to a counsellor rather than dropping a youth's message.
    media = MediaRef(kind=kind[:32], media_id=push.media_id) if push.media_id else None
    return {"type": MessageType.TEXT, "text": f"[暂不支持的微信消息类型：{kind[:32]}]", "media": media}


def custom_payload(message: OutboundMessage) -> dict[str, Any]:
    """A ``custom/send`` body; media without a WeChat media_id falls back to words."""
    if message.type == MessageType.IMAGE and message.media and message.media.media_id:
        return {"touser": message.external_user_id, "msgtype": "image",
                "image": {"media_id": message.media.media_id}}
    text = message.text or (f"[{message.media.title}]" if message.media and message.media.title else "[图片]")
    if len(text.encode()) > MAX_TEXT_BYTES:
        raise PermanentDeliveryError(f"text longer than {MAX_TEXT_BYTES} bytes (WeChat's limit); shorten it")
    return {"touser": message.external_user_id, "msgtype": "text", "text": {"content": text}}


class WeChatChannel(WeChatWebhookChannel):
    """Official account (公众号)."""

    platform: ClassVar[str] = "wechat"

    def event(self, account: ChannelAccountConfig, push: WeChatPush) -> InboundMessage | None:
        if push.event == "subscribe":
            scene = push.event_key.removeprefix("qrscene_") if push.event_key.startswith("qrscene_") else ""
            return self.event_message(account, push, event="subscribe",
                                      tags={"wechat_scene": scene[:128]} if scene else {})
        if push.event == "unsubscribe":
            return self.event_message(account, push, event="unsubscribe", window="close")
        if push.event == "click":
            # Menu keys of the form "intent:<name>" are bot intents (bot.router); others are shown as is.
            return self.event_message(account, push, event="CLICK", text=push.event_key[:128])
        return None


class MiniProgramChannel(WeChatWebhookChannel):
    """Mini-program customer service (小程序客服消息)."""

    platform: ClassVar[str] = "miniprogram"

    def event(self, account: ChannelAccountConfig, push: WeChatPush) -> InboundMessage | None:
        if push.event == "user_enter_tempsession":
            # SessionFrom is set by the contact button on the page: the partner or context tag.
            tags = {"session_from": push.session_from[:128]} if push.session_from else {}
            return self.event_message(account, push, event="user_enter_tempsession", tags=tags)
        return None
