"""Statistics for the desks in the caller's scope, as JSON and as CSV (the same numbers), and the daily
series of the last 30 or 90 Beijing days; ``desk`` narrows either to one desk and the desks below it."""

from __future__ import annotations

from aiohttp import web

from contract.keys import SETTINGS, STORE
from handoff.daily_stats import SERIES_DAYS, daily_series, series_start
from handoff.stats import Stats, desks_in_scope, period_start, stats_in_scope
from handoff.web.api.common import engine_of
from handoff.web.api.openapi import INT, STR, TIME, nullable, obj, operation, query_param, ref
from handoff.web.auth import current_user
from handoff.web.errors import http_error

ROUTES = web.RouteTableDef()
PERIODS = ("1", "30", "90")


async def _stats(request: web.Request) -> Stats:
    user = await current_user(request)
    days = request.query.get("days", "1")
    if days not in PERIODS:
        raise http_error(400, "days: 1 (today), 30 or 90")
    since = period_start(int(days), engine_of(request).now())
    return await stats_in_scope(request.app[STORE], request.app[SETTINGS], user, since, request.query.get("desk"))


@ROUTES.get("/stats")
async def stats(request: web.Request) -> web.Response:
    return web.json_response((await _stats(request)).public())


@ROUTES.get("/stats.csv")
async def stats_csv(request: web.Request) -> web.Response:
    body = (await _stats(request)).csv()
    return web.Response(text=body, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="youthdesk-stats.csv"'})


@ROUTES.get("/stats/daily")
async def stats_daily(request: web.Request) -> web.Response:
    user = await current_user(request)
    days = request.query.get("days", "30")
    if days not in {str(n) for n in SERIES_DAYS}:
        raise http_error(400, "days: 30 or 90")
    now = engine_of(request).now()
    desks = desks_in_scope(request.app[SETTINGS], user, request.query.get("desk"))
    series = await daily_series(request.app[STORE], desks, int(days), now)
    return web.json_response({"since": series_start(int(days), now).isoformat(), "desks": sorted(desks),
                              "days": [day.public() for day in series]})


_COUNTS = {"type": "object", "additionalProperties": INT}
_DISTRIBUTION = obj(["count", "p50", "p90", "histogram"], count=INT, p50=nullable({"type": "number"}),
                    p90=nullable({"type": "number"}),
                    histogram={"type": "array", "items": obj(["bucket", "count"], bucket=STR, count=INT)})
SCHEMAS = {"Stats": obj(
    ["since", "desks", "volume_by_channel", "volume_by_category", "volume_by_risk", "waiting_seconds",
     "first_response_seconds", "satisfaction"],
    since=TIME, desks={"type": "array", "items": STR}, volume_by_channel=_COUNTS, volume_by_category=_COUNTS,
    volume_by_risk=_COUNTS, waiting_seconds=_DISTRIBUTION, first_response_seconds=_DISTRIBUTION,
    satisfaction=obj(["count", "mean", "histogram"], count=INT, mean=nullable({"type": "number"}),
                     histogram=_COUNTS)),
    "DailyStats": obj(["since", "desks", "days"], since=TIME, desks={"type": "array", "items": STR}, days={
        "type": "array", "items": obj(["date", "conversations", "cases", "risk_2_plus", "first_response_p50"],
                                      date={"type": "string", "format": "date"}, conversations=INT, cases=INT,
                                      risk_2_plus=INT, first_response_p50=nullable({"type": "number"}))})}
_PARAMS = [query_param("days", {"type": "string", "enum": list(PERIODS)}), query_param("desk")]
_CSV = operation("The same statistics as CSV", params=_PARAMS, errors=(400, 401, 403))
_CSV["responses"]["200"] = {"description": "ok", "content": {"text/csv": {"schema": STR}}}
PATHS = {
    "/stats": {"get": operation("Statistics for today or the last 30 or 90 days", ok=ref("Stats"), params=_PARAMS,
                                errors=(400, 401, 403))},
    "/stats.csv": {"get": _CSV},
    "/stats/daily": {"get": operation(
        "Per Beijing day of the last 30 or 90: conversations, cases, risk ≥ 2, median first response (s)",
        ok=ref("DailyStats"), params=[query_param("days", {"type": "string", "enum": [str(n) for n in SERIES_DAYS]}),
                                      query_param("desk")], errors=(400, 401, 403))},
}
