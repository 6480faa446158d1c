"""A local stand-in for Douyin's private-message reply API (``/im/send/msg/``), for demos and tests.

Mounted under ``/standin/douyin`` in demo/test only. It checks what Douyin would: the
``access-token`` header, the enterprise ``open_id``, a reply naming a conversation, the message it
answers and the youth, and a text body. Inspection routes (``sent``, ``fail``) need the stand-in
token (``service.standins``).
"""

from __future__ import annotations

import json
import secrets
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from contract.config import Settings

PREFIX = "/standin/douyin"


@dataclass(frozen=True, slots=True)
class RecordedReply:
    enterprise_open_id: str
    to_user_id: str
    conversation_id: str
    msg_id: str
    text: str


class DouyinStandIn:
    def __init__(self, access_tokens: set[str]) -> None:
        self.access_tokens = access_tokens
        self.sent: list[RecordedReply] = []
        self.failures: deque[tuple[int, int, str]] = deque()

    def fail_next(self, status: int, error_code: int, description: str = "") -> None:
        self.failures.append((status, error_code, description))

    def routes(self, prefix: str = PREFIX) -> list[web.AbstractRouteDef]:
        return [web.post(f"{prefix}/im/send/msg/", self._send)]

    def inspection_routes(self, prefix: str = PREFIX) -> list[web.RouteDef]:
        return [web.get(f"{prefix}/sent", self._sent), web.post(f"{prefix}/fail", self._fail)]

    async def _send(self, request: web.Request) -> web.Response:
        if request.headers.get("access-token") not in self.access_tokens:
            return _answer(401, 2190008, "access_token无效")
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _answer(400, 2100005, "参数不合法")
        content = body.get("content") if isinstance(body, dict) else None
        text = content.get("text", {}).get("text") if isinstance(content, dict) else None
        missing = [name for name in ("msg_id", "conversation_id", "to_user_id") if not body.get(name)]
        if not request.query.get("open_id") or missing or not isinstance(text, str):
            return _answer(400, 2100005, f"参数不合法: {', '.join(missing) or 'open_id/content'}")
        if self.failures:
            return _answer(*self.failures.popleft())
        self.sent.append(RecordedReply(request.query["open_id"], body["to_user_id"], body["conversation_id"],
                                       body["msg_id"], text))
        return web.json_response({"data": {"msg_id": f"standin-{len(self.sent)}", "error_code": 0, "description": ""},
                                  "extra": {"error_code": 0, "description": "", "logid": secrets.token_hex(8)}})

    async def _sent(self, request: web.Request) -> web.Response:
        user = request.query.get("to_user_id")
        items: list[dict[str, Any]] = [
            {"to_user_id": r.to_user_id, "conversation_id": r.conversation_id, "msg_id": r.msg_id, "text": r.text}
            for r in self.sent if user is None or r.to_user_id == user]
        return web.json_response({"items": items, "total": len(self.sent)})

    async def _fail(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            self.fail_next(int(spec["status"]), int(spec["error_code"]), str(spec.get("description", "")))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            return web.json_response({"error": "expected {status, error_code, description?}"}, status=400)
        return web.json_response({"queued": len(self.failures)})


def _answer(status: int, error_code: int, description: str) -> web.Response:
    return web.json_response({"data": {"error_code": error_code, "description": description},
                              "extra": {"error_code": error_code, "description": description}}, status=status)


def create_standin_app(access_tokens: set[str]) -> tuple[web.Application, DouyinStandIn]:
    """The stand-in on its own server, inspection open (tests)."""
    standin = DouyinStandIn(access_tokens)
    app = web.Application()
    app.router.add_routes(standin.routes() + standin.inspection_routes())
    return app, standin


def mounted(settings: Settings) -> DouyinStandIn | None:
    """The stand-in this gateway mounts in demo/test, when it has Douyin accounts."""
    accounts = settings.accounts_for("douyin")
    return DouyinStandIn({a.token for a in accounts if a.token}) if accounts else None
