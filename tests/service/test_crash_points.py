"""``kill -9`` at each stage of the pipeline, under load, then a restart: nothing lost, nothing twice.

``youthdesk serve`` runs as a real process with triage on (lexicon and shipped risk model, no
Rasa: every youth goes to a human) and dies at a named crash point (``contract.crash_points``)
while youths write: after a webhook was answered, when routing is done but not yet marked, after
the platform accepted a reply, between opening a case and queueing the conversation, and between
a level-3 alert and its mark. The crashes run one after another on one store, each start
recovering the previous crash while taking new youths, as an unlucky desk would live them; a
last start runs clean. Every push the gateway did not answer 200 is pushed again on the next
start, as WeChat retries. Then, read from the store and the stand-in: every youth's message
stored and routed once, one case and one queueing per conversation, one level-3 alert per youth
in crisis, no reply stored twice, and every reply delivered at least once (WeChat's customer-service
API has no idempotency key: a reply sent but not yet marked at a crash goes out again).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from contract import crash_points
from contract.config import Settings, load_settings
from contract.crypto import DataProtector
from gateway.stream import inbound_message_id
from service.standins import standin_routes, standin_token
from store.client import open_store
from store.database import Store
from tests.fakes import stored_messages
from tests.serve_support import free_ports, push_wechat, serve_config, serving, youth_openid

BATCH = 16  # new youths per start
CRISIS = "我不想活了，今晚就从楼上跳下去"  # every fourth youth: crisis reply, level-3 alert
ORDINARY = "我想找人聊聊，最近压力很大"
IN_FLIGHT = 8  # concurrent webhook requests
SETTLE_SECONDS = 40

# (stage, crash the n-th time this start reaches it): n lands mid-load.
CRASHES = [("webhook.answered", 8), ("routing.finished", 12), ("delivery.sent", 2), ("case.opened", 6),
           ("alert.raised", 2)]
YOUTHS = BATCH * (len(CRASHES) + 1)


def _text(youth: int) -> str:
    return CRISIS if youth % 4 == 0 else ORDINARY


async def _load(http: aiohttp.ClientSession, port: int, settings: Settings, youths: list[int]) -> set[int]:
    """Push each youth's message, IN_FLIGHT at a time; the youths the gateway answered 200."""
    limit = asyncio.Semaphore(IN_FLIGHT)

    async def one(youth: int) -> int | None:
        async with limit:
            try:
                return youth if await push_wechat(http, port, settings, youth, _text(youth)) == 200 else None
            except (TimeoutError, aiohttp.ClientError):
                return None  # the gateway died: WeChat was not told "success" and will retry

    return {youth for youth in await asyncio.gather(*(one(y) for y in youths)) if youth is not None}


