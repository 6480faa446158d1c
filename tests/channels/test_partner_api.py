"""The partner API: signed inbound messages, idempotency, rate limits, signed reply webhook, OpenAPI."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from channels.partner_api import PartnerApiChannel
from channels.signed_rest import sign, signed_headers
from contract.config import Settings
from contract.handoff import HandoffRequest
from contract.keys import STORE, STREAM
from contract.models import Message, SenderKind
from handoff.web.keys import ENGINE
from service.partner_api_simulate import signed_request
from service.partner_api_standin import PartnerReceiverStandIn, create_standin_app
from tests.fakes import simulate_through_standin, stored_messages, wait_for

PARTNER = "demo-school-app"
URL = f"/channels/partner-api/{PARTNER}/messages"
# A recorded partner request body.
RECORDED = {"user": "stu-20260001", "text": "考试没考好，不敢告诉爸妈", "tags": {"school": "demo-middle-school"}}


@pytest.fixture
async def standin(settings: Settings) -> Any:
    app, standin = create_standin_app({a.id: a.secret for a in settings.accounts_for("partner-api")})
    server = TestServer(app)
    await server.start_server()
    yield standin, str(server.make_url("/standin/partner-api"))
    await server.close()


def with_partner(settings: Settings, **update: Any) -> Settings:
    accounts = [a.model_copy(update=update) if a.platform == "partner-api" else a for a in settings.accounts]
    return settings.model_copy(update={"accounts": accounts})


@pytest.fixture
async def client(start_app, settings: Settings, standin) -> TestClient:  # type: ignore[no-untyped-def]
    return await start_app(channel_classes=[PartnerApiChannel], settings=with_partner(settings, api_base=standin[1]))


def partner(settings: Settings):  # type: ignore[no-untyped-def]
    return next(a for a in settings.accounts if a.platform == "partner-api")


async def post(client: TestClient, settings: Settings, body: Any, key: str = "key-1",
               headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    signed = {"Content-Type": "application/json", "Idempotency-Key": key,
              **signed_headers(partner(settings).secret, raw)}
    return await client.post(URL, data=raw, headers=signed if headers is None else headers)


async def stored(client: TestClient) -> list[Message]:
    return await stored_messages(client)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = "49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
    assert sign("secret", "1700000000", b'{"a":1}') == expected


async def test_recorded_message_is_stored_and_a_retry_gets_the_same_ids(client: TestClient,
                                                                          settings: Settings) -> None:
    first = await post(client, settings, RECORDED)
    accepted = await first.json()
    assert first.status == 202 and accepted["duplicate"] is False
    retry = await post(client, settings, RECORDED)  # new timestamp and signature, same key and body
    assert retry.status == 200 and (await retry.json())["message_id"] == accepted["message_id"]
    [message] = await stored(client)
    assert message.text == "考试没考好，不敢告诉爸妈"
    conversation = await client.app[STREAM].get_conversation(message.conversation_id)
    assert (conversation.platform, conversation.desk) == ("partner-api", "nj-regional")
    assert conversation.tags["partner_school"] == "demo-middle-school"


async def test_a_key_reused_for_another_body_is_a_conflict(client: TestClient, settings: Settings) -> None:
    await post(client, settings, RECORDED)
    response = await post(client, settings, {**RECORDED, "text": "另一句话"})
    assert response.status == 409
    assert await response.json() == {"error": "Idempotency-Key already used for another body"}
    assert len(await stored(client)) == 1


async def test_forged_stale_and_unsigned_requests_are_refused(client: TestClient, settings: Settings) -> None:
    raw = json.dumps(RECORDED).encode()
    forged = {"Idempotency-Key": "k", **signed_headers("not-the-secret", raw)}
    response = await post(client, settings, raw, headers=forged)
    assert response.status == 403 and await response.json() == {"error": "signature mismatch"}
    stale = {"Idempotency-Key": "k", **signed_headers(partner(settings).secret, raw, now=time.time() - 3600)}
    response = await post(client, settings, raw, headers=stale)
    assert response.status == 403 and await response.json() == {"error": "timestamp outside the allowed window"}
    other_body = {"Idempotency-Key": "k", **signed_headers(partner(settings).secret, b'{"user":"x","text":"y"}')}
    assert (await post(client, settings, raw, headers=other_body)).status == 403
    assert (await post(client, settings, raw, headers={"Idempotency-Key": "k"})).status == 403
    response = await client.post("/channels/partner-api/nobody/messages", data=raw)
    assert response.status == 404
    assert await stored(client) == []


@pytest.mark.parametrize("body, key, reason", [
    (b"{not json", "k", "malformed JSON"),
    (b"[1]", "k", "body must be a JSON object"),
    ({"text": "hi"}, "k", "user must be a non-empty string of at most 128 characters"),
    ({"user": "u", "text": " "}, "k", "text must be a non-empty string"),
    ({"user": "u", "text": "好" * 2001}, "k", "text too long (max 2000 characters)"),
    ({"user": "u", "text": "hi", "tags": {"a": 1}}, "k", "tags must be at most 10 short string pairs"),
    (RECORDED, "", "Idempotency-Key must be a non-empty string of at most 128 characters"),
])
async def test_malformed_requests_get_a_reason(client: TestClient, settings: Settings, body: Any, key: str,
                                               reason: str) -> None:
    response = await post(client, settings, body, key=key)
    assert response.status == 400 and await response.json() == {"error": reason}
    assert await stored(client) == []


async def test_each_partner_has_its_rate_limit(start_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client = await start_app(channel_classes=[PartnerApiChannel],
                             settings=with_partner(settings, requests_per_minute=2))
    assert [(await post(client, settings, {**RECORDED, "text": f"第{n}句"}, key=f"k{n}")).status
            for n in range(3)] == [202, 202, 429]
    response = await post(client, settings, RECORDED, key="k9")
    assert response.status == 429 and response.headers["Retry-After"] == "1"


async def test_replies_are_signed_retried_and_deduplicated_by_the_partner(client: TestClient, settings: Settings,
                                                                          standin) -> None:  # type: ignore[no-untyped-def]
    recorder: PartnerReceiverStandIn = standin[0]
    await post(client, settings, RECORDED)
    [message] = await stored(client)
    recorder.fail_next(503)
    ok = await client.app[STREAM].send(message.conversation_id, "你好，我是12355的老师",
                                       sender=SenderKind.COUNSELLOR)
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": ok.id, "status": "sent"}))
    [reply] = recorder.sent
    assert (reply["user"], reply["text"], reply["idempotency_key"]) == ("stu-20260001", "你好，我是12355的老师", ok.id)
    recorder.fail_next(410)
    gone = await client.app[STREAM].send(message.conversation_id, "再见", sender=SenderKind.COUNSELLOR)
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": gone.id, "status": "failed"}))
    assert "HTTP 410" in (await client.app[STORE].messages.find_one({"_id": gone.id}))["error"]


async def test_a_youth_waiting_for_a_human_gets_the_queue_notice_on_the_partner_webhook(
        client: TestClient, settings: Settings, standin) -> None:  # type: ignore[no-untyped-def]
    """Like a WeChat youth: no live queue events reach a partner's user, so the wait comes as a reply."""
    recorder: PartnerReceiverStandIn = standin[0]
    await post(client, settings, RECORDED)
    [message] = await stored(client)
    await client.app[ENGINE].request_handoff(HandoffRequest(
        conversation_id=message.conversation_id, reason="ask_human", message_id=message.id))
    await wait_for(lambda: recorder.sent)
    [notice] = recorder.sent
    assert notice["user"] == "stu-20260001" and "预计等待" in notice["text"]
    await client.app[ENGINE].assignment.tell_youth(message.conversation_id)  # once per handoff
    await wait_for(lambda: client.app[STORE].messages.find_one({"text": {"$exists": True}, "status": "sent"}))
    assert len(recorder.sent) == 1


