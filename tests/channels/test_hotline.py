"""The phone hotline: signed call events, masked callers, one conversation per caller, the stand-in call centre."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from channels.hotline import HotlineChannel, caller_id, mask_number
from channels.signed_rest import signed_headers
from contract.config import Settings
from contract.keys import STORE, STREAM
from contract.models import Message, SenderKind
from handoff.appointments import timeline
from handoff.cases import get_case_for_conversation
from handoff.web.keys import ENGINE
from service.hotline_standin import CallCentreSmsStandIn, call_events, place_call
from tests.fakes import loopback_socket, stored_messages, wait_for
from tests.handoff_support import user

CENTRE = "demo-callcentre"
URL = f"/channels/hotline/{CENTRE}/events"
# A recorded "answered" event as a call-centre platform posts it.
RECORDED = {"call_id": "c-20261206-0001", "event": "answered", "at": 1765000000, "caller": "13812345678",
            "line": "12355", "counsellor": "王老师"}


@pytest.fixture
async def sms(settings: Settings) -> Any:
    """The call centre's SMS endpoint, played locally."""
    standin = CallCentreSmsStandIn({a.id: a.secret for a in settings.accounts_for("hotline")})
    app = web.Application()
    app.router.add_routes(standin.routes())
    server = TestServer(app)
    await server.start_server()
    yield standin, str(server.make_url("/standin/hotline"))
    await server.close()


def with_centre(settings: Settings, **update: Any) -> Settings:
    accounts = [a.model_copy(update=update) if a.platform == "hotline" else a for a in settings.accounts]
    return settings.model_copy(update={"accounts": accounts})


@pytest.fixture
async def client(start_app, settings: Settings, sms) -> TestClient:  # type: ignore[no-untyped-def]
    return await start_app(channel_classes=[HotlineChannel], settings=with_centre(settings, api_base=sms[1]))


def centre(settings: Settings):  # type: ignore[no-untyped-def]
    return next(a for a in settings.accounts if a.platform == "hotline")


