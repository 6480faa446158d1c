"""Desks, colleagues (transfer targets) and canned responses."""

from __future__ import annotations

from aiohttp import web

from contract.keys import SETTINGS, STORE
from handoff.access import visible_desks
from handoff.desks import desk_public
from handoff.users import colleagues, public_user
from handoff.web.api.common import engine_of
from handoff.web.api.openapi import BOOL, STR, items_of, nullable, obj, operation, query_param, ref
from handoff.web.auth import current_user

ROUTES = web.RouteTableDef()


@ROUTES.get("/desks")
async def desks(request: web.Request) -> web.Response:
    user = await current_user(request)
    settings, now = request.app[SETTINGS], engine_of(request).now()
    visible = visible_desks(user, settings)
    # Everyone may see every desk's name: transfers go up the hierarchy and across regions.
    items = [desk_public(desk, now) | {"visible": desk.id in visible} for desk in settings.desks]
    return web.json_response({"items": items})


@ROUTES.get("/users")
async def users(request: web.Request) -> web.Response:
    user = await current_user(request)
    store = request.app[STORE]
    found = await colleagues(store, request.app[SETTINGS], user, request.query.get("desk"))
    return web.json_response({"items": [await public_user(store, colleague) for colleague in found]})


@ROUTES.get("/canned-responses")
async def canned_responses(request: web.Request) -> web.Response:
    await current_user(request)
    query = request.query.get("q", "").strip()
    items = [{"id": c.id, "title": c.title, "text": c.text}
             for c in request.app[SETTINGS].handoff.canned_responses
             if not query or query in c.title or query in c.text]
    return web.json_response({"items": items})


SCHEMAS = {
    "Desk": obj(["id", "name", "level", "parent", "area", "hours", "open_now", "assignment", "region_code",
                 "region_name"],
                id=STR, name=STR, level=STR, parent=nullable(STR), area=STR, hours=STR, open_now=BOOL,
                assignment={"type": "string", "enum": ["pull", "auto"]}, visible=BOOL,
                region_code=nullable(STR), region_name=nullable(STR)),
}
PATHS = {
    "/desks": {"get": operation("Desks of the network", ok=items_of(ref("Desk")), errors=(401,))},
    "/users": {"get": operation("Colleagues (transfer targets)", ok=items_of(ref("User")),
                                params=[query_param("desk")], errors=(401, 403))},
    "/canned-responses": {"get": operation(
        "Reply templates", ok=items_of(obj(["id", "title", "text"], id=STR, title=STR, text=STR)),
        params=[query_param("q")], errors=(401,))},
}
