"""WeCom customer service (微信客服): ``/channels/wecom-kf/{corpid}``.

GET is the callback check: ``msg_signature`` over (token, timestamp, nonce, echostr), then the
decrypted ``echostr`` goes back as plain text. POST carries only a notice (``kf_msg_or_event`` with
a ``Token`` and the ``OpenKfId``): we verify, decrypt, answer ``success`` at once, and pull the
messages with ``kf/sync_msg`` in the background, one puller per ``open_kfid``. The cursor is saved
(``ChannelContext.state``) after each page is stored, so a crash re-reads at most one page and the
stream's dedupe on ``msgid`` absorbs it. At start-up every kf account seen before is pulled once
(what arrived while the gateway was down). Replies go out with ``kf/send_msg`` using our message id
as ``msgid``: a retried delivery whose first answer was lost does not reach the youth twice.

``enter_session`` (a youth opens the chat from a partner's link/QR) carries the scene and a
one-time ``welcome_code``; the first reply within 20 s uses it (``send_msg_on_event``), since
``send_msg`` is refused until the youth has written.

Bad input is answered like the official account's (see ``channels.wechat``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from channels.payloads import MAX_UNIX_SECONDS, read_body
from channels.replay import SignedPushGuard
from channels.wechat import MAX_TEXT_BYTES, SUCCESS, WECHAT_REPLY_POLICY, signed_parts
from channels.wechat_api import ApiApp, WeChatApi, shared_tokens_ctx
from channels.wechat_protocol import (
    Envelope,
    SignedQuery,
    check_fresh,
    check_signature,
    parse_xml,
    to_xml,
    wechat_signature,
)
from contract.channel import (
    Channel,
    ChannelContext,
    ChannelState,
    DeliveryError,
    DeliveryReceipt,
    InboundMessage,
    OutboundMessage,
    PermanentDeliveryError,
    ReplyPolicy,
    ReplyWindowClosedError,
    WebhookRejected,
)
from contract.config import ChannelAccountConfig
from contract.models import MediaRef, MessageType
from gateway.stream import StreamClosed

log = logging.getLogger("youthdesk.channels.wecom_kf")

CUSTOMER = 3  # origin: the WeChat user wrote it
SYSTEM_EVENT = 4  # origin: an event (enter_session, msg_send_fail, …)
WELCOME_CODE_SECONDS = 20
SYNC_RETRIES = 3


class _KfPart(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    content: str = ""
    media_id: str = ""
    title: str = ""
    url: str = ""
    pagepath: str = ""
    thumb_media_id: str = ""
    name: str = ""
    address: str = ""


class _KfEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: str
    open_kfid: str = ""
    external_userid: str = ""
    scene: str = ""
    scene_param: str = ""
    welcome_code: str = ""


class KfMessage(BaseModel):
    """One entry of ``sync_msg``'s ``msg_list``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    msgid: str = Field(min_length=1, max_length=128)
    open_kfid: str = ""
    external_userid: str = ""
    send_time: int = Field(default=0, ge=0, le=MAX_UNIX_SECONDS)
    origin: int
    msgtype: str
    text: _KfPart | None = None
    image: _KfPart | None = None
    voice: _KfPart | None = None
    link: _KfPart | None = None
    location: _KfPart | None = None
    miniprogram: _KfPart | None = None
    event: _KfEvent | None = None


