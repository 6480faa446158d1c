"""The chat widget partner platforms embed: loader script, iframe, WebSocket, demo partner page.

Platform name ``widget``; the account id is the partner id (``[[partners]]`` in the settings).
The partner page loads ``/widget/loader.js``; the loader opens ``/widget/frame`` (served from the
gateway, ``frame-ancestors`` limited to the partner's origins) which talks to
``/channels/widget/ws``. See ``channels/widget_session.py`` for the socket protocol and
``channels/widget_identity.py`` for who the youth is.

Delivery choice: ``send()`` pushes to the conversation's connected sockets and succeeds even when
none is connected — the store is the mailbox, and a returning youth gets everything they missed
from the history replay. A widget message is therefore never ``failed`` for lack of a listener.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any, ClassVar

from aiohttp import WSCloseCode, WSMsgType, web
from cryptography.fernet import Fernet

from channels.payloads import load_json
from channels.replay import MemoryReplayCache, ReplayCache, redis_replay_ctx
from channels.shared_limits import SharedWindow, shared_window_ctx
from channels.widget_identity import IdentityRejected, IdentityVerifier, WidgetIdentity, sign_partner_token
from channels.widget_limits import NewConversationLimits
from channels.widget_media import MAX_IMAGE_BYTES, MediaStore
from channels.widget_session import OpenSessions, SessionDeps, WidgetSession
from contract.channel import (
    Channel,
    ChannelContext,
    DeliveryReceipt,
    OutboundMessage,
    QueueNotice,
    WebhookRejected,
)
from contract.config import PartnerConfig
from contract.keys import LINKS, Link

log = logging.getLogger("youthdesk.channels.widget")

WEB = Path(__file__).parent / "widget_web"
MAX_FRAME_BYTES = (MAX_IMAGE_BYTES * 4) // 3 + 64 * 1024  # one base64 image plus its envelope
# A hello carries a token and a few seen counters; an unauthenticated client gets no more parsing than that.
MAX_HELLO_CHARS = 16 * 1024
RECENT_CONVERSATIONS = 3
CLOSE_UNAUTHORIZED = 4401
ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
BEIJING = timedelta(hours=8)
STATIC = {"loader.js": "application/javascript", "frame.js": "application/javascript", "frame.css": "text/css"}


def desk_open(hours: str, now: datetime | None = None) -> bool:
    """Opening hours ``HH:MM-HH:MM`` in Beijing time; ranges may wrap past midnight."""
    start_text, _, end_text = hours.partition("-")
    local = (now or datetime.now(UTC)) + BEIJING
    minute = local.hour * 60 + local.minute

    def minutes(text: str) -> int:
        hour, _, mins = text.strip().partition(":")
        return int(hour) * 60 + int(mins or 0)

    start, end = minutes(start_text), minutes(end_text)
    if start == end or (start == 0 and end >= 24 * 60):
        return True
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def frame_ancestors(partner: PartnerConfig) -> str:
    """Only well-formed origins reach the header; a stray ``*`` in the config is ignored, loudly."""
    origins = [origin for origin in partner.origins if ORIGIN.match(origin)]
    if len(origins) != len(partner.origins):
        log.error("partner %s has invalid widget origins; ignoring them", partner.id)
    return " ".join(origins) or "'none'"


@dataclass(frozen=True, slots=True)
class Hello:
    """What a socket's first frame established: who, the anonymous id to keep (if any), what it has seen."""

    identity: WidgetIdentity
    anonymous_token: str | None  # the anonymous youth's gateway-signed id, for the iframe to keep
    seen: dict[str, int]  # conversation id -> the last seq the iframe has
    new_identity: bool = False  # minted for this socket (a first anonymous visit): nothing stored yet


