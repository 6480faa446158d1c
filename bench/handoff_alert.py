"""Level-3 youth message at an unstaffed city desk, with 200 live conversations:

1. → ``alert.raised`` on the city desk supervisor's console WebSocket (target p99 ≤ 300 ms);
2. → in the parent desk counsellor's queue (``GET /queue`` after her WebSocket says the queue changed):
   nobody online at the city desk, so overflow offers it upwards at once;
3. the window path: a city counsellor is online but does not answer; the conversation must reach the
   parent desk's queue within the desk's window + 1 s (the deadline tick, ``tick_seconds``, is the slack).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import tempfile
import time

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

ACTIVE = 200
SAMPLES = 60
WINDOW_SAMPLES = 5
WINDOW_SECONDS = 2  # the city desk's level-3 window here, so the window path is measured in seconds
URGENT_TEXT = "我不想活了，今晚就从楼上跳下去"


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


def _unstaffed_city_desk(settings: Settings, data_dir: str) -> Settings:
    """The Weibo account feeds Shenzhen (open around the clock, a pull desk, a short level-3 window)."""
    accounts = [a.model_copy(update={"desk": "sz"}) if a.platform == "weibo" else a for a in settings.accounts]
    desks = [d.model_copy(update={"hours": "00:00-24:00", "assignment": "pull",
                                  "overflow": d.overflow.model_copy(update={"level_3_seconds": WINDOW_SECONDS})})
             if d.id == "sz" else d for d in settings.desks]
    service = settings.service.model_copy(update={"env": "test", "data_dir": data_dir})
    return settings.model_copy(update={"accounts": accounts, "desks": desks, "service": service})


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="youthdesk-bench-") as data_dir:  # never the demo's own store
        await _run(_unstaffed_city_desk(load_settings(DEMO_CONFIG_PATH, environ={}), data_dir))


async def _run(settings: Settings) -> None:
    real_triage = _triage_available()
    app = create_app(settings, start_workers=False)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    if not real_triage:
        app[STREAM].router = StandInDetector(app)
    account = next(a for a in app[SETTINGS].accounts if a.platform == "weibo")
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
    try:
        async with aiohttp.ClientSession() as http:
            async def push(user: int, text: str) -> None:
                payload = simulated_push(account, str(user), text, None)
                async with http.post(f"{base}/channels/weibo/{account.id}", params=signed_query(account),
                                     data=json.dumps(payload, ensure_ascii=False).encode(),
                                     headers={"Content-Type": "application/json"}) as response:
                    assert response.status == 200, await response.text()

            async def in_parent_queue(conversation_id: str) -> bool:
                async with http.get(f"{base}/api/v1/queue", headers=counsellor_auth) as response:
                    return any(item["id"] == conversation_id for item in (await response.json())["items"])

            async def seen_by_parent(ws: aiohttp.ClientWebSocketResponse, conversation: asyncio.Future[str]) -> None:
                while True:
                    event = json.loads((await ws.receive()).data)
                    if (event["type"] == "queue.changed" and conversation.done()
                            and await in_parent_queue(conversation.result())):
                        return

            for n in range(ACTIVE):  # 200 youths asking for a human: the conversations wait in the queue
                await push(6_000_000_000 + n, "我想找人工老师聊聊")
            query = {"state": {"$in": ["queued", "assigned"]}}
            for _ in range(200):
                if (active := await store.conversations.count_documents(query)) >= ACTIVE:
                    break
                await asyncio.sleep(0.05)
            async with http.ws_connect(f"{base}/api/v1/ws", headers={"Authorization": f"Bearer {supervisor_token}"}) \
                    as ws, http.ws_connect(f"{base}/api/v1/ws", headers=counsellor_auth) as parent_ws:
                alert_latencies: list[float] = []
                upward_latencies: list[float] = []
                for n in range(SAMPLES):
                    conversation: asyncio.Future[str] = asyncio.get_running_loop().create_future()
                    upward = asyncio.create_task(seen_by_parent(parent_ws, conversation))
                    started = time.perf_counter()
                    await push(7_000_000_000 + n, URGENT_TEXT)
                    while True:
                        event = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
                        if event["type"] == "alert.raised" and event["data"]["alert"]["type"] == "risk_level_3":
                            break
                    alert_latencies.append(time.perf_counter() - started)
                    conversation.set_result(event["conversation_id"])
                    if not await in_parent_queue(event["conversation_id"]):
                        await asyncio.wait_for(upward, 10)
                    upward.cancel()
                    upward_latencies.append(time.perf_counter() - started)

                # The window path: someone is online at the city desk, but nobody takes the conversation.
                await set_presence(store, city.id, Presence.ONLINE)
                window_latencies: list[float] = []
                for n in range(WINDOW_SAMPLES):
                    started = time.perf_counter()
                    await push(8_000_000_000 + n, URGENT_TEXT)
                    while True:
                        event = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
                        if event["type"] == "alert.raised" and event["data"]["alert"]["type"] == "risk_level_3":
                            break
                    moved: asyncio.Future[str] = asyncio.get_running_loop().create_future()
                    moved.set_result(event["conversation_id"])
                    if not await in_parent_queue(event["conversation_id"]):
                        await asyncio.wait_for(seen_by_parent(parent_ws, moved), WINDOW_SECONDS + 10)
                    window_latencies.append(time.perf_counter() - started)
        source = ("real triage (service.triage.setup_triage)" if real_triage else
                  "triage NOT built yet: stand-in detector (crisis phrase → level 3) in its place")
        print(f"   path: Weibo webhook (signed push) → stream → {source} → engine → console WebSocket / queue")
        print(f"   {active} live conversations on desk {account.desk} (nobody online there); "
              f"{SAMPLES} level-3 messages, one at a time")
        print(f"   webhook → alert.raised on the supervisor's WebSocket: {describe_ms(alert_latencies)}"
              f"  [target p99 ≤ 300 ms]")
        print(f"   webhook → in the {parent} counsellor's queue (nobody online at {account.desk}): "
              f"{describe_ms(upward_latencies)}")
        print(f"   window path ({account.desk} counsellor online, silent; level-3 window {WINDOW_SECONDS} s): "
              f"{describe_ms(window_latencies)}  [target ≤ {WINDOW_SECONDS + 1} s]")
    finally:
        await runner.cleanup()
