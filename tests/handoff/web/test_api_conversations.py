"""Replies, notes, whispers, joining, the conversation lists, and the model's estimate they show."""

from __future__ import annotations

from contract.handoff import HandoffRequest
from contract.keys import STREAM
from tests.fakes import RecordingChannel, inbound, wait_for
from tests.handoff_support import conversation, engine, login, start, user


async def test_owner_replies_supervisor_joins_and_whispers(start_app) -> None:
    client = await start(start_app)
    owner = await user(client, "owner-gd", desk="gd")
    await user(client, "colleague-gd", desk="gd")
    await user(client, "sup-gd", "supervisor", "gd")
    cid = await conversation(client)
    await engine(client).claim(cid, owner)
    owner_h, colleague_h, sup_h = [await login(client, n) for n in ("owner-gd", "colleague-gd", "sup-gd")]
    assert (await client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "插话"},
                              headers=colleague_h)).status == 403
    assert (await client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "未加入"},
                              headers=sup_h)).status == 403
    reply = await client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "我在，慢慢说"}, headers=owner_h)
    assert reply.status == 201 and (await reply.json())["sender_name"] == "owner-gd"
    whisper = await client.post(f"/api/v1/conversations/{cid}/whisper", json={"text": "先确认安全"}, headers=sup_h)
    assert whisper.status == 201 and (await whisper.json())["private"] is True
    assert (await client.post(f"/api/v1/conversations/{cid}/whisper", json={"text": "x"},
                              headers=owner_h)).status == 403
    note = await client.post(f"/api/v1/conversations/{cid}/notes", json={"text": "家庭矛盾"}, headers=owner_h)
    assert note.status == 201
    joined = await client.post(f"/api/v1/conversations/{cid}/join", headers=sup_h)
    assert joined.status == 200
    assert (await client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "我是督导老师"},
                              headers=sup_h)).status == 201
    channel = RecordingChannel.instances[-1]
    await wait_for(lambda: len(channel.sent) >= 2)
    assert [m.text for m in channel.sent] == ["我在，慢慢说", "我是督导老师"]  # private messages never leave


async def test_conversation_lists_by_scope(start_app) -> None:
    client = await start(start_app)
    owner = await user(client, "owner-gd", desk="gd")
    await user(client, "sup-gd", "supervisor", "gd")
    await user(client, "admin", "admin", "national")
    mine = await conversation(client)
    waiting = await conversation(client)
    await engine(client).claim(mine, owner)
    owner_h, sup_h, admin_h = [await login(client, n) for n in ("owner-gd", "sup-gd", "admin")]

    async def ids(url: str, headers: dict[str, str]) -> list[str]:
        response = await client.get(url, headers=headers)
        assert response.status == 200, await response.text()
        return [item["id"] for item in (await response.json())["items"]]

    assert await ids("/api/v1/conversations", owner_h) == [mine]
    assert sorted(await ids("/api/v1/conversations?scope=desk", owner_h)) == sorted([mine, waiting])
    assert await ids("/api/v1/conversations?scope=desk&state=queued", sup_h) == [waiting]
    assert (await client.get("/api/v1/conversations?scope=all", headers=sup_h)).status == 403
    assert sorted(await ids("/api/v1/conversations?scope=all", admin_h)) == sorted([mine, waiting])
    users = await (await client.get("/api/v1/users?desk=gd", headers=owner_h)).json()
    assert {u["username"]: u["active_conversations"] for u in users["items"]}["owner-gd"] == 1
    assert (await client.get("/api/v1/users?desk=sz", headers=owner_h)).status == 403
    desks = await (await client.get("/api/v1/desks", headers=owner_h)).json()
    assert {d["id"] for d in desks["items"] if d["visible"]} == {"gd"}
    sup_desks = await (await client.get("/api/v1/desks", headers=sup_h)).json()
    assert {d["id"] for d in sup_desks["items"] if d["visible"]} == {"gd", "sz"}
    canned = await (await client.get("/api/v1/canned-responses?q=安全", headers=owner_h)).json()
    assert [c["id"] for c in canned["items"]] == ["safety"]


async def test_the_summary_shows_the_model_s_estimate_for_the_youth_s_latest_words(start_app) -> None:
    client = await start(start_app)
    await user(client, "sup-gd", "supervisor", "gd")
    headers = await login(client, "sup-gd")
    youth = "openid-estimate"
    first = await client.app[STREAM].ingest(inbound("最近很难受", user=youth, msg_id="est-1"))
    await engine(client).request_handoff(HandoffRequest(
        conversation_id=first.conversation_id, reason="risk", risk_level=2, category="suicide", cues=["测试"],
        message_id=first.message_id, risk_probability=0.83))

    async def summary() -> dict:  # type: ignore[type-arg]
        response = await client.get(f"/api/v1/conversations/{first.conversation_id}", headers=headers)
        assert response.status == 200, await response.text()
        return await response.json()

    assert (await summary())["risk_probability"] == 0.83
    queue = await (await client.get("/api/v1/queue?desk=gd", headers=headers)).json()
    assert [item["risk_probability"] for item in queue["items"]] == [0.83]

    # The youth writes again while waiting: the estimate follows the latest words, the level does not fall.
    second = await client.app[STREAM].ingest(inbound("谢谢你们", user=youth, msg_id="est-2"))
    waiting = await client.app[STREAM].get_conversation(first.conversation_id)
    message = next(m for m in await client.app[STREAM].history(waiting.id) if m.id == second.message_id)
    await engine(client).youth_wrote(waiting, message, risk_probability=0.04)
    assert ((await summary())["risk_probability"], (await summary())["risk_level"]) == (0.04, 2)

    # Words no calibrated model scored (triage off, no model): no estimate, never an older one.
    await client.app[STREAM].ingest(inbound("在吗", user=youth, msg_id="est-3"))
    assert (await summary())["risk_probability"] is None
