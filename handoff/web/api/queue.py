"""The queue: look, take the next conversation, claim a specific one."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from contract.keys import SETTINGS
from contract.people import Role
from handoff.access import visible_desks
from handoff.queue import load, positions, queued
from handoff.views import summary
from handoff.web.api.common import engine_of
from handoff.web.api.openapi import STR, items_of, obj, operation, path_param, query_param, ref
from handoff.web.auth import current_user
from handoff.web.errors import http_error, read_body

ROUTES = web.RouteTableDef()


class TakeNextBody(BaseModel):
    desk: str | None = None


@ROUTES.get("/queue")
async def queue(request: web.Request) -> web.Response:
    user = await current_user(request)
    engine = engine_of(request)
    desks = visible_desks(user, request.app[SETTINGS])
    desk = request.query.get("desk")
    if desk is not None:
        if desk not in desks:
            raise http_error(403, "outside your desks")
        desks = {desk}
    items = await queued(engine.store, desks)
    places = positions(items)
    return web.json_response({"items": [await summary(engine, item, user, position=places[item.conversation.id])
                                        for item in items]})


@ROUTES.post("/queue/take-next")
async def take_next(request: web.Request) -> web.Response:
    user = await current_user(request)
    if user.role == Role.ADMIN:
        raise http_error(403, "admins do not take conversations")
    body = await read_body(request, TakeNextBody) if request.can_read_body else TakeNextBody()
    engine = engine_of(request)
    conversation = await engine.take_next(user, body.desk)
    if conversation is None:
        return web.Response(status=204)
    item = await load(engine.store, conversation.id)
    assert item is not None
    return web.json_response(await summary(engine, item, user))


@ROUTES.post("/conversations/{id}/claim")
async def claim(request: web.Request) -> web.Response:
    user = await current_user(request)
    if user.role == Role.ADMIN:
        raise http_error(403, "admins do not take conversations")
    engine = engine_of(request)
    conversation = await engine.claim(request.match_info["id"], user)
    item = await load(engine.store, conversation.id)
    assert item is not None
    return web.json_response(await summary(engine, item, user))


PATHS = {
    "/queue": {"get": operation("Queued conversations in engine order", ok=items_of(ref("ConversationSummary")),
                                params=[query_param("desk")], errors=(401, 403))},
    "/queue/take-next": {"post": {**operation(
        "Take the highest-priority conversation you may take", ok=ref("ConversationSummary"),
        empty=(204,), errors=(400, 401, 403, 409, 415)),
        "requestBody": {"required": False, "content": {"application/json": {"schema": obj(desk=STR)}}}}},
    "/conversations/{id}/claim": {"post": operation(
        "Claim a queued conversation", ok=ref("ConversationSummary"), params=[path_param("id")],
        errors=(401, 403, 404, 409))},
}