def kf_inbound(corp_id: str, msg: KfMessage) -> InboundMessage | None:
    """A pulled entry → InboundMessage; None for what is not the youth's (our servicers' replies, most events)."""
    sent_at = datetime.fromtimestamp(msg.send_time, UTC) if msg.send_time else None
    if msg.origin == SYSTEM_EVENT and msg.event is not None and msg.event.event_type == "enter_session":
        event = msg.event
        tags = {"open_kfid": event.open_kfid, "kf_scene": event.scene[:64], "kf_scene_param": event.scene_param[:128]}
        if event.welcome_code:
            tags |= {"kf_welcome_code": event.welcome_code, "kf_welcome_code_at": str(msg.send_time or time.time())}
        # Entering opens no reply window of its own: only the welcome code lets us write first.
        return InboundMessage(platform="wecom-kf", account=corp_id, external_user_id=event.external_userid,
                              channel_message_id=msg.msgid, type=MessageType.EVENT, event="enter_session",
                              window="keep", tags=tags, sent_at=sent_at)
    if msg.origin != CUSTOMER or not msg.external_userid:
        return None
    fields: dict[str, Any]
    if msg.msgtype == "text" and msg.text is not None:
        fields = {"type": MessageType.TEXT, "text": msg.text.content}
    elif msg.msgtype in ("image", "voice") and getattr(msg, msg.msgtype) is not None:
        part = getattr(msg, msg.msgtype)
        fields = {"type": MessageType.IMAGE if msg.msgtype == "image" else MessageType.VOICE,
                  "media": MediaRef(kind=msg.msgtype, media_id=part.media_id or None)}
    elif msg.msgtype == "link" and msg.link is not None:
        fields = {"type": MessageType.LINK, "text": f"[链接] {msg.link.title} {msg.link.url}".strip(),
                  "media": MediaRef(kind="link", url=msg.link.url or None, title=msg.link.title or None)}
    elif msg.msgtype == "miniprogram" and msg.miniprogram is not None:
        fields = {"type": MessageType.LINK, "text": f"[小程序卡片] {msg.miniprogram.title}".strip(),
                  "media": MediaRef(kind="miniprogrampage", url=msg.miniprogram.pagepath or None,
                                    media_id=msg.miniprogram.thumb_media_id or None,
                                    title=msg.miniprogram.title or None)}
    elif msg.msgtype == "location" and msg.location is not None:
        fields = {"type": MessageType.TEXT, "text": f"[位置] {msg.location.name} {msg.location.address}".strip()}
    else:
        fields = {"type": MessageType.TEXT, "text": f"[暂不支持的微信客服消息类型：{msg.msgtype[:32]}]"}
    return InboundMessage(platform="wecom-kf", account=corp_id, external_user_id=msg.external_userid,
                          channel_message_id=msg.msgid, tags={"open_kfid": msg.open_kfid}, sent_at=sent_at, **fields)


def kf_payload(message: OutboundMessage) -> dict[str, Any]:
    open_kfid = message.tags.get("open_kfid")
    if not open_kfid:
        raise PermanentDeliveryError("conversation has no open_kfid (the youth never wrote through WeCom kf)")
    base = {"touser": message.external_user_id, "open_kfid": open_kfid, "msgid": message.message_id[:32]}
    if message.type == MessageType.IMAGE and message.media and message.media.media_id:
        return {**base, "msgtype": "image", "image": {"media_id": message.media.media_id}}
    text = message.text or (f"[{message.media.title}]" if message.media and message.media.title else "[图片]")
    if len(text.encode()) > MAX_TEXT_BYTES:
        raise PermanentDeliveryError(f"text longer than {MAX_TEXT_BYTES} bytes (WeCom's limit); shorten it")
    return {**base, "msgtype": "text", "text": {"content": text}}


