"""A local stand-in for the other hotlines' work-order systems (12345, 12348, 12338, 12320), demo/test only.

Mounted under ``/standin/work-orders`` when an endpoint's ``url`` is ``"standin"``, it receives orders
at ``{agency}/orders`` and checks them as a hotline should: our signature with the endpoint's
secret, a fresh timestamp, an ``Idempotency-Key`` equal to the order id (a resent order is
acknowledged, not recorded twice), the schema name and version. It answers status the way a hotline
would: ``signed_callback`` builds a signed callback for a received order, and the inspection route
``POST {agency}/status`` ``{"work_order_id", "status", "note"}`` sends one to the order's
``status_callback``. Inspection routes (``sent``, ``fail``, ``status``) need the stand-in token.
"""

from __future__ import annotations

import json
import secrets
from collections import deque
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from contract.config import Settings
from contract.signing import signature_problem, signed_headers
from contract.work_orders import SCHEMA_NAME, SCHEMA_VERSION

PREFIX = "/standin/work-orders"
OWN_STANDIN = "standin"
WINDOW_SECONDS = 300
MAX_ORDER_BYTES = 256 * 1024


class HotlineOrdersStandIn:
    def __init__(self, agency_secrets: dict[str, str]) -> None:
        self.agency_secrets = agency_secrets
        self.received: list[dict[str, Any]] = []
        self.failures: deque[int] = deque()

    def fail_next(self, status: int) -> None:
        self.failures.append(status)

    def routes(self, prefix: str = PREFIX) -> list[web.AbstractRouteDef]:
        return [web.post(f"{prefix}/{{agency}}/orders", self._order)]

    def inspection_routes(self, prefix: str = PREFIX) -> list[web.RouteDef]:
        return [web.get(f"{prefix}/sent", self._sent), web.post(f"{prefix}/fail", self._fail),
                web.post(f"{prefix}/{{agency}}/status", self._status)]

    def signed_callback(self, work_order_id: str, status: str, note: str = "", *,
                        event_id: str | None = None) -> tuple[str, bytes, dict[str, str]]:
        """(callback URL, body, headers) of a status update for an order this stand-in received."""
        order = next(o for o in self.received if o["id"] == work_order_id)
        body = json.dumps({"work_order_id": work_order_id, "event_id": event_id or f"ev-{secrets.token_hex(8)}",
                           "status": status, "note": note, "at": datetime.now(UTC).isoformat()},
                          ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json",
                   **signed_headers(self.agency_secrets[order["agency"]], body)}
        return order["status_callback"], body, headers

    async def _order(self, request: web.Request) -> web.Response:
        agency = request.match_info["agency"]
        secret = self.agency_secrets.get(agency)
        if secret is None:
            return web.json_response({"error": "unknown hotline"}, status=404)
        body = await request.read()  # aiohttp refuses bodies over its client_max_size (1 MiB) itself
        if len(body) > MAX_ORDER_BYTES:
            return web.json_response({"error": "body too large"}, status=413)
        problem = signature_problem(secret, request.headers, body, WINDOW_SECONDS)
        if problem is not None:
            return web.json_response({"error": problem}, status=403)
        try:
            order = json.loads(body)
        except ValueError:
            return web.json_response({"error": "body is not valid JSON"}, status=400)
        key = request.headers.get("Idempotency-Key", "")
        if not isinstance(order, dict) or (order.get("schema"), order.get("version")) != (SCHEMA_NAME, SCHEMA_VERSION):
            return web.json_response({"error": f"expected {SCHEMA_NAME} {SCHEMA_VERSION}"}, status=400)
        if not key or order.get("id") != key or order.get("agency") != agency:
            return web.json_response({"error": "Idempotency-Key must be the order id, for this hotline"}, status=400)
        if self.failures:
            return web.json_response({"error": "injected failure"}, status=self.failures.popleft())
        if all(seen["id"] != key for seen in self.received):
            self.received.append(order)
        return web.json_response({"received": key}, status=202)

    async def _sent(self, request: web.Request) -> web.Response:
        return web.json_response({"items": self.received, "total": len(self.received)})

    async def _fail(self, request: web.Request) -> web.Response:
        try:
            self.fail_next(int((await request.json())["status"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            return web.json_response({"error": "expected {status}"}, status=400)
        return web.json_response({"queued": len(self.failures)})

    async def _status(self, request: web.Request) -> web.Response:
        """Play the hotline: send a signed status callback for a received order, answer with the gateway's reply."""
        try:
            wanted = await request.json()
            url, body, headers = self.signed_callback(str(wanted["work_order_id"]), str(wanted["status"]),
                                                      str(wanted.get("note", "")))
        except (json.JSONDecodeError, KeyError, TypeError, StopIteration):
            return web.json_response({"error": "expected {work_order_id, status, note?} of a received order"},
                                     status=400)
        async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as answer:
            return web.json_response({"gateway_status": answer.status,
                                      "gateway_answer": await answer.json(content_type=None)})


def create_standin_app(agency_secrets: dict[str, str]) -> tuple[web.Application, HotlineOrdersStandIn]:
    """The stand-in on its own server, inspection open (tests, bench)."""
    standin = HotlineOrdersStandIn(agency_secrets)
    app = web.Application()
    app.router.add_routes(standin.routes() + standin.inspection_routes())
    return app, standin


def mounted(settings: Settings) -> HotlineOrdersStandIn | None:
    """The stand-in this gateway mounts in demo/test, for endpoints that point at it."""
    own = {e.agency: e.secret for e in settings.work_orders.endpoints if e.url == OWN_STANDIN or PREFIX in e.url}
    return HotlineOrdersStandIn(own) if own else None


def with_own_orders_standin(settings: Settings, reachable_base: str) -> Settings:
    """Endpoints whose ``url`` is ``"standin"`` pointed at this server's stand-in at ``reachable_base``."""
    endpoints = [e.model_copy(update={"url": f"{reachable_base}{PREFIX}/{e.agency}/orders"}) if e.url == OWN_STANDIN
                 else e for e in settings.work_orders.endpoints]
    return settings.model_copy(update={"work_orders": settings.work_orders.model_copy(update={"endpoints": endpoints})})
