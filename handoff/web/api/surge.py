"""Surge mode (重大突发事件): list the surges a console must show, declare one, end one."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from contract.keys import SETTINGS
from handoff.surge import Surges, surges_in_scope
from handoff.web.api.common import engine_of
from handoff.web.api.openapi import STR, STR_LIST, TIME, items_of, nullable, obj, operation, path_param, ref
from handoff.web.auth import current_user
from handoff.web.errors import read_body

ROUTES = web.RouteTableDef()


class SurgeBody(BaseModel):
    desk: str = Field(min_length=1, max_length=64)
    to_desks: list[str] = Field(min_length=1, max_length=10)
    reason: str = Field(min_length=1, max_length=500)


def _surges(request: web.Request) -> Surges:
    return Surges(engine_of(request).context)


@ROUTES.get("/surges")
async def list_surges(request: web.Request) -> web.Response:
    """Every signed-in role: the active surges touching a desk the user sees (the console's banner)."""
    user = await current_user(request)
    found = surges_in_scope(request.app[SETTINGS], user, await _surges(request).active())
    return web.json_response({"items": [surge.public() for surge in found]})


@ROUTES.post("/surges")
async def start_surge(request: web.Request) -> web.Response:
    user = await current_user(request)
    body = await read_body(request, SurgeBody)
    surge = await _surges(request).start(user, desk=body.desk, to_desks=body.to_desks, reason=body.reason)
    return web.json_response(surge.public(), status=201)


@ROUTES.post("/surges/{id}/end")
async def end_surge(request: web.Request) -> web.Response:
    user = await current_user(request)
    surge = await _surges(request).end(user, request.match_info["id"])
    return web.json_response(surge.public())


SCHEMAS = {"Surge": obj(["id", "desk", "to_desks", "reason", "started_by", "started_at"],
                        id=STR, desk=STR, to_desks=STR_LIST, reason=STR, started_by=STR, started_at=TIME,
                        ended_at=nullable(TIME))}
_BODY = obj(["desk", "to_desks", "reason"], desk={"type": "string", "minLength": 1, "maxLength": 64},
            to_desks={"type": "array", "items": STR, "minItems": 1, "maxItems": 10},
            reason={"type": "string", "minLength": 1, "maxLength": 500})
PATHS = {
    "/surges": {
        "get": operation("Active surges touching your desks", ok=items_of(ref("Surge")), errors=(401,)),
        "post": operation("Put a desk into surge (regional/national supervisors, admins; audited)", ok=ref("Surge"),
                          status=201, body=_BODY, errors=(400, 401, 403, 404, 415)),
    },
    "/surges/{id}/end": {"post": operation("End a surge (audited)", ok=ref("Surge"), params=[path_param("id")],
                                           errors=(401, 403, 404))},
}
