"""Local stand-ins of the platforms' APIs, mounted in demo and test only (production refuses them)."""

from __future__ import annotations

from aiohttp import web

from contract.config import Settings
from service.wechat_standin import WeChatStandIn
from service.weibo_standin import WeiboStandIn

# The WeChat-family platforms share one stand-in shape, each under its own prefix.
WECHAT_FAMILY = ("wechat", "miniprogram", "wecom-kf")


def standin_routes(settings: Settings) -> list[web.AbstractRouteDef]:
    if settings.service.env not in ("demo", "test"):
        return []
    routes: list[web.AbstractRouteDef] = []
    for platform in WECHAT_FAMILY:
        accounts = settings.accounts_for(platform)
        if accounts:
            routes.extend(WeChatStandIn({a.id: a.secret for a in accounts}).routes(f"/standin/{platform}"))
    weibo_tokens = {a.token for a in settings.accounts_for("weibo") if a.token}
    if settings.accounts_for("weibo"):
        routes.extend(WeiboStandIn(weibo_tokens).routes())
    return routes
