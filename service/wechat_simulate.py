"""``youthdesk simulate wechat|miniprogram|wecom-kf``: post to a running gateway as WeChat would.

The push is signed (and encrypted, in the account's mode or ``--mode``) exactly like the platform
does it; for WeCom kf the message is first put in the stand-in's ``sync_msg`` inbox, then the
encrypted notice is posted. Replies are read back from the gateway's built-in stand-in (demo/test).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from typing import Any

import aiohttp

from channels.wechat_protocol import signed_push
from channels.wecom_kf import signed_notice
from contract.config import ChannelAccountConfig, settings_from_args
from service.simulate_replies import print_new_replies
from service.standins import inspection_headers

DEFAULT_OPENID = "oSimulatedYouth0000000000001"
DEFAULT_EXTERNAL_USERID = "wmSimulatedYouth00000000001"
DEFAULT_OPEN_KFID = "wkSimulatedKf0000001"


def add_simulators(platforms: argparse._SubParsersAction) -> None:
    for platform, help_text, events in (
        ("wechat", "a WeChat official-account message or event", ["subscribe", "unsubscribe", "CLICK"]),
        ("miniprogram", "a mini-program customer-service message or event", ["user_enter_tempsession"]),
    ):
        parser = platforms.add_parser(platform, help=help_text)
        parser.add_argument("--account", required=True, help="the appid (see config)")
        parser.add_argument("--user", default=DEFAULT_OPENID, help="the youth's openid")
        parser.add_argument("--event", choices=events, help="send an event instead of a text")
        parser.add_argument("--key", default="", help="EventKey (CLICK: e.g. intent:study_stress; subscribe: "
                                                      "qrscene_…) or SessionFrom (mini-program)")
        parser.add_argument("--mode", choices=["plain", "compatible", "safe"],
                            help="encryption mode (default: the account's)")
        parser.add_argument("--format", choices=["xml", "json"], help="push format (default: the account's)")
        parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for replies via the stand-in")
        parser.add_argument("text", nargs="?", default="你好")
        parser.set_defaults(handler=_simulate_push, sim_platform=platform)
    parser = platforms.add_parser("wecom-kf", help="a WeCom customer-service (微信客服) message, pulled via sync_msg")
    parser.add_argument("--account", required=True, help="the corp id (see config)")
    parser.add_argument("--open-kfid", default=DEFAULT_OPEN_KFID, help="the customer-service account")
    parser.add_argument("--user", default=DEFAULT_EXTERNAL_USERID, help="the youth's external_userid")
    parser.add_argument("--enter", action="store_true", help="the youth enters the chat (enter_session) instead")
    parser.add_argument("--scene-param", default="", help="enter_session scene_param (partner context)")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for replies via the stand-in")
    parser.add_argument("text", nargs="?", default="你好")
    parser.set_defaults(handler=_simulate_kf, sim_platform="wecom-kf")


def _account(args: argparse.Namespace) -> ChannelAccountConfig:
    settings = settings_from_args(args)
    found = next((a for a in settings.accounts_for(args.sim_platform) if a.id == args.account), None)
    if found is None:
        raise SystemExit(f"no {args.sim_platform} account {args.account!r} in the configuration")
    return found


def push_fields(platform: str, user: str, text: str, event: str | None, key: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"ToUserName": "gh_simulated12355", "FromUserName": user,
                              "CreateTime": int(time.time())}
    if event == "user_enter_tempsession":
        return {**fields, "MsgType": "event", "Event": event, "SessionFrom": key}
    if event:
        return {**fields, "MsgType": "event", "Event": event, **({"EventKey": key} if key else {})}
    return {**fields, "MsgType": "text", "Content": text, "MsgId": secrets.randbelow(2**63)}


def _simulate_push(args: argparse.Namespace) -> None:
    account = _account(args)
    fields = push_fields(args.sim_platform, args.user, args.text, args.event, args.key)
    params, body = signed_push(token=account.token, encoding_aes_key=account.encoding_aes_key,
                               receive_id=account.id, mode=args.mode or account.mode, fields=fields,
                               push_format=args.format or account.push_format)

    async def run(http: aiohttp.ClientSession, base: str) -> bool:
        async with http.post(f"{base}/channels/{args.sim_platform}/{account.id}", params=params,
                             data=body) as response:
            print(f"gateway answered HTTP {response.status} {await response.text()!r}")
            return response.status == 200 and args.event != "unsubscribe"

    asyncio.run(_post_and_show_replies(args, args.user, run))


def _simulate_kf(args: argparse.Namespace) -> None:
    account = _account(args)
    if args.enter:
        message: dict[str, Any] = {"origin": 4, "msgtype": "event", "event": {
            "event_type": "enter_session", "open_kfid": args.open_kfid, "external_userid": args.user,
            "scene": "simulator", "scene_param": args.scene_param}}
    else:
        message = {"external_userid": args.user, "msgtype": "text", "text": {"content": args.text}}

    async def run(http: aiohttp.ClientSession, base: str) -> bool:
        async with http.post(f"{base}/standin/wecom-kf/kf/inbox", json={"open_kfid": args.open_kfid, **message},
                             headers=inspection_headers(settings_from_args(args))) as response:
            if response.status != 200:
                print("no WeCom stand-in at this gateway (service.env is not demo/test): nothing to pull from")
                return False
        params, body = signed_notice(account, args.open_kfid, secrets.token_urlsafe(24))
        async with http.post(f"{base}/channels/wecom-kf/{account.id}", params=params, data=body) as response:
            print(f"gateway answered HTTP {response.status} {await response.text()!r}")
            return response.status == 200

    asyncio.run(_post_and_show_replies(args, args.user, run))


async def _post_and_show_replies(args: argparse.Namespace, user: str, post: Any) -> None:
    base = args.url.rstrip("/")
    sent_url = f"{base}/standin/{args.sim_platform}/sent"
    headers = inspection_headers(settings_from_args(args))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10), headers=headers) as http:
        before = await _replies(http, sent_url, user)
        if not await post(http, base):
            return
        if before is None:
            print(f"no {args.sim_platform} stand-in at this gateway (service.env is not demo/test); "
                  "replies cannot be shown")
            return
        await print_new_replies(lambda: _replies(http, sent_url, user), len(before), args.wait,
                                lambda reply: f"reply to {user} ({reply['api']}): {reply['text'] or reply['msgtype']}")


async def _replies(http: aiohttp.ClientSession, url: str, user: str) -> list[dict[str, Any]] | None:
    async with http.get(url, params={"touser": user}) as response:
        if response.status != 200:
            return None
        return (await response.json())["items"]
