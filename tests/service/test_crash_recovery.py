"""A message is never lost: ``kill -9`` of ``youthdesk serve`` on the durable default store.

Real processes on a free port, the demo configuration with triage off (training the risk model
would double the runtime and the store is what is on trial here) and WeChat's API stand-in
running in this test, down until the last start, so the reply stays pending across two kills
(and so does every youth's privacy notice, which must still go out once per youth).
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from contract.config import Settings, load_settings
from contract.crypto import DataProtector
from contract.models import Conversation, SenderKind
from gateway.bus import EventBus
from gateway.stream import ConversationStream
from handoff.cases import open_case
from handoff.users import authenticate
from service.standins import standin_routes, standin_token
from store.client import open_store
from tests.serve_support import free_ports, push_wechat, serve_config, serving

YOUTHS = 120
REPLY = "老师看到你的留言了，我们聊聊好吗？"


async def _push(http: aiohttp.ClientSession, port: int, settings: Settings, youths: range) -> None:
    for n in youths:
        assert await push_wechat(http, port, settings, n, "我想找人聊聊") == 200


def _demo_passwords(output: Path) -> dict[str, str]:
    """The demo passwords every start printed: one per account, the same on every start."""
    printed = re.findall(r"^ {4}(\S+) +(\S+)$", output.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(set(printed)) == len(dict(printed)), printed
    return dict(printed)


async def test_everything_is_back_after_kill_9_and_the_pending_reply_goes_out_once(tmp_path: Path) -> None:
    port, standin_port = free_ports(2)
    # Triage off (training the risk model would double the runtime; the store is on trial here);
    # deliveries retry fast and for long, and a claim cut off by a kill expires within the test's wait.
    config = serve_config(tmp_path, port, f"http://127.0.0.1:{standin_port}/standin/wechat", triage_enabled=False,
                          delivery_backoff_seconds=0.2, delivery_max_attempts=50, delivery_timeout_seconds=1.0,
                          delivery_lease_seconds=2.0)
    settings = load_settings(config, environ={})
    output = tmp_path / "serve.log"

    # force_close: a kept-alive connection to the killed process must not be reused after a restart.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        with serving(config, port, output) as gateway:
            await _push(http, port, settings, range(YOUTHS))
            gateway.send_signal(signal.SIGKILL)
        passwords = _demo_passwords(output)
        assert set(passwords) >= {"admin", "counsellor-gd"}

        # Between crashes, as a counsellor would: a case per conversation and one reply to send.
        store = open_store("", "youthdesk", data_dir=settings.service.data_dir)
        stream = ConversationStream(store=store, bus=EventBus(), protector=DataProtector(settings.service.data_key),
                                    settings=settings)
        conversations = [Conversation.from_doc(d) async for d in store.conversations.find({})]
        assert len(conversations) == YOUTHS
        for conversation in conversations:
            await open_case(store, settings, conversation)
        await stream.send(conversations[0].id, REPLY, sender=SenderKind.COUNSELLOR, sender_id="counsellor-gd")
        await store.close()

        # The stand-in is down: delivery fails and retries while more youths write; kill -9 again.
        with serving(config, port, output) as gateway:
            await _push(http, port, settings, range(YOUTHS, YOUTHS + 10))
            gateway.send_signal(signal.SIGKILL)

        inspection = {"Authorization": f"Bearer {standin_token(settings)}"}
        sent_url = f"http://127.0.0.1:{standin_port}/standin/wechat/sent"
        standin = web.Application()
        standin.router.add_routes(standin_routes(settings))
        runner = web.AppRunner(standin)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", standin_port).start()
        try:
            with serving(config, port, output) as gateway:
                deadline = time.monotonic() + 20
                while True:
                    async with http.get(sent_url, headers=inspection) as response:
                        sent = (await response.json())["items"]
                    # Privacy notices go out too: wait for the reply itself, not just any delivery.
                    if REPLY in (item["text"] for item in sent) or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.2)
                await asyncio.sleep(1.0)  # time for a second, wrong delivery to show up
                async with http.get(sent_url, headers=inspection) as response:
                    sent = (await response.json())["items"]
                # A stop, not a kill: a delivery the stand-in has answered is marked sent before the store
                # closes (after a kill it would stay pending and go out again: at least once).
                gateway.terminate()
                gateway.wait(timeout=30)
        finally:
            await runner.cleanup()

    assert [item["text"] for item in sent].count(REPLY) == 1
    notices = [item for item in sent if item["text"].startswith("【隐私小提示】")]
    assert len(notices) == len(sent) - 1  # nothing else went out
    assert len({item["touser"] for item in notices}) == len(notices)  # never twice to one youth
    assert output.read_text(encoding="utf-8").count("Demo console accounts") == 3  # printed on every start
    assert _demo_passwords(output) == passwords
    store = open_store("", "youthdesk", data_dir=settings.service.data_dir)
    try:
        assert await store.conversations.count_documents({}) == YOUTHS + 10
        assert await store.messages.count_documents({"direction": "in"}) == YOUTHS + 10
        assert await store["cases"].count_documents({}) == YOUTHS
        assert await store.messages.count_documents({"direction": "out", "status": "sent"}) >= len(sent)
        # One privacy notice queued and one ledger entry per youth, whatever the kills interrupted.
        assert await store.messages.count_documents({"direction": "out", "sender": "system"}) == YOUTHS + 10
        assert await store["consents"].count_documents({"purpose": "privacy_notice"}) == YOUTHS + 10
        for username in ("admin", "counsellor-gd"):
            assert await authenticate(store, username, passwords[username]) is not None, username
    finally:
        await store.close()

