"""A local stand-in for the QQ bot API (``getAppAccessToken``, one-to-one messages), for demos and tests.

Mounted under ``/standin/qq`` in demo/test only. It checks what QQ checks for a passive reply: the
``QQBot`` token, a ``msg_id`` (bots may not write first in one-to-one chats), each ``msg_id`` +
``msg_seq`` once, at most 5 replies per ``msg_id``. The stand-in cannot know when the youth's
message arrived, so the 60-minute window is the adapter's to keep. Inspection routes (``sent``,
``fail``) need the stand-in token (``service.standins``).
"""

from __future__ import annotations

import json
import secrets
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from contract.config import Settings

PREFIX = "/standin/qq"
TOKEN_SECONDS = 7200
REPLIES_PER_MESSAGE = 5


@dataclass(frozen=True, slots=True)
class RecordedReply:
    openid: str
    content: str
    msg_id: str
    msg_seq: int


class QQStandIn:
    def __init__(self, bot_secrets: dict[str, str]) -> None:
        self.bot_secrets = bot_secrets
        self.tokens: set[str] = set()
        self.sent: list[RecordedReply] = []
        self.failures: deque[tuple[int, dict[str, Any]]] = deque()

    def fail_next(self, status: int, code: int = 0, message: str = "") -> None:
        self.failures.append((status, {"code": code, "message": message}))

    def routes(self, prefix: str = PREFIX) -> list[web.AbstractRouteDef]:
        return [web.post(f"{prefix}/app/getAppAccessToken", self._token),
                web.post(f"{prefix}/v2/users/{{openid}}/messages", self._message)]

    def inspection_routes(self, prefix: str = PREFIX) -> list[web.RouteDef]:
        return [web.get(f"{prefix}/sent", self._sent), web.post(f"{prefix}/fail", self._fail)]

    async def _token(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"code": 100016, "message": "invalid request"}, status=400)
        if not isinstance(body, dict) or self.bot_secrets.get(str(body.get("appId"))) != body.get("clientSecret"):
            return web.json_response({"code": 100016, "message": "invalid appid or secret"}, status=401)
        token = secrets.token_hex(16)
        self.tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": str(TOKEN_SECONDS)})

    async def _message(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "QQBot" or token not in self.tokens:
            return web.json_response({"code": 11244, "message": "token not exist or expire"}, status=401)
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"code": 40034001, "message": "invalid json"}, status=400)
        msg_id, msg_seq = body.get("msg_id"), body.get("msg_seq", 1)
        if not msg_id:
            return web.json_response({"code": 40034102, "message": "active messages are not allowed"}, status=400)
        replies = [r for r in self.sent if r.msg_id == msg_id]
        if any(r.msg_seq == msg_seq for r in replies):
            return web.json_response({"code": 40054005, "message": "duplicate msg_seq"}, status=400)
        if len(replies) >= REPLIES_PER_MESSAGE:
            return web.json_response({"code": 22009, "message": "msg limit exceed"}, status=400)
        if self.failures:
            status, error = self.failures.popleft()
            return web.json_response(error, status=status)
        self.sent.append(RecordedReply(request.match_info["openid"], str(body.get("content", "")), msg_id, msg_seq))
        return web.json_response({"id": f"standin-{len(self.sent)}", "timestamp": 0})

    async def _sent(self, request: web.Request) -> web.Response:
        openid = request.query.get("openid")
        items = [{"openid": r.openid, "content": r.content, "msg_id": r.msg_id, "msg_seq": r.msg_seq}
                 for r in self.sent if openid is None or r.openid == openid]
        return web.json_response({"items": items, "total": len(self.sent)})

    async def _fail(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            self.fail_next(int(spec["status"]), int(spec.get("code", 0)), str(spec.get("message", "")))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            return web.json_response({"error": "expected {status, code?, message?}"}, status=400)
        return web.json_response({"queued": len(self.failures)})


def create_standin_app(bot_secrets: dict[str, str]) -> tuple[web.Application, QQStandIn]:
    """The stand-in on its own server, inspection open (tests)."""
    standin = QQStandIn(bot_secrets)
    app = web.Application()
    app.router.add_routes(standin.routes() + standin.inspection_routes())
    return app, standin


def mounted(settings: Settings) -> QQStandIn | None:
    """The stand-in this gateway mounts in demo/test, when it has QQ bots."""
    bots = settings.accounts_for("qq")
    return QQStandIn({bot.id: bot.secret for bot in bots}) if bots else None
