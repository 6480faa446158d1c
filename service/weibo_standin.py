"""A local stand-in for Weibo's ``messages/reply.json``, for demos, tests and the simulator.

Mounted under ``/standin/weibo`` only when ``service.env`` is demo or test (production refuses an
account ``api_base`` anyway); there ``sent`` and ``fail`` need the stand-in token
(``service.standins``). It checks what Weibo would check (form encoding, access token, the ``data``
JSON), records every accepted reply, and lets a test inject failures.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PREFIX = "/standin/weibo"


@dataclass(frozen=True, slots=True)
class RecordedReply:
    receiver_id: str
    type: str
    data: dict[str, Any]
    save_sender_box: str
    access_token: str

    @property
    def text(self) -> str:
        return str(self.data.get("text", ""))


@dataclass(slots=True)
class InjectedError:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


class WeiboStandIn:
    def __init__(self, access_tokens: set[str]) -> None:
        self.access_tokens = access_tokens
        self.sent: list[RecordedReply] = []
        self.failures: deque[InjectedError] = deque()

    def fail_next(self, status: int, error_code: int | None = None, error: str = "") -> None:
        body = {"error_code": error_code, "error": error} if error_code is not None else {}
        self.failures.append(InjectedError(status, body))

    def routes(self, prefix: str = PREFIX) -> list[web.AbstractRouteDef]:
        return [web.post(f"{prefix}/2/messages/reply.json", self._reply)]

    def inspection_routes(self, prefix: str = PREFIX) -> list[web.RouteDef]:
        """What Weibo does not have: reading the recorded replies and queuing failures (test hooks)."""
        return [web.get(f"{prefix}/sent", self._sent), web.post(f"{prefix}/fail", self._fail)]

    async def _reply(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return _error(400, 10008, "param error, content type must be application/x-www-form-urlencoded")
        form = await request.post()
        token = str(form.get("access_token") or request.query.get("access_token", ""))
        if token not in self.access_tokens:
            return _error(403, 21332, "invalid_access_token")
        missing = [name for name in ("type", "data", "receiver_id") if not form.get(name)]
        if missing:
            return _error(400, 10016, f"miss required parameter ({', '.join(missing)})")
        try:
            data = json.loads(str(form["data"]))
        except json.JSONDecodeError:
            return _error(400, 10008, "param error, data must be JSON")
        if form["type"] == "text" and not (isinstance(data, dict) and isinstance(data.get("text"), str)):
            return _error(400, 10008, "param error, text data needs a text field")
        if self.failures:
            injected = self.failures.popleft()
            return web.json_response(injected.body, status=injected.status)
        reply = RecordedReply(receiver_id=str(form["receiver_id"]), type=str(form["type"]), data=data,
                              save_sender_box=str(form.get("save_sender_box", "1")), access_token=token)
        self.sent.append(reply)
        return web.json_response({"result": True, "receiver_id": reply.receiver_id, "type": reply.type,
                                  "id": f"standin-{len(self.sent)}"})

    async def _sent(self, request: web.Request) -> web.Response:
        receiver = request.query.get("receiver_id")
        items = [{"index": index, "receiver_id": r.receiver_id, "type": r.type, "data": r.data}
                 for index, r in enumerate(self.sent) if receiver is None or r.receiver_id == receiver]
        return web.json_response({"items": items, "total": len(self.sent)})

    async def _fail(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            self.fail_next(int(spec["status"]), spec.get("error_code"), str(spec.get("error", "")))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            return web.json_response({"error": "expected {status, error_code?, error?}"}, status=400)
        return web.json_response({"queued": len(self.failures)})


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"error_code": code, "error": message, "request": "/2/messages/reply.json"},
                             status=status)


def create_standin_app(access_tokens: set[str]) -> tuple[web.Application, WeiboStandIn]:
    """The stand-in on its own (tests run it as a separate server, like the real platform); inspection open."""
    standin = WeiboStandIn(access_tokens)
    app = web.Application()
    app.router.add_routes(standin.routes() + standin.inspection_routes())
    return app, standin