async def post(client: TestClient, settings: Settings, body: Any, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return await client.post(URL, data=raw, headers=signed_headers(centre(settings).secret, raw)
                             if headers is None else headers)


async def stored(client: TestClient) -> list[Message]:
    return await stored_messages(client)


def test_numbers_are_masked_and_callers_keyed_by_the_data_key() -> None:
    assert mask_number("13812345678") == mask_number("+8613812345678") == "138****5678"
    assert mask_number("83301234") == "******34"
    assert caller_id("13812345678", "k") == caller_id("+8613812345678", "k") != caller_id("13812345678", "other")


async def test_a_caller_keeps_their_conversation_across_a_key_rotation(start_app, settings: Settings) -> None:
    before = await start_app(channel_classes=[HotlineChannel])
    first = await (await post(before, settings, RECORDED)).json()
    service = settings.service
    rotated = settings.model_copy(update={"service": service.model_copy(update={
        "data_key": "X3DUmd8b2dNGTzvfmRtHxKVEpYqDQ6cMbXtUOL0ZAxc=",
        "previous_data_keys": f"{service.data_key}"})})
    after = await start_app(settings=rotated, channel_classes=[HotlineChannel])
    ended = {**RECORDED, "event": "ended", "at": RECORDED["at"] + 60, "duration_seconds": 60}
    second = await (await post(after, rotated, ended)).json()
    assert second["conversation_id"] == first["conversation_id"]


async def test_recorded_event_is_stored_once_without_the_number(client: TestClient, settings: Settings) -> None:
    first = await post(client, settings, RECORDED)
    assert first.status == 200 and (await first.json())["duplicate"] is False
    again = await post(client, settings, RECORDED)  # the platform's retry, or a replay
    assert (await again.json())["duplicate"] is True
    [message] = await stored(client)
    assert (message.type, message.event) == ("event", "call_answered")
    assert message.text == "[电话] 已接通，接听人：王老师"
    conversation = await client.app[STREAM].get_conversation(message.conversation_id)
    assert (conversation.platform, conversation.desk) == ("hotline", "ty-regional")
    assert conversation.tags["caller_masked"] == "138****5678"
    raw = json.dumps(await client.app[STORE].messages.find({}).to_list(None), default=str)
    raw += json.dumps(await client.app[STORE].conversations.find({}).to_list(None), default=str)
    assert "13812345678" not in raw and "12345678" not in raw


async def test_a_whole_call_from_the_standin_lands_in_one_conversation(client: TestClient, settings: Settings) -> None:
    events = call_events("c-2", "13812345678", "李老师", transfer_to="心理咨询专线", rng=random.Random(7))
    async with aiohttp.ClientSession() as http:
        placed = await place_call(http, str(client.make_url("/")), centre(settings), events)
    assert [p.status for p in placed] == [200, 200, 200, 200]
    messages = await stored(client)
    assert [m.event for m in messages] == ["call_ringing", "call_answered", "call_transferred", "call_ended"]
    assert len({m.conversation_id for m in messages}) == 1
    assert messages[-1].text.startswith("[电话] 通话结束，时长 ") and "录音编号 REC-" in messages[-1].text
    assert messages[2].text == "[电话] 李老师 已将来电转接至 心理咨询专线"
    # The same caller's next call is the same youth: the same conversation while it is open.
    await post(client, settings, {**RECORDED, "call_id": "c-3", "caller": "+8613812345678"})
    assert len({m.conversation_id for m in await stored(client)}) == 1


async def test_withheld_numbers_get_one_conversation_per_call(client: TestClient, settings: Settings) -> None:
    await post(client, settings, {**RECORDED, "caller": "", "call_id": "w-1"})
    await post(client, settings, {**RECORDED, "caller": "", "call_id": "w-2"})
    first, second = await stored(client)
    assert first.conversation_id != second.conversation_id


async def test_forged_stale_and_unsigned_events_are_refused(client: TestClient, settings: Settings) -> None:
    raw = json.dumps(RECORDED).encode()
    response = await post(client, settings, raw, signed_headers("not-the-secret", raw))
    assert response.status == 403 and await response.json() == {"error": "signature mismatch"}
    stale = signed_headers(centre(settings).secret, raw, now=time.time() - 3600)
    response = await post(client, settings, raw, stale)
    assert response.status == 403 and await response.json() == {"error": "timestamp outside the allowed window"}
    assert (await post(client, settings, raw, {})).status == 403
    assert (await client.post("/channels/hotline/nobody/events", data=raw)).status == 404
    assert await stored(client) == []


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "malformed JSON"),
    (b"[]", "event must be a JSON object"),
    ({**RECORDED, "call_id": ""}, "call_id required"),
    ({**RECORDED, "event": "hold"}, "event must be one of ringing, answered, transferred, ended"),
    ({**RECORDED, "at": "yesterday"}, "at must be unix seconds"),
    ({**RECORDED, "at": 10**13}, "at must be unix seconds"),
    ({**RECORDED, "caller": "138-1234"}, "caller must be a phone number or empty (withheld)"),
    ({**RECORDED, "counsellor": ""}, "counsellor required"),
    ({**RECORDED, "event": "transferred"}, "transfer_to required"),
    ({**RECORDED, "event": "ended", "duration_seconds": -1}, "duration_seconds must be a non-negative integer"),
    ({**RECORDED, "line": "x" * 200}, "line must be a string of at most 128 characters"),
])
async def test_malformed_events_get_a_reason(client: TestClient, settings: Settings, body: Any, reason: str) -> None:
    response = await post(client, settings, body)
    assert response.status == 400 and await response.json() == {"error": reason}
    assert await stored(client) == []


