"""Level-3 youth message → ``alert.raised`` on a supervisor's console WebSocket, with 200 active conversations."""

from __future__ import annotations

import asyncio
import importlib
import json
import time

import aiohttp
from aiohttp import web

from bench._stats import describe_ms
from contract.config import DEMO_CONFIG_PATH, load_settings
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


async def main() -> None:
    settings = load_settings(DEMO_CONFIG_PATH, environ={})
    settings = settings.model_copy(update={"service": settings.service.model_copy(update={"env": "test"})})
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
    supervisor = await create_user(app[STORE], app[SETTINGS], username="bench-supervisor", password="bench-password",
                                   role="supervisor", desk=account.desk)
    await set_presence(app[STORE], supervisor.id, Presence.ONLINE)
    token, _ = await create_session(app[STORE], supervisor)
    try:
        async with aiohttp.ClientSession() as http:
            async def push(user: int, text: str) -> None:
                payload = simulated_push(account, str(user), text, None)
                async with http.post(f"{base}/channels/weibo/{account.id}", params=signed_query(account),
                                     data=json.dumps(payload, ensure_ascii=False).encode(),
                                     headers={"Content-Type": "application/json"}) as response:
                    assert response.status == 200, await response.text()

            for n in range(ACTIVE):  # 200 youths asking for a human: the conversations wait in the queue
                await push(6_000_000_000 + n, "我想找人工老师聊聊")
            query = {"state": {"$in": ["queued", "assigned"]}}
            for _ in range(200):
                if (active := await app[STORE].conversations.count_documents(query)) >= ACTIVE:
                    break
                await asyncio.sleep(0.05)
            async with http.ws_connect(f"{base}/api/v1/ws", headers={"Authorization": f"Bearer {token}"}) as ws:
                latencies: list[float] = []
                for n in range(SAMPLES):
                    started = time.perf_counter()
                    await push(7_000_000_000 + n, URGENT_TEXT)
                    while True:
                        event = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
                        if event["type"] == "alert.raised" and event["data"]["alert"]["type"] == "risk_level_3":
                            break
                    latencies.append(time.perf_counter() - started)
        source = ("real triage (service.triage.setup_triage)" if real_triage else
                  "triage NOT built yet: stand-in detector (crisis phrase → level 3) in its place")
        print(f"   path: Weibo webhook (signed push) → stream → {source} → engine → supervisor WebSocket")
        print(f"   {active} active conversations on desk {account.desk}; {SAMPLES} level-3 messages, one at a time")
        print(f"   webhook → alert.raised on the WebSocket: {describe_ms(latencies)}")
    finally:
        await runner.cleanup()
