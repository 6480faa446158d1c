"""Per-event and per-handshake work of the widget: counted, not timed.

An outbound message touches only the sockets following its conversation, however many others are
open; a first anonymous visit reads nothing from the store and signs one token; a closed socket leaves
no trace.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from channels.widget import WidgetChannel
from contract.channel import OutboundMessage
from contract.config import Settings
from contract.keys import CHANNELS
from contract.models import MessageType
from tests.channels.test_widget import connect, receive, token_for
from tests.fakes import wait_for


@pytest.fixture
def settings(settings: Settings, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    # Every socket here comes from 127.0.0.1: the per-address limits are not what is counted.
    service = settings.service.model_copy(update={"data_dir": str(tmp_path), "widget_sockets_per_ip": 100,
                                                  "widget_new_conversations_per_ip": 100})
    return settings.model_copy(update={"service": service})


@pytest.fixture
async def client(start_app) -> TestClient:  # type: ignore[no-untyped-def]
    return await start_app(channel_classes=[WidgetChannel])


def counting(channel: WidgetChannel) -> Counter[str]:
    """Count the store reads the widget makes (before any socket opens: sessions keep what they were given)."""
    calls: Counter[str] = Counter()
    access = channel.conversations

    async def history(conversation_id: str, after_seq: int):  # type: ignore[no-untyped-def]
        calls[f"history:{conversation_id}"] += 1
        return await access.history(conversation_id, after_seq)

    async def recent(platform: str, account: str, external_user_id: str, limit: int):  # type: ignore[no-untyped-def]
        calls["recent"] += 1
        return await access.recent(platform, account, external_user_id, limit)

    channel.conversations = dataclasses.replace(access, history=history, recent=recent)
    return calls


async def youth_with_conversation(client: TestClient, settings: Settings,
                                  sub: str) -> tuple[aiohttp.ClientWebSocketResponse, str]:
    ws, _ = await connect(client, token=token_for(settings, sub))
    await ws.send_json({"type": "text", "client_id": "c1", "text": "你好"})
    return ws, (await receive(ws, "ack"))["conversation_id"]


async def test_an_outbound_message_reads_history_only_for_its_own_sockets(client: TestClient,
                                                                          settings: Settings) -> None:
    channel: WidgetChannel = client.app[CHANNELS]["widget"]  # type: ignore[assignment]
    calls = counting(channel)
    sockets = [await youth_with_conversation(client, settings, f"youth-{n}") for n in range(5)]
    idle = [(await connect(client))[0] for _ in range(20)]
    second_tab, frames = await connect(client, token=token_for(settings, "youth-0"))
    third_tab, _ = await connect(client, session=frames[0]["session"])  # a reconnect, without the partner token
    target = sockets[0][1]
    looked_at = Counter[int]()

    class Watched(set[str]):
        """A session's conversation ids, counting every time a delivery asks whether it follows one."""

        def __contains__(self, item: object) -> bool:
            looked_at[id(self)] += 1
            return super().__contains__(item)

    for session in channel.sessions.all():
        session.conversation_ids = Watched(session.conversation_ids)
    calls.clear()
    await channel.send(OutboundMessage(message_id="m-out", conversation_id=target, platform="widget",
                                       account="demo-video", external_user_id="youth-0", type=MessageType.TEXT))
    # Youth 0's three tabs catch up on that conversation; the other 24 sockets are not looked at.
    assert calls == Counter({f"history:{target}": 3})
    assert not looked_at  # no socket was asked whether it follows the conversation: they are indexed
    assert len(channel.sessions.following(target)) == 3
    for ws in [*(ws for ws, _ in sockets), *idle, second_tab, third_tab]:
        await ws.close()


async def test_a_first_anonymous_visit_reads_nothing_and_a_returning_youth_one_list(client: TestClient,
                                                                                   settings: Settings) -> None:
    channel: WidgetChannel = client.app[CHANNELS]["widget"]  # type: ignore[assignment]
    calls = counting(channel)
    anonymous, frames = await connect(client)
    assert calls["recent"] == 0 and frames[0]["anonymous_token"]
    # The same anonymous youth coming back with the id the iframe kept: their conversations are read once.
    again, _ = await connect(client, session=frames[0]["anonymous_token"])
    assert calls["recent"] == 1
    returning, _ = await connect(client, token=token_for(settings, "youth-back"))
    assert calls["recent"] == 2
    for ws in (anonymous, again, returning):
        await ws.close()


async def test_an_anonymous_socket_signs_at_most_one_token(client: TestClient, settings: Settings) -> None:
    channel: WidgetChannel = client.app[CHANNELS]["widget"]  # type: ignore[assignment]
    signed: Counter[str] = Counter()
    issue = channel.verifier._issue

    def counted(identity, kind: str, lifetime: int) -> str:  # type: ignore[no-untyped-def]
        signed[kind] += 1
        return issue(identity, kind, lifetime)

    channel.verifier._issue = counted  # type: ignore[method-assign]
    first, frames = await connect(client)
    # A first visit: its id, which is also its session (no separate session token).
    assert signed == Counter({"anonymous": 1})
    assert frames[0]["session"] == frames[0]["anonymous_token"]
    await first.send_json({"type": "text", "client_id": "a1", "text": "匿名咨询"})
    conversation_id = (await receive(first, "ack"))["conversation_id"]
    # Reconnecting with it is the same youth, and signs nothing.
    again, frames = await connect(client, session=frames[0]["session"])
    assert signed == Counter({"anonymous": 1})
    assert frames[0]["anonymous"] is True and frames[-1]["conversation_id"] == conversation_id
    # A partner's youth still gets a session token: the partner token cannot be used twice.
    signed_in, frames = await connect(client, token=token_for(settings, "youth-signed"))
    assert signed == Counter({"anonymous": 1, "session": 1}) and frames[0]["session"]
    for ws in (first, again, signed_in):
        await ws.close()


async def test_closed_sockets_leave_no_entry_behind(client: TestClient, settings: Settings) -> None:
    channel: WidgetChannel = client.app[CHANNELS]["widget"]  # type: ignore[assignment]
    ws, conversation_id = await youth_with_conversation(client, settings, "youth-gone")
    idle, _ = await connect(client)
    assert len(channel.sessions) == 2 and len(channel.sessions.following(conversation_id)) == 1
    await ws.close()
    await idle.close()
    await wait_for(lambda: len(channel.sessions) == 0)
    assert channel.sessions.following(conversation_id) == []
    assert not channel.sessions._following  # no empty sets kept for conversations nobody follows