async def test_text_to_a_caller_is_an_sms_naming_their_latest_call(client: TestClient, settings: Settings,
                                                                   sms) -> None:  # type: ignore[no-untyped-def]
    standin, _ = sms
    await post(client, settings, RECORDED)
    later = {**RECORDED, "call_id": "c-20261206-0002", "at": RECORDED["at"] + 3600}
    await post(client, settings, later)
    await post(client, settings, {**RECORDED, "event": "ended"})  # the first call's end, arriving late
    [message, *_] = await stored(client)
    reply = await client.app[STREAM].send(message.conversation_id, "你好，明天见", sender=SenderKind.COUNSELLOR)
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": reply.id, "status": "sent"}))
    [text] = standin.sent
    assert (text["call_id"], text["text"], text["idempotency_key"]) == ("c-20261206-0002", "你好，明天见", reply.id)
    assert "13812345678" not in json.dumps(text) and "5678" not in json.dumps(text)


@pytest.mark.parametrize(("update", "caller", "reason"), [
    ({"api_base": "", "webhook_url": ""}, "13812345678", "call the youth back"),
    ({}, "", "withheld their number"),
])
async def test_text_without_an_sms_route_fails_visibly(start_app, settings: Settings, sms, update: dict[str, str],  # type: ignore[no-untyped-def]
                                                       caller: str, reason: str) -> None:
    client = await start_app(channel_classes=[HotlineChannel],
                             settings=with_centre(settings, **{"api_base": sms[1], **update}))
    await post(client, settings, {**RECORDED, "caller": caller})
    [message] = await stored(client)
    reply = await client.app[STREAM].send(message.conversation_id, "你好", sender=SenderKind.COUNSELLOR)
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": reply.id, "status": "failed"}))
    assert reason in (await client.app[STORE].messages.find_one({"_id": reply.id}))["error"]
    assert sms[0].sent == []


async def test_simulator_plays_a_call(settings: Settings, embedded_client, capsys) -> None:  # type: ignore[no-untyped-def]
    from aiohttp import web

    from service.app import create_app
    from service.cli import main

    sock = loopback_socket()
    port = sock.getsockname()[1]
    app = create_app(settings, channel_classes=[HotlineChannel], embedded_client=embedded_client)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        await asyncio.to_thread(main, ["simulate", "--url", f"http://127.0.0.1:{port}", "hotline",
                                       "--account", CENTRE, "--pace", "0"])
    finally:
        await runner.cleanup()
    out = capsys.readouterr().out
    assert "ringing: gateway answered HTTP 200" in out and "ended: gateway answered HTTP 200" in out


@pytest.mark.parametrize("triage", [False, True], ids=["triage-off", "triage-on"])
async def test_a_call_goes_to_a_counsellor_and_onto_the_case_timeline(start_app, settings: Settings,
                                                                      triage: bool) -> None:
    service = settings.service.model_copy(update={"triage_enabled": triage})
    client = await start_app(settings=settings.model_copy(update={"service": service}),
                             channel_classes=[HotlineChannel])
    events = call_events("c-case", "13812345678", "李老师", rng=random.Random(3))
    async with aiohttp.ClientSession() as http:
        await place_call(http, str(client.make_url("/")), centre(settings), events[:1])
    [ringing] = await stored(client)

    async def queued() -> bool:
        conversation = await client.app[STREAM].get_conversation(ringing.conversation_id)
        return conversation.state == "queued"
    await wait_for(queued)
    counsellor = await user(client, "li", desk=centre(settings).desk)
    await client.app[ENGINE].claim(ringing.conversation_id, counsellor)
    async with aiohttp.ClientSession() as http:
        await place_call(http, str(client.make_url("/")), centre(settings), events[1:])
    case = await get_case_for_conversation(client.app[STORE], ringing.conversation_id)
    assert case is not None

    async def whole_call_on_the_timeline() -> bool:
        entries = await timeline(client.app[ENGINE].context, case)
        return [entry.kind for entry in entries] == ["call"] * 3
    await wait_for(whole_call_on_the_timeline)
    entries = await timeline(client.app[ENGINE].context, case)
    assert entries[0].text == "[电话] 来电 138****5678，正在振铃" and entries[-1].text.startswith("[电话] 通话结束")
