"""The hotlines' status callbacks for work orders: ``POST /work-orders/{agency}/status``.

Not a console route: the caller is another hotline's system, authenticated by the endpoint's secret
(``contract.signing``: HMAC over timestamp and body, the timestamp within
``service.timestamp_window_seconds``). Everything is checked before anything is written: size
(413), hotline (404), signature and freshness (403), JSON and fields (400); then the domain refuses
an unknown order (404), a replayed ``event_id`` and an impossible status (409).
"""

from __future__ import annotations

import logging

from aiohttp import web

from contract.keys import SETTINGS
from contract.logs import escape_control
from contract.signing import signature_problem
from contract.work_orders import StatusCallback
from handoff import work_orders
from handoff.errors import Conflict, HandoffError, NotFound
from handoff.web.errors import BadBody, parse_body
from handoff.web.keys import ENGINE

log = logging.getLogger("youthdesk.handoff.work_orders")


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def _body(request: web.Request, limit: int) -> bytes:
    """The whole body, never more than ``limit`` bytes read (a chunked body has no length to check first)."""
    if request.content_length is not None and request.content_length > limit:
        raise Refused(413, "body too large")
    body = bytearray()
    while chunk := await request.content.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            raise Refused(413, "body too large")
    return bytes(body)


async def status_callback(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    agency = request.match_info["agency"]
    try:
        body = await _body(request, settings.work_orders.max_callback_bytes)
        endpoint = settings.work_orders.endpoint(agency)
        if endpoint is None:
            raise Refused(404, "unknown hotline")
        problem = signature_problem(endpoint.secret, request.headers, body, settings.service.timestamp_window_seconds)
        if problem is not None:
            raise Refused(403, problem)
        try:
            callback = parse_body(body, StatusCallback)
        except BadBody as exc:
            raise Refused(400, str(exc)) from None
        try:
            order = await work_orders.record_status(request.app[ENGINE].context, agency, callback)
        except NotFound:
            raise Refused(404, "unknown work order") from None
        except HandoffError as exc:
            raise Refused(409 if isinstance(exc, Conflict) else 400, str(exc)) from None
    except Refused as refused:
        log.warning("refused work-order callback", extra={
            "agency": escape_control(agency[:64]), "status": refused.status, "reason": escape_control(refused.reason)})
        return web.json_response({"error": refused.reason}, status=refused.status)
    return web.json_response({"id": order.id, "status": order.status})


def setup_work_order_callbacks(app: web.Application) -> None:
    app.router.add_post(work_orders.CALLBACK_PATH, status_callback)
