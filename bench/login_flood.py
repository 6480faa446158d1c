"""Console sign-in while 200 concurrent bad sign-ins run: real sign-in latency and what the flood gets.

Two floods, each kept at 200 attempts in flight (an answered attempt is sent again at once): from one
address, and from 200 addresses (where only the bounded argon2 pool protects real sign-ins). A
counsellor signs in 30 times, one after another, from an address of their own.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections import Counter

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from bench._stats import percentile
from contract.config import DEMO_CONFIG_PATH, load_settings
from contract.keys import SETTINGS, STORE
from handoff.users import create_user
from service.app import create_app

PASSWORD = "correct-horse-battery"
FLOOD = 200
REAL_SIGN_INS = 30
# One client speaking from many addresses: the gateway trusts loopback as its reverse proxy.
PEER = "X-Forwarded-For"


async def _sign_in(http: aiohttp.ClientSession, url: URL, username: str, password: str,
                   peer: str) -> tuple[int, float]:
    started = time.perf_counter()
    async with http.post(url, json={"username": username, "password": password}, headers={PEER: peer}) as response:
        await response.read()
        return response.status, time.perf_counter() - started


async def _scenario(url: URL, name: str, peers: list[str]) -> None:
    # Separate connection pools: the counsellor's browser does not wait for the attacker's connections.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as flood, \
            aiohttp.ClientSession() as counsellor:
        await _run(url, flood, counsellor, name, peers)


async def _run(url: URL, flood: aiohttp.ClientSession, counsellor: aiohttp.ClientSession, name: str,
               peers: list[str]) -> None:
    stop = asyncio.Event()
    flood_statuses: Counter[int] = Counter()
    flood_latencies: list[float] = []

    async def attacker(n: int) -> None:
        while not stop.is_set():
            status, took = await _sign_in(flood, url, f"guess-{n % 7}", f"wrong-{n}", peers[n % len(peers)])
            flood_statuses[status] += 1
            flood_latencies.append(took)

    attackers = [asyncio.create_task(attacker(n)) for n in range(FLOOD)]
    await asyncio.sleep(1.0)
    real: list[float] = []
    real_statuses: Counter[int] = Counter()
    for _ in range(REAL_SIGN_INS):
        status, took = await _sign_in(counsellor, url, "counsellor-gd", PASSWORD, "198.51.100.7")
        real_statuses[status] += 1
        if status == 200:
            real.append(took)
    stop.set()
    await asyncio.gather(*attackers)
    ok = f"p50 {percentile(real, 50) * 1000:.0f} ms · p99 {percentile(real, 99) * 1000:.0f} ms" if real else "none"
    print(f"   {name}: real sign-ins {dict(real_statuses)} (200 = signed in), latency {ok}; "
          f"bad attempts {dict(flood_statuses)}, answered p99 {percentile(flood_latencies, 99) * 1000:.0f} ms",
          flush=True)


async def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings(DEMO_CONFIG_PATH, environ={})
        settings = settings.model_copy(update={"service": settings.service.model_copy(update={
            "env": "test", "data_dir": data_dir, "mongodb_database": f"bench_{uuid.uuid4().hex[:8]}",
            "triage_enabled": False, "trusted_proxies": ["127.0.0.1"]})})
        app = create_app(settings)
        client = TestClient(TestServer(app))
        await client.start_server()
        try:
            await create_user(client.app[STORE], client.app[SETTINGS], username="counsellor-gd", password=PASSWORD,
                              role="counsellor", desk="gd")
            url = client.make_url("/api/v1/auth/login")
            async with aiohttp.ClientSession() as http:
                alone = [(await _sign_in(http, url, "counsellor-gd", PASSWORD, "198.51.100.7"))[1] for _ in range(5)]
            print(f"   no flood: sign-in p50 {percentile(alone, 50) * 1000:.0f} ms (argon2 here)", flush=True)
            await _scenario(url, "flood from one address", ["203.0.113.66"])
            await _scenario(url, "flood from 200 addresses", [f"10.0.{n // 250}.{n % 250}" for n in range(FLOOD)])
        finally:
            await client.close()
