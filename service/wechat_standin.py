"""A local stand-in for the WeChat server APIs, for demos, tests, the simulator and the bench.

Mounted under ``/standin/<platform>`` only when ``service.env`` is demo or test (production refuses
an account ``api_base``); there its inspection routes (``sent``, ``fail``, ``kf/inbox``) need the
stand-in token (``service.standins``). It issues access tokens (``stable_token``, ``gettoken``),
checks them on every call like WeChat does, records customer-service messages (``custom/send``,
``kf/send_msg``, ``kf/send_msg_on_event``), keeps media, serves ``kf/sync_msg`` from an inbox the
simulator fills, and lets a test inject error codes. An injected token error (40001/40014/42001)
also invalidates the current token, as on the real platform, so the client's refresh gets a new one.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN_LIFETIME = 7200
TOKEN_ERRORS = {40001, 40014, 42001}


@dataclass(frozen=True, slots=True)
class SentMessage:
    app_id: str
    api: str  # "custom", "kf" or "kf_event"
    touser: str
    msgtype: str
    body: dict[str, Any]
    msgid: str = ""
    open_kfid: str = ""

    @property
    def text(self) -> str:
        return str(self.body.get("text", {}).get("content", ""))


@dataclass(slots=True)
class InjectedError:
    errcode: int
    errmsg: str
    status: int = 200


@dataclass(slots=True)
class _Inbox:
    messages: list[dict[str, Any]] = field(default_factory=list)


class WeChatStandIn:
    def __init__(self, secrets_by_app: dict[str, str]) -> None:
        self.secrets = secrets_by_app
        self.tokens: dict[str, str] = {}
        self.token_requests = 0
        self.forced_refreshes = 0
        self.sent: list[SentMessage] = []
        self.failures: deque[InjectedError] = deque()
        self.media: dict[str, tuple[bytes, str]] = {}
        self.kf_inbox: dict[str, _Inbox] = {}
        self.sync_calls: list[dict[str, Any]] = []
        self.welcome_codes: dict[str, tuple[float, str]] = {}  # code → (issued at, external_userid)
        self._kf_msgids: dict[str, str] = {}
        self.lose_responses = 0  # sends that are recorded but whose answer "never arrives" (HTTP 502)

    # ------------------------------------------------------------ test hooks

    def fail_next(self, errcode: int, errmsg: str = "", *, status: int = 200, times: int = 1) -> None:
        for _ in range(times):
            self.failures.append(InjectedError(errcode, errmsg or f"injected error {errcode}", status))

    def kf_receive(self, open_kfid: str, message: dict[str, Any]) -> dict[str, Any]:
        """Put a message where ``kf/sync_msg`` will find it (fills in msgid/send_time/origin)."""
        msg = {"msgid": secrets.token_hex(12), "open_kfid": open_kfid, "send_time": int(time.time()),
               "origin": 3, **message}
        if msg.get("msgtype") == "event" and msg.get("event", {}).get("event_type") == "enter_session":
            code = msg["event"].setdefault("welcome_code", secrets.token_hex(10))
            self.welcome_codes[code] = (time.time(), str(msg["event"].get("external_userid", "")))
        self.kf_inbox.setdefault(open_kfid, _Inbox()).messages.append(msg)
        return msg

    def sent_to(self, touser: str) -> list[SentMessage]:
        return [message for message in self.sent if message.touser == touser]

    # ---------------------------------------------------------------- routes

    def routes(self, prefix: str) -> list[web.AbstractRouteDef]:
        return [
            web.post(f"{prefix}/cgi-bin/stable_token", self._stable_token),
            web.get(f"{prefix}/cgi-bin/gettoken", self._gettoken),
            web.post(f"{prefix}/cgi-bin/message/custom/send", self._custom_send),
            web.post(f"{prefix}/cgi-bin/kf/send_msg", self._kf_send),
            web.post(f"{prefix}/cgi-bin/kf/send_msg_on_event", self._kf_send_on_event),
            web.post(f"{prefix}/cgi-bin/kf/sync_msg", self._kf_sync),
            web.post(f"{prefix}/cgi-bin/media/upload", self._media_upload),
            web.get(f"{prefix}/cgi-bin/media/get", self._media_get),
        ]

    def inspection_routes(self, prefix: str) -> list[web.RouteDef]:
        """What WeChat does not have: reading what was sent, queuing failures and kf messages (test hooks)."""
        return [
            web.get(f"{prefix}/sent", self._sent),
            web.post(f"{prefix}/fail", self._fail),
            web.post(f"{prefix}/kf/inbox", self._kf_inbox),
        ]

    def _issue(self, app_id: str) -> dict[str, Any]:
        token = self.tokens.get(app_id)
        if token is None:
            token = self.tokens[app_id] = f"standin-{app_id}-{secrets.token_hex(8)}"
        return {"access_token": token, "expires_in": TOKEN_LIFETIME}

    async def _stable_token(self, request: web.Request) -> web.Response:
        body = await _json(request)
        self.token_requests += 1
        if body.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        app_id = str(body.get("appid", ""))
        if app_id not in self.secrets or self.secrets[app_id] != body.get("secret"):
            return _error(40125, "invalid appsecret")
        if body.get("force_refresh"):
            self.forced_refreshes += 1
            self.tokens.pop(app_id, None)
        return web.json_response(self._issue(app_id))

    async def _gettoken(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        corp_id = request.query.get("corpid", "")
        if corp_id not in self.secrets or self.secrets[corp_id] != request.query.get("corpsecret"):
            return _error(40001, "invalid credential (corpsecret)")
        return web.json_response({"errcode": 0, "errmsg": "ok", **self._issue(corp_id)})

    def _authorise(self, request: web.Request) -> tuple[str | None, web.Response | None]:
        token = request.query.get("access_token", "")
        app_id = next((app for app, current in self.tokens.items() if current == token), None)
        if app_id is None:
            return None, _error(40001 if token else 41001, "invalid credential, access_token is invalid or not latest")
        if self.failures:
            injected = self.failures.popleft()
            if injected.errcode in TOKEN_ERRORS:
                self.tokens.pop(app_id, None)  # that token is dead now, as WeChat would have it
            return None, _error(injected.errcode, injected.errmsg, injected.status)
        return app_id, None

    async def _custom_send(self, request: web.Request) -> web.Response:
        app_id, refused = self._authorise(request)
        if refused is not None:
            return refused
        body = await _json(request)
        msgtype, touser = body.get("msgtype"), body.get("touser")
        if not touser or not isinstance(body.get(msgtype), dict):
            return _error(44002, "empty post data or msgtype body missing")
        if msgtype == "text" and len(str(body["text"].get("content", "")).encode()) > 2048:
            return _error(45002, "content size out of limit")
        self.sent.append(SentMessage(str(app_id), "custom", str(touser), str(msgtype), body))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _kf_send(self, request: web.Request) -> web.Response:
        app_id, refused = self._authorise(request)
        if refused is not None:
            return refused
        body = await _json(request)
        msgtype, touser, open_kfid = body.get("msgtype"), body.get("touser"), body.get("open_kfid")
        if not touser or not open_kfid or not isinstance(body.get(msgtype), dict):
            return _error(44002, "touser, open_kfid and the msgtype body are required")
        msgid = str(body.get("msgid") or secrets.token_hex(16))
        if len(msgid) > 32:
            return _error(40058, "msgid longer than 32 bytes")
        if msgid in self._kf_msgids:
            # Idempotent on the caller's msgid: a retried request does not send twice.
            return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})
        self._kf_msgids[msgid] = str(touser)
        self.sent.append(SentMessage(str(app_id), "kf", str(touser), str(msgtype), body, msgid, str(open_kfid)))
        if self.lose_responses:
            self.lose_responses -= 1
            return web.json_response({"error": "bad gateway"}, status=502)
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    async def _kf_send_on_event(self, request: web.Request) -> web.Response:
        app_id, refused = self._authorise(request)
        if refused is not None:
            return refused
        body = await _json(request)
        code = str(body.get("code", ""))
        issued, touser = self.welcome_codes.pop(code, (0.0, ""))
        if time.time() - issued > 20:
            return _error(95016, "welcome code invalid, used or expired")
        msgid = str(body.get("msgid") or secrets.token_hex(16))
        self.sent.append(SentMessage(str(app_id), "kf_event", touser, str(body.get("msgtype")), body, msgid))
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    async def _kf_sync(self, request: web.Request) -> web.Response:
        app_id, refused = self._authorise(request)
        if refused is not None:
            return refused
        body = await _json(request)
        self.sync_calls.append(body)
        inbox = self.kf_inbox.get(str(body.get("open_kfid", "")), _Inbox())
        cursor = str(body.get("cursor") or "")
        start = int(cursor.removeprefix("c")) if cursor.startswith("c") and cursor[1:].isdigit() else 0
        limit = min(int(body.get("limit") or 1000), 1000)
        page = inbox.messages[start:start + limit]
        end = start + len(page)
        return web.json_response({"errcode": 0, "errmsg": "ok", "next_cursor": f"c{end}",
                                  "has_more": int(end < len(inbox.messages)), "msg_list": page})

    async def _media_upload(self, request: web.Request) -> web.Response:
        app_id, refused = self._authorise(request)
        if refused is not None:
            return refused
        post = await request.post()
        media = post.get("media")
        if not isinstance(media, web.FileField):
            return _error(41005, "media data missing")
        data = media.file.read()
        if len(data) > 2 * 1024 * 1024:
            return _error(40009, "invalid image size")
        media_id = f"standin-media-{secrets.token_hex(8)}"
        self.media[media_id] = (data, media.content_type)
        return web.json_response({"type": request.query.get("type", "image"), "media_id": media_id,
                                  "created_at": int(time.time())})

    async def _media_get(self, request: web.Request) -> web.Response:
        app_id, refused = self._authorise(request)
        if refused is not None:
            return refused
        found = self.media.get(request.query.get("media_id", ""))
        if found is None:
            return _error(40007, "invalid media_id")
        return web.Response(body=found[0], content_type=found[1])

    async def _sent(self, request: web.Request) -> web.Response:
        touser = request.query.get("touser")
        items = [{"index": index, "api": m.api, "touser": m.touser, "msgtype": m.msgtype, "text": m.text,
                  "msgid": m.msgid} for index, m in enumerate(self.sent) if touser is None or m.touser == touser]
        return web.json_response({"items": items, "total": len(self.sent)})

    async def _fail(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            self.fail_next(int(spec["errcode"]), str(spec.get("errmsg", "")), times=int(spec.get("times", 1)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            return web.json_response({"error": "expected {errcode, errmsg?, times?}"}, status=400)
        return web.json_response({"queued": len(self.failures)})

    async def _kf_inbox(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            open_kfid = str(spec.pop("open_kfid"))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            return web.json_response({"error": "expected {open_kfid, external_userid, msgtype, …}"}, status=400)
        return web.json_response(self.kf_receive(open_kfid, spec))


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _error(code: int, message: str, status: int = 200) -> web.Response:
    # WeChat answers errors with HTTP 200 and an errcode; an injected status simulates a gateway fault.
    return web.json_response({"errcode": code, "errmsg": message}, status=status)


def create_standin_app(secrets_by_app: dict[str, str], prefix: str = "") -> tuple[web.Application, WeChatStandIn]:
    """The stand-in on its own server (tests and the bench run it apart from the gateway, like WeChat).

    Its inspection routes are open: only a test holds its random port, and nothing real is sent to it.
    """
    standin = WeChatStandIn(secrets_by_app)
    app = web.Application()
    app.router.add_routes(standin.routes(prefix) + standin.inspection_routes(prefix))
    return app, standin
