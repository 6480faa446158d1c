"""Level-3 youth message at an unstaffed city desk, 200 live conversations, quiet and under a widget flood:

1. Weibo webhook → ``alert.raised`` on the city desk supervisor's console WebSocket (target p99 ≤ 300 ms);
2. → in the parent desk counsellor's queue (``GET /queue`` after her WebSocket says the queue changed):
   nobody online at the city desk, so overflow offers it upwards at once;
3. the window path: a city counsellor is online but does not answer; the conversation must reach the
   parent desk's queue within the desk's window + 1 s (the deadline tick, ``tick_seconds``, is the slack).

Each is measured quiet, then while 40 anonymous widget sockets from one address (one browser) send crisis
messages to the same desk (the per-address limits refuse some sockets and new conversations; what gets
through is grouped as a possible flood). Baseline in the same run: a bare aiohttp server whose POST handler
pushes one frame to a listening WebSocket, quiet and under 40 sockets sending at the same pace.
Client and server share this process and its core.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from bench._stats import describe_ms
from contract.config import DEMO_CONFIG_PATH, Settings, load_settings
from contract.handoff import HandoffRequest
from contract.keys import SETTINGS, STORE, STREAM
from contract.models import Conversation, Message
from contract.people import Presence
from handoff.sessions import create_session
from handoff.users import create_user, set_presence
from handoff.web.keys import ENGINE
from service.app import create_app
from service.weibo_simulate import signed_query, simulated_push
from store.times import aware

ACTIVE = 200
SAMPLES = 60
WINDOW_SAMPLES = 4
WINDOW_SECONDS = 2  # the city desk's level-3 window here, so the window path is measured in seconds
URGENT_TEXT = "我不想活了，今晚就从楼上跳下去"
FLOOD_SOCKETS = 40
FLOOD_PACE_SECONDS = 0.5  # each flood socket sends 2 frames/s, under the per-connection frame limit
FLOOD_TEXT = "我不想活了，我现在就要跳楼"
PHASE_BUDGET_SECONDS = 60  # per path and phase: a path that falls behind is reported, not waited for


def _triage_available() -> bool:
    try:
        module = importlib.import_module("service.triage")
    except ModuleNotFoundError:
        return False
    return hasattr(module, "setup_triage")


class StandInDetector:
    """Only when triage is not built: hands every message containing a crisis phrase to the engine at level 3."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def route(self, conversation: Conversation, message: Message) -> None:
        level = 3 if "不想活" in message.text else 0
        await self.app[ENGINE].request_handoff(HandoffRequest(
            conversation_id=conversation.id, reason="risk" if level else "ask_human", risk_level=level,
            category="suicide" if level else None, cues=["不想活"] if level else [], message_id=message.id))


@dataclass
class FloodStats:
    opened: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # handshake status → sockets
    sent: int = 0
    replies: Counter[str] = field(default_factory=Counter)  # frame type or error reason → count


