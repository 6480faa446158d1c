"""Supervisor views: high-risk conversations per counsellor today, and possible floods."""

from __future__ import annotations

from aiohttp import web

from handoff import floods, wellbeing
from handoff.web.api.common import engine_of
from handoff.web.api.openapi import BOOL, INT, STR, STR_LIST, TIME, items_of, obj, operation
from handoff.web.auth import current_user

ROUTES = web.RouteTableDef()


@ROUTES.get("/wellbeing/today")
async def high_risk_today(request: web.Request) -> web.Response:
    user = await current_user(request)
    rows = await wellbeing.high_risk_today(engine_of(request).context, user)
    return web.json_response({"items": rows})


@ROUTES.get("/floods")
async def possible_floods(request: web.Request) -> web.Response:
    user = await current_user(request)
    return web.json_response({"items": await floods.groups_in_scope(engine_of(request).context, user)})


PATHS = {
    "/wellbeing/today": {"get": operation(
        "High-risk conversations per counsellor today (UTC+8) and level-3 runs against the cap",
        ok=items_of(obj(["user_id", "high_risk", "level3"], user_id=STR, display_name=STR, desk=STR,
                        high_risk=INT, level3=INT, consecutive_level3=INT, at_cap=BOOL)),
        errors=(401, 403))},
    "/floods": {"get": operation(
        "Possible floods: anonymous risk conversations from one source, grouped",
        ok=items_of(obj(["id", "desk", "conversation_ids"], id=STR, desk=STR, partner=STR,
                        conversation_ids=STR_LIST, count=INT, first_at=TIME, last_at=TIME)),
        errors=(401, 403))},
}
