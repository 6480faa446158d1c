"""Alerts for supervisors and counsellors: level-3 risk, deadline breaches, outreach."""

from __future__ import annotations

from aiohttp import web
from pymongo import ReturnDocument

from contract.keys import SETTINGS
from handoff.alerts import alert_from_doc
from handoff.web.api.common import engine_of
from handoff.web.api.openapi import BOOL, STR, TIME, items_of, nullable, obj, operation, path_param, query_param, ref
from handoff.web.auth import current_user, ensure_desk_access, visible_desks
from handoff.web.errors import http_error

ROUTES = web.RouteTableDef()


@ROUTES.get("/alerts")
async def alerts(request: web.Request) -> web.Response:
    user = await current_user(request)
    state = request.query.get("state", "open")
    if state not in ("open", "acknowledged", "all"):
        raise http_error(400, "state: open|acknowledged|all")
    query: dict[str, object] = {"desk": {"$in": sorted(visible_desks(user, request.app[SETTINGS]))}}
    if state != "all":
        query["state"] = state
    docs = await engine_of(request).store["alerts"].find(query).sort("created_at", -1).limit(200).to_list(None)
    return web.json_response({"items": [alert_from_doc(doc).public() for doc in docs]})


@ROUTES.post("/alerts/{id}/ack")
async def acknowledge(request: web.Request) -> web.Response:
    user = await current_user(request)
    store = engine_of(request).store
    doc = await store["alerts"].find_one({"_id": request.match_info["id"]})
    if doc is None:
        raise http_error(404, "not found")
    ensure_desk_access(user, doc["desk"], request.app[SETTINGS])
    doc = await store["alerts"].find_one_and_update(
        {"_id": doc["_id"], "state": "open"},
        {"$set": {"state": "acknowledged", "acknowledged_by": user.id, "acknowledged_at": engine_of(request).now()}},
        return_document=ReturnDocument.AFTER)
    if doc is None:
        raise http_error(409, "already acknowledged")
    return web.json_response(alert_from_doc(doc).public())


SCHEMAS = {"Alert": obj(
    ["id", "type", "conversation_id", "desk", "created_at", "state"],
    id=STR, type={"type": "string", "enum": ["risk_level_3", "deadline_breached", "outreach", "window_closed"]},
    conversation_id=STR, desk=STR, created_at=TIME, state=STR, acknowledged_by=nullable(STR),
    recipients={"type": "array", "items": STR}, data={"type": "object"}, open=BOOL)}
PATHS = {
    "/alerts": {"get": operation("Alerts in your scope", ok=items_of(ref("Alert")), errors=(400, 401),
                                 params=[query_param("state", {"type": "string",
                                                               "enum": ["open", "acknowledged", "all"]})])},
    "/alerts/{id}/ack": {"post": operation("Acknowledge an alert", ok=ref("Alert"), params=[path_param("id")],
                                           errors=(401, 403, 404, 409))},
}
