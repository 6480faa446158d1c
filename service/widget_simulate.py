"""``youthdesk simulate widget``: chat over the widget's socket as the iframe does, and print the replies.

The simulator speaks the iframe's protocol (``channels/widget_session.py``): ``hello`` with a
partner-signed token (``--user``) or none (an anonymous chat, if the partner allows it), one
``text`` frame with a fresh ``client_id``, then it prints the gateway's ``ack`` and every message
that is not the youth's own until ``--wait`` seconds pass quietly. It sends no ``Origin`` header,
like any non-browser client: the widget checks the origin only of browsers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
from typing import Any

import aiohttp

from channels.widget_identity import sign_partner_token
from contract.config import PartnerConfig, settings_from_args

SOCKET_PATH = "/channels/widget/ws"
# After a reply, wait this much longer for follow-ups (the bot may send several messages).
FOLLOW_UP_SECONDS = 1.0


def add_simulator(platforms: argparse._SubParsersAction) -> None:
    parser = platforms.add_parser("widget", help="a chat over the widget's WebSocket, as the partner's iframe does")
    parser.add_argument("--partner", required=True, help="the widget partner id (see [[partners]] in config)")
    parser.add_argument("--user", default="",
                        help="the partner's pseudonymous user id: sign a partner token for it (default: anonymous)")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for replies")
    parser.add_argument("text", nargs="?", default="你好")
    parser.set_defaults(handler=_simulate)


def _simulate(args: argparse.Namespace) -> None:
    settings = settings_from_args(args)
    partner = settings.partner(args.partner)
    if partner is None:
        raise SystemExit(f"no widget partner {args.partner!r} in the configuration")
    asyncio.run(chat(args.url, partner, args.user, args.text, args.wait))


def hello_frame(partner: PartnerConfig, user: str) -> dict[str, Any]:
    """The iframe's first frame: a partner token names the youth; without one the chat is anonymous."""
    return {"type": "hello", "token": sign_partner_token(partner, user)} if user else {"type": "hello"}


async def chat(base_url: str, partner: PartnerConfig, user: str, text: str, wait: float) -> None:
    url = f"{base_url.rstrip('/')}{SOCKET_PATH}"
    client_id = f"sim-{secrets.token_hex(8)}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)) as http:
        try:
            ws = await http.ws_connect(url, params={"partner": partner.id}, heartbeat=30)
        except aiohttp.WSServerHandshakeError as exc:
            print(f"gateway refused the socket: HTTP {exc.status} {exc.message}")
            return
        async with ws:
            await ws.send_json(hello_frame(partner, user))
            if not await _until_synced(ws):
                return
            await ws.send_json({"type": "text", "text": text, "client_id": client_id})
            await _print_replies(ws, client_id, wait)


async def _frames(ws: aiohttp.ClientWebSocketResponse, timeout: float) -> dict[str, Any] | None:
    """The next JSON frame, or None when the socket closed or nothing came within ``timeout``."""
    try:
        frame = await ws.receive(timeout=max(timeout, 0.01))
    except TimeoutError:
        return None
    if frame.type != aiohttp.WSMsgType.TEXT:
        if ws.close_code is not None:
            print(f"gateway closed the socket ({ws.close_code})")
        return None
    return json.loads(frame.data)


async def _until_synced(ws: aiohttp.ClientWebSocketResponse) -> bool:
    """Read the welcome and the history replay; False when the gateway refused the hello."""
    while (frame := await _frames(ws, 10.0)) is not None:
        kind = frame.get("type")
        if kind == "welcome":
            who = "anonymous" if frame.get("anonymous") else "signed in"
            desk = frame.get("desk") or {}
            print(f"gateway welcomed the youth ({who}); desk {desk.get('name')}, open: {desk.get('open')}")
        elif kind == "error":
            print(f"gateway refused: {frame.get('reason')}")
            return False
        elif kind == "synced":
            return True
    return False


async def _print_replies(ws: aiohttp.ClientWebSocketResponse, client_id: str, wait: float) -> None:
    deadline, replies = time.monotonic() + wait, 0
    while (frame := await _frames(ws, deadline - time.monotonic())) is not None:
        kind = frame.get("type")
        if kind == "ack" and frame.get("client_id") == client_id:
            print(f"gateway stored the message {frame.get('message_id')} "
                  f"(conversation {frame.get('conversation_id')}, duplicate: {frame.get('duplicate')})")
        elif kind == "error":
            print(f"gateway answered with an error: {frame.get('reason')}")
            return
        elif kind == "message" and frame["message"].get("sender") != "youth":
            message = frame["message"]
            print(f"reply from {message.get('sender')}: {message.get('text') or message.get('type')}")
            replies += 1
            deadline = min(deadline, time.monotonic() + FOLLOW_UP_SECONDS)
        elif kind == "queue":
            print(f"in the queue at position {frame.get('position')}")
    if not replies:
        print(f"no reply within {wait:g} s (the conversation may be waiting for a counsellor)")
