"""``youthdesk simulate partner-api``: a partner backend's signed message, and the replies pushed back to it."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
from typing import Any

import aiohttp

from channels.signed_rest import signed_headers
from contract.config import ChannelAccountConfig, settings_from_args
from service.partner_api_standin import PREFIX as STANDIN_PREFIX
from service.simulate_replies import print_new_replies
from service.standins import inspection_headers


def add_simulator(platforms: argparse._SubParsersAction) -> None:
    parser = platforms.add_parser("partner-api", help="a partner backend's signed message (server-to-server)")
    parser.add_argument("--account", required=True, help="the partner id (see config)")
    parser.add_argument("--user", default="partner-user-0001", help="the partner's pseudonymous user id")
    parser.add_argument("--key", default="", help="Idempotency-Key (default: a new one; reuse it to see a retry)")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for replies via the stand-in")
    parser.add_argument("text", nargs="?", default="你好")
    parser.set_defaults(handler=_simulate)


def _simulate(args: argparse.Namespace) -> None:
    settings = settings_from_args(args)
    account = next((a for a in settings.accounts_for("partner-api") if a.id == args.account), None)
    if account is None:
        raise SystemExit(f"no partner-api partner {args.account!r} in the configuration")
    asyncio.run(_simulate_message(args, account, inspection_headers(settings)))


def signed_request(account: ChannelAccountConfig, user: str, text: str, key: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"user": user, "text": text}, ensure_ascii=False).encode()
    return body, {"Content-Type": "application/json", "Idempotency-Key": key or secrets.token_hex(16),
                  **signed_headers(account.secret, body)}


async def _simulate_message(args: argparse.Namespace, account: ChannelAccountConfig,
                            inspection: dict[str, str]) -> None:
    base = args.url.rstrip("/")
    sent_url = f"{base}{STANDIN_PREFIX}/sent"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10), headers=inspection) as http:
        before = await _replies(http, sent_url, args.user)
        body, headers = signed_request(account, args.user, args.text, args.key)
        async with http.post(f"{base}/channels/partner-api/{account.id}/messages", data=body,
                             headers=headers) as response:
            print(f"gateway answered HTTP {response.status} {await response.text()}")
            if response.status not in (200, 202):
                return
        if before is None:
            print("no partner stand-in at this gateway (service.env is not demo/test); replies cannot be shown")
            return
        await print_new_replies(lambda: _replies(http, sent_url, args.user), len(before), args.wait,
                                lambda reply: f"reply to {reply['user']}: {reply['text']}")


async def _replies(http: aiohttp.ClientSession, url: str, user: str) -> list[dict[str, Any]] | None:
    async with http.get(url, params={"user": user}) as response:
        if response.status != 200:
            return None
        return (await response.json())["items"]
