"""The console WebSocket: sign-in required, events scoped by desk and ownership, laggards cut off."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from contract.keys import BUS, STORE, STREAM
from contract.models import Event, SenderKind
from handoff.web.api.ws import LAGGING
from tests.fakes import inbound, wait_for
from tests.handoff_support import at_shenzhen, conversation, drain, engine, login, start, user


async def test_websocket_requires_a_session(start_app) -> None:
    client = await start(start_app)
    response = await client.get("/api/v1/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                       "Sec-WebSocket-Version": "13",
                                                       "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert response.status == 401


async def test_events_follow_desk_scope_and_ownership(start_app) -> None:
    client = await start(start_app)
    owner = await user(client, "owner-gd", desk="gd")
    await user(client, "colleague-gd", desk="gd")
    await user(client, "counsellor-sz", desk="sz")
    await user(client, "sup-gd", "supervisor", "gd")
    sockets = {name: await client.ws_connect(f"/api/v1/ws?token={(await login(client, name))['Authorization'][7:]}")
               for name in ("owner-gd", "colleague-gd", "counsellor-sz", "sup-gd")}
    cid = await conversation(client)
    await engine(client).claim(cid, owner)
    await drain(sockets["colleague-gd"])
    await client.app[STREAM].send(cid, "私密备注", sender=SenderKind.COUNSELLOR, sender_id=owner.id, private=True)
    seen = {name: await drain(ws, until=_has_message if name in ("owner-gd", "sup-gd") else None)
            for name, ws in sockets.items()}
    assert any(e["type"] == "message.created" and e["data"]["message"]["private"] for e in seen["owner-gd"])
    assert any(e["type"] == "message.created" for e in seen["sup-gd"])
    assert not any(e["type"] == "message.created" for e in seen["colleague-gd"])  # not theirs
    assert seen["counsellor-sz"] == []  # another desk: nothing at all
    for ws in sockets.values():
        await ws.close()


def _has_message(events: list[dict]) -> bool:
    return any(e["type"] == "message.created" for e in events)


async def test_lagging_client_is_disconnected(start_app) -> None:
    client = await start(start_app)
    await user(client, "sup-gd", "supervisor", "gd")
    ws = await client.ws_connect("/api/v1/ws", headers=await login(client, "sup-gd"))
    await asyncio.sleep(0.05)
    for n in range(2000):  # published in one go, faster than any socket drains
        await client.app[BUS].publish(Event(type="queue.changed", desk="gd", data={"n": n}))
    while True:
        message = await asyncio.wait_for(ws.receive(), 5)
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            break
    assert ws.close_code == LAGGING


async def test_an_alert_queued_behind_other_events_reaches_the_supervisor_first(start_app) -> None:
    client = await start(start_app)
    await user(client, "sup-gd", "supervisor", "gd")
    ws = await client.ws_connect("/api/v1/ws", headers=await login(client, "sup-gd"))
    await asyncio.sleep(0.05)
    for n in range(5):  # published before the socket's writer gets a turn, as on a busy gateway
        await client.app[BUS].publish(Event(type="queue.changed", desk="gd", data={"n": n}))
    await client.app[BUS].publish(Event(type="alert.raised", desk="gd", data={"alert": {"type": "risk_level_3"}}))

    received = [json.loads((await asyncio.wait_for(ws.receive(), 5)).data) for _ in range(6)]
    assert [event["type"] for event in received] == ["alert.raised"] + ["queue.changed"] * 5
    assert [event["data"]["n"] for event in received[1:]] == [0, 1, 2, 3, 4]  # the others in their order
    await ws.close()


async def test_closing_the_last_console_sets_away_but_a_reload_stays_online(start_app, settings) -> None:  # type: ignore[no-untyped-def]
    # The reload has to reconnect (sign-in lookup, socket, presence write) within the grace period: 2 s,
    # not a few tenths, leaves room for a loaded 2-core machine; the default is 60 s.
    grace = 2.0
    handoff = settings.handoff.model_copy(update={"console_away_after_seconds": grace})
    client = await start(start_app, settings.model_copy(update={"handoff": handoff}), auto=True)
    counsellor = await user(client, "c-gd", desk="gd")
    headers = await login(client, "c-gd")

    first = await client.ws_connect("/api/v1/ws", headers=headers)
    await first.close()
    reloaded = await client.ws_connect("/api/v1/ws", headers=headers)  # a page reload, within the grace period
    await asyncio.sleep(grace + 0.5)
    assert await presence_is(client, counsellor.id, "online")
    await reloaded.close()
    await wait_for(lambda: presence_is(client, counsellor.id, "away"), timeout=grace + 8)
    # Nobody is assigned a youth they cannot see: the conversation waits in the queue for a present colleague.
    waiting = await conversation(client)
    assert (await client.app[STORE].conversations.find_one({"_id": waiting}))["state"] == "queued"


async def presence_is(client, user_id: str, expected: str) -> bool:  # type: ignore[no-untyped-def]
    return (await client.app[STORE]["users"].find_one({"_id": user_id}))["presence"] == expected


async def test_a_conversation_that_overflowed_up_stays_live_on_its_own_desk(start_app, settings) -> None:
    client = await start(start_app, at_shenzhen(settings))
    await user(client, "c-gd", desk="gd", skills=["psychological"])
    cid = await conversation(client, risk=3, category="suicide", youth="openid-overflowed")
    assert (await client.app[STORE].conversations.find_one({"_id": cid}))["desk"] == "gd"  # nobody was at sz
    shenzhen = await user(client, "c-sz", desk="sz", skills=["psychological"])
    await user(client, "sup-sz", "supervisor", "sz")
    await user(client, "c-sh", desk="sh-regional")
    sockets = {name: await client.ws_connect("/api/v1/ws", headers=await login(client, name))
               for name in ("c-sz", "sup-sz", "c-sh")}
    await asyncio.sleep(0.05)
    await engine(client).claim(cid, shenzhen)  # taken from Shenzhen's queue, where it stayed visible
    await client.app[STREAM].ingest(inbound("我还在", user="openid-overflowed", msg_id="m-overflowed-2"))
    def assigned_and_written(events: list[dict]) -> bool:
        return ("conversation.assigned", cid) in {(e["type"], e["conversation_id"]) for e in events} and any(
            e["type"] == "message.created" and e["data"]["message"]["text"] == "我还在" for e in events)

    seen = {name: await drain(ws, until=assigned_and_written if name != "c-sh" else None)
            for name, ws in sockets.items()}
    for name in ("c-sz", "sup-sz"):
        assert ("conversation.assigned", cid) in {(e["type"], e["conversation_id"]) for e in seen[name]}
        assert any(e["type"] == "message.created" and e["data"]["message"]["text"] == "我还在" for e in seen[name])
    assert seen["c-sh"] == []  # a desk it never passed through hears nothing
    for ws in sockets.values():
        await ws.close()


async def test_a_claim_upstairs_refreshes_the_queue_of_the_desk_it_came_from(start_app, settings) -> None:
    client = await start(start_app, at_shenzhen(settings))
    parent = await user(client, "c-gd", desk="gd", skills=["psychological"])
    cid = await conversation(client, risk=3, category="suicide")
    await user(client, "c-sz", desk="sz", online=False)
    ws = await client.ws_connect("/api/v1/ws", headers=await login(client, "c-sz"))
    await asyncio.sleep(0.05)
    await engine(client).claim(cid, parent)
    events = await drain(ws, until=lambda heard: any(e["type"] == "queue.changed" and e["desk"] == "sz"
                                                     for e in heard))
    assert {"type": "queue.changed", "desk": "sz"} in [{"type": e["type"], "desk": e["desk"]} for e in events]
    await ws.close()
