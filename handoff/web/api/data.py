"""Shared data: the upward feed a parent desk pulls, the youth profile of a case, legal holds on cases."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from contract.keys import SETTINGS, STORE
from contract.youth import AgeBand, ConsentPurpose, ConsentRecord, Gender, LegalHold, SchoolStage, YouthProfile
from handoff.consent import consent_ledger, record_consent, subject_access, subject_erasure
from handoff.export import beijing_days, feed_for, to_jsonl
from handoff.retention import place_legal_hold, release_legal_hold
from handoff.web.api.common import engine_of
from handoff.web.api.openapi import (
    BOOL,
    INT,
    STR,
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
from handoff.youth_profile import record_profile

ROUTES = web.RouteTableDef()


class ProfileBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    age_band: AgeBand | None = None
    gender: Gender | None = None
    school_stage: SchoolStage | None = None
    region_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    left_behind: StrictBool | None = None
    migrant: StrictBool | None = None


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class ConsentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: ConsentPurpose
    decision: Literal["granted", "withdrawn"]
    given_by: Literal["youth", "guardian"]
    under_14: StrictBool
    note: str = Field(default="", max_length=500)


def _consent(record: ConsentRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")


def _profile(profile: YouthProfile) -> dict[str, Any]:
    return profile.model_dump(mode="json")


def _hold(hold: LegalHold) -> dict[str, Any]:
    return hold.model_dump(mode="json")


@ROUTES.get("/data/feed.jsonl")
async def feed(request: web.Request) -> web.Response:
    user = await current_user(request)
    missing = [name for name in ("desk", "from", "to") if not request.query.get(name)]
    if missing:
        raise http_error(400, f"缺少参数：{', '.join(missing)}")
    start, end = beijing_days(request.query["from"], request.query["to"])
    records = await feed_for(request.app[STORE], request.app[SETTINGS], user, request.query["desk"], start, end)
    return web.Response(text=to_jsonl(records), content_type="application/x-ndjson", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="youthdesk-feed.jsonl"'})


@ROUTES.put("/cases/{id}/profile")
async def put_profile(request: web.Request) -> web.Response:
    user = await current_user(request)
    body = await read_body(request, ProfileBody)
    profile = await record_profile(request.app[STORE], request.app[SETTINGS], user, request.match_info["id"],
                                   body.model_dump(), engine_of(request).now())
    return web.json_response(_profile(profile))


@ROUTES.post("/cases/{id}/legal-hold")
async def post_legal_hold(request: web.Request) -> web.Response:
    user = await current_user(request)
    body = await read_body(request, ReasonBody)
    hold = await place_legal_hold(request.app[STORE], request.app[SETTINGS], user, request.match_info["id"],
                                  body.reason, engine_of(request).now())
    return web.json_response(_hold(hold), status=201)


@ROUTES.delete("/cases/{id}/legal-hold")
async def delete_legal_hold(request: web.Request) -> web.Response:
    user = await current_user(request)
    hold = await release_legal_hold(request.app[STORE], request.app[SETTINGS], user, request.match_info["id"],
                                    engine_of(request).now())
    return web.json_response(_hold(hold))


@ROUTES.get("/contacts/{id}/consents")
async def get_consents(request: web.Request) -> web.Response:
    user = await current_user(request)
    ledger = await consent_ledger(request.app[STORE], request.app[SETTINGS], user, request.match_info["id"])
    return web.json_response({"items": [_consent(record) for record in ledger]})


@ROUTES.post("/contacts/{id}/consents")
async def post_consent(request: web.Request) -> web.Response:
    user = await current_user(request)
    body = await read_body(request, ConsentBody)
    record = await record_consent(request.app[STORE], request.app[SETTINGS], user, request.match_info["id"],
                                  purpose=body.purpose, decision=body.decision, given_by=body.given_by,
                                  under_14=body.under_14, note=body.note, now=engine_of(request).now())
    return web.json_response(_consent(record), status=201)


@ROUTES.get("/contacts/{id}/subject-data")
async def get_subject_data(request: web.Request) -> web.Response:
    user = await current_user(request)
    reason = request.query.get("reason", "").strip()[:500]
    if not reason:
        raise http_error(400, "reason: 请注明查阅请求的来源")
    found = await subject_access(request.app[STORE], request.app[SETTINGS], user, request.match_info["id"], reason)
    return web.json_response(found)


@ROUTES.post("/contacts/{id}/erasure")
async def post_erasure(request: web.Request) -> web.Response:
    user = await current_user(request)
    body = await read_body(request, ReasonBody)
    result = await subject_erasure(request.app[STORE], request.app[SETTINGS], user, request.match_info["id"],
                                   body.reason, engine_of(request).now())
    return web.json_response({"conversations_erased": result.conversations_erased,
                              "cases_anonymised": result.cases_anonymised, "kept": result.kept,
                              "contact_deleted": result.contact_deleted})


_NULL_STR = nullable(STR)
SCHEMAS = {
    "YouthProfile": obj(["case_id", "recorded_by", "recorded_at"], case_id=STR, age_band=_NULL_STR, gender=_NULL_STR,
                        school_stage=_NULL_STR, region_code=_NULL_STR, left_behind=nullable(BOOL),
                        migrant=nullable(BOOL), recorded_by=STR, recorded_at=TIME),
    "Consent": obj(["id", "contact_id", "seq", "purpose", "decision", "given_by", "under_14", "recorded_by",
                    "recorded_at"], id=STR, contact_id=STR, seq=INT, purpose=STR, decision=STR, given_by=STR,
                   under_14=nullable(BOOL), notice_version=_NULL_STR, note=STR, recorded_by=STR,
                   recorded_at=TIME),
    "LegalHold": obj(["case_id", "by", "reason", "at"], case_id=STR, by=STR, reason=STR, at=TIME,
                     released_by=_NULL_STR, released_at=nullable(TIME)),
}
_DATE = {"type": "string", "format": "date"}
_FEED = operation("De-identified records (export schema 1.0) of a desk and the desks below it; supervisors, admins",
                  params=[query_param("desk", required=True), query_param("from", _DATE, required=True),
                          query_param("to", _DATE, required=True)], errors=(400, 401, 403))
_FEED["responses"]["200"] = {"description": "ok", "content": {"application/x-ndjson": {"schema": STR}}}
_PROFILE_BODY = {"type": "object", "additionalProperties": False, "properties": {
    "age_band": nullable({"type": "string", "enum": list(AgeBand.__args__)}),
    "gender": nullable({"type": "string", "enum": list(Gender.__args__)}),
    "school_stage": nullable({"type": "string", "enum": list(SchoolStage.__args__)}),
    "region_code": nullable({"type": "string", "pattern": r"^\d{6}$"}),
    "left_behind": nullable(BOOL), "migrant": nullable(BOOL)}}
_REASON_BODY = obj(["reason"], reason={"type": "string", "minLength": 1, "maxLength": 500})
_CONSENT_BODY = obj(["purpose", "decision", "given_by", "under_14"],
                    purpose={"type": "string", "enum": list(ConsentPurpose.__args__)},
                    decision={"type": "string", "enum": ["granted", "withdrawn"]},
                    given_by={"type": "string", "enum": ["youth", "guardian"]}, under_14=BOOL,
                    note={"type": "string", "maxLength": 500})
_STR_LIST = {"type": "array", "items": STR}
PATHS = {
    "/data/feed.jsonl": {"get": _FEED},
    "/cases/{id}/profile": {"put": operation(
        "Record the optional youth profile of a case (never required for help)", ok=ref("YouthProfile"),
        body=_PROFILE_BODY, params=[path_param("id")], errors=(400, 401, 403, 404, 415))},
    "/cases/{id}/legal-hold": {
        "post": operation("Place a legal hold: retention skips the case; supervisors, admins", ok=ref("LegalHold"),
                          status=201, body=_REASON_BODY, params=[path_param("id")], errors=(400, 401, 403, 404, 415)),
        "delete": operation("Release the legal hold", ok=ref("LegalHold"), params=[path_param("id")],
                            errors=(401, 403, 404))},
    "/contacts/{id}/consents": {
        "get": operation("The youth's consent ledger (append-only)", ok=items_of(ref("Consent")),
                         params=[path_param("id")], errors=(401, 403, 404)),
        "post": operation("Append a consent decision; under 14 only a guardian's", ok=ref("Consent"), status=201,
                          body=_CONSENT_BODY, params=[path_param("id")], errors=(400, 401, 403, 404, 409, 415))},
    "/contacts/{id}/subject-data": {"get": operation(
        "Data-subject access: the youth's records and consent ledger; supervisors, admins",
        ok=obj(["contact_id", "records", "consents"], contact_id=STR, records={"type": "array"},
               consents=items_of(ref("Consent"))["properties"]["items"]),
        params=[path_param("id"), query_param("reason", required=True)], errors=(400, 401, 403, 404))},
    "/contacts/{id}/erasure": {"post": operation(
        "Data-subject erasure, except held, mandatory-report and open items; supervisors, admins",
        ok=obj(["conversations_erased", "cases_anonymised", "kept", "contact_deleted"],
               conversations_erased=_STR_LIST, cases_anonymised=_STR_LIST, kept={"type": "object"},
               contact_deleted=BOOL),
        body=_REASON_BODY, params=[path_param("id")], errors=(400, 401, 403, 404, 415))},
}
