"""The app on a real loopback port, in a thread of its own, for HTTP clients that block (schemathesis).

aiohttp is not ASGI, so schemathesis calls the app over HTTP; the app's loop runs in its own thread so
the test's synchronous calls never block it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator

import pytest
from aiohttp import web

from contract.config import Settings
from service.app import create_app
from tests.fakes import RecordingChannel

# Given the started app, returns the Bearer token the client calls with.
Prepare = Callable[[web.Application], Awaitable[str]]
Serve = Callable[[Prepare], tuple[str, str]]


@pytest.fixture
def serve_in_thread(settings: Settings) -> Iterator[Serve]:
    """``serve(prepare)`` starts the app, runs ``prepare`` on its loop and returns (base URL, token)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runners: list[web.AppRunner] = []

    async def start(prepare: Prepare) -> tuple[str, str]:
        runner = web.AppRunner(create_app(settings, channel_classes=[RecordingChannel]))
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        token = await prepare(runner.app)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}", token

    def serve(prepare: Prepare) -> tuple[str, str]:
        return asyncio.run_coroutine_threadsafe(start(prepare), loop).result(timeout=60)

    yield serve
    for runner in runners:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
