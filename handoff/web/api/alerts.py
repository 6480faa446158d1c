"""Alerts for supervisors and counsellors: level-3 risk, deadline breaches, outreach."""

from __future__ import annotations

from aiohttp import web

from contract.alerts import AlertState
from contract.keys import SETTINGS, STORE
from handoff.alerts import acknowledge, alerts_in_scope
from handoff.web.api.common import engine_of
from handoff.web.api.openapi import BOOL, STR, TIME, items_of, nullable, obj, operation, path_param, query_param, ref
from handoff.web.auth import current_user
from handoff.web.errors import http_error

ROUTES = web.RouteTableDef()
# The ``state`` query parameter; "all" lists open and acknowledged alerts alike.
_STATES: dict[str, AlertState | None] = {"open": "open", "acknowledged": "acknowledged", "all": None}


@ROUTES.get("/alerts")
async def alerts(request: web.Request) -> web.Response:
    user = await current_user(request)
    state = request.query.get("state", "open")
    if state not in _STATES:
        raise http_error(400, "state: open|acknowledged|all")
    found = await alerts_in_scope(request.app[STORE], request.app[SETTINGS], user, _STATES[state])
    return web.json_response({"items": [alert.public() for alert in found]})


@ROUTES.post("/alerts/{id}/ack")
async def acknowledge_alert(request: web.Request) -> web.Response:
    user = await current_user(request)
    alert = await acknowledge(request.app[STORE], request.app[SETTINGS], user, request.match_info["id"],
                              engine_of(request).now())
    return web.json_response(alert.public())


SCHEMAS = {"Alert": obj(
    ["id", "type", "conversation_id", "desk", "created_at", "state"],
    id=STR, type={"type": "string", "enum": ["risk_level_3", "deadline_breached", "outreach", "window_closed",
                                            "early_warning"]},
    conversation_id=STR, desk=STR, created_at=TIME, state=STR, acknowledged_by=nullable(STR),
    recipients={"type": "array", "items": STR}, data={"type": "object"}, open=BOOL,
    steps={"type": "array", "items": obj(["at", "kind", "desk"], at=TIME, desk=STR, detail=STR,
                                         kind={"type": "string", "enum": ["reescalated", "paged", "page_failed",
                                                                          "nobody_to_page"]},
                                         recipients={"type": "array", "items": STR})})}
PATHS = {
    "/alerts": {"get": operation("Alerts in your scope", ok=items_of(ref("Alert")), errors=(400, 401),
                                 params=[query_param("state", {"type": "string",
                                                               "enum": ["open", "acknowledged", "all"]})])},
    "/alerts/{id}/ack": {"post": operation("Acknowledge an alert", ok=ref("Alert"), params=[path_param("id")],
                                           errors=(401, 403, 404, 409))},
}