async def _settled(http: aiohttp.ClientSession, port: int) -> None:
    """Wait until routing has no backlog and the outbox is empty."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
            parts = (await response.json())["parts"]
        if parts["routing"]["detail"].startswith("0 messages") and parts["delivery"]["detail"].startswith("0 messages"):
            return
        assert time.monotonic() < deadline, parts
        await asyncio.sleep(0.2)


async def _conversation_ids(store: Store, collection: str, query: dict[str, Any]) -> Counter[str]:
    return Counter(doc["conversation_id"] for doc in await store[collection].find(query).to_list(None))


async def test_a_kill_at_each_stage_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    port, standin_port = free_ports(2)
    config = serve_config(tmp_path, port, f"http://127.0.0.1:{standin_port}/standin/wechat", env="test",
                          delivery_backoff_seconds=0.1, delivery_timeout_seconds=3.0, delivery_lease_seconds=4.0)
    settings = load_settings(config, environ={})
    output = tmp_path / "serve.log"
    standin = web.Application()
    standin.router.add_routes(standin_routes(settings))
    runner = web.AppRunner(standin)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", standin_port).start()
    inspection = {"Authorization": f"Bearer {standin_token(settings)}"}
    unanswered: list[int] = []  # pushes WeChat would retry
    figures = []
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True),
                                         timeout=aiohttp.ClientTimeout(total=10)) as http:
            for start, (stage, nth) in enumerate(CRASHES):
                batch = unanswered + list(range(start * BATCH, (start + 1) * BATCH))
                with serving(config, port, output, {crash_points.VARIABLE: f"{stage}:{nth}"}, may_exit=True) as gateway:
                    answered = await _load(http, port, settings, batch)
                    exit_code = await asyncio.to_thread(gateway.wait, 20)
                assert exit_code == crash_points.EXIT_CODE, f"{stage}: {output.read_text(encoding='utf-8')}"
                unanswered = [youth for youth in batch if youth not in answered]
                figures.append(f"{stage}:{nth} {len(answered)} of {len(batch)} pushes answered")

            with serving(config, port, output):
                batch = unanswered + list(range(len(CRASHES) * BATCH, YOUTHS))
                assert await _load(http, port, settings, batch) == set(batch)
                await _settled(http, port)
                async with http.get(f"http://127.0.0.1:{standin_port}/standin/wechat/sent",
                                    headers=inspection) as response:
                    sent = (await response.json())["items"]
    finally:
        await runner.cleanup()
    assert output.read_text(encoding="utf-8").count("crash point") == len(CRASHES)

    store = open_store("", settings.service.mongodb_database, data_dir=settings.service.data_dir,
                       protector=DataProtector.from_keys(settings.service.data_key,
                                                         settings.service.previous_data_keys))
    try:
        account = next(a for a in settings.accounts if a.platform == "wechat").id
        youth_of = {inbound_message_id(store.protector, "wechat", account, str(8_000_000_000 + y)): y
                    for y in range(YOUTHS)}
        inbound = await stored_messages(store, direction="in")
        assert sorted(m.id for m in inbound) == sorted(youth_of)
        assert [m.id for m in inbound if not m.processed] == []
        conversations = Counter(m.conversation_id for m in inbound)
        assert len(conversations) == YOUTHS
        cases = await _conversation_ids(store, "cases", {})
        queued = await _conversation_ids(store, "events", {"type": "conversation.state_changed", "data.to": "queued"})
        alerts = await _conversation_ids(store, "alerts", {"type": "risk_level_3"})
        crisis = Counter(m.conversation_id for m in inbound if m.text == CRISIS)
        for name, found, wanted in (("cases", cases, conversations), ("queueings", queued, conversations),
                                    ("level-3 alerts", alerts, crisis)):
            assert (found - wanted, len(wanted - found)) == (Counter(), 0), f"{name}: extra, number missing"

        replies = [m for m in await stored_messages(store, direction="out") if not m.private]
        by_text = Counter((m.conversation_id, m.text) for m in replies)
        assert [key for key, count in by_text.items() if count > 1] == []
        assert Counter(m.status for m in replies) == Counter({"sent": len(replies)})
        openid_of = {m.conversation_id: youth_openid(youth_of[m.id]) for m in inbound}
        expected = Counter((openid_of[m.conversation_id], m.text) for m in replies)
        deliveries = Counter((item["touser"], item["text"]) for item in sent)
        assert expected - deliveries == Counter()  # every reply delivered at least once
        # A reply whose send went through but whose "sent" a crash prevented goes again on the next
        # start: once more per crash it was in flight through, never more.
        duplicates = deliveries - expected
        assert max(duplicates.values(), default=0) <= len(CRASHES), duplicates
        print(f"\n{'; '.join(figures)}; then a clean start. Stored {len(inbound)} of {YOUTHS} youths' messages, "
              f"all routed; {sum(cases.values())} cases, {sum(queued.values())} queueings, "
              f"{sum(alerts.values())} level-3 alerts for {len(crisis)} youths in crisis; {len(replies)} replies "
              f"stored once each, {sum(deliveries.values())} deliveries ({sum(duplicates.values())} duplicate)")
    finally:
        await store.close()
