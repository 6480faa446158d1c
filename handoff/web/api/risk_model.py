"""``POST /risk-model/reload`` (admins): load the promoted risk model in every running gateway, audited.

Triage does the loading (``contract.risk_model.RiskModelReloader``, set while it runs); this route only
checks who asks, records it and says what each instance runs now. A promoted artifact that cannot be
read is a ``409`` naming it, with the model each instance kept.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from contract.keys import RISK_MODEL, STORE
from contract.people import Role
from contract.risk_model import RiskModelReload
from handoff import audit
from handoff.access import require_role
from handoff.web.api.openapi import BOOL, INT, STR, nullable, obj, operation, ref
from handoff.web.auth import current_user
from handoff.web.errors import http_error

ROUTES = web.RouteTableDef()


@ROUTES.post("/risk-model/reload")
async def reload_risk_model(request: web.Request) -> web.Response:
    user = await current_user(request)
    require_role(user, Role.ADMIN)
    reloader = request.app.get(RISK_MODEL)
    if reloader is None:
        raise http_error(409, "triage_off")
    outcome = await reloader.reload_everywhere()
    answers = [outcome.here, *outcome.others]
    failed = [answer.instance for answer in answers if not answer.reloaded]
    await audit.record(request.app[STORE], user.id, "risk_model.reload", outcome.here.model_id or "lexicon-only",
                       _summary(outcome, failed))
    body = outcome.model_dump(mode="json")
    if not outcome.here.reloaded:
        return web.json_response({"error": outcome.here.error, **body}, status=409)
    return web.json_response(body)


def _summary(outcome: RiskModelReload, failed: list[str]) -> str:
    """The audit entry's words: how many instances confirmed, and which could not read the artifact."""
    confirmed = 1 + len(outcome.others)
    words = f"{confirmed} of {1 + outcome.others_reached} instances confirmed"
    return words + (f"; kept the earlier model on {', '.join(failed)}" if failed else "")


_CALIBRATION = obj(["method", "rows", "held_out_error"], method=STR, rows=INT,
                   held_out_error={"type": "object", "additionalProperties": {"type": "number"}})
SCHEMAS = {
    "InstanceReload": obj(
        ["instance", "reloaded", "model_id", "lexicon_version", "calibration", "healthy", "detail"],
        instance=STR, reloaded=BOOL, error=nullable({"type": "string", "enum": ["promoted_model_unreadable"]}),
        model_id=nullable(STR), lexicon_version=STR, calibration=nullable(_CALIBRATION), healthy=BOOL, detail=STR),
    "RiskModelReload": obj(["here", "others", "others_reached"], here=ref("InstanceReload"),
                           others={"type": "array", "items": ref("InstanceReload")}, others_reached=INT),
}
_REFUSED = {"description": "the promoted artifact cannot be read (the earlier model is kept), or triage is off",
            "content": {"application/json": {"schema": {"allOf": [ref("Error"), obj(
                here=ref("InstanceReload"), others={"type": "array", "items": ref("InstanceReload")},
                others_reached=INT)]}}}}


def _reload_operation() -> dict[str, Any]:
    reload = operation("Load the promoted risk model in every gateway instance (admins; audited)",
                       ok=ref("RiskModelReload"), errors=(401, 403))
    reload["description"] = ("Answers with what this instance, and each other instance that confirmed within 10 s, "
                             "runs now (model id, lexicon version, calibration); `others_reached` counts the other "
                             "instances that heard the request (several gateways share it through Redis).")
    reload["responses"]["409"] = _REFUSED
    return reload


PATHS = {"/risk-model/reload": {"post": _reload_operation()}}
