"""``youthdesk simulate qq``: a one-to-one QQ message (or friend event) signed as the QQ platform signs it."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
from datetime import datetime
from typing import Any

import aiohttp

from channels.qq import WINDOW_EVENTS, sign
from contract.config import ChannelAccountConfig, settings_from_args
from service.qq_standin import PREFIX as STANDIN_PREFIX
from service.simulate_replies import print_new_replies
from service.standins import inspection_headers

DEFAULT_OPENID = "E4F4AEA33253A2797FB897C50B81D7ED"


def add_simulator(platforms: argparse._SubParsersAction) -> None:
    parser = platforms.add_parser("qq", help="a QQ one-to-one message or friend event, signed like QQ signs it")
    parser.add_argument("--account", required=True, help="the bot's AppID (see config)")
    parser.add_argument("--user", default=DEFAULT_OPENID, help="the youth's user_openid")
    parser.add_argument("--event", choices=sorted(WINDOW_EVENTS), help="send a friend event instead")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for replies via the stand-in")
    parser.add_argument("text", nargs="?", default="你好")
    parser.set_defaults(handler=_simulate)


def _simulate(args: argparse.Namespace) -> None:
    settings = settings_from_args(args)
    account = next((a for a in settings.accounts_for("qq") if a.id == args.account), None)
    if account is None:
        raise SystemExit(f"no qq bot {args.account!r} in the configuration")
    asyncio.run(_simulate_callback(args, account, inspection_headers(settings)))


def simulated_dispatch(user: str, text: str, event: str | None) -> dict[str, Any]:
    now = datetime.now().astimezone().isoformat(timespec="seconds")
    if event:
        return {"op": 0, "id": f"{event}:{secrets.token_hex(8)}", "t": event,
                "d": {"openid": user, "timestamp": int(time.time())}}
    return {"op": 0, "id": f"C2C_MESSAGE_CREATE:{secrets.token_hex(8)}", "t": "C2C_MESSAGE_CREATE",
            "d": {"id": f"ROBOT1.0_{secrets.token_hex(12)}", "author": {"user_openid": user},
                  "content": text, "timestamp": now}}


def signed_headers(account: ChannelAccountConfig, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {"Content-Type": "application/json", "User-Agent": "QQBot-Callback", "X-Bot-Appid": account.id,
            "X-Signature-Method": "Ed25519", "X-Signature-Timestamp": timestamp,
            "X-Signature-Ed25519": sign(account.secret, timestamp, body)}


async def _simulate_callback(args: argparse.Namespace, account: ChannelAccountConfig,
                             inspection: dict[str, str]) -> None:
    base = args.url.rstrip("/")
    sent_url = f"{base}{STANDIN_PREFIX}/sent"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10), headers=inspection) as http:
        before = await _replies(http, sent_url, args.user)
        body = json.dumps(simulated_dispatch(args.user, args.text, args.event), ensure_ascii=False).encode()
        async with http.post(f"{base}/channels/qq/{account.id}", data=body,
                             headers=signed_headers(account, body)) as response:
            print(f"gateway answered HTTP {response.status} {await response.text()!r}")
            if response.status != 200 or args.event:
                return  # friend events get no reply: only a message opens a passive reply
        if before is None:
            print("no QQ stand-in at this gateway (service.env is not demo/test); replies cannot be shown")
            return
        await print_new_replies(lambda: _replies(http, sent_url, args.user), len(before), args.wait,
                                lambda reply: f"reply to {reply['openid']}: {reply['content']}")


async def _replies(http: aiohttp.ClientSession, url: str, user: str) -> list[dict[str, Any]] | None:
    async with http.get(url, params={"openid": user}) as response:
        if response.status != 200:
            return None
        return (await response.json())["items"]