async def test_openapi_document_describes_the_call_and_the_callback(client: TestClient) -> None:
    response = await client.get("/channels/partner-api/openapi.json")
    document = await response.json()
    operation = document["paths"]["/channels/partner-api/{partner}/messages"]["post"]
    assert document["openapi"].startswith("3.0")
    assert {p["name"] for p in operation["parameters"]} >= {"Idempotency-Key", "X-Youthdesk-Signature"}
    assert "reply" in operation["callbacks"] and "429" in operation["responses"]


async def test_simulator_round_trip_through_the_standin(settings: Settings, embedded_client, capsys) -> None:  # type: ignore[no-untyped-def]
    await simulate_through_standin(lambda base: with_partner(settings, api_base=base), embedded_client,
                                   PartnerApiChannel, ["partner-api", "--account", PARTNER, "--wait", "5",
                                                       "我想找人聊聊"])
    out = capsys.readouterr().out
    assert "gateway answered HTTP 202" in out
    assert "reply to partner-user-0001: 收到：我想找人聊聊" in out


def test_simulated_request_verifies_with_the_partner_secret(settings: Settings) -> None:
    body, headers = signed_request(partner(settings), "u", "hi", "k")
    assert headers["X-Youthdesk-Signature"] == sign(partner(settings).secret, headers["X-Youthdesk-Timestamp"], body)