class Flood:
    """``FLOOD_SOCKETS`` sockets from this one address, each sending ``frame(n)`` every ``FLOOD_PACE_SECONDS``
    and reading everything it is sent (a socket that stops reading would be cut off, not flood)."""

    def __init__(self, http: aiohttp.ClientSession, url: str, hello: dict[str, Any],
                 frame: Callable[[int], dict[str, Any]]) -> None:
        self.http, self.url, self.hello, self.frame = http, url, hello, frame
        self.stats = FloodStats()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Flood:
        self._tasks = [asyncio.create_task(self._socket(n)) for n in range(FLOOD_SOCKETS)]
        await asyncio.sleep(2)  # every socket open (or refused) and sending before anything is measured
        return self

    async def __aexit__(self, *_: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _socket(self, n: int) -> None:
        try:
            ws = await self.http.ws_connect(self.url, max_msg_size=0)
        except aiohttp.WSServerHandshakeError as refused:
            self.stats.refused[str(refused.status)] += 1
            return
        self.stats.opened += 1
        reader = asyncio.create_task(self._read(ws))
        try:
            await ws.send_json(self.hello)
            for i in range(1_000_000):
                await ws.send_json(self.frame(n * 1_000_000 + i))
                self.stats.sent += 1
                await asyncio.sleep(FLOOD_PACE_SECONDS)
        except (ConnectionError, RuntimeError):
            return  # closed by the server: counted by the reader
        finally:
            reader.cancel()
            await ws.close()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(message.data)
            self.stats.replies[frame["type"] if frame["type"] != "error" else f"error: {frame['reason']}"] += 1
        self.stats.replies[f"closed by the server ({ws.close_code})"] += 1


class Console:
    """A console WebSocket read all the time (a console that stops reading is cut off as lagging),
    noting when each level-3 alert was first raised and waking whoever waits for a queue change."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.alerts: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
        self.queue_changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            event = json.loads(message.data)
            alert = event["data"].get("alert") or {}
            # Only an alert's first raise: an unacknowledged one re-escalates later with a "step".
            if event["type"] == "alert.raised" and alert.get("type") == "risk_level_3" and "step" not in event["data"]:
                self.alerts.put_nowait((event["conversation_id"], time.perf_counter()))
            elif event["type"] == "queue.changed":
                self.queue_changed.set()
        raise RuntimeError(f"console socket closed ({self.ws.close_code})")

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self.ws.close()


def _described(samples: list[float], missing: int) -> str:
    text = describe_ms(samples) if samples else "no sample"
    return text + (f" · the {PHASE_BUDGET_SECONDS} s budget ended with 1 more in flight" if missing else "")


def _unstaffed_city_desk(settings: Settings, data_dir: str) -> Settings:
    """Weibo and the widget feed Shenzhen (open around the clock, a pull desk, a short level-3 window)."""
    accounts = [a.model_copy(update={"desk": "sz"}) if a.platform == "weibo" else a for a in settings.accounts]
    partners = [p.model_copy(update={"desk": "sz"}) for p in settings.partners]
    desks = [d.model_copy(update={"hours": "00:00-24:00", "assignment": "pull",
                                  "overflow": d.overflow.model_copy(update={"level_3_seconds": WINDOW_SECONDS})})
             if d.id == "sz" else d for d in settings.desks]
    service = settings.service.model_copy(update={"env": "test", "data_dir": data_dir})
    return settings.model_copy(update={"accounts": accounts, "partners": partners, "desks": desks,
                                       "service": service})


async def main() -> None:
    logging.getLogger("youthdesk.handoff.alerts").setLevel(logging.CRITICAL)  # "no supervisor at gd-regional"
    print(f"   load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 shared cores)")
    await _bare_baseline()
    with tempfile.TemporaryDirectory(prefix="youthdesk-bench-") as data_dir:  # never the demo's own store
        await _run(_unstaffed_city_desk(load_settings(DEMO_CONFIG_PATH, environ={}), data_dir))
    print(f"   load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]


async def _bare_baseline() -> None:
    """POST → one frame on a listening WebSocket, with nothing in between: what this machine's loopback,
    aiohttp and this process cost at best, quiet and under the same 40 pacing sockets."""
    listeners: set[web.WebSocketResponse] = set()

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        for ws in listeners:
            await ws.send_str('{"type": "alert.raised"}')
        return web.Response(text="success")

    async def listen(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        listeners.add(ws)
        async for _ in ws:
            pass
        listeners.discard(ws)
        return ws

    async def answer(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for _ in ws:
            await ws.send_str('{"type": "ack"}')
        return ws

    app = web.Application()
    app.router.add_routes([web.post("/hook", hook), web.get("/listen", listen), web.get("/flood", answer)])
    runner, base = await _serve(app)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            listener = await http.ws_connect(f"{base}/listen")

            async def sample() -> float:
                started = time.perf_counter()
                async with http.post(f"{base}/hook", data=URGENT_TEXT.encode()) as response:
                    await response.read()
                await asyncio.wait_for(listener.receive(), 10)
                return time.perf_counter() - started

            quiet = [await sample() for _ in range(SAMPLES)]
            flood = Flood(http, f"{base}/flood", {"type": "hello"}, lambda n: {"type": "text", "text": FLOOD_TEXT})
            async with flood:
                flooded = [await sample() for _ in range(SAMPLES)]
            await listener.close()
        print(f"   baseline, bare aiohttp POST → frame on a WebSocket: quiet {describe_ms(quiet)}")
        print(f"   baseline, same under {FLOOD_SOCKETS} sockets sending every {FLOOD_PACE_SECONDS} s: "
              f"{describe_ms(flooded)}")
    finally:
        await runner.cleanup()


async def _run(settings: Settings) -> None:
    real_triage = _triage_available()
    app = create_app(settings, start_workers=False)
    runner, base = await _serve(app)
    if not real_triage:
        app[STREAM].router = StandInDetector(app)
    account = next(a for a in app[SETTINGS].accounts if a.platform == "weibo")
    partner = app[SETTINGS].partners[0]
    store, config = app[STORE], app[SETTINGS]
    supervisor = await create_user(store, config, username="bench-supervisor", password="bench-password",
                                   role="supervisor", desk=account.desk)
    await set_presence(store, supervisor.id, Presence.ONLINE)
    parent = config.desk(account.desk).parent or account.desk
    counsellor = await create_user(store, config, username="bench-parent-counsellor", password="bench-password",
                                   role="counsellor", desk=parent, skills=["psychological", "legal"], capacity=3)
    await set_presence(store, counsellor.id, Presence.ONLINE)
    city = await create_user(store, config, username="bench-city-counsellor", password="bench-password",
                             role="counsellor", desk=account.desk, skills=["psychological", "legal"], capacity=50)
    supervisor_token, _ = await create_session(store, supervisor)
    counsellor_token, _ = await create_session(store, counsellor)
    counsellor_auth = {"Authorization": f"Bearer {counsellor_token}"}
    users = iter(range(7_000_000_000, 8_000_000_000))
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            async def push(user: int, text: str) -> None:
                payload = simulated_push(account, str(user), text, None)
                async with http.post(f"{base}/channels/weibo/{account.id}", params=signed_query(account),
                                     data=json.dumps(payload, ensure_ascii=False).encode(),
                                     headers={"Content-Type": "application/json"}) as response:
                    assert response.status == 200, await response.text()

            async def in_parent_queue(conversation_id: str) -> bool:
                async with http.get(f"{base}/api/v1/queue", headers=counsellor_auth) as response:
                    return any(item["id"] == conversation_id for item in (await response.json())["items"])

            for n in range(ACTIVE):  # 200 youths asking for a human: the conversations wait in the queue
                await push(6_000_000_000 + n, "我想找人工老师聊聊")
            query = {"state": {"$in": ["queued", "assigned"]}}
            for _ in range(200):
                if (active := await store.conversations.count_documents(query)) >= ACTIVE:
                    break
                await asyncio.sleep(0.05)
            watching = Console(await http.ws_connect(f"{base}/api/v1/ws",
                                                     headers={"Authorization": f"Bearer {supervisor_token}"}))
            queue = Console(await http.ws_connect(f"{base}/api/v1/ws", headers=counsellor_auth))

            async def level3() -> tuple[float, float]:
                """One crisis message on Weibo: (→ the supervisor's alert, → the parent desk's queue), seconds."""
                started, now = time.perf_counter(), datetime.now(UTC)
                # The store keeps times to the millisecond: a conversation opened within this very
                # millisecond reads as slightly earlier than ``now`` (this made a quick sample wait forever).
                opened_after = now.replace(microsecond=now.microsecond // 1000 * 1000)
                await push(next(users), URGENT_TEXT)
                while True:  # the flood's alerts, and a late one of a sample given up on, are not this youth's
                    conversation_id, alerted = await watching.alerts.get()
                    doc = await store.conversations.find_one({"_id": conversation_id}, {"platform": 1, "created_at": 1})
                    if doc["platform"] == "weibo" and aware(doc["created_at"]) >= opened_after:
                        break
                while True:
                    queue.queue_changed.clear()
                    if await in_parent_queue(conversation_id):
                        return alerted - started, time.perf_counter() - started
                    await queue.queue_changed.wait()

            async def samples(count: int) -> tuple[list[tuple[float, float]], int]:
                """Up to ``count`` samples within the phase budget; (measured, 1 if one was in flight when it ended)."""
                measured: list[tuple[float, float]] = []
                budget = time.perf_counter() + PHASE_BUDGET_SECONDS
                try:
                    while len(measured) < count:
                        measured.append(await asyncio.wait_for(level3(), budget - time.perf_counter()))
                except TimeoutError:
                    return measured, 1
                return measured, 0

            async def measure(label: str) -> None:
                await set_presence(store, city.id, Presence.AWAY)
                quick, quick_missing = await samples(SAMPLES)
                # The window path: someone is online at the city desk, but nobody takes the conversation.
                await set_presence(store, city.id, Presence.ONLINE)
                slow, slow_missing = await samples(WINDOW_SAMPLES)
                print(f"   {label}:")
                print(f"     webhook → alert.raised on the supervisor's WebSocket: "
                      f"{_described([a for a, _ in quick], quick_missing)}  [target p99 ≤ 300 ms]")
                print(f"     webhook → in the {parent} counsellor's queue (nobody online at {account.desk}): "
                      f"{_described([u for _, u in quick], quick_missing)}")
                print(f"     window path ({account.desk} counsellor online, silent; level-3 window "
                      f"{WINDOW_SECONDS} s): {_described([u for _, u in slow], slow_missing)}  "
                      f"[target ≤ {WINDOW_SECONDS + 1} s]")

            await measure("quiet")
            widget = f"{base}/channels/widget/ws?partner={partner.id}"
            flood = Flood(http, widget, {"type": "hello"},
                          lambda n: {"type": "text", "client_id": f"flood-{n}", "text": f"{FLOOD_TEXT}（{n}）"})
            async with flood:
                flood_started, acks_before = time.perf_counter(), flood.stats.replies["ack"]
                await measure(f"while {FLOOD_SOCKETS} anonymous widget sockets from one address send a crisis "
                              f"message every {FLOOD_PACE_SECONDS} s each")
                flood_rate = (flood.stats.replies["ack"] - acks_before) / (time.perf_counter() - flood_started)
            await watching.close()
            await queue.close()
        groups = await store["flood_groups"].count_documents({})
        flooded = await store.conversations.count_documents({"platform": "widget"})
        stats = flood.stats
        source = ("real triage (service.triage.setup_triage)" if real_triage else
                  "triage NOT built yet: stand-in detector (crisis phrase → level 3) in its place")
        print(f"   path: Weibo webhook (signed push) → stream → {source} → engine → console WebSocket / queue")
        print(f"   {active} live conversations on desk {account.desk} before the samples; "
              f"{SAMPLES} level-3 messages, one at a time, per phase")
        print(f"   flood: {stats.opened} sockets open, refused {dict(stats.refused) or 'none'}; "
              f"{stats.sent} frames sent; replies {dict(stats.replies)}")
        print(f"   flood: {flood_rate:.1f} flood messages/s stored (acknowledged) while measured; {flooded} widget "
              f"conversations, {groups} possible-flood group(s) for a supervisor")
    finally:
        await runner.cleanup()
