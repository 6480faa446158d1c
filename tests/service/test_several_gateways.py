"""Two ``youthdesk serve`` processes sharing one MongoDB-wire store and one Redis.

Real processes on two ports, the demo configuration (no Rasa server: every youth goes to a human),
a ``mongoeco`` wire server (``tests.wire_store``) and a private ``redis-server``. Youths write on
WeChat, each youth's messages alternating between the two gateways, several youths at once; the
desk supervisor's console socket is on gateway A. A widget youth is on gateway B and a counsellor answers
through A. Then gateway B is killed with ``kill -9`` mid-load, the platform retries on A what B did
not answer, and A must finish B's work once B's leases expire. Counts: 0 duplicates, 0 lost, each
conversation's messages stored, routed and shown in the order they were sent.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pymongo import AsyncMongoClient

from channels.wechat_protocol import SignedQuery, signed_push
from channels.widget_identity import sign_partner_token
from contract.config import DEMO_CONFIG_PATH, Settings, load_settings
from contract.crypto import DataProtector
from store import contacts, messages
from store.client import open_store
from tests.serve_support import free_ports, own_environment
from tests.wire_store import mongoeco_server

pytestmark = pytest.mark.redis

STARTUP_SECONDS = 60
YOUTHS = 3
BEFORE_KILL = 6  # messages per youth while both gateways run
AFTER_KILL = 5  # messages per youth from the moment gateway B is killed
REPLIES = 3
SETTLE_SECONDS = 40
TIMEOUT = aiohttp.ClientTimeout(total=30)  # B's leases (10 s) expire and A's sweep (every 5 s) routes what B left


def _config(tmp_path: Path, name: str, port: int, env: str) -> Path:
    """demo.toml on a private port; ``env = "test"`` for the second gateway, so only the first one
    creates the demo accounts (both start at once on the empty store)."""
    text = DEMO_CONFIG_PATH.read_text(encoding="utf-8").replace('env = "demo"', f'env = "{env}"', 1)
    text = text.replace('hours = "08:00-22:00"', "", 1)  # open whatever the time: the youths need a counsellor
    text = text.replace("port = 8080", f'port = {port}\ndata_dir = "{tmp_path / name}"', 1)
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@contextmanager
def _serving(config: Path, output: Path, environ: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``youthdesk serve`` until the block ends (``_wait_until_serving`` waits for it to listen)."""
    with output.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "service.cli", "--config", str(config), "serve"],  # noqa: S603
                                   stdout=log, stderr=subprocess.STDOUT, env={**own_environment(), **environ})
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def _wait_until_serving(process: subprocess.Popen[bytes], port: int, output: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        assert process.poll() is None, output.read_text(encoding="utf-8")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "youthdesk serve did not start"
            time.sleep(0.1)


class WeChatYouth:
    """One youth writing in order: each message waits for the previous one's "success"."""

    def __init__(self, settings: Settings, http: aiohttp.ClientSession, number: int) -> None:
        self.account = next(a for a in settings.accounts if a.platform == "wechat")
        self.http = http
        self.openid = f"oTwoGateways{number:014d}"
        self.number = number
        self.sent: list[str] = []

    async def write(self, n: int, ports: list[int]) -> None:
        """Message ``n`` to the first port that answers (a platform retries until one does)."""
        text = f"youth {self.number} message {n:03d}"
        query = SignedQuery.now()
        params, body = signed_push(
            token=self.account.token, encoding_aes_key=self.account.encoding_aes_key, receive_id=self.account.id,
            mode="safe", query=query, fields={"ToUserName": "gh_12355", "FromUserName": self.openid,
                                              "CreateTime": int(query.timestamp), "MsgType": "text", "Content": text,
                                              "MsgId": 9_000_000_000 + self.number * 1000 + n})
        for port in ports:
            try:
                async with self.http.post(f"http://127.0.0.1:{port}/channels/wechat/{self.account.id}",
                                          params=params, data=body, timeout=TIMEOUT) as response:
                    if response.status == 200:
                        self.sent.append(text)
                        return
            except (aiohttp.ClientError, TimeoutError):
                continue
        raise AssertionError(f"no gateway acknowledged {text!r}")


async def _login(http: aiohttp.ClientSession, port: int, username: str, password: str) -> str:
    async with http.post(f"http://127.0.0.1:{port}/api/v1/auth/login",
                         json={"username": username, "password": password}) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["token"]


async def _online(http: aiohttp.ClientSession, port: int, token: str) -> None:
    async with http.put(f"http://127.0.0.1:{port}/api/v1/me/presence", json={"presence": "online"},
                        headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 200, await response.text()


async def _state(http: aiohttp.ClientSession, port: int, token: str, conversation_id: str, state: str) -> bool:
    async with http.get(f"http://127.0.0.1:{port}/api/v1/conversations/{conversation_id}",
                        headers={"Authorization": f"Bearer {token}"}) as response:
        if response.status == 403:
            return False  # not yet queued at the counsellor's desk
        assert response.status == 200, await response.text()
        return (await response.json())["state"] == state


async def _collect(ws: aiohttp.ClientWebSocketResponse, into: list[dict[str, Any]]) -> None:
    async for frame in ws:
        if frame.type == aiohttp.WSMsgType.TEXT:
            into.append(json.loads(frame.data))


async def _until(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.25)


def _texts_in_order(events: list[dict[str, Any]], conversation_id: str, direction: str) -> list[str]:
    return [e["data"]["message"]["text"] for e in events
            if e["type"] == "message.created" and e["conversation_id"] == conversation_id
            and e["data"]["message"]["direction"] == direction]


async def test_two_gateways_lose_nothing_duplicate_nothing_and_keep_order(tmp_path: Path, redis_url: str) -> None:
    with ExitStack() as stack:
        begun = time.monotonic()
        mongodb_uri = stack.enter_context(mongoeco_server(tmp_path / "mongoeco.log"))
        environ = {"MONGODB_URI": mongodb_uri, "REDIS_URL": redis_url}
        port_a, port_b = free_ports(2)
        config_a, config_b = _config(tmp_path, "a", port_a, "demo"), _config(tmp_path, "b", port_b, "test")
        settings = load_settings(config_a, environ={})
        output_a, output_b = tmp_path / "a.log", tmp_path / "b.log"
        gateway_a = stack.enter_context(_serving(config_a, output_a, environ))
        gateway_b = stack.enter_context(_serving(config_b, output_b, environ))
        _wait_until_serving(gateway_a, port_a, output_a)
        _wait_until_serving(gateway_b, port_b, output_b)
        passwords = dict(re.findall(r"^ {4}(\S+) +(\S+)$", output_a.read_text(encoding="utf-8"), re.MULTILINE))
        assert "Demo console accounts" not in output_b.read_text(encoding="utf-8")

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            # The counsellor's console is on A; the widget youth is on B.
            started_both = time.monotonic() - begun
            # Online, so that auto-assignment hands the widget youth to them.
            counsellor_sz = await _login(http, port_a, "counsellor-sz", passwords["counsellor-sz"])
            await _online(http, port_a, counsellor_sz)
            widget = await http.ws_connect(f"ws://127.0.0.1:{port_b}/channels/widget/ws?partner=demo-video")
            await widget.send_json({"type": "hello",
                                    "token": sign_partner_token(settings.partner("demo-video"), "two-gateways")})
            widget_frames: list[dict[str, Any]] = []
            widget_reader = asyncio.create_task(_collect(widget, widget_frames))
            await widget.send_json({"type": "text", "client_id": "w1", "text": "有人在吗"})
            await _until(lambda: _now(any(f["type"] == "ack" for f in widget_frames)), 20, "the widget's ack")
            widget_conversation = next(f["conversation_id"] for f in widget_frames if f["type"] == "ack")
            await _until(lambda: _state(http, port_a, counsellor_sz, widget_conversation, "assigned"), 20,
                         "the widget conversation to be assigned to counsellor-sz")
            # The desk's supervisor watches every conversation of the desk live (a counsellor's console
            # shows a conversation only once it is queued, i.e. after its first message was routed).
            console_token = await _login(http, port_a, "supervisor-gd", passwords["supervisor-gd"])
            console = await http.ws_connect(f"ws://127.0.0.1:{port_a}/api/v1/ws?token={console_token}")
            console_events: list[dict[str, Any]] = []
            console_reader = asyncio.create_task(_collect(console, console_events))

            # Under load: the youths write at once, each alternating between the gateways.
            youths = [WeChatYouth(settings, http, number) for number in range(YOUTHS)]

            async def alternate(youth: WeChatYouth) -> None:
                for n in range(BEFORE_KILL):
                    await youth.write(n, [port_a, port_b] if (n + youth.number) % 2 == 0 else [port_b, port_a])

            started = time.monotonic()
            await asyncio.gather(*(alternate(youth) for youth in youths))
            both_seconds = time.monotonic() - started

            # The counsellor it was assigned to answers, on A, the widget youth on B.
            auth = {"Authorization": f"Bearer {counsellor_sz}"}
            replies = [f"老师回复 {n}" for n in range(REPLIES)]
            for text in replies:
                async with http.post(f"http://127.0.0.1:{port_a}/api/v1/conversations/{widget_conversation}/messages",
                                     headers=auth, json={"text": text}) as response:
                    assert response.status == 201, await response.text()

            # kill -9 of B while the youths keep writing; what B does not answer is retried on A.
            async def keep_writing(youth: WeChatYouth) -> None:
                for n in range(BEFORE_KILL, BEFORE_KILL + AFTER_KILL):
                    await youth.write(n, [port_b, port_a] if (n + youth.number) % 2 else [port_a, port_b])

            writing = asyncio.gather(*(keep_writing(youth) for youth in youths))
            await asyncio.sleep(0.5)
            gateway_b.send_signal(signal.SIGKILL)
            await writing

            killed_at = time.monotonic()
            await _until(lambda: _all_routed(mongodb_uri, settings), SETTLE_SECONDS, "A to route what B left")
            settled = time.monotonic() - killed_at
            stored = await _stored_inbound(mongodb_uri, settings)
            await _until(lambda: _now(len(_widget_replies(widget_frames)) >= REPLIES), 10, "the widget replies")
            console_reader.cancel()
            widget_reader.cancel()

    # Every acknowledged message is stored once, in the order it was sent, in one conversation per youth.
    assert sorted(stored) == sorted(youth.openid for youth in youths)
    for youth in youths:
        assert len(youth.sent) == BEFORE_KILL + AFTER_KILL
        assert stored[youth.openid][1] == youth.sent, f"youth {youth.number}: stored {stored[youth.openid][1]}"
        # The console on A showed each once and in order, half of them published on B and carried by Redis.
        # Only a message B stored but died before publishing (the retry on A is a duplicate) can be missing.
        shown = _texts_in_order(console_events, stored[youth.openid][0], "in")
        missing = [text for text in youth.sent if text not in shown]
        assert shown == [text for text in youth.sent if text in shown], f"console order for youth {youth.number}"
        assert not set(missing) & set(youth.sent[:BEFORE_KILL]) and len(missing) <= 1, missing
    # The widget youth on B got the counsellor's replies from A, each once, in order.
    assert _widget_replies(widget_frames) == replies
    total = YOUTHS * (BEFORE_KILL + AFTER_KILL)
    print(f"\ntwo gateways (started in {started_both:.1f} s): {YOUTHS * BEFORE_KILL} messages in {both_seconds:.1f} s "
          f"while both ran; routed {settled:.1f} s after the last retry on A; "
          f"{total} acknowledged, {sum(len(texts) for _, texts in stored.values())} stored, "
          f"0 duplicates, 0 lost, order kept; {REPLIES} widget replies across instances")


async def _all_routed(mongodb_uri: str, settings: Settings) -> bool:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        waiting = {"direction": "in", "processed": False}
        return await client[settings.service.mongodb_database]["messages"].count_documents(waiting) == 0
    finally:
        await client.close()


async def _stored_inbound(mongodb_uri: str, settings: Settings) -> dict[str, tuple[str, list[str]]]:
    """WeChat openid -> (its conversation, the texts stored in it, in ``seq`` order)."""
    protector = DataProtector.from_keys(settings.service.data_key, settings.service.previous_data_keys)
    store = open_store(mongodb_uri, settings.service.mongodb_database, protector=protector)
    try:
        found: dict[str, tuple[str, list[str]]] = {}
        async for doc in store.conversations.find({"platform": "wechat"}):
            contact = await contacts.find_contact(store, protector, doc["contact_id"])
            assert contact is not None
            texts = [m.text for m in await messages.history(store, doc["_id"]) if m.direction == "in"]
            found[contact.identities[0].external_id] = (doc["_id"], texts)
        return found
    finally:
        await store.close()


def _widget_replies(frames: list[dict[str, Any]]) -> list[str]:
    return [f["message"]["text"] for f in frames if f["type"] == "message" and f["message"]["sender"] == "counsellor"]


async def _now(value: bool) -> bool:
    return value
