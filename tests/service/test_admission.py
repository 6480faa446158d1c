"""Webhook admission: a flood of platform pushes is worked on a few at a time; consoles and health checks pass by."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from service.admission import webhook_admission
from tests.fakes import RecordingChannel, wait_for


class HeldWebhooks(RecordingChannel):
    """A channel whose webhook holds every push until the test lets them go."""

    held: ClassVar[list[str]] = []
    most_at_once: ClassVar[int] = 0
    release: ClassVar[asyncio.Event]

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post("/channels/held/{n}", self._push)]

    async def _push(self, request: web.Request) -> web.Response:
        number = request.match_info["n"]
        HeldWebhooks.held.append(number)
        HeldWebhooks.most_at_once = max(HeldWebhooks.most_at_once, len(HeldWebhooks.held))
        try:
            await HeldWebhooks.release.wait()
        finally:
            HeldWebhooks.held.remove(number)
        return web.Response(text="success")


async def test_a_flood_of_pushes_is_worked_on_a_few_at_a_time_while_health_checks_pass_by(start_app, settings):
    HeldWebhooks.held, HeldWebhooks.most_at_once, HeldWebhooks.release = [], 0, asyncio.Event()
    limited = settings.model_copy(update={"service": settings.service.model_copy(update={"webhook_concurrency": 3})})
    client = await start_app(settings=limited, channel_classes=[HeldWebhooks])

    pushes = [asyncio.create_task(client.post(f"/channels/held/{n}")) for n in range(10)]
    await wait_for(lambda: len(HeldWebhooks.held) == 3)
    await asyncio.sleep(0.05)  # the other seven have arrived and wait outside
    assert len(HeldWebhooks.held) == 3

    health = await client.get("/healthz")  # not a webhook: not held behind them
    assert health.status == 200
    unknown = await asyncio.wait_for(client.post("/channels/no-such-channel/x", data=b"{}"), 2)  # nothing to wait for
    assert unknown.status == 404
    oversized = b"x" * (limited.service.max_body_bytes + 1)
    too_large = await asyncio.wait_for(client.post("/channels/held/big", data=oversized), 2)
    assert too_large.status == 413 and (await too_large.json()) == {"error": "body too large"}

    HeldWebhooks.release.set()
    answers = await asyncio.gather(*pushes)
    assert [answer.status for answer in answers] == [200] * 10
    assert HeldWebhooks.most_at_once == 3


async def test_a_push_whose_body_trickles_in_waits_outside_and_cannot_hold_the_place(start_app, settings):
    HeldWebhooks.held, HeldWebhooks.most_at_once, HeldWebhooks.release = [], 0, asyncio.Event()
    HeldWebhooks.release.set()  # pushes are answered as soon as they are worked on
    service = settings.service.model_copy(update={"webhook_concurrency": 1, "http_idle_timeout_seconds": 2.0})
    client = await start_app(settings=settings.model_copy(update={"service": service}), channel_classes=[HeldWebhooks])
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(b"POST /channels/held/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n<xml>")  # no more

    answer = await asyncio.wait_for(client.post("/channels/held/1", data=b"<xml/>"), 1.5)  # the one place is free
    assert answer.status == 200

    async with asyncio.timeout(5):
        refused = await reader.readuntil(b"}")  # the answer; the connection may linger
    assert refused.startswith(b"HTTP/1.1 408") and b"body not received in time" in refused
    writer.close()


async def test_only_posts_to_channel_webhooks_wait_for_a_place() -> None:
    admitted = webhook_admission(1, body_timeout=1, max_body_bytes=1024)
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        return web.Response()

    # The one place is taken by a webhook still being worked on; other requests go straight through.
    place_taken = asyncio.Event()
    finish = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        place_taken.set()
        await finish.wait()
        return web.Response()

    first = asyncio.create_task(admitted(make_mocked_request("POST", "/channels/wechat/wx1"), slow))
    await place_taken.wait()
    for method, path in [("GET", "/channels/wechat/wx1"), ("GET", "/healthz"), ("POST", "/api/v1/login")]:
        await asyncio.wait_for(admitted(make_mocked_request(method, path), handler), 1)
    waiting = asyncio.create_task(admitted(make_mocked_request("POST", "/channels/weibo/1"), handler))
    await asyncio.sleep(0.05)
    assert seen == ["GET /channels/wechat/wx1", "GET /healthz", "POST /api/v1/login"]

    finish.set()
    await asyncio.gather(first, waiting)
    assert seen[-1] == "POST /channels/weibo/1"


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        webhook_admission(0, body_timeout=1, max_body_bytes=1024)
