"""The case's safety plan (安全计划): read and save, with the case's own scope rules and audit."""

from __future__ import annotations

from aiohttp import web

from contract.people import Role
from handoff import audit
from handoff.safety_plan import SafetyPlanParts, plan_for, save_plan
from handoff.web.api.cases import case_in_scope
from handoff.web.api.common import engine_of
from handoff.web.api.openapi import BOOL, STR, STR_LIST, TIME, nullable, obj, operation, path_param, query_param, ref
from handoff.web.auth import current_user
from handoff.web.errors import http_error, read_body

ROUTES = web.RouteTableDef()


@ROUTES.get("/cases/{id}/safety-plan")
async def get_plan(request: web.Request) -> web.Response:
    user = await current_user(request)
    case, item = await case_in_scope(request, user, write=False)
    reason = request.query.get("reason", "").strip()[:500] or None
    participant = item.conversation.owner == user.id or user.id in item.info.joined
    if user.role in (Role.SUPERVISOR, Role.ADMIN) and not participant and reason is None:
        raise http_error(400, "reason: required when reading a case you do not own")
    engine = engine_of(request)
    plan = await plan_for(engine.context, case)
    await audit.record(engine.store, actor=user.id, action="case.safety_plan.read", target=case.id, reason=reason)
    return web.json_response(plan.model_dump(mode="json"))


@ROUTES.put("/cases/{id}/safety-plan")
async def put_plan(request: web.Request) -> web.Response:
    user = await current_user(request)
    case, _ = await case_in_scope(request, user, write=True)
    body = await read_body(request, SafetyPlanParts)
    engine = engine_of(request)
    plan = await save_plan(engine.context, case, body, by=user.id)
    await audit.record(engine.store, actor=user.id, action="case.safety_plan", target=case.id)
    return web.json_response(plan.model_dump(mode="json"))


_PARTS = {"warning_signs": STR_LIST, "coping_steps": STR_LIST, "people_and_places": STR_LIST,
          "professionals": STR_LIST, "means_safety": STR_LIST}
# ``required`` is a property name here, so it cannot go through ``obj``'s keywords.
_PLAN = obj(["case_id", "required"], case_id=STR, updated_by=nullable(STR), updated_at=nullable(TIME), **_PARTS)
_PLAN["properties"]["required"] = BOOL
SCHEMAS = {"SafetyPlan": _PLAN}
PATHS = {
    "/cases/{id}/safety-plan": {
        "get": operation("The case's safety plan (empty until written); ?reason= as for the case",
                         ok=ref("SafetyPlan"), params=[path_param("id"), query_param("reason")],
                         errors=(400, 401, 403, 404)),
        "put": operation("Save the case's safety plan", ok=ref("SafetyPlan"), params=[path_param("id")],
                         body=obj(**_PARTS), errors=(400, 401, 403, 404, 415)),
    },
}
