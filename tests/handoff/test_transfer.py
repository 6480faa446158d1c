"""Transfers keep the note and the case; returning youths are offered their previous counsellor."""

from __future__ import annotations

import asyncio

from contract.keys import STORE
from handoff.queue import load
from tests.handoff_support import Clock, at_shenzhen, conversation, drain, engine, login, start, user


async def test_transfer_across_regions_keeps_case_and_note(start_app) -> None:
    client = await start(start_app)
    counsellor = await user(client, "c-gd", desk="gd")
    await user(client, "sup-sh", "supervisor", "sh-regional")
    cid = await conversation(client, risk=1)
    await engine(client).claim(cid, counsellor)
    headers = await login(client, "c-gd")
    before = await (await client.get(f"/api/v1/conversations/{cid}", headers=headers)).json()
    if before["case_id"] is None:  # the cases module is not in this tree: stand in for the case it would open
        await client.app[STORE]["cases"].insert_one({"_id": "case-1", "conversation_id": cid, "number": "12355-GD-1"})
        before = await (await client.get(f"/api/v1/conversations/{cid}", headers=headers)).json()
    assert before["case_id"] and before["case_number"]
    response = await client.post(f"/api/v1/conversations/{cid}/transfer", headers=headers,
                                 json={"to": "desk", "desk_id": "sh-regional", "note": "来沪读书，转上海区域中心跟进"})
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["desk"] == "sh-regional" and body["state"] == "queued" and body["owner"] is None
    assert (body["case_id"], body["case_number"]) == (before["case_id"], before["case_number"])
    assert body["transfers"][-1]["note"] == "来沪读书，转上海区域中心跟进"
    # the former owner no longer sees it; the receiving desk's supervisor does, with the note in the transcript
    assert (await client.get(f"/api/v1/conversations/{cid}", headers=headers)).status == 403
    sup = await login(client, "sup-sh")
    transcript = await client.get(f"/api/v1/conversations/{cid}/messages?reason=接收转介", headers=sup)
    assert any("转接备注" in m["text"] and m["private"] for m in (await transcript.json())["items"])


async def test_transfer_to_colleague_and_back_to_bot(start_app) -> None:
    client = await start(start_app)
    first = await user(client, "c-one", desk="gd")
    second = await user(client, "c-two", desk="gd")
    await user(client, "c-other", desk="sz")
    cid = await conversation(client)
    await engine(client).claim(cid, first)
    headers = await login(client, "c-one")
    other = await client.app[STORE]["users"].find_one({"username": "c-other"})
    refused = await client.post(f"/api/v1/conversations/{cid}/transfer", headers=headers,
                                json={"to": "user", "user_id": other["_id"], "note": "x"})
    assert refused.status == 403
    missing_note = await client.post(f"/api/v1/conversations/{cid}/transfer", headers=headers,
                                     json={"to": "user", "user_id": second.id, "note": ""})
    assert missing_note.status == 400
    moved = await client.post(f"/api/v1/conversations/{cid}/transfer", headers=headers,
                              json={"to": "user", "user_id": second.id, "note": "换班"})
    assert (await moved.json())["owner"]["id"] == second.id
    back = await client.post(f"/api/v1/conversations/{cid}/transfer", headers=await login(client, "c-two"),
                             json={"to": "bot", "note": "只是咨询政策，交回智能助手"})
    assert (await back.json())["state"] == "bot"


async def test_returning_youth_is_offered_previous_counsellor(start_app, settings, monkeypatch) -> None:
    client = await start(start_app, settings, auto=True)
    previous = await user(client, "prev", desk="gd", capacity=3)
    cid = await conversation(client, youth="openid-returning")
    assert (await client.app[STORE].conversations.find_one({"_id": cid}))["owner"] == previous.id
    await engine(client).close(cid, previous, outcome="resolved", request_rating=False)
    other = await user(client, "aaa-first-alphabetically", desk="gd")
    again = await conversation(client, youth="openid-returning")
    doc = await client.app[STORE].conversations.find_one({"_id": again})
    assert doc["owner"] == previous.id and other.id != previous.id
    body = await (await client.get(f"/api/v1/conversations/{again}", headers=await login(client, "prev"))).json()
    assert body["previous_counsellor"]["id"] == previous.id


async def test_a_transfer_ends_the_overflow_trail(start_app, settings) -> None:
    """The receiving desk owns the conversation: the desks it overflowed from stop seeing it (and hear so),
    the arrival label goes, and its overflow window starts again at the receiving desk."""
    client = await start(start_app, at_shenzhen(settings))
    parent = await user(client, "c-gd", desk="gd", skills=["psychological"])
    cid = await conversation(client, risk=3, category="suicide")
    clock = Clock(client)
    await clock.at(0)
    await user(client, "c-sz", desk="sz", skills=["psychological"], online=False)
    shenzhen = await login(client, "c-sz")
    assert (await client.get(f"/api/v1/conversations/{cid}", headers=shenzhen)).status == 200  # overflowed from sz
    await engine(client).claim(cid, parent)
    ws = await client.ws_connect("/api/v1/ws", headers=shenzhen)
    await asyncio.sleep(0.05)

    await clock.at(20)
    moved = await engine(client).transfer(cid, parent, to="desk", desk_id="sh-regional", note="户籍在上海，转上海跟进")
    assert (moved.desk, moved.also_visible_to) == ("sh-regional", [])
    item = await load(client.app[STORE], cid)
    assert item is not None and item.info.offers == []
    assert (await client.get(f"/api/v1/conversations/{cid}", headers=shenzhen)).status == 403
    queue = await (await client.get("/api/v1/queue", headers=shenzhen)).json()
    assert cid not in [entry["id"] for entry in queue["items"]]
    dropped = await drain(ws, until=lambda events: any(e["type"] == "conversation.state_changed"
                                                       and e["conversation_id"] == cid for e in events))
    heard = [(e["type"], e["conversation_id"]) for e in dropped]
    assert ("conversation.state_changed", cid) in heard  # Shenzhen's console drops it
    await ws.close()

    await clock.at(49)  # 29 s at the receiving desk: its own 30 s window has not run out
    assert (await load(client.app[STORE], cid)).conversation.desk == "sh-regional"  # type: ignore[union-attr]
    await clock.at(50)
    assert (await load(client.app[STORE], cid)).conversation.desk == "national"  # type: ignore[union-attr]
