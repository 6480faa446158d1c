"""Widget sockets at 10,000 per process: message round trip p50/p99 steady and while sockets join, vs a bare relay.

The gateway (widget channel only, durable store in a temporary directory, triage and delivery workers
on, as ``youthdesk serve`` runs) and, in the same run, a bare aiohttp WebSocket relay that hands each
frame to the sender's other socket, each serve in a process of their own; this process is the measuring client.
``PROBES`` youths hold two sockets each (a partner token, so both are the same youth) and send a message every
``PROBE_PACE_SECONDS``, each youth at a random phase of it (seeded; ``PROBES`` / ``PROBE_PACE_SECONDS``
messages/s with chance coincidences, not a burst of ``PROBES`` at once); the round trip is from sending on one
socket to reading it on the other (stored, published, forwarded). Around them, anonymous sockets (hello,
welcome, synced, then idle and read) are opened in steps up to ``BENCH_WIDGET_SOCKETS`` (default 10,000): at
each step the round trip is measured while the step's sockets join (``JOIN_CONCURRENCY`` handshakes at a time),
then for ``STEADY_SECONDS`` with all of them open. All sockets come from 127.0.0.1, so the per-address socket
and new-conversation limits are raised for the run (in production they come from many addresses). The file limit
(``ulimit -n``) caps the count: each side holds one descriptor per socket. The idle sockets are opened and held
by a process of their own (``bench/_socket_joiner.py``), so the measuring youths' reads never wait behind the
client's handshakes. Each phase also reports the CPU the server process, this measuring client and the joining
client used (share of one core): on a shared machine they all compete for the same cores. With
``BENCH_LOOP_TIMING=1`` every event-loop callback of the server is timed (``bench/_loop_timing.py``; it slows
the server a little, so such a run's latencies are not the bench's figures) and each phase also reports the
loop's busy share and its long callbacks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import random
import resource
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from bench import _loop_timing
from bench._socket_joiner import JOIN_CONCURRENCY, Joiner, drain
from bench._stats import describe_ms, percentile
from bench.wechat_webhook import _start
from channels.widget_identity import sign_partner_token
from contract.config import DEMO_CONFIG_PATH, Settings, load_settings
from service.garbage_collection import collector_ctx

SOCKETS = int(os.environ.get("BENCH_WIDGET_SOCKETS", "10000"))
STEPS = sorted({s for s in (1_000, 5_000, SOCKETS) if s <= SOCKETS})
PROBES = 20  # youths × 2 sockets, measuring
PROBE_PACE_SECONDS = 0.5  # 2 messages/s per youth, under the per-socket limit of 5/s
STEADY_SECONDS = 8.0
RECEIVE_TIMEOUT = 10.0
LOOP_TIMING = os.environ.get("BENCH_LOOP_TIMING") == "1"
LOOP_TIMING_FILE = "bench-loop-timing.json"


def _settings(data_dir: str) -> Settings:
    loaded = load_settings(DEMO_CONFIG_PATH, environ={})
    service = loaded.service.model_copy(update={
        "env": "test", "data_dir": data_dir, "widget_sockets_per_ip": 4 * SOCKETS,
        "widget_new_conversations_per_ip": 10 * PROBES})
    return loaded.model_copy(update={"service": service})


# ------------------------------------------------------------------- servers (child processes)

def _serve(kind: str, port: int, data_dir: str) -> None:
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("youthdesk").setLevel(logging.CRITICAL)
    if kind == "gateway":
        from channels.widget import WidgetChannel
        from service.app import create_app

        app = create_app(_settings(data_dir), channel_classes=[WidgetChannel])
    else:
        app = _bare_relay()
    if LOOP_TIMING:
        _loop_timing.install()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, handle_signals=True)
    if LOOP_TIMING:
        _loop_timing.save(Path(data_dir) / LOOP_TIMING_FILE)


def _bare_relay() -> web.Application:
    """hello → welcome + synced; a text frame → ``ack`` to the sender and ``message`` to every socket of the
    same youth: the least any relay must do, a dict from youth to sockets in place of the store, stream and bus.
    It collects garbage as the gateway does (``service/garbage_collection.py``): left to CPython's default,
    its full passes over every open socket held its loop 150–270 ms while sockets joined, which is not the
    relay's work and which no gateway runs with."""
    sockets: dict[str, set[web.WebSocketResponse]] = {}

    async def relay(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        hello = json.loads((await ws.receive()).data)
        youth = hello.get("youth") or uuid.uuid4().hex
        sockets.setdefault(youth, set()).add(ws)
        await ws.send_json({"type": "welcome"})
        await ws.send_json({"type": "synced"})
        try:
            async for frame in ws:
                data = json.loads(frame.data)
                await ws.send_json({"type": "ack", "client_id": data["client_id"]})
                for peer in list(sockets[youth]):
                    await peer.send_json({"type": "message", "message": {"text": data["text"]}})
        finally:
            sockets[youth].discard(ws)
        return ws

    app = web.Application()
    app.cleanup_ctx.append(collector_ctx)
    app.router.add_get("/channels/widget/ws", relay)
    return app


# ------------------------------------------------------------------------------- client

@dataclass
class Probes:
    """Round trips as (sent at, seconds); a message not read within RECEIVE_TIMEOUT counts as lost."""
    samples: list[tuple[float, float]] = field(default_factory=list)
    lost: list[float] = field(default_factory=list)

    def between(self, start: float, end: float) -> tuple[list[float], int]:
        return ([rtt for at, rtt in self.samples if start <= at < end],
                sum(1 for at in self.lost if start <= at < end))


@dataclass
class Phase:
    label: str
    latencies: list[float]
    lost: int
    cpu: str  # what the server and the clients used meanwhile
    wall: tuple[float, float]  # time.time() at its start and end
    detail: str = ""
    loop: str = ""  # with BENCH_LOOP_TIMING=1: the server's event loop meanwhile


class CpuMeter:
    """CPU seconds of the server and the joining client (from /proc) and of this measuring client, as
    shares of one core per phase."""

    def __init__(self, server_pid: int, joiner_pid: int) -> None:
        self._stats = (f"/proc/{server_pid}/stat", f"/proc/{joiner_pid}/stat")
        self._tick = os.sysconf("SC_CLK_TCK")
        self._last = self._now()

    def _now(self) -> tuple[float, ...]:
        used = []
        for path in self._stats:
            with open(path, encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            used.append((int(fields[11]) + int(fields[12])) / self._tick)
        return time.perf_counter(), *used, time.process_time()

    def lap(self) -> str:
        now, last = self._now(), self._last
        self._last = now
        wall = max(now[0] - last[0], 1e-9)
        server, joining, measuring = ((a - b) / wall for a, b in zip(now[1:], last[1:], strict=True))
        return f"CPU: server {server:.2f}, measuring client {measuring:.2f}, joining client {joining:.2f} of a core"


async def _until(ws: aiohttp.ClientWebSocketResponse, kind: str, text: str | None = None) -> None:
    while True:
        message = await ws.receive()
        if message.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"socket closed ({ws.close_code})")
        frame = json.loads(message.data)
        if frame["type"] == kind and (text is None or frame.get("message", {}).get("text") == text):
            return


async def _measure(kind: str, settings: Settings) -> tuple[list[Phase], int, int]:
    """(phases, sockets open at the end, sockets that failed to open)."""
    with tempfile.TemporaryDirectory(prefix="youthdesk-bench-widget-") as data_dir:
        server = await _start(kind, data_dir, _serve)
        try:
            url = f"{server.base.replace('http', 'ws')}/channels/widget/ws?partner={settings.partners[0].id}"
            joiner = Joiner(url)
            try:
                phases, open_at_end, failed = await _client(url, settings, joiner,
                                                            CpuMeter(server.process.pid or 0, joiner.pid))
            finally:
                joiner.process.kill()
        finally:
            server.stop()
        if LOOP_TIMING:
            for phase in phases:
                phase.loop = _loop_timing.describe(Path(data_dir) / LOOP_TIMING_FILE, *phase.wall)
        return phases, open_at_end, failed


async def _client(url: str, settings: Settings, joiner: Joiner, cpu: CpuMeter) -> tuple[list[Phase], int, int]:
    partner = settings.partners[0]
    probes = Probes()
    readers: list[asyncio.Task[None]] = []
    phases: list[Phase] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def connect(hello: dict[str, str]) -> aiohttp.ClientWebSocketResponse:
            ws = await http.ws_connect(url, max_msg_size=0, autoping=True)
            await ws.send_json({"type": "hello", **hello})
            await _until(ws, "synced")
            return ws

        async def youth(number: int, first_at: float, stop: asyncio.Event) -> None:
            # A partner token is good for one hello (a reused one is a replay): one per socket. ``youth`` is
            # for the bare relay, which has no tokens; the gateway ignores it.
            sub = f"bench-probe-{uuid.uuid4().hex[:8]}-{number}"
            sender = await connect({"token": sign_partner_token(partner, sub), "youth": sub})
            await sender.send_json({"type": "text", "client_id": "warm-up", "text": "你好"})
            await _until(sender, "ack")  # the conversation exists: the second tab opens on it
            receiver = await connect({"token": sign_partner_token(partner, sub), "youth": sub})
            readers.append(asyncio.create_task(drain(sender)))
            slot = 0
            while not stop.is_set():
                # Slots on a fixed schedule: a slow round trip (or a late start) skips the slots it overran,
                # so the youth keeps its phase and never sends a catch-up burst.
                slot = max(slot, math.ceil((time.perf_counter() - first_at) / PROBE_PACE_SECONDS))
                await asyncio.sleep(max(0.0, first_at + slot * PROBE_PACE_SECONDS - time.perf_counter()))
                text, sent_at = f"第{slot}条：最近压力有点大", time.perf_counter()
                await sender.send_json({"type": "text", "client_id": f"m{slot}", "text": text})
                try:
                    await asyncio.wait_for(_until(receiver, "message", text), RECEIVE_TIMEOUT)
                    probes.samples.append((sent_at, time.perf_counter() - sent_at))
                except TimeoutError:
                    probes.lost.append(sent_at)
                slot += 1

        stop = asyncio.Event()
        # Started in step, every youth would send in the same millisecond: each message then waits for the
        # ones ahead of it in the burst (round trip p50 38 ms against 4 ms evenly spread, 20 youths, no joining).
        phase_of = random.Random(PROBES)
        first_at = time.perf_counter() + 2.5
        youths = [asyncio.create_task(youth(n, first_at + phase_of.uniform(0, PROBE_PACE_SECONDS), stop))
                  for n in range(PROBES)]
        await asyncio.sleep(3)  # every probe youth connected and sending
        opened = 0
        for step in STEPS:
            cpu.lap()
            before, started, started_wall = opened, time.perf_counter(), time.time()
            opened, _ = await joiner.join(step - before)
            ended, ended_wall = time.perf_counter(), time.time()
            latencies, lost = probes.between(started, ended)
            joined, took = opened - before, ended - started
            phases.append(Phase(f"{before:>6,} → {opened:,} joining", latencies, lost, cpu.lap(),
                                (started_wall, ended_wall),
                                f"{joined:,} joined in {took:.1f} s = {joined / took:,.0f}/s"))
            await asyncio.sleep(STEADY_SECONDS)
            latencies, lost = probes.between(ended, time.perf_counter())
            phases.append(Phase(f"{opened:>6,} open, steady", latencies, lost, cpu.lap(), (ended_wall, time.time())))
        stop.set()
        for outcome in await asyncio.gather(*youths, return_exceptions=True):
            if outcome is not None:
                print(f"   a measuring youth stopped: {outcome!r}")
        open_at_end, failed = await joiner.close()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    return phases, open_at_end, failed


def _described(phase: Phase) -> str:
    text = describe_ms(phase.latencies) if phase.latencies else "no sample"
    return text + (f" · lost {phase.lost}" if phase.lost else "") + f" · {phase.cpu}"


async def main() -> None:
    logging.getLogger("youthdesk").setLevel(logging.ERROR)
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    settings = _settings("")
    print(f"   load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 shared cores); "
          f"open-file limit {limit:,} per process")
    results = {kind: await _measure(kind, settings) for kind in ("gateway", "bare")}
    print(f"   {PROBES} youths × 2 sockets measuring (a message every {PROBE_PACE_SECONDS:g} s each), anonymous idle "
          f"sockets opened in steps to {SOCKETS:,}, {JOIN_CONCURRENCY} handshakes at a time by a joining client; "
          "server, measuring client and joining client each in a process of their own")
    for (gateway, bare) in zip(results["gateway"][0], results["bare"][0], strict=True):
        print(f"   {gateway.label}{'  (' + gateway.detail + ')' if gateway.detail else ''}")
        print(f"     gateway: {_described(gateway)}")
        print(f"     bare   : {_described(bare)}{'  (' + bare.detail + ')' if bare.detail else ''}")
        for kind, phase in (("gateway", gateway), ("bare", bare)):
            if phase.loop:
                print(f"     {kind} event loop (timed, BENCH_LOOP_TIMING=1): {phase.loop}")
        if gateway.latencies and bare.latencies:
            full, base = percentile(gateway.latencies, 99), percentile(bare.latencies, 99)
            print(f"     ratio gateway/bare p99: {full / base:.1f}×  [target: gateway p99 < 100 ms]")
    for kind, (_, open_at_end, failed) in results.items():
        print(f"   {kind}: {open_at_end:,} idle sockets still open at the end, {failed} failed to open")
    print(f"   load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
