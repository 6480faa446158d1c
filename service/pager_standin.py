"""A local stand-in for the pager: what an SMS/voice provider would receive, for demos and tests.

Two doors: ``POST {prefix}/send`` (the stand-in pager's JSON) and ``GET {prefix}/aliyun/`` (Aliyun
SMS ``SendSms``: it checks the signature v1 with the configured secret, the timestamp format and the
nonce, as Aliyun would, and answers in Aliyun's shape). Every accepted page is recorded; ``fail_next``
makes the next one fail. Mounted by ``service.handoff`` in demo/test under ``/standin/pager``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from contract.config import Settings
from handoff.pager import aliyun_signature

PREFIX = "/standin/pager"
OWN_STANDIN = "standin"


@dataclass(frozen=True, slots=True)
class ReceivedPage:
    to: str
    via: str
    text: str
    ref: str
    door: str  # "standin" or "aliyun"


class PagerStandIn:
    def __init__(self, aliyun_secret: str = "") -> None:
        self.aliyun_secret = aliyun_secret
        self.received: list[ReceivedPage] = []
        self.failing = 0
        self._nonces: set[str] = set()

    def fail_next(self, count: int = 1) -> None:
        self.failing += count

    def routes(self, prefix: str = PREFIX) -> list[web.RouteDef]:
        return [web.post(f"{prefix}/send", self._send), web.get(f"{prefix}/aliyun/", self._aliyun)]

    def _take_failure(self) -> bool:
        if self.failing:
            self.failing -= 1
            return True
        return False

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self._take_failure():
            return web.json_response({"error": "injected failure"}, status=503)
        if not {"to", "via", "text", "ref"} <= set(body):
            return web.json_response({"error": "to, via, text and ref are required"}, status=400)
        self.received.append(ReceivedPage(body["to"], body["via"], body["text"], body["ref"], "standin"))
        return web.json_response({"id": f"page-{len(self.received)}"})

    async def _aliyun(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        given = params.pop("Signature", "")
        if params.get("Action") != "SendSms" or params.get("SignatureMethod") != "HMAC-SHA1":
            return _aliyun_error("InvalidParameter", "Action/SignatureMethod")
        if given != aliyun_signature(params, self.aliyun_secret):
            return _aliyun_error("SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
        try:
            datetime.strptime(params.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return _aliyun_error("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
        if params.get("SignatureNonce", "") in self._nonces:
            return _aliyun_error("SignatureNonceUsed", "Specified signature nonce was used already.")
        self._nonces.add(params["SignatureNonce"])
        if self._take_failure():
            return _aliyun_error("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
        variables = json.loads(params.get("TemplateParam", "{}"))
        text = json.dumps(variables, ensure_ascii=False)
        to, ref = params.get("PhoneNumbers", ""), params.get("OutId", "")
        self.received.append(ReceivedPage(to, "sms", text, ref, "aliyun"))
        return web.json_response({"Code": "OK", "Message": "OK", "BizId": f"biz-{len(self.received)}",
                                  "RequestId": f"req-{len(self.received)}"})


PAGER_STANDIN = web.AppKey("pager_standin", PagerStandIn)


def mount_pager_standin(app: web.Application, settings: Settings) -> None:
    """Demo/test only: the stand-in at ``/standin/pager`` (Aliyun's door checks the configured secret)."""
    if settings.service.env not in ("demo", "test"):
        return
    standin = app[PAGER_STANDIN] = PagerStandIn(settings.handoff.pager.access_key_secret)
    app.router.add_routes(standin.routes())


def pager_served_at(settings: Settings, base: str) -> Settings:
    """``endpoint = "standin"`` pointed at the stand-in of the server at ``base`` (the address ``youthdesk
    serve`` really listens on, ``--port`` included: ``service.standins.with_own_standins``)."""
    pager = settings.handoff.pager
    if pager.endpoint != OWN_STANDIN:
        return settings
    suffix = "/aliyun/" if pager.provider == "aliyun" else ""
    return _with_pager(settings, endpoint=f"{base}{PREFIX}{suffix}")


def with_own_pager(settings: Settings) -> Settings:
    """An ``endpoint = "standin"`` nobody resolved means no serving address is known (tests, benches on a
    free port): guessing ``service.port`` would page whatever listens there, so the pager is off until a
    test installs one."""
    if settings.handoff.pager.endpoint != OWN_STANDIN:
        return settings
    return _with_pager(settings, provider="none")


def _with_pager(settings: Settings, **update: str) -> Settings:
    handoff = settings.handoff.model_copy(update={"pager": settings.handoff.pager.model_copy(update=update)})
    return settings.model_copy(update={"handoff": handoff})


def _aliyun_error(code: str, message: str) -> web.Response:
    return web.json_response({"Code": code, "Message": message, "RequestId": "standin"})