class WidgetChannel(Channel):
    platform: ClassVar[str] = "widget"
    queue_notice: ClassVar[QueueNotice] = "live"  # the iframe shows queue.position as it changes

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        if context.conversations is None:
            raise RuntimeError("the widget needs ChannelContext.conversations (history and the event bus)")
        self.conversations = context.conversations
        service = context.settings.service
        data_key = service.data_key or Fernet.generate_key().decode()
        if not service.data_key:
            log.warning("no service.data_key: widget sessions and images will not survive a restart")
        ring = [data_key, *(k.strip() for k in service.previous_data_keys.split(",") if k.strip())]
        # Widget identities are keyed from the first key ever used, like the store's blind indexes, so a key
        # rotation does not turn every returning anonymous youth into a stranger to their own history.
        self.verifier = IdentityVerifier.from_data_key(ring[-1], MemoryReplayCache())
        self.media = MediaStore(Path(service.data_dir) / "widget-media", ring)
        self.sessions = OpenSessions()
        self.sockets_per_ip: Counter[str] = Counter()
        self.new_conversations = NewConversationLimits(service)
        self.demo = service.env in ("demo", "test")

    def partner(self, partner_id: str) -> PartnerConfig:
        partner = self.context.settings.partner(partner_id)
        if partner is None:
            raise WebhookRejected(404, "unknown widget partner")
        return partner

    def routes(self) -> list[web.AbstractRouteDef]:
        routes = [
            web.get("/widget/frame", self._frame),
            web.get("/widget/media/{media_id}", self._media),
            web.get("/channels/widget/ws", self._socket),
            *(web.get(f"/widget/{name}", self._static) for name in STATIC),
        ]
        if self.demo:
            routes.append(web.get("/demo/partner", self._demo_partner))
        return routes

    def setup(self, app: web.Application) -> None:
        if self.demo:
            app[LINKS].append(Link("合作方演示页", "/demo/partner", "嵌入式咨询窗口（演示合作平台）"))
        app.cleanup_ctx.append(redis_replay_ctx(self.context.settings.service.redis_url, "widget:jti",
                                                self._use_replay_cache))
        app.cleanup_ctx.append(shared_window_ctx(self.context.settings.service.redis_url, "widget:new-conversations",
                                                 self._use_shared_window))
        app.on_shutdown.append(self._close_sockets)

    def _use_shared_window(self, window: SharedWindow) -> None:
        self.new_conversations.shared = window

    def _use_replay_cache(self, cache: ReplayCache) -> None:
        self.verifier.replay = cache

    async def _close_sockets(self, app: web.Application) -> None:
        for session in self.sessions.all():
            await session.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        # Each connected socket catches up from the store (and skips what the bus already gave it).
        for session in self.sessions.following(message.conversation_id):
            try:
                await session.sync(message.conversation_id)
            except ConnectionError:
                # That socket is going away; the youth gets the message from the store on return.
                log.info("widget socket closed during delivery of %s", message.message_id)
        return DeliveryReceipt()

    # ------------------------------------------------------------------ pages

    async def _static(self, request: web.Request) -> web.Response:
        name = request.path.rsplit("/", 1)[-1]
        return web.Response(body=(WEB / name).read_bytes(), content_type=STATIC[name], charset="utf-8",
                            headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"})

    async def _frame(self, request: web.Request) -> web.Response:
        try:
            partner = self.partner(request.query.get("partner", ""))
        except WebhookRejected as error:
            return await self.reject(request, error)
        settings = self.context.settings
        html = (WEB / "frame.html").read_text(encoding="utf-8")
        values = {
            "partner": partner.id, "partner_name": partner.name,
            "origins": json.dumps([o for o in partner.origins if ORIGIN.match(o)]),
            "anonymous": "1" if partner.anonymous_allowed else "0",
            "desk_name": settings.desk(partner.desk).name,
        }
        for key, value in values.items():
            html = html.replace("{{" + key + "}}", escape(value, quote=True))
        host = request.host
        csp = (f"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
               f"connect-src 'self' ws://{host} wss://{host}; base-uri 'none'; form-action 'none'; "
               f"frame-ancestors {frame_ancestors(partner)}")
        return web.Response(text=html, content_type="text/html", charset="utf-8", headers={
            "Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        })

    async def _media(self, request: web.Request) -> web.Response:
        found = await self.media.get(request.match_info["media_id"])
        if found is None:
            return web.json_response({"error": "no such image"}, status=404)
        data, mime = found
        return web.Response(body=data, content_type=mime, headers={
            "Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'"})

    async def _demo_partner(self, request: web.Request) -> web.Response:
        """A stand-in partner site: its "backend" signs a fresh token for a per-browser demo user."""
        partners = self.context.settings.partners
        if not partners:
            return web.json_response({"error": "no widget partner configured"}, status=404)
        partner = self.context.settings.partner(request.query.get("partner", "")) or partners[0]
        user = request.cookies.get("demo_partner_user") or secrets.token_hex(8)
        anonymous = request.query.get("anonymous") == "1"
        token = "" if anonymous else sign_partner_token(partner, f"demo-{user}")
        html = (WEB / "partner.html").read_text(encoding="utf-8")
        for key, value in {"partner": partner.id, "partner_name": partner.name, "token": token,
                           "mode": "匿名访客" if anonymous else f"已登录用户 demo-{user}"}.items():
            html = html.replace("{{" + key + "}}", escape(value, quote=True))
        response = web.Response(text=html, content_type="text/html", charset="utf-8",
                                headers={"Cache-Control": "no-store"})
        response.set_cookie("demo_partner_user", user, httponly=True, samesite="Lax", max_age=30 * 24 * 3600)
        return response

    # ----------------------------------------------------------------- socket

    def _check_socket_origin(self, request: web.Request) -> None:
        """Browsers name the page that opens a socket: only our own iframe may open this one, so a
        third-party site cannot run a partner's (anonymous) chat around ``frame-ancestors``."""
        origin = request.headers.get("Origin")
        if origin is None:
            return  # not a browser: no ambient credentials to abuse, identity comes in the hello
        own = {f"http://{request.host}", f"https://{request.host}", self.context.settings.service.public_url}
        if origin not in own:
            raise WebhookRejected(403, "origin not allowed")

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        try:
            partner = self.partner(request.query.get("partner", ""))
            self._check_socket_origin(request)
            address = request.remote or ""
            if self.sockets_per_ip[address] >= self.context.settings.service.widget_sockets_per_ip:
                raise WebhookRejected(429, "too many open connections from this address")
        except WebhookRejected as error:
            return await self.reject(request, error)
        self.sockets_per_ip[address] += 1
        try:
            return await self._serve_socket(request, partner, address)
        finally:
            self.sockets_per_ip[address] -= 1
            if not self.sockets_per_ip[address]:
                del self.sockets_per_ip[address]

    async def _serve_socket(self, request: web.Request, partner: PartnerConfig,
                            address: str) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_BYTES, heartbeat=30)
        await ws.prepare(request)
        hello = await self._hello(ws, partner)
        if hello is None:
            return ws
        identity = hello.identity
        session = WidgetSession(ws, identity, SessionDeps(
            ingest=self.context.ingest, conversations=self.conversations, media=self.media, desk=partner.desk,
            admit_new_conversation=lambda: self.new_conversations.admit(partner, address),
            source_tags={"widget_source": self.verifier.source_of(address),
                         "widget_anonymous": "1" if identity.anonymous else "0"},
            open_sessions=self.sessions))
        self.sessions.add(session)
        forwarder = asyncio.create_task(session.forward_events(), name="widget-forward")
        try:
            await self._welcome(session, partner, hello)
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    if not await session.handle_frame(frame.data):
                        break
                elif frame.type == WSMsgType.BINARY:
                    await session.send_json({"type": "error", "reason": "binary frames are not accepted"})
                elif frame.type == WSMsgType.ERROR:
                    log.warning("widget socket error: %s", ws.exception(), extra={"partner": partner.id})
        except Exception:
            # Whatever was in flight was not acknowledged, so the iframe resends it on reconnect.
            log.exception("widget session failed; closing the socket", extra={"partner": partner.id})
            await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")
        finally:
            self.sessions.remove(session)
            session.subscription.close()
            forwarder.cancel()
            await asyncio.gather(forwarder, return_exceptions=True)
        return ws

    async def _hello(self, ws: web.WebSocketResponse, partner: PartnerConfig) -> Hello | None:
        """The first frame names the youth; anything else closes the socket with the reason."""
        try:
            frame = await ws.receive(timeout=self.context.settings.service.http_idle_timeout_seconds)
        except TimeoutError:
            await self._refuse(ws, partner, "hello expected in time")
            return None
        if frame.type == WSMsgType.ERROR:  # e.g. over max_msg_size: aiohttp has closed the socket already
            await self._refuse(ws, partner, "hello frame unreadable or too large")
            return None
        if frame.type != WSMsgType.TEXT:
            await self._refuse(ws, partner, "hello expected")
            return None
        if len(frame.data) > MAX_HELLO_CHARS:
            await self._refuse(ws, partner, "hello too large")
            return None
        try:
            hello = load_json(frame.data)
        except WebhookRejected as exc:
            await self._refuse(ws, partner, exc.reason)
            return None
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            await self._refuse(ws, partner, "hello expected")
            return None
        try:
            return await self._identify(partner, hello)
        except IdentityRejected as exc:
            await self._refuse(ws, partner, exc.reason)
            return None

    async def _identify(self, partner: PartnerConfig, hello: dict[str, Any]) -> Hello:
        offered = hello.get("seen") if isinstance(hello.get("seen"), dict) else {}
        seen = {k: v for k, v in offered.items() if isinstance(k, str) and isinstance(v, int) and v >= 0}
        token, session = hello.get("token"), hello.get("session")
        if isinstance(token, str) and token:
            return Hello(await self.verifier.partner_token(partner, token), None, seen)
        if isinstance(session, str) and session:
            identity = self.verifier.gateway_token(partner, session)
            return Hello(identity, session if identity.anonymous else None, seen)
        if not partner.anonymous_allowed:
            raise IdentityRejected("anonymous chat is not allowed by this partner")
        identity, anonymous_token = self.verifier.new_anonymous(partner)
        return Hello(identity, anonymous_token, seen, new_identity=True)

    async def _refuse(self, ws: web.WebSocketResponse, partner: PartnerConfig, reason: str) -> None:
        log.warning("widget connection refused: %s", reason, extra={"partner": partner.id})
        if ws.closed:
            return  # the client or aiohttp closed it first: there is nobody to tell
        try:
            await ws.send_json({"type": "error", "reason": reason, "fatal": True})
        except ConnectionError:
            return  # closing under us: the reason cannot arrive and is logged above
        await ws.close(code=CLOSE_UNAUTHORIZED, message=reason.encode()[:120])

    async def _welcome(self, session: WidgetSession, partner: PartnerConfig, hello: Hello) -> None:
        desk = self.context.settings.desk(partner.desk)
        # An anonymous youth's signed id already names them on reconnect, as a session token would (for
        # longer): it serves as the session too, one signature fewer for most sockets that open at once.
        session_token = hello.anonymous_token or self.verifier.new_session(session.identity)
        await session.send_json({
            "type": "welcome", "session": session_token,
            "anonymous": session.identity.anonymous, "anonymous_token": hello.anonymous_token,
            "desk": {"name": desk.name, "open": desk_open(desk.hours), "hours": desk.hours,
                     "after_hours_message": desk.after_hours_message},
        })
        # An identity minted for this socket has nothing stored: most sockets opening at once are these.
        recent = [] if hello.new_identity else await self.conversations.recent(
            "widget", partner.id, session.identity.external_user_id, RECENT_CONVERSATIONS)
        for conversation in reversed(recent):
            session.states[conversation.id] = conversation.state
            await session.attach(conversation.id, hello.seen.get(conversation.id, 0))
            await session.send_json({"type": "state", "conversation_id": conversation.id,
                                     "state": conversation.state})
        await session.send_json({"type": "synced", "conversation_id": session.current})
        for conversation in recent:
            await session.tell_place(conversation)
