"""Risk rules: level 3 jumps the queue, alerts supervisors (REST and WebSocket), blocks closing."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from contract.handoff import HandoffRequest
from contract.keys import STORE, STREAM
from contract.models import Conversation
from handoff import cases
from handoff.queue import queued
from handoff.web.keys import DEADLINES
from tests.fakes import RecordingChannel, inbound, stored_messages, wait_for
from tests.handoff_support import conversation, engine, login, start, user


async def _next_event(ws, event_type: str, timeout: float = 5.0) -> dict:  # type: ignore[no-untyped-def]
    async def read() -> dict:
        while True:
            message = json.loads((await ws.receive()).data)
            if message["type"] == event_type:
                return message
    return await asyncio.wait_for(read(), timeout)


async def test_level3_jumps_queue_and_alerts_supervisors_over_websocket(start_app) -> None:
    client = await start(start_app)
    await user(client, "sup-gd", "supervisor", "gd")
    national_sup = await user(client, "sup-national", "supervisor", "national")
    counsellor = await user(client, "c-gd", desk="gd")
    ws = await client.ws_connect("/api/v1/ws", headers=await login(client, "sup-gd"))
    ws_counsellor = await client.ws_connect("/api/v1/ws", headers=await login(client, "c-gd"))
    older = await conversation(client, risk=2)
    urgent = await conversation(client, risk=3, category="suicide")
    assert [i.conversation.id for i in await queued(client.app[STORE], {"gd"})] == [urgent, older]
    event = await _next_event(ws, "alert.raised")
    assert event["conversation_id"] == urgent
    alert = event["data"]["alert"]
    assert alert["type"] == "risk_level_3"
    sup_gd = await client.app[STORE]["users"].find_one({"username": "sup-gd"})
    assert alert["recipients"] == [sup_gd["_id"]]  # the desk's own supervisor is online: not escalated
    assert national_sup.id not in alert["recipients"]
    assert (await _next_event(ws_counsellor, "alert.raised"))["conversation_id"] == urgent
    response = await client.get("/api/v1/alerts", headers=await login(client, "sup-gd"))
    assert [a["conversation_id"] for a in (await response.json())["items"]] == [urgent]
    # closing is blocked without a risk assessment
    await engine(client).claim(urgent, counsellor)
    headers = await login(client, "c-gd")
    response = await client.post(f"/api/v1/conversations/{urgent}/close", headers=headers,
                                 json={"outcome": "resolved", "request_rating": False})
    assert response.status == 409
    assert (await response.json()) == {"error": "required before closing: risk assessment, classification, summary, "
                                                "a referral, a mandatory report or no_referral_reason"}
    await ws.close()
    await ws_counsellor.close()


async def test_level3_alert_escalates_to_ancestors_when_no_supervisor_online(start_app) -> None:
    client = await start(start_app)
    await user(client, "sup-gd-off", "supervisor", "gd", online=False)
    regional = await user(client, "sup-regional", "supervisor", "gd-regional")
    cid = await conversation(client, risk=3, category="suicide")
    doc = await client.app[STORE]["alerts"].find_one({"conversation_id": cid})
    assert doc["recipients"] == [regional.id]


async def test_closing_succeeds_once_the_case_is_complete_and_asks_for_rating(start_app) -> None:
    client = await start(start_app)
    counsellor = await user(client, "c-gd", desk="gd")
    cid = await conversation(client, risk=2)
    await engine(client).claim(cid, counsellor)
    headers = await login(client, "c-gd")
    body = {"outcome": "resolved", "request_rating": True}
    assert (await client.post(f"/api/v1/conversations/{cid}/close", headers=headers, json=body)).status == 409

    case_id = (await (await client.get(f"/api/v1/conversations/{cid}", headers=headers)).json())["case_id"]
    await client.put(f"/api/v1/cases/{case_id}/assessment", headers=headers, json={
        "level": 2, "factors": ["自伤"], "immediate_danger": False, "plan": "每日回访", "notes": ""})
    assert (await client.post(f"/api/v1/conversations/{cid}/close", headers=headers, json=body)).status == 409
    await client.patch(f"/api/v1/cases/{case_id}", headers=headers,
                       json={"classification": "psych.emotion", "summary": "情绪低落，有自伤念头，已制定安全计划"})
    response = await client.post(f"/api/v1/conversations/{cid}/close", headers=headers, json=body)
    assert response.status == 200 and (await response.json())["state"] == "closed"
    channel = RecordingChannel.instances[-1]
    await wait_for(lambda: any("请回复1-5" in m.text for m in channel.sent))


async def test_risk_raised_later_reprioritises_and_counsellor_can_set_it(start_app) -> None:
    client = await start(start_app)
    first = await conversation(client, risk=1)
    second = await conversation(client, risk=1)
    assert [i.conversation.id for i in await queued(client.app[STORE], {"gd"})] == [first, second]
    # the detector fires on a later message of the second youth
    await engine(client).request_handoff(HandoffRequest(conversation_id=second, reason="risk", risk_level=2,
                                                        category="self_harm", cues=["割腕"]))
    assert [i.conversation.id for i in await queued(client.app[STORE], {"gd"})] == [second, first]
    case = await cases.get_case_for_conversation(client.app[STORE], second)
    assert case is not None and case.risk_level == 2  # the case follows the raised risk
    counsellor = await user(client, "c-gd", desk="gd")
    await engine(client).claim(first, counsellor)
    headers = await login(client, "c-gd")
    response = await client.put(f"/api/v1/conversations/{first}/risk", headers=headers,
                                json={"level": 3, "category": "suicide", "reason": "明确表达轻生计划"})
    assert response.status == 200 and (await response.json())["risk_level"] == 3
    assert await client.app[STORE]["alerts"].count_documents({"conversation_id": first, "type": "risk_level_3"}) == 1
    bad = await client.put(f"/api/v1/conversations/{first}/risk", headers=headers, json={"level": 7, "reason": "x"})
    assert bad.status == 400


async def test_silent_high_risk_youth_creates_outreach_task(start_app) -> None:
    client = await start(start_app)
    eng = engine(client)
    cid = await conversation(client, risk=2)
    base = eng.now()
    eng.now = lambda: base + timedelta(minutes=9)
    await client.app[DEADLINES].tick()
    assert await client.app[STORE]["alerts"].count_documents({"type": "outreach"}) == 0
    eng.now = lambda: base + timedelta(minutes=11)
    await client.app[DEADLINES].tick()
    alerts = await client.app[STORE]["alerts"].find({"conversation_id": cid, "type": "outreach"}).to_list(None)
    assert len(alerts) == 1
    await client.app[DEADLINES].tick()  # not raised twice for the same silence
    assert await client.app[STORE]["alerts"].count_documents({"conversation_id": cid, "type": "outreach"}) == 1
    # the youth writes again, then falls silent again: a new outreach task
    eng.now = lambda: base + timedelta(minutes=12)
    written_to = Conversation.from_doc(await client.app[STORE].conversations.find_one({"_id": cid}))
    await engine(client).youth_wrote(written_to)
    eng.now = lambda: base + timedelta(minutes=21)
    await client.app[DEADLINES].tick()
    assert await client.app[STORE]["alerts"].count_documents({"conversation_id": cid, "type": "outreach"}) == 1
    eng.now = lambda: base + timedelta(minutes=23)
    await client.app[DEADLINES].tick()
    assert await client.app[STORE]["alerts"].count_documents({"conversation_id": cid, "type": "outreach"}) == 2


async def test_level3_case_flow_assessment_unblocks_close_and_rating_is_taken(start_app) -> None:
    client = await start(start_app)
    counsellor = await user(client, "c-gd", desk="gd")
    cid = await conversation(client, risk=3, category="suicide", youth="openid-flow")
    await engine(client).claim(cid, counsellor)
    headers = await login(client, "c-gd")
    summary = await (await client.get(f"/api/v1/conversations/{cid}", headers=headers)).json()
    close = {"outcome": "safety plan agreed", "request_rating": True}
    assert (await client.post(f"/api/v1/conversations/{cid}/close", json=close, headers=headers)).status == 409
    assessment = {"level": 3, "factors": ["明确计划"], "immediate_danger": False, "protective_factors": ["母亲陪伴"],
                  "plan": "今晚母亲陪同，明早转介心理门诊", "notes": ""}
    response = await client.put(f"/api/v1/cases/{summary['case_id']}/assessment", json=assessment, headers=headers)
    assert response.status == 200, await response.text()
    await client.patch(f"/api/v1/cases/{summary['case_id']}", headers=headers,
                       json={"classification": "psych.emotion", "summary": "有明确轻生计划，母亲已到场"})
    refused = await client.post(f"/api/v1/conversations/{cid}/close", json=close, headers=headers)
    assert (await refused.json())["error"].endswith("a referral, a mandatory report or no_referral_reason")
    close = {**close, "no_referral_reason": "母亲陪同就医，由医院转介"}
    closed = await client.post(f"/api/v1/conversations/{cid}/close", json=close, headers=headers)
    assert closed.status == 200 and (await closed.json())["state"] == "closed"
    case = await client.app[STORE]["cases"].find_one({"_id": summary["case_id"]})
    assert case["status"] == "closed"
    await client.app[STREAM].ingest(inbound("5", user="openid-flow", msg_id="rating-1"))
    conversation_doc = await client.app[STORE].conversations.find_one({"_id": cid})
    rating_source = await client.app[STORE].conversations.find_one({"contact_id": conversation_doc["contact_id"],
                                                                    "_id": {"$ne": cid}})
    rating_message = (await stored_messages(client, conversation_id=rating_source["_id"]))[0]
    taken = await engine(client).take_rating(Conversation.from_doc(rating_source), rating_message)
    assert taken
    assert (await client.app[STORE]["ratings"].find_one({"conversation_id": cid}))["score"] == 5


async def test_what_the_detector_found_and_the_model_s_estimate_are_one_write_of_the_message(start_app,
                                                                                            monkeypatch) -> None:
    client = await start(start_app)
    youth = await client.app[STREAM].ingest(inbound("最近很难受", user="openid-one-write", msg_id="one-write-1"))
    messages = client.app[STORE].messages
    update_one = type(messages).update_one
    writes: list[dict] = []  # type: ignore[type-arg]

    async def counting(self, filter, update, *args, **kwargs):  # type: ignore[no-untyped-def]  # noqa: A002
        if self is messages and filter == {"_id": youth.message_id} and "processed" not in update.get("$set", {}):
            writes.append(update)
        return await update_one(self, filter, update, *args, **kwargs)

    monkeypatch.setattr(type(messages), "update_one", counting)
    await engine(client).request_handoff(HandoffRequest(
        conversation_id=youth.conversation_id, reason="risk", risk_level=2, category="suicide", cues=["难受"],
        message_id=youth.message_id, risk_probability=0.83))
    assert [sorted(update["$set"]) for update in writes] == [["risk", "risk_probability"]]
    stored = await messages.find_one({"_id": youth.message_id})
    assert (stored["risk"]["level"], stored["risk"]["cues"], stored["risk_probability"]) == (2, ["难受"], 0.83)
