"""Shared fixtures: demo settings, a running app on the durable embedded store (or MONGODB_URI), a client."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.risk import RiskDetector
from contract.config import DEMO_CONFIG_PATH, Settings, load_settings
from store.client import STORE_FILE_NAME
from store.durable import DurableMongoClient


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The demo configuration with an isolated database and data directory per test."""
    loaded = load_settings(DEMO_CONFIG_PATH, environ={k: v for k, v in os.environ.items()
                                                      if k in ("MONGODB_URI",)})
    service = loaded.service.model_copy(update={
        "env": "test",
        "data_dir": str(tmp_path / "data"),
        "mongodb_database": f"youthdesk_test_{uuid.uuid4().hex[:12]}",
        "delivery_backoff_seconds": 0.01,
        "shutdown_grace_seconds": 2.0,
        # Channel and handoff tests see stored messages only; tests/test_triage*.py switch triage on.
        "triage_enabled": False,
        # Tests count outbound messages; tests/gateway/test_privacy_notice.py switches the notice on.
        "privacy_notice_enabled": False,
    })
    # Every desk open around the clock, so no test's outcome depends on the hour it runs at; tests of
    # opening hours set them (and a clock) themselves.
    desks = [desk.model_copy(update={"hours": "00:00-24:00"}) for desk in loaded.desks]
    # Places are worked out on every queue change, so tests see each notice as the change happens;
    # tests/handoff/test_place_notices.py tests the spell.
    handoff = loaded.handoff.model_copy(update={"place_notice_seconds": 0})
    return loaded.model_copy(update={"service": service, "desks": desks, "handoff": handoff})


@pytest.fixture(scope="session")
def detector() -> RiskDetector:
    """The risk detector with the repository's lexicon: loading it (and jieba) once is enough."""
    return RiskDetector()


@pytest.fixture
async def embedded_client(settings: Settings) -> AsyncIterator[DurableMongoClient]:
    """One durable store per test, kept open across app restarts within the test."""
    client = DurableMongoClient(Path(settings.service.data_dir) / STORE_FILE_NAME)
    yield client
    await client.close()


AppFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def start_app(settings: Settings, embedded_client: DurableMongoClient) -> AsyncIterator[AppFactory]:
    """Start an app (``create_app`` kwargs pass through) and return a test client for it."""
    from service.app import create_app

    clients: list[TestClient] = []

    async def start(app: web.Application | None = None, **kwargs: Any) -> TestClient:
        kwargs.setdefault("embedded_client", embedded_client)
        app = app or create_app(kwargs.pop("settings", settings), **kwargs)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in reversed(clients):
        await client.close()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private redis-server on a unix socket for this test."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: `make test` installs it when run as root, "
                    "else `sudo apt-get install redis-server`")
    socket_path = tmp_path / "redis.sock"
    process = subprocess.Popen([server, "--port", "0", "--unixsocket", str(socket_path), "--save", "",  # noqa: S603
                                "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not _accepts(socket_path):  # the file appears at bind(), connections work after listen()
            if time.monotonic() > deadline:
                pytest.fail("redis-server did not start")
            time.sleep(0.02)
        yield f"unix://{socket_path}"
    finally:
        process.terminate()
        process.wait(timeout=5)


def _accepts(socket_path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(socket_path))
        except OSError:
            return False
    return True
