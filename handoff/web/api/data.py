"""Shared data: the upward feed a parent desk pulls, the youth profile of a case, legal holds on cases."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from contract.keys import SETTINGS, STORE
from contract.youth import AgeBand, Gender, LegalHold, SchoolStage, YouthProfile
from handoff.export import beijing_days, feed_for, to_jsonl
from handoff.retention import place_legal_hold, release_legal_hold
from handoff.web.api.common import engine_of
from handoff.web.api.openapi import BOOL, STR, TIME, nullable, obj, operation, path_param, query_param, ref
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


class HoldBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


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
    body = await read_body(request, HoldBody)
    hold = await place_legal_hold(request.app[STORE], request.app[SETTINGS], user, request.match_info["id"],
                                  body.reason, engine_of(request).now())
    return web.json_response(_hold(hold), status=201)


@ROUTES.delete("/cases/{id}/legal-hold")
async def delete_legal_hold(request: web.Request) -> web.Response:
    user = await current_user(request)
    hold = await release_legal_hold(request.app[STORE], request.app[SETTINGS], user, request.match_info["id"],
                                    engine_of(request).now())
    return web.json_response(_hold(hold))


_NULL_STR = nullable(STR)
SCHEMAS = {
    "YouthProfile": obj(["case_id", "recorded_by", "recorded_at"], case_id=STR, age_band=_NULL_STR, gender=_NULL_STR,
                        school_stage=_NULL_STR, region_code=_NULL_STR, left_behind=nullable(BOOL),
                        migrant=nullable(BOOL), recorded_by=STR, recorded_at=TIME),
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
_HOLD_BODY = obj(["reason"], reason={"type": "string", "minLength": 1, "maxLength": 500})
PATHS = {
    "/data/feed.jsonl": {"get": _FEED},
    "/cases/{id}/profile": {"put": operation(
        "Record the optional youth profile of a case (never required for help)", ok=ref("YouthProfile"),
        body=_PROFILE_BODY, params=[path_param("id")], errors=(400, 401, 403, 404, 415))},
    "/cases/{id}/legal-hold": {
        "post": operation("Place a legal hold: retention skips the case; supervisors, admins", ok=ref("LegalHold"),
                          status=201, body=_HOLD_BODY, params=[path_param("id")], errors=(400, 401, 403, 404, 415)),
        "delete": operation("Release the legal hold", ok=ref("LegalHold"), params=[path_param("id")],
                            errors=(401, 403, 404))},
}