class WeComKfChannel(Channel):
    platform: ClassVar[str] = "wecom-kf"
    reply_policy: ClassVar[ReplyPolicy | None] = WECHAT_REPLY_POLICY

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        if context.state is None:
            raise RuntimeError("the WeCom kf channel needs ChannelContext.state for its sync cursors")
        self.state: ChannelState = context.state
        self.api = WeChatApi(context.http)
        self.envelopes = {account.id: Envelope(account.encoding_aes_key, account.id)
                          for account in self.accounts.values() if account.encoding_aes_key}
        self._pullers: dict[str, asyncio.Task[None]] = {}
        self._again: dict[str, str] = {}  # notices that arrived while a pull ran: pull once more (latest token)
        self.retry_delay = 1.0
        self.accepting = True
        self._known: set[tuple[str, str]] = set()
        self._known_lock = asyncio.Lock()
        self.replays = SignedPushGuard(self.platform, context.settings.service.timestamp_window_seconds)

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.get("/channels/wecom-kf/{corpid}", self._verify),
                web.post("/channels/wecom-kf/{corpid}", self._notice)]

    def setup(self, app: web.Application) -> None:
        app.cleanup_ctx.append(shared_tokens_ctx(self.api, self.context.settings.service.redis_url))
        app.on_startup.append(self._catch_up)  # on_startup runs after every cleanup context: the store is up
        app.on_shutdown.append(self._stop_accepting)
        self.replays.setup(app, self.context.settings.service.redis_url)

    async def _catch_up(self, app: web.Application) -> None:
        """Pull every kf account we know at start: messages that arrived while we were down (WeCom keeps
        them 3 days) must not wait for the youth's next message to trigger a notice."""
        for account in self.accounts.values():
            known = await self.state.load(self.platform, f"kfids:{account.id}") or {}
            for open_kfid in known.get("ids", []):
                self.schedule_pull(account, str(open_kfid), "")

    async def _stop_accepting(self, app: web.Application) -> None:
        """Before the store and HTTP session close: no new pulls; running ones finish their page.

        A pull cut short keeps its cursor at the last stored page; the next notice resumes there.
        """
        self.accepting = False
        if self._pullers:
            grace = self.context.settings.service.shutdown_grace_seconds
            await asyncio.wait(list(self._pullers.values()), timeout=grace)
        for task in list(self._pullers.values()):
            task.cancel()

    # ---------------------------------------------------------------- inbound

    def _decrypt_checked(self, account: ChannelAccountConfig, encrypted: str, timestamp: str, nonce: str,
                         msg_signature: str) -> str:
        check_signature((account.token, timestamp, nonce, encrypted), msg_signature)
        envelope = self.envelopes.get(account.id)
        if envelope is None:
            raise WebhookRejected(400, "account has no encoding_aes_key")
        return envelope.decrypt(encrypted)

    async def _verify(self, request: web.Request) -> web.Response:
        try:
            account = self.account(request.match_info["corpid"])
            timestamp, nonce = signed_parts(request.query)
            echostr = request.query.get("echostr", "")
            if not echostr:
                raise WebhookRejected(400, "echostr required")
            plain = self._decrypt_checked(account, echostr, timestamp, nonce, request.query.get("msg_signature", ""))
        except WebhookRejected as error:
            return await self.reject(request, error)
        return web.Response(text=plain)  # exactly the plaintext: no quotes, BOM or newline

    async def _notice(self, request: web.Request) -> web.Response:
        service = self.context.settings.service
        try:
            account = self.account(request.match_info["corpid"])
            timestamp, nonce = signed_parts(request.query)
            seconds = check_fresh(timestamp, service.timestamp_window_seconds)
            body = await read_body(request, service.max_body_bytes, service.http_idle_timeout_seconds)
            outer = parse_xml(body)
            encrypted = outer.get("Encrypt")
            if not encrypted:
                raise WebhookRejected(400, "Encrypt required")
            msg_signature = request.query.get("msg_signature", "")
            inner = parse_xml(self._decrypt_checked(account, encrypted, timestamp, nonce, msg_signature).encode())
            await self.replays.check(account.id, msg_signature, seconds, nonce, body)
        except WebhookRejected as error:
            return await self.reject(request, error)
        if inner.get("Event") != "kf_msg_or_event" or not inner.get("OpenKfId"):
            log.debug("ignored wecom-kf callback event %r", inner.get("Event"))
            return web.Response(text=SUCCESS)
        if not self.accepting:
            return web.json_response({"error": "shutting down"}, status=503)  # WeCom notifies again
        self.schedule_pull(account, inner["OpenKfId"][:64], inner.get("Token", "")[:128])
        return web.Response(text=SUCCESS)

    def schedule_pull(self, account: ChannelAccountConfig, open_kfid: str, token: str) -> None:
        key = f"{account.id}:{open_kfid}"
        running = self._pullers.get(key)
        if running is not None and not running.done():
            self._again[key] = token
            return
        self._pullers[key] = asyncio.create_task(self._pull_loop(account, open_kfid, token), name=f"kf-pull:{key}")

    async def _pull_loop(self, account: ChannelAccountConfig, open_kfid: str, token: str) -> None:
        key = f"{account.id}:{open_kfid}"
        try:
            while True:
                await self._pull_with_retries(account, open_kfid, token)
                if key not in self._again:
                    return
                token = self._again.pop(key)
        finally:
            self._pullers.pop(key, None)

    async def _pull_with_retries(self, account: ChannelAccountConfig, open_kfid: str, token: str) -> None:
        for attempt in range(1, SYNC_RETRIES + 1):
            try:
                await self.pull(account, open_kfid, token)
                return
            except StreamClosed:
                return  # shutting down: the cursor marks where the next start's first notice resumes
            except DeliveryError as exc:
                log.warning("wecom-kf sync_msg for %s failed (attempt %d): %s", open_kfid, attempt, exc.reason)
                if isinstance(exc, PermanentDeliveryError) or attempt == SYNC_RETRIES:
                    log.error("wecom-kf messages for %s wait for the next notice: %s", open_kfid, exc.reason)
                    return
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))

    async def pull(self, account: ChannelAccountConfig, open_kfid: str, token: str) -> int:
        """Read everything new for one kf account, storing each message; returns how many were new."""
        app, cursor_key = ApiApp.for_account(account), f"cursor:{account.id}:{open_kfid}"
        cursor = str((await self.state.load(self.platform, cursor_key) or {}).get("cursor", ""))
        stored = 0
        while True:
            page = await self.api.kf_sync_msg(app, open_kfid=open_kfid, cursor=cursor, token=token)
            for raw in page.get("msg_list") or []:
                inbound = self._inbound(account, raw)
                if inbound is not None and not (await self.context.ingest(inbound)).duplicate:
                    stored += 1
            cursor = str(page.get("next_cursor") or cursor)
            await self.state.save(self.platform, cursor_key, {"cursor": cursor})
            if not page.get("has_more"):
                await self._remember(account, open_kfid)
                return stored

    async def _remember(self, account: ChannelAccountConfig, open_kfid: str) -> None:
        """Keep the list of kf accounts seen, for the catch-up pull at start."""
        if (account.id, open_kfid) in self._known:
            return
        async with self._known_lock:
            key = f"kfids:{account.id}"
            ids = list((await self.state.load(self.platform, key) or {}).get("ids", []))
            if open_kfid not in ids:
                await self.state.save(self.platform, key, {"ids": [*ids, open_kfid]})
            self._known.add((account.id, open_kfid))

    def _inbound(self, account: ChannelAccountConfig, raw: Any) -> InboundMessage | None:
        try:
            return kf_inbound(account.id, KfMessage.model_validate(raw))
        except ValidationError as exc:
            # One unreadable entry must not block the ones after it; the log keeps its id for follow-up.
            msgid = raw.get("msgid") if isinstance(raw, dict) else None
            log.error("skipped an unreadable wecom-kf message %r: %s", msgid, exc.errors()[0]["msg"])
            return None

    # --------------------------------------------------------------- outbound

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        account = self.accounts.get(message.account)
        if account is None:
            raise PermanentDeliveryError(f"unknown wecom-kf account {message.account}")
        app = ApiApp.for_account(account)
        payload = kf_payload(message)
        if await self._welcome_code_usable(message):
            on_event = {k: v for k, v in payload.items() if k not in ("touser", "open_kfid")}
            try:
                body = await self.api.kf_send_msg_on_event(app, {"code": message.tags["kf_welcome_code"], **on_event})
                return DeliveryReceipt(channel_message_id=str(body.get("msgid") or payload["msgid"]))
            except ReplyWindowClosedError:
                raise
            except PermanentDeliveryError as exc:  # the code expired or was used: the normal path may still work
                log.info("welcome code not accepted (%s); sending normally", exc.reason)
        body = await self.api.kf_send_msg(app, payload)
        return DeliveryReceipt(channel_message_id=str(body.get("msgid") or payload["msgid"]))

    async def _welcome_code_usable(self, message: OutboundMessage) -> bool:
        code = message.tags.get("kf_welcome_code")
        if not code:
            return False
        try:
            issued = float(message.tags.get("kf_welcome_code_at", "0"))
        except ValueError:
            return False
        if time.time() - issued > WELCOME_CODE_SECONDS:
            return False
        return await self.state.claim(self.platform, f"welcome:{code}")


def signed_notice(account: ChannelAccountConfig, open_kfid: str, token: str,
                  query: SignedQuery | None = None) -> tuple[dict[str, str], bytes]:
    """(query string, body) of a ``kf_msg_or_event`` callback as WeCom posts it (simulator, tests)."""
    query = query or SignedQuery.now()
    inner = to_xml({"ToUserName": account.id, "CreateTime": int(query.timestamp), "MsgType": "event",
                    "Event": "kf_msg_or_event", "Token": token, "OpenKfId": open_kfid})
    encrypt = Envelope(account.encoding_aes_key, account.id).encrypt(inner)
    body = to_xml({"ToUserName": account.id, "Encrypt": encrypt, "AgentID": ""})
    params = {"msg_signature": wechat_signature(account.token, query.timestamp, query.nonce, encrypt),
              "timestamp": query.timestamp, "nonce": query.nonce}
    return params, body.encode()
