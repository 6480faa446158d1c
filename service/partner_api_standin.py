"""A local stand-in for a partner's reply webhook (the partner API's other half), for demos and tests.

Mounted under ``/standin/partner-api`` in demo/test only, it receives replies at
``{partner}/replies`` and checks them as a partner should: our signature with the partner's
secret, a fresh timestamp, an ``Idempotency-Key`` (a repeated key is acknowledged, not recorded
twice). Inspection routes (``sent``, ``fail``) need the stand-in token (``service.standins``).
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from aiohttp import web

from channels.signed_rest import check_signature
from contract.channel import WebhookRejected
from contract.config import Settings

PREFIX = "/standin/partner-api"
WINDOW_SECONDS = 300


class PartnerReceiverStandIn:
    def __init__(self, partner_secrets: dict[str, str]) -> None:
        self.partner_secrets = partner_secrets
        self.sent: list[dict[str, Any]] = []
        self.failures: deque[int] = deque()

    def fail_next(self, status: int) -> None:
        self.failures.append(status)

    def routes(self, prefix: str = PREFIX) -> list[web.AbstractRouteDef]:
        return [web.post(f"{prefix}/{{partner}}/replies", self._reply)]

    def inspection_routes(self, prefix: str = PREFIX) -> list[web.RouteDef]:
        return [web.get(f"{prefix}/sent", self._sent), web.post(f"{prefix}/fail", self._fail)]

    async def _reply(self, request: web.Request) -> web.Response:
        secret = self.partner_secrets.get(request.match_info["partner"])
        if secret is None:
            return web.json_response({"error": "unknown partner"}, status=404)
        body = await request.read()
        try:
            check_signature(secret, request.headers, body, WINDOW_SECONDS)
        except WebhookRejected as error:
            return web.json_response({"error": error.reason}, status=error.status)
        key = request.headers.get("Idempotency-Key", "")
        if not key:
            return web.json_response({"error": "Idempotency-Key required"}, status=400)
        if self.failures:
            return web.json_response({"error": "injected failure"}, status=self.failures.popleft())
        if all(reply["idempotency_key"] != key for reply in self.sent):
            self.sent.append({**json.loads(body), "partner": request.match_info["partner"], "idempotency_key": key})
        return web.json_response({"ok": True})

    async def _sent(self, request: web.Request) -> web.Response:
        user = request.query.get("user")
        items = [reply for reply in self.sent if user is None or reply.get("user") == user]
        return web.json_response({"items": items, "total": len(self.sent)})

    async def _fail(self, request: web.Request) -> web.Response:
        try:
            self.fail_next(int((await request.json())["status"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            return web.json_response({"error": "expected {status}"}, status=400)
        return web.json_response({"queued": len(self.failures)})


def create_standin_app(partner_secrets: dict[str, str]) -> tuple[web.Application, PartnerReceiverStandIn]:
    """The stand-in on its own server, inspection open (tests)."""
    standin = PartnerReceiverStandIn(partner_secrets)
    app = web.Application()
    app.router.add_routes(standin.routes() + standin.inspection_routes())
    return app, standin


def mounted(settings: Settings) -> PartnerReceiverStandIn | None:
    """The stand-in this gateway mounts in demo/test, when it has API partners."""
    partners = settings.accounts_for("partner-api")
    return PartnerReceiverStandIn({p.id: p.secret for p in partners}) if partners else None
