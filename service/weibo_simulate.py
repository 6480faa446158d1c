"""``youthdesk simulate weibo``: a signed push to a running gateway, and the replies the stand-in received."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
from datetime import datetime
from typing import Any

import aiohttp

from channels.weibo import CLOSING_EVENTS, CREATED_AT_FORMAT, OPENING_EVENTS, weibo_signature
from contract.config import ChannelAccountConfig, settings_from_args
from service.simulate_replies import print_new_replies
from service.standins import inspection_headers
from service.weibo_standin import PREFIX as STANDIN_PREFIX


def add_simulator(platforms: argparse._SubParsersAction) -> None:
    parser = platforms.add_parser("weibo", help="a Weibo private message or event, signed like Weibo signs it")
    parser.add_argument("--account", required=True, help="the Weibo account uid (see config)")
    parser.add_argument("--user", default="6000000001", help="the youth's Weibo uid")
    parser.add_argument("--event", choices=sorted(OPENING_EVENTS | CLOSING_EVENTS), help="send an event instead")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for replies via the stand-in")
    parser.add_argument("text", nargs="?", default="你好")
    parser.set_defaults(handler=_simulate)


def _simulate(args: argparse.Namespace) -> None:
    settings = settings_from_args(args)
    account = next((a for a in settings.accounts_for("weibo") if a.id == args.account), None)
    if account is None:
        raise SystemExit(f"no weibo account {args.account!r} in the configuration")
    asyncio.run(_simulate_push(args, account, inspection_headers(settings)))


def simulated_push(account: ChannelAccountConfig, user: str, text: str, event: str | None) -> dict[str, Any]:
    created_at = datetime.now().astimezone().strftime(CREATED_AT_FORMAT)
    if event:
        return {"type": "event", "receiver_id": int(account.id), "sender_id": int(user), "created_at": created_at,
                "text": "", "data": {"subtype": event}}
    return {"type": "text", "receiver_id": int(account.id), "sender_id": int(user), "created_at": created_at,
            "text": text, "data": {}}


def signed_query(account: ChannelAccountConfig) -> dict[str, str]:
    timestamp, nonce = str(int(time.time() * 1000)), str(secrets.randbelow(10**8))
    return {"signature": weibo_signature(account.secret, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


async def _simulate_push(args: argparse.Namespace, account: ChannelAccountConfig,
                         inspection: dict[str, str]) -> None:
    base = args.url.rstrip("/")
    sent_url = f"{base}{STANDIN_PREFIX}/sent"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10), headers=inspection) as http:
        before = await _replies(http, sent_url, args.user)
        payload = simulated_push(account, args.user, args.text, args.event)
        async with http.post(f"{base}/channels/weibo/{account.id}", params=signed_query(account),
                             data=json.dumps(payload, ensure_ascii=False).encode(),
                             headers={"Content-Type": "application/json"}) as response:
            body = await response.text()
            print(f"gateway answered HTTP {response.status} {body!r}")
            if response.status != 200:
                return
        if args.event in CLOSING_EVENTS:
            return  # the window is closed now: nothing may come back
        if before is None:
            print("no Weibo stand-in at this gateway (service.env is not demo/test); replies cannot be shown")
            return
        await print_new_replies(
            lambda: _replies(http, sent_url, args.user), len(before), args.wait,
            lambda reply: f"reply to {reply['receiver_id']}: {reply['data'].get('text', reply['data'])}")


async def _replies(http: aiohttp.ClientSession, url: str, user: str) -> list[dict[str, Any]] | None:
    async with http.get(url, params={"receiver_id": user}) as response:
        if response.status != 200:
            return None
        return (await response.json())["items"]
