"""``youthdesk simulate douyin``: a private message to the enterprise account, signed as Douyin signs it."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
from typing import Any

import aiohttp

from channels.douyin import douyin_signature
from contract.config import ChannelAccountConfig, settings_from_args
from service.douyin_standin import PREFIX as STANDIN_PREFIX
from service.simulate_replies import print_new_replies
from service.standins import inspection_headers

DEFAULT_OPEN_ID = "_000SimulatedYouth00000000000001"
ENTERPRISE_OPEN_ID = "_000DemoEnterprise12355000000001"


def add_simulator(platforms: argparse._SubParsersAction) -> None:
    parser = platforms.add_parser("douyin", help="a Douyin private message to the enterprise account, signed")
    parser.add_argument("--account", required=True, help="the app's client_key (see config)")
    parser.add_argument("--user", default=DEFAULT_OPEN_ID, help="the youth's open_id")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for replies via the stand-in")
    parser.add_argument("text", nargs="?", default="你好")
    parser.set_defaults(handler=_simulate)


def _simulate(args: argparse.Namespace) -> None:
    settings = settings_from_args(args)
    account = next((a for a in settings.accounts_for("douyin") if a.id == args.account), None)
    if account is None:
        raise SystemExit(f"no douyin account {args.account!r} in the configuration")
    asyncio.run(_simulate_push(args, account, inspection_headers(settings)))


def simulated_message(account: ChannelAccountConfig, user: str, text: str) -> dict[str, Any]:
    content = {"conversation_short_id": f"@sim{secrets.token_hex(12)}", "server_message_id": str(time.time_ns()),
               "conversation_type": 1, "create_time": int(time.time() * 1000), "message_type": "text",
               "text": text}
    return {"event": "im_receive_msg", "client_key": account.id, "from_user_id": user,
            "to_user_id": ENTERPRISE_OPEN_ID, "content": json.dumps(content, ensure_ascii=False),
            "log_id": secrets.token_hex(16)}


def signed_headers(account: ChannelAccountConfig, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "Msg-Id": secrets.token_hex(16),
            "X-Douyin-Signature": douyin_signature(account.secret, body)}


async def _simulate_push(args: argparse.Namespace, account: ChannelAccountConfig,
                         inspection: dict[str, str]) -> None:
    base = args.url.rstrip("/")
    sent_url = f"{base}{STANDIN_PREFIX}/sent"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10), headers=inspection) as http:
        before = await _replies(http, sent_url, args.user)
        body = json.dumps(simulated_message(account, args.user, args.text), ensure_ascii=False).encode()
        async with http.post(f"{base}/channels/douyin/{account.id}", data=body,
                             headers=signed_headers(account, body)) as response:
            print(f"gateway answered HTTP {response.status} {await response.text()!r}")
            if response.status != 200:
                return
        if before is None:
            print("no Douyin stand-in at this gateway (service.env is not demo/test); replies cannot be shown")
            return
        await print_new_replies(lambda: _replies(http, sent_url, args.user), len(before), args.wait,
                                lambda reply: f"reply to {reply['to_user_id']}: {reply['text']}")


async def _replies(http: aiohttp.ClientSession, url: str, user: str) -> list[dict[str, Any]] | None:
    async with http.get(url, params={"to_user_id": user}) as response:
        if response.status != 200:
            return None
        return (await response.json())["items"]
