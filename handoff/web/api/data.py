"""The upward data feed: a parent desk's supervisors pull the de-identified records of the desks below it."""

from __future__ import annotations

from aiohttp import web

from contract.keys import SETTINGS, STORE
from handoff.export import beijing_days, feed_for, to_jsonl
from handoff.web.api.openapi import STR, operation, query_param
from handoff.web.auth import current_user
from handoff.web.errors import http_error

ROUTES = web.RouteTableDef()


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


_DATE = {"type": "string", "format": "date"}
_FEED = operation("De-identified records (export schema 1.0) of a desk and the desks below it; supervisors, admins",
                  params=[query_param("desk", required=True), query_param("from", _DATE, required=True),
                          query_param("to", _DATE, required=True)], errors=(400, 401, 403))
_FEED["responses"]["200"] = {"description": "ok", "content": {"application/x-ndjson": {"schema": STR}}}
PATHS = {"/data/feed.jsonl": {"get": _FEED}}
