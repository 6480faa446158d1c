"""Webhook ack latency of the QQ, Douyin, partner-API and hotline channels next to a bare aiohttp handler.

The gateway (those four channels, durable embedded store in a temporary directory, triage off, no
delivery workers) and a bare handler that reads the body and answers ``{}`` each run in their own
process, so the load generator does not share their event loop. Requests are signed beforehand
exactly as each platform signs them (distinct message ids from 500 youths); latency runs from
sending a request to reading the answer. Open loop at ``BENCH_CHANNELS_RATE`` requests/s (default
100) for ``BENCH_CHANNELS_SECONDS`` (default 5) per channel. The store starts empty: the figures
with 100,000 stored messages are ``wechat_webhook``'s (the ingest path after the signature check is
the same for every channel).
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from bench._stats import describe_ms, percentile
from bench.wechat_webhook import _free_port, _settings
from channels.signed_rest import signed_headers
from contract.config import ChannelAccountConfig, Settings

RATE = float(os.environ.get("BENCH_CHANNELS_RATE", "100"))
SECONDS = float(os.environ.get("BENCH_CHANNELS_SECONDS", "5"))
YOUTHS = 500
STARTUP_SECONDS = 60
CHANNELS = ("qq", "douyin", "partner-api", "hotline")

Request = tuple[str, dict[str, str], bytes]


def _bench_settings(data_dir: str = "") -> Settings:
    """The demo accounts with the partner/hotline rate limits lifted: the bench measures latency, not 429s."""
    settings = _settings(data_dir)
    accounts = [a.model_copy(update={"requests_per_minute": 10**6}) for a in settings.accounts]
    return settings.model_copy(update={"accounts": accounts})


# ------------------------------------------------------------------- servers (child processes)

def _serve(kind: str, port: int, data_dir: str) -> None:
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("youthdesk").setLevel(logging.CRITICAL)
    if kind == "gateway":
        from channels.douyin import DouyinChannel
        from channels.hotline import HotlineChannel
        from channels.partner_api import PartnerApiChannel
        from channels.qq import QQChannel
        from service.app import create_app

        app = create_app(_bench_settings(data_dir), start_workers=False,
                         channel_classes=[QQChannel, DouyinChannel, PartnerApiChannel, HotlineChannel])
    else:
        async def acknowledge(request: web.Request) -> web.Response:
            await request.read()
            return web.json_response({})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", acknowledge)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, handle_signals=True)


@dataclass
class Server:
    process: multiprocessing.process.BaseProcess
    base: str

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)


async def _start(kind: str, data_dir: str) -> Server:
    port = _free_port()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(kind, port, data_dir), daemon=True)
    process.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(base):
                    return Server(process, base)
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                process.terminate()
                raise RuntimeError(f"{kind} server did not start")
            await asyncio.sleep(0.1)


# ------------------------------------------------------------------------------- load

def _builders(settings: Settings) -> dict[str, Callable[[int], Request]]:
    from service import douyin_simulate, partner_api_simulate, qq_simulate

    def account(platform: str) -> ChannelAccountConfig:
        return next(a for a in settings.accounts if a.platform == platform)

    qq, douyin, partner, centre = (account(p) for p in CHANNELS)

    def qq_request(n: int) -> Request:
        body = json.dumps(qq_simulate.simulated_dispatch(f"BENCHYOUTH{n % YOUTHS:022d}", "我最近压力很大", None),
                          ensure_ascii=False).encode()
        return f"/channels/qq/{qq.id}", qq_simulate.signed_headers(qq, body), body

    def douyin_request(n: int) -> Request:
        payload = douyin_simulate.simulated_message(douyin, f"_000BenchYouth{n % YOUTHS:020d}", "我最近压力很大")
        body = json.dumps(payload, ensure_ascii=False).encode()
        return f"/channels/douyin/{douyin.id}", douyin_simulate.signed_headers(douyin, body), body

    def partner_request(n: int) -> Request:
        body, headers = partner_api_simulate.signed_request(partner, f"bench-{n % YOUTHS}", "我最近压力很大",
                                                            f"bench-{n}")
        return f"/channels/partner-api/{partner.id}/messages", headers, body

    def hotline_request(n: int) -> Request:
        event = {"call_id": f"bench-{n}", "event": "ringing", "at": int(time.time()),
                 "caller": f"138{n % YOUTHS:08d}", "line": "12355"}
        body = json.dumps(event).encode()
        return (f"/channels/hotline/{centre.id}/events",
                {"Content-Type": "application/json", **signed_headers(centre.secret, body)}, body)

    return {"qq": qq_request, "douyin": douyin_request, "partner-api": partner_request, "hotline": hotline_request}


@dataclass
class Result:
    latencies: list[float]
    failures: int


async def _open_loop(base: str, requests: list[Request]) -> Result:
    latencies: list[float] = []
    failures = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256),
                                     timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def one(path: str, headers: dict[str, str], body: bytes) -> None:
            nonlocal failures
            started = time.perf_counter()
            try:
                async with http.post(f"{base}{path}", data=body, headers=headers) as response:
                    await response.read()
                    ok = response.status < 300
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                failures += 1

        loop = asyncio.get_running_loop()
        started, tasks = loop.time(), []
        for index, request in enumerate(requests):
            delay = started + index / RATE - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(*request)))
        await asyncio.gather(*tasks)
    return Result(latencies, failures)


async def _measure(kind: str, data_dir: str) -> dict[str, Result]:
    builders = _builders(_bench_settings())
    server = await _start(kind, data_dir)
    try:
        return {channel: await _open_loop(server.base, [builders[channel](n) for n in range(int(RATE * SECONDS))])
                for channel in CHANNELS}
    finally:
        server.stop()


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="youthdesk-bench-channels-") as data_dir:
        full = await _measure("gateway", data_dir)
    bare = await _measure("bare", "")
    print(f"   load: {RATE:g} signed requests/s for {SECONDS:g} s per channel, {YOUTHS} youths, open loop; "
          "servers in their own processes (durable store, empty at start, triage off)")
    print("   full path = verify signature, parse, dedupe, store (committed to disk), answer")
    for channel in CHANNELS:
        gateway, baseline = full[channel], bare[channel]
        print(f"   {channel}: full {len(gateway.latencies)} acks, {gateway.failures} failed; "
              f"bare {len(baseline.latencies)} acks, {baseline.failures} failed")
        print(f"     full: {describe_ms(gateway.latencies)}")
        print(f"     bare: {describe_ms(baseline.latencies)}")
        full_99, bare_99 = percentile(gateway.latencies, 99), percentile(baseline.latencies, 99)
        print(f"     ratio full/bare p99: {full_99 / bare_99:.1f}× "
              f"({full_99 * 1000:.2f} ms vs {bare_99 * 1000:.2f} ms)")
