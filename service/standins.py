"""Local stand-ins of the platforms' APIs, mounted in demo and test only (production refuses them).

Their inspection routes (what was sent, queued failures, the kf inbox) show youths' ids and the
replies they got, so they need the stand-in token: ``Authorization: Bearer <token>``. The token is
derived from ``service.data_key``, so the simulator, reading the same configuration, has it too;
``youthdesk serve`` prints it. Without a data key the inspection routes stay shut.

An account's ``api_base = "standin"`` (and the pager's ``endpoint = "standin"``) means "this server's own
stand-in": ``youthdesk serve`` resolves it from the address it serves on, so a second server never
sends to the first one's port.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from contract.channel import constant_time_equals
from contract.config import Settings
from service import douyin_standin, hotline_standin, partner_api_standin, qq_standin, work_order_standin
from service.pager_standin import pager_served_at
from service.wechat_standin import WeChatStandIn
from service.weibo_standin import WeiboStandIn

# The WeChat-family platforms share one stand-in shape, each under its own prefix.
WECHAT_FAMILY = ("wechat", "miniprogram", "wecom-kf")
OWN_STANDIN = "standin"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def standin_token(settings: Settings) -> str:
    """The bearer token of the inspection routes ("" without a data key: then they are shut)."""
    data_key = settings.service.data_key
    if not data_key:
        return ""
    return hmac.new(data_key.encode(), b"youthdesk-standin-inspection", hashlib.sha256).hexdigest()[:32]


def inspection_headers(settings: Settings) -> dict[str, str]:
    """What the simulator sends to read a stand-in's record (and fill the kf inbox)."""
    return {"Authorization": f"Bearer {standin_token(settings)}"}


def with_own_standins(settings: Settings, host: str, port: int) -> Settings:
    """Accounts whose ``api_base`` is ``"standin"``, and a pager whose ``endpoint`` is, pointed at this
    server's stand-ins on ``host:port``."""
    # A wildcard bind address is not somewhere to connect to; the loopback of the same family is.
    reachable = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host, host)
    if ":" in reachable and not reachable.startswith("["):
        reachable = f"[{reachable}]"
    base = f"http://{reachable}:{port}"
    accounts = [account.model_copy(update={"api_base": f"{base}/standin/{account.platform}"})
                if account.api_base == OWN_STANDIN else account for account in settings.accounts]
    with_orders = work_order_standin.with_own_orders_standin(settings.model_copy(update={"accounts": accounts}), base)
    return pager_served_at(with_orders, base)


def _inspection(handler: Handler, token: str) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if not token or scheme != "Bearer" or not constant_time_equals(token, given):
            return web.json_response({"error": "stand-in token required (Authorization: Bearer …)"}, status=401)
        return await handler(request)

    return guarded


def _guarded(routes: list[web.RouteDef], token: str) -> list[web.AbstractRouteDef]:
    return [web.route(route.method, route.path, _inspection(route.handler, token)) for route in routes]


def standin_routes(settings: Settings) -> list[web.AbstractRouteDef]:
    if settings.service.env not in ("demo", "test"):
        return []
    token = standin_token(settings)
    routes: list[web.AbstractRouteDef] = []
    for platform in WECHAT_FAMILY:
        accounts = settings.accounts_for(platform)
        if accounts:
            prefix = f"/standin/{platform}"
            standin = WeChatStandIn({a.id: a.secret for a in accounts})
            routes += standin.routes(prefix) + _guarded(standin.inspection_routes(prefix), token)
    if settings.accounts_for("weibo"):
        weibo = WeiboStandIn({a.token for a in settings.accounts_for("weibo") if a.token})
        routes += weibo.routes() + _guarded(weibo.inspection_routes(), token)
    for newer in (qq_standin.mounted(settings), douyin_standin.mounted(settings),
                  partner_api_standin.mounted(settings), hotline_standin.mounted(settings),
                  work_order_standin.mounted(settings)):
        if newer is not None:
            routes += newer.routes() + _guarded(newer.inspection_routes(), token)
    return routes
