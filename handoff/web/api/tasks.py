"""Tasks and the worklist (我的待办): outreach, referral and follow-up dates, debriefs."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, Field, StrictStr

from contract.people import Role
from handoff import tasks
from handoff.users import get_user
from handoff.web.api.common import engine_of
from handoff.web.api.openapi import STR, TIME, items_of, nullable, obj, operation, path_param, query_param, ref
from handoff.web.auth import current_user
from handoff.web.errors import http_error, read_body

ROUTES = web.RouteTableDef()


class CompleteBody(BaseModel):
    outcome: Annotated[StrictStr, Field(min_length=1, max_length=2000)]


class AssignBody(BaseModel):
    user_id: Annotated[StrictStr, Field(min_length=1, max_length=100)]


@ROUTES.get("/tasks")
async def worklist(request: web.Request) -> web.Response:
    """``?scope=desk`` (supervisors, admins): every open task of the desks they see; otherwise 我的待办."""
    user = await current_user(request)
    scope = request.query.get("scope", "mine")
    if scope not in ("mine", "desk"):
        raise http_error(400, "scope: mine|desk")
    if scope == "desk" and user.role == Role.COUNSELLOR:
        raise http_error(403, "supervisors only")
    found = await tasks.worklist(engine_of(request).context, user, desk_wide=scope == "desk")
    return web.json_response({"items": [task.public() for task in found]})


@ROUTES.post("/tasks/{id}/complete")
async def complete(request: web.Request) -> web.Response:
    user = await current_user(request)
    body = await read_body(request, CompleteBody)
    done = await tasks.complete(engine_of(request).context, user, request.match_info["id"], body.outcome)
    return web.json_response(done.public())


@ROUTES.get("/tasks/{id}/callback-contact")
async def callback_contact(request: web.Request) -> web.Response:
    """The worklist shows a 留言's callback number masked; the one who calls back reads it here (audited)."""
    user = await current_user(request)
    number = await tasks.callback_contact(engine_of(request).context, user, request.match_info["id"])
    return web.json_response({"callback_contact": number})


@ROUTES.post("/tasks/{id}/assign")
async def assign(request: web.Request) -> web.Response:
    user = await current_user(request)
    body = await read_body(request, AssignBody)
    engine = engine_of(request)
    assignee = await get_user(engine.store, body.user_id)
    if assignee is None or assignee.role == Role.ADMIN:
        raise http_error(400, "user_id: no such counsellor or supervisor")
    updated = await tasks.assign(engine.context, user, request.match_info["id"], assignee)
    return web.json_response(updated.public())


SCHEMAS = {"Task": obj(
    ["id", "kind", "title", "desk", "due_at", "state"],
    id=STR, kind={"type": "string", "enum": ["outreach", "referral_follow_up", "case_follow_up", "debrief",
                                             "leave_message"]},
    title=STR, desk=STR, conversation_id=nullable(STR), case_id=nullable(STR), assignee=nullable(STR),
    due_at=TIME, state={"type": "string", "enum": ["open", "done"]}, outcome=STR, created_at=TIME,
    reminded_at=nullable(TIME), done_by=nullable(STR), done_at=nullable(TIME),
    callback_contact=nullable(STR))}
PATHS = {
    "/tasks": {"get": operation("Your worklist (or, for supervisors, ?scope=desk)", ok=items_of(ref("Task")),
                                params=[query_param("scope", {"type": "string", "enum": ["mine", "desk"]})],
                                errors=(400, 401, 403))},
    "/tasks/{id}/complete": {"post": operation(
        "Record a task's outcome", ok=ref("Task"), params=[path_param("id")],
        body=obj(["outcome"], outcome=STR), errors=(400, 401, 403, 404, 409, 415))},
    "/tasks/{id}/callback-contact": {"get": operation(
        "A 留言's whole callback number (audited)", ok=obj(["callback_contact"], callback_contact=STR),
        params=[path_param("id")], errors=(401, 403, 404))},
    "/tasks/{id}/assign": {"post": operation(
        "Assign a task", ok=ref("Task"), params=[path_param("id")],
        body=obj(["user_id"], user_id=STR), errors=(400, 401, 403, 404, 415))},
}
