"""Widget WebSocket round trip: youth send → stored → echoed to a second socket, 500 connections on loopback.

250 youths each hold two widget connections (say, two tabs): one sends, the other must receive
the stored message through the stream and the event bus. Every youth sends paced messages
(under the per-connection rate limit) at the same time. The whole run is bounded to 60 s.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import tempfile
import time
import uuid

import aiohttp
from aiohttp import web

from bench._stats import describe_ms
from channels.widget import WidgetChannel
from channels.widget_identity import sign_partner_token
from contract.config import DEMO_CONFIG_PATH, load_settings
from service.app import create_app

YOUTHS = 250  # × 2 sockets = 500 concurrent widget connections
MESSAGES_PER_YOUTH = 8
PACE_SECONDS = 0.25  # 4 messages/s per socket, under the 5/s limit
BUDGET_SECONDS = 60


async def main() -> None:
    logging.getLogger("youthdesk").setLevel(logging.ERROR)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    loaded = load_settings(DEMO_CONFIG_PATH, environ={})
    with tempfile.TemporaryDirectory() as data_dir:
        service = loaded.service.model_copy(update={"env": "test", "data_dir": data_dir})
        settings = loaded.model_copy(update={"service": service})
        app = create_app(settings, channel_classes=[WidgetChannel])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            await asyncio.wait_for(_run(f"http://127.0.0.1:{port}", settings), BUDGET_SECONDS)
        except TimeoutError:
            print(f"   widget_ws: did not finish within {BUDGET_SECONDS} s")
        finally:
            await runner.cleanup()


async def _run(base: str, settings) -> None:  # type: ignore[no-untyped-def]
    partner = settings.partners[0]
    url = f"{base}/channels/widget/ws?partner={partner.id}"
    latencies: list[float] = []
    lost = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def connect(sub: str) -> aiohttp.ClientWebSocketResponse:
            ws = await http.ws_connect(url, max_msg_size=0)
            await ws.send_json({"type": "hello", "token": sign_partner_token(partner, sub)})
            while (await ws.receive_json())["type"] != "synced":
                pass
            return ws

        async def until(ws: aiohttp.ClientWebSocketResponse, kind: str, text: str | None = None) -> None:
            while True:
                frame = await ws.receive_json()
                if frame["type"] == kind and (text is None or frame["message"]["text"] == text):
                    return

        started = time.perf_counter()
        youths = [f"bench-{uuid.uuid4().hex[:8]}-{n}" for n in range(YOUTHS)]
        senders = await asyncio.gather(*(connect(sub) for sub in youths))
        # First message creates the conversation; the second tab then opens on it (as a returning tab would).
        for ws in senders:
            await ws.send_json({"type": "text", "client_id": "warm-up", "text": "你好"})
        await asyncio.gather(*(until(ws, "ack") for ws in senders))
        receivers = await asyncio.gather(*(connect(sub) for sub in youths))
        setup = time.perf_counter() - started

        async def youth(sender: aiohttp.ClientWebSocketResponse, receiver: aiohttp.ClientWebSocketResponse) -> None:
            nonlocal lost
            for i in range(MESSAGES_PER_YOUTH):
                text = f"第{i}条：最近压力有点大"
                sent_at = time.perf_counter()
                await sender.send_json({"type": "text", "client_id": f"m{i}", "text": text})
                try:
                    await asyncio.wait_for(until(receiver, "message", text), 10)
                    latencies.append(time.perf_counter() - sent_at)
                except TimeoutError:
                    lost += 1
                await asyncio.sleep(max(0.0, PACE_SECONDS - (time.perf_counter() - sent_at)))

        started = time.perf_counter()
        await asyncio.gather(*(youth(s, r) for s, r in zip(senders, receivers, strict=True)))
        elapsed = time.perf_counter() - started
        for ws in [*senders, *receivers]:
            await ws.close()
    total = YOUTHS * MESSAGES_PER_YOUTH
    print(f"   {YOUTHS * 2} concurrent widget connections (JWT hello + history sync) ready in {setup:.2f} s")
    print(f"   round trip youth → stored → second socket: {describe_ms(latencies)}")
    print(f"   {total} messages in {elapsed:.2f} s = {total / elapsed:,.0f} messages/s offered at "
          f"{1 / PACE_SECONDS:.0f}/s per youth; not received within 10 s: {lost}")
    print("   (client and gateway share one process and core; embedded store)")
