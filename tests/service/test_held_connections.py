"""Held connections: half-sent headers and silent sockets are closed; one address cannot hold many widget sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from channels.widget import WidgetChannel
from contract.config import Settings
from service.app import create_app, server_options

IDLE = 0.5


@pytest.fixture
def settings(settings: Settings, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    service = settings.service.model_copy(update={"data_dir": str(tmp_path), "http_idle_timeout_seconds": IDLE,
                                                  "widget_sockets_per_ip": 2})
    return settings.model_copy(update={"service": service})


@pytest.fixture
async def server(settings: Settings, embedded_client) -> AsyncIterator[tuple[str, int]]:  # type: ignore[no-untyped-def]
    """The gateway as ``youthdesk serve`` runs it: a real socket, the CLI's server options."""
    app = create_app(settings, channel_classes=[WidgetChannel], embedded_client=embedded_client)
    runner = web.AppRunner(app, **server_options(settings.service))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield host, port
    finally:
        await runner.cleanup()


async def test_half_sent_headers_are_cut_off_after_the_idle_timeout(server: tuple[str, int]) -> None:
    connections = [await asyncio.open_connection(*server) for _ in range(20)]
    started = time.monotonic()
    for _, writer in connections:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and never the rest
    async with asyncio.timeout(IDLE + 3):
        for reader, _ in connections:
            assert await reader.read() == b""  # closed by the server
    assert time.monotonic() - started < IDLE + 3
    for _, writer in connections:
        writer.close()


async def test_a_sign_in_body_that_never_comes_is_cut_off(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"username\"")  # and never the rest
    async with asyncio.timeout(2 * IDLE + 3):
        answer = await reader.read()  # the answer, then the connection closes
    assert answer.startswith(b"HTTP/1.1 408") and b"body not received in time" in answer
    writer.close()


async def test_a_widget_socket_without_hello_is_closed_and_one_address_gets_a_few(server: tuple[str, int]) -> None:
    url = f"http://{server[0]}:{server[1]}/channels/widget/ws?partner=demo-video"
    async with aiohttp.ClientSession() as http:
        held = [await http.ws_connect(url) for _ in range(2)]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url)
        assert refused.value.status == 429
        async with asyncio.timeout(IDLE + 3):
            for ws in held:
                assert (await ws.receive_json())["reason"] == "hello expected in time"
                assert (await ws.receive()).type == aiohttp.WSMsgType.CLOSE
        for ws in held:
            await ws.close()
        await asyncio.sleep(0.05)  # the handlers' finally blocks give the slots back
        again = await http.ws_connect(url)  # both slots free again
        await again.close()


async def test_an_identified_widget_socket_outlives_the_idle_timeout(server: tuple[str, int]) -> None:
    url = f"http://{server[0]}:{server[1]}/channels/widget/ws?partner=demo-video"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_json({"type": "hello"})  # anonymous: the demo partner allows it
        assert (await ws.receive_json())["type"] == "welcome"
        await asyncio.sleep(IDLE * 3)  # the idle timer is for connections still waiting for a request
        await ws.send_json({"type": "ping"})
        async with asyncio.timeout(3):
            while (frame := await ws.receive_json())["type"] != "pong":
                assert frame["type"] in ("synced", "state")
