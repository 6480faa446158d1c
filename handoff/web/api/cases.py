"""Cases (工单) API: read (audited), classify, assess, refer, follow up, mandatory reports; audit log.

Mandatory reports have only GET and POST routes, so PUT/PATCH/DELETE on them answer 405.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from aiohttp import web
from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictInt, StrictStr

from contract.cases import Assessment, Case
from contract.crypto import mask
from contract.keys import SETTINGS
from contract.people import Role, User
from contract.queue import Handed
from handoff import audit, cases, work_orders
from handoff.access import require_role, visible_desks
from handoff.queue import load
from handoff.web.api.common import engine_of, may_view
from handoff.web.api.openapi import (
    BOOL,
    INT,
    STR,
    STR_LIST,
    TIME,
    items_of,
    nullable,
    obj,
    operation,
    path_param,
    query_param,
    ref,
)
from handoff.web.auth import current_user
from handoff.web.errors import http_error, read_body

ROUTES = web.RouteTableDef()

Text = Annotated[StrictStr, Field(max_length=4000)]
Short = Annotated[StrictStr, Field(max_length=200)]
ShortList = Annotated[list[Short], Field(max_length=50)]
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 2000 and 2100")
    return value


When = Annotated[datetime, AfterValidator(_in_range)]
B = TypeVar("B", bound=BaseModel)


class CasePatch(BaseModel):
    classification: Short | None = None
    summary: Text | None = None


class AssessmentBody(BaseModel):
    level: Annotated[StrictInt, Field(ge=0, le=3)]
    factors: ShortList = []
    immediate_danger: StrictBool
    protective_factors: ShortList = []
    plan: Text = ""
    notes: Text = ""


class ReferralBody(BaseModel):
    agency: Short
    contact: Short = ""
    note: Text = ""
    due_at: When


class ReferralPatch(BaseModel):
    status: Literal["accepted", "resolved", "declined"]
    note: Text = ""


class FollowupBody(BaseModel):
    title: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    due_at: When


class FollowupPatch(BaseModel):
    done: StrictBool
    note: Text | None = None


class MandatoryReportBody(BaseModel):
    reported_to: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    reported_at: When
    reference: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    note: Text = ""


# ------------------------------------------------------------------ access


async def _conversation(request: web.Request, case: Case) -> Handed:
    item = await load(engine_of(request).store, case.conversation_id)
    if item is None:
        raise http_error(404, "not found")
    return item


def _participant(user: User, item: Handed) -> bool:
    return item.conversation.owner == user.id or user.id in item.info.joined


async def case_in_scope(request: web.Request, user: User, *, write: bool) -> tuple[Case, Handed]:
    """The case named in the path if the user may see it (and, for ``write``, change it)."""
    case = await cases.get_case(engine_of(request).store, request.match_info["id"])
    item = await _conversation(request, case)
    if not may_view(user, item, request):
        raise http_error(403, "outside your desks")
    if write and user.role == Role.COUNSELLOR and not _participant(user, item):
        raise http_error(403, "only the counsellor who owns the conversation may change its case")
    return case, item


def _reason(request: web.Request) -> str | None:
    return request.query.get("reason", "").strip()[:500] or None


async def _respond(request: web.Request, user: User, case: Case, action: str, status: int = 200) -> web.Response:
    store = engine_of(request).store
    await audit.record(store, actor=user.id, action=action, target=case.id, reason=_reason(request))
    orders = [order.public() for order in await work_orders.for_case(store, case.id)]
    return web.json_response(case.public() | {"work_orders": orders}, status=status)


async def _change(request: web.Request, action: str, model: type[B],
                  change: Callable[[User, Case, B], Awaitable[Case]], status: int = 200) -> web.Response:
    """Sign-in, then scope, then the body: a change to a case by its owner or a supervisor, audited."""
    user = await current_user(request)
    case, _ = await case_in_scope(request, user, write=True)
    body = await read_body(request, model)
    updated = await change(user, case, body)
    return await _respond(request, user, updated, action, status)


# ------------------------------------------------------------------ routes


@ROUTES.get("/taxonomy")
async def taxonomy(request: web.Request) -> web.Response:
    await current_user(request)
    return web.json_response({"items": [node.model_dump() for node in request.app[SETTINGS].cases.taxonomy]})


@ROUTES.get("/agencies")
async def agencies(request: web.Request) -> web.Response:
    await current_user(request)
    return web.json_response({"items": [agency.model_dump() for agency in request.app[SETTINGS].cases.agencies]})


@ROUTES.get("/cases/{id}")
async def get_case(request: web.Request) -> web.Response:
    user = await current_user(request)
    case, item = await case_in_scope(request, user, write=False)
    if user.role in (Role.SUPERVISOR, Role.ADMIN) and not _participant(user, item) and _reason(request) is None:
        raise http_error(400, "reason: required when reading a case you do not own")
    return await _respond(request, user, case, "case.read")


@ROUTES.patch("/cases/{id}")
async def patch_case(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    store = engine_of(request).store
    return await _change(request, "case.update", CasePatch,
                         lambda user, case, body: cases.update_case(
        store, settings, case.id, classification=body.classification, summary=body.summary))


@ROUTES.put("/cases/{id}/assessment")
async def put_assessment(request: web.Request) -> web.Response:
    store = engine_of(request).store
    return await _change(request, "case.assessment", AssessmentBody,
                         lambda user, case, body: cases.set_assessment(
        store, case.id, Assessment(**body.model_dump(), assessed_by=user.id, assessed_at=datetime.now(UTC))))


@ROUTES.post("/cases/{id}/referrals")
async def add_referral(request: web.Request) -> web.Response:
    """A referral to a hotline with a work-order endpoint (12345, 12348, …) is also sent as a work order."""
    settings = request.app[SETTINGS]
    engine = engine_of(request)

    async def refer(user: User, case: Case, body: ReferralBody) -> Case:
        referred = await cases.add_referral(engine.store, settings, case.id, agency=body.agency, by=user.id,
                                            due_at=body.due_at, note=body.note, contact=body.contact)
        await work_orders.open_for_case(engine.store, settings, referred, by=user.id, now=engine.now())
        return referred

    return await _change(request, "case.referral.add", ReferralBody, refer, status=201)


@ROUTES.patch("/cases/{id}/referrals/{rid}")
async def patch_referral(request: web.Request) -> web.Response:
    store = engine_of(request).store
    return await _change(request, "case.referral.status", ReferralPatch,
                         lambda user, case, body: cases.set_referral_status(
        store, case.id, request.match_info["rid"], body.status, by=user.id, note=body.note))


@ROUTES.post("/cases/{id}/followups")
async def add_followup(request: web.Request) -> web.Response:
    store = engine_of(request).store
    return await _change(request, "case.followup.add", FollowupBody,
                         lambda user, case, body: cases.add_followup(
        store, case.id, title=body.title, due_at=body.due_at, by=user.id), status=201)


@ROUTES.patch("/cases/{id}/followups/{fid}")
async def patch_followup(request: web.Request) -> web.Response:
    store = engine_of(request).store
    return await _change(request, "case.followup.update", FollowupPatch,
                         lambda user, case, body: cases.set_followup_done(
        store, case.id, request.match_info["fid"], done=body.done, by=user.id, note=body.note))


@ROUTES.get("/cases/{id}/mandatory-reports")
async def list_mandatory_reports(request: web.Request) -> web.Response:
    user = await current_user(request)
    case, _ = await case_in_scope(request, user, write=False)
    store = engine_of(request).store
    await audit.record(store, actor=user.id, action="case.mandatory_reports.read", target=case.id,
                       reason=_reason(request))
    return web.json_response({"items": [report.model_dump(mode="json") for report in case.mandatory_reports],
                              "chain_valid": await cases.verify_report_chain(store, case.id)})


@ROUTES.post("/cases/{id}/mandatory-reports")
async def add_mandatory_report(request: web.Request) -> web.Response:
    store = engine_of(request).store
    return await _change(request, "case.mandatory_report.add", MandatoryReportBody,
                         lambda user, case, body: cases.append_mandatory_report(
        store, case.id, reported_to=body.reported_to, reported_at=body.reported_at, reported_by=user.id,
        reference=body.reference, note=body.note), status=201)


def _summary(case: Case, permitted: bool) -> dict[str, Any]:
    """A previous case; details masked unless the viewer owns it or supervises its desk."""
    summary, outcome = case.summary, case.outcome
    if not permitted:
        summary, outcome = mask(summary) if summary else "", mask(outcome) if outcome else outcome
    return {"id": case.id, "number": case.number, "desk": case.desk, "status": case.status,
            "classification": case.classification, "risk_level": case.risk_level, "summary": summary,
            "outcome": outcome, "created_at": case.created_at.isoformat(),
            "closed_at": case.closed_at.isoformat() if case.closed_at else None, "masked": not permitted}


@ROUTES.get("/contacts/{contact_id}/cases")
async def contact_cases(request: web.Request) -> web.Response:
    user = await current_user(request)
    store = engine_of(request).store
    contact_id = request.match_info["contact_id"]
    conversations = {item.conversation.id: item for item in await cases.contact_conversations(store, contact_id)}
    if not any(may_view(user, item, request) for item in conversations.values()):
        raise http_error(403, "outside your desks")  # also for unknown contacts: ids are not enumerable
    desks = visible_desks(user, request.app[SETTINGS])
    items = []
    for case in await cases.cases_for_contact(store, contact_id):
        item = conversations.get(case.conversation_id)
        permitted = (item is not None and _participant(user, item)) or (
            user.role in (Role.SUPERVISOR, Role.ADMIN) and case.desk in desks)
        items.append(_summary(case, permitted))
    await audit.record(store, actor=user.id, action="contact.cases.read", target=contact_id, reason=_reason(request))
    return web.json_response({"items": items})


@ROUTES.get("/audit")
async def audit_log(request: web.Request) -> web.Response:
    user = await current_user(request)
    require_role(user, Role.SUPERVISOR, Role.ADMIN)
    raw_limit = request.query.get("limit", "100")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= audit.MAX_LIMIT:
        raise http_error(400, f"limit: an integer from 1 to {audit.MAX_LIMIT}")
    entries = await audit.list_audit(engine_of(request).store, target=request.query.get("target") or None,
                                      limit=int(raw_limit))
    return web.json_response({"items": [entry.public() for entry in entries]})


# ------------------------------------------------------------------ OpenAPI

_DATE = {"type": "string", "format": "date-time"}
_TEXT = {"type": "string", "maxLength": 4000}
_SHORT = {"type": "string", "maxLength": 200}
_SHORT_LIST = {"type": "array", "items": _SHORT, "maxItems": 50}
_REQUIRED_SHORT = {"type": "string", "minLength": 1, "maxLength": 200}
_STATUS = {"type": "string", "enum": ["sent", "accepted", "resolved", "declined"]}

SCHEMAS = {
    "Assessment": obj(["level", "immediate_danger", "assessed_by", "assessed_at"], level=INT, factors=STR_LIST,
                      immediate_danger=BOOL, protective_factors=STR_LIST, plan=STR, notes=STR, assessed_by=STR,
                      assessed_at=TIME),
    "Referral": obj(["id", "agency", "status", "due_at", "history"], id=STR, agency=STR, contact=STR, note=STR,
                    due_at=TIME, status=_STATUS, created_by=STR, created_at=TIME,
                    history={"type": "array", "items": obj(["status", "by", "at"], status=_STATUS, by=STR, at=TIME,
                                                           note=STR)}),
    "Followup": obj(["id", "title", "due_at", "done"], id=STR, title=STR, due_at=TIME, done=BOOL, note=STR,
                    created_by=STR, created_at=TIME, done_by=nullable(STR), done_at=nullable(TIME)),
    "MandatoryReport": obj(["id", "case_id", "seq", "reported_to", "reported_at", "reported_by", "reference", "hash"],
                           id=STR, case_id=STR, seq=INT, reported_to=STR, reported_at=TIME, reported_by=STR,
                           reference=STR, note=STR, recorded_at=TIME, prev_hash=STR, hash=STR),
    "Case": obj(["id", "number", "conversation_id", "contact_id", "desk", "status", "risk_level", "referrals",
                 "followups", "mandatory_reports", "created_at", "updated_at"],
                id=STR, number=STR, conversation_id=STR, contact_id=STR, desk=STR,
                status={"type": "string", "enum": ["open", "closed"]}, classification=nullable(STR), summary=STR,
                risk_level=INT, assessment=nullable(ref("Assessment")),
                referrals={"type": "array", "items": ref("Referral")},
                followups={"type": "array", "items": ref("Followup")},
                mandatory_reports={"type": "array", "items": ref("MandatoryReport")},
                outcome=nullable(STR), no_referral_reason=nullable(STR), closed_by=nullable(STR),
                closed_at=nullable(TIME), created_at=TIME, updated_at=TIME,
                work_orders={"type": "array", "items": ref("WorkOrder")}),
    "WorkOrder": obj(["id", "agency", "referral_id", "delivery", "history"], id=STR, agency=STR, case_id=STR,
                     case_number=STR, referral_id=STR, desk=STR, risk_level=INT, classification=nullable(STR),
                     created_by=STR, created_at=TIME,
                     status=nullable(STR),  # None until the hotline reports; then one of WorkOrderStatus
                     delivery={"type": "object"}, history={"type": "array", "items": {"type": "object"}}),
    "CaseSummary": obj(["id", "number", "desk", "status", "masked"], id=STR, number=STR, desk=STR, status=STR,
                       classification=nullable(STR), risk_level=INT, summary=STR, outcome=nullable(STR),
                       created_at=TIME, closed_at=nullable(TIME), masked=BOOL),
    "TaxonomyNode": obj(["code", "name", "children"], code=STR, name=STR,
                        children={"type": "array", "items": ref("TaxonomyNode")}),
    "AuditEntry": obj(["id", "actor", "action", "target", "at"], id=STR, actor=STR, action=STR, target=STR,
                      reason=nullable(STR), at=TIME),
}

_CASE_ID = [path_param("id")]
_REASON = query_param("reason")
_WRITE = (400, 401, 403, 404, 409, 415)
_CASE = ref("Case")

PATHS = {
    "/taxonomy": {"get": operation("案由 taxonomy", ok=items_of(ref("TaxonomyNode")), errors=(401,))},
    "/agencies": {"get": operation("Referral agencies", ok=items_of(obj(["code", "name"], code=STR, name=STR)),
                                   errors=(401,))},
    "/cases/{id}": {
        "get": operation("Case (audited; supervisors give a reason)", ok=_CASE, params=[*_CASE_ID, _REASON],
                         errors=(400, 401, 403, 404)),
        "patch": operation("Classify or summarise", ok=_CASE, params=_CASE_ID, errors=_WRITE,
                           body=obj(classification=nullable(_SHORT), summary=nullable(_TEXT))),
    },
    "/cases/{id}/assessment": {"put": operation(
        "Record the risk assessment", ok=_CASE, params=_CASE_ID, errors=_WRITE,
        body=obj(["level", "immediate_danger"], level={"type": "integer", "minimum": 0, "maximum": 3},
                 factors=_SHORT_LIST, immediate_danger=BOOL, protective_factors=_SHORT_LIST, plan=_TEXT,
                 notes=_TEXT))},
    "/cases/{id}/referrals": {"post": operation(
        "Refer to an agency", ok=_CASE, status=201, params=_CASE_ID, errors=_WRITE,
        body=obj(["agency", "due_at"], agency=_SHORT, contact=_SHORT, note=_TEXT, due_at=_DATE))},
    "/cases/{id}/referrals/{rid}": {"patch": operation(
        "Referral status (sent → accepted → resolved/declined)", ok=_CASE, params=[*_CASE_ID, path_param("rid")],
        errors=_WRITE, body=obj(["status"], status={"type": "string", "enum": ["accepted", "resolved", "declined"]},
                                note=_TEXT))},
    "/cases/{id}/followups": {"post": operation(
        "Add a follow-up task", ok=_CASE, status=201, params=_CASE_ID, errors=_WRITE,
        body=obj(["title", "due_at"], title=_REQUIRED_SHORT, due_at=_DATE))},
    "/cases/{id}/followups/{fid}": {"patch": operation(
        "Tick off a follow-up", ok=_CASE, params=[*_CASE_ID, path_param("fid")], errors=_WRITE,
        body=obj(["done"], done=BOOL, note=nullable(_TEXT)))},
    "/cases/{id}/mandatory-reports": {
        "get": operation("Mandatory reports with chain verification",
                         ok=obj(["items", "chain_valid"], items={"type": "array", "items": ref("MandatoryReport")},
                                chain_valid=BOOL),
                         params=[*_CASE_ID, _REASON], errors=(401, 403, 404)),
        "post": operation("Append a mandatory report (强制报告; never editable)", ok=_CASE, status=201,
                          params=_CASE_ID, errors=_WRITE,
                          body=obj(["reported_to", "reported_at", "reference"], reported_to=_REQUIRED_SHORT,
                                   reported_at=_DATE, reference=_REQUIRED_SHORT, note=_TEXT)),
    },
    "/contacts/{contact_id}/cases": {"get": operation(
        "A youth's previous cases (masked unless permitted; audited)", ok=items_of(ref("CaseSummary")),
        params=[path_param("contact_id"), _REASON], errors=(401, 403))},
    "/audit": {"get": operation(
        "Audit log (supervisor/admin)", ok=items_of(ref("AuditEntry")), errors=(400, 401, 403),
        params=[query_param("target"), query_param("limit", {"type": "integer", "minimum": 1,
                                                             "maximum": audit.MAX_LIMIT})])},
}
