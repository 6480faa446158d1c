"""Real-browser helpers: the gateway on a real loopback port and Debian's Chromium via Playwright."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from contract.config import Settings
from store.durable import DurableMongoClient
from tests.fakes import loopback_socket

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def require_chromium() -> None:
    """Fail loudly without the system browser: a skipped browser test would pass unnoticed."""
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is not installed: `make test` installs it when run as root, "
                    "else `sudo apt-get install chromium fonts-wqy-microhei` (or deselect: -m 'not browser')")


@dataclass(frozen=True, slots=True)
class RunningGateway:
    app: web.Application
    base_url: str


@asynccontextmanager
async def running_gateway(settings: Settings, embedded_client: DurableMongoClient, data_dir: Path,
                          sock: socket.socket | None = None) -> AsyncIterator[RunningGateway]:
    """The whole app on 127.0.0.1:<free port>, with the demo partner allowed to embed from that origin
    and the accounts whose ``api_base`` is ``"standin"`` talking to this app's own stand-ins."""
    from service.app import create_app
    from service.standins import with_own_standins

    sock = sock or loopback_socket()  # the caller's, when its settings already name the port
    port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    partners = [p.model_copy(update={"origins": [base_url]}) for p in settings.partners]
    service = settings.service.model_copy(update={"data_dir": str(data_dir), "port": port})
    served = with_own_standins(settings.model_copy(update={"partners": partners, "service": service}),
                               "127.0.0.1", port)
    app = create_app(served, embedded_client=embedded_client)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield RunningGateway(app, base_url)
    finally:
        await runner.cleanup()


@asynccontextmanager
async def chromium_page() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 412, "height": 860}, locale="zh-CN")
            yield await context.new_page()
        finally:
            await browser.close()
