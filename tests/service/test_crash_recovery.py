"""A message is never lost: ``kill -9`` of ``youthdesk serve`` on the durable default store.

Real processes on a free port, the demo configuration with triage off (training the risk model
would double the runtime and the store is what is on trial here) and WeChat's API stand-in
running in this test, down until the last start, so the reply stays pending across two kills.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
from aiohttp import web

from channels.wechat_protocol import SignedQuery, signed_push
from contract.config import DEMO_CONFIG_PATH, Settings, load_settings
from contract.crypto import DataProtector
from contract.models import Conversation, SenderKind
from gateway.bus import EventBus
from gateway.stream import ConversationStream
from handoff.cases import open_case
from handoff.users import authenticate
from service.standins import standin_routes, standin_token
from store.client import open_store

YOUTHS = 120
REPLY = "老师看到你的留言了，我们聊聊好吗？"
STARTUP_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _config(tmp_path: Path, port: int, standin_port: int) -> Path:
    """demo.toml on private ports and data directory, retrying deliveries fast and for long."""
    text = DEMO_CONFIG_PATH.read_text(encoding="utf-8")
    text = text.replace("port = 8080", f'port = {port}\ndata_dir = "{tmp_path / "data"}"\n'
                        "triage_enabled = false\ndelivery_backoff_seconds = 0.2\ndelivery_max_attempts = 50", 1)
    # The WeChat account (the first stand-in base) goes to a stand-in this test starts and stops itself.
    text = text.replace('api_base = "standin"', f'api_base = "http://127.0.0.1:{standin_port}/standin/wechat"', 1)
    path = tmp_path / "youthdesk.toml"
    path.write_text(text, encoding="utf-8")
    return path


@contextmanager
def _serving(config: Path, port: int, output: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``youthdesk serve`` until the block ends; the block kills it as it likes."""
    with output.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "service.cli", "--config", str(config), "serve"],  # noqa: S603
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, output.read_text(encoding="utf-8")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "youthdesk serve did not start"
                time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def _push(http: aiohttp.ClientSession, port: int, settings: Settings, youths: range) -> None:
    account = next(a for a in settings.accounts if a.platform == "wechat")
    for n in youths:
        query = SignedQuery.now()
        params, body = signed_push(
            token=account.token, encoding_aes_key=account.encoding_aes_key, receive_id=account.id, mode="safe",
            query=query, fields={"ToUserName": "gh_12355", "FromUserName": f"oCrashYouth{n:016d}",
                                 "CreateTime": int(query.timestamp), "MsgType": "text", "Content": "我想找人聊聊",
                                 "MsgId": 8_000_000_000 + n})
        async with http.post(f"http://127.0.0.1:{port}/channels/wechat/{account.id}", params=params,
                             data=body) as response:
            assert response.status == 200, await response.text()


def _demo_passwords(output: Path) -> dict[str, str]:
    """The demo passwords every start printed: one per account, the same on every start."""
    printed = re.findall(r"^ {4}(\S+) +(\S+)$", output.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(set(printed)) == len(dict(printed)), printed
    return dict(printed)


async def test_everything_is_back_after_kill_9_and_the_pending_reply_goes_out_once(tmp_path: Path) -> None:
    port, standin_port = _free_port(), _free_port()
    config = _config(tmp_path, port, standin_port)
    settings = load_settings(config, environ={})
    output = tmp_path / "serve.log"

    # force_close: a kept-alive connection to the killed process must not be reused after a restart.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        with _serving(config, port, output) as gateway:
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
        with _serving(config, port, output) as gateway:
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
            with _serving(config, port, output):
                deadline = time.monotonic() + 20
                while True:
                    async with http.get(sent_url, headers=inspection) as response:
                        sent = (await response.json())["items"]
                    if sent or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.2)
                await asyncio.sleep(1.0)  # time for a second, wrong delivery to show up
                async with http.get(sent_url, headers=inspection) as response:
                    sent = (await response.json())["items"]
        finally:
            await runner.cleanup()

    assert [item["text"] for item in sent] == [REPLY]
    assert output.read_text(encoding="utf-8").count("Demo console accounts") == 3  # printed on every start
    assert _demo_passwords(output) == passwords
    store = open_store("", "youthdesk", data_dir=settings.service.data_dir)
    try:
        assert await store.conversations.count_documents({}) == YOUTHS + 10
        assert await store.messages.count_documents({"direction": "in"}) == YOUTHS + 10
        assert await store["cases"].count_documents({}) == YOUTHS
        assert await store.messages.count_documents({"direction": "out", "status": "sent"}) == 1
        for username in ("admin", "counsellor-gd"):
            assert await authenticate(store, username, passwords[username]) is not None, username
    finally:
        await store.close()

