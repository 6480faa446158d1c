"""Douyin enterprise-account private messages: signed pushes, URL verification, replies through the stand-in."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from channels.douyin import DouyinChannel, douyin_signature
from contract.config import Settings
from contract.keys import CHANNELS, STORE, STREAM
from contract.models import Message, SenderKind
from service.douyin_simulate import signed_headers
from service.douyin_standin import DouyinStandIn, create_standin_app
from tests.fakes import simulate_through_standin, stored_messages, wait_for

CLIENT_KEY = "awdemo12355youth"
YOUTH = "_000QadFMhmU1jNCI3JdPnyVDL6XavC70dFy"
ENTERPRISE = "_000LiV_o0FGKMwaZgqGMCvcVSf-UAnNU_kk"
# A recorded im_receive_msg push (ids shortened; content arrives as a JSON string).
RECORDED = {
    "event": "im_receive_msg", "client_key": CLIENT_KEY, "from_user_id": YOUTH, "to_user_id": ENTERPRISE,
    "content": json.dumps({"conversation_short_id": "7097234512345678901", "server_message_id": "7097234598765432109",
                           "conversation_type": 1, "create_time": 1765000000000, "message_type": "text",
                           "text": "我和家里吵架了"}, ensure_ascii=False),
    "log_id": "2026120612000001020304050607",
}


@pytest.fixture
async def standin() -> Any:
    app, standin = create_standin_app({"demo-only-douyin-access-token"})
    server = TestServer(app)
    await server.start_server()
    yield standin, str(server.make_url("/standin/douyin"))
    await server.close()


@pytest.fixture
async def client(start_app, settings: Settings, standin) -> TestClient:  # type: ignore[no-untyped-def]
    _, base = standin
    accounts = [a.model_copy(update={"api_base": base}) if a.platform == "douyin" else a for a in settings.accounts]
    return await start_app(channel_classes=[DouyinChannel],
                           settings=settings.model_copy(update={"accounts": accounts}))


def account(settings: Settings):  # type: ignore[no-untyped-def]
    return next(a for a in settings.accounts if a.platform == "douyin")


def push(**content: Any) -> dict[str, Any]:
    return {**RECORDED, "content": json.dumps({**json.loads(RECORDED["content"]), **content}, ensure_ascii=False)}


async def post(client: TestClient, settings: Settings, body: Any, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return await client.post(f"/channels/douyin/{CLIENT_KEY}", data=raw,
                             headers=signed_headers(account(settings), raw) if headers is None else headers)


async def stored(client: TestClient) -> list[Message]:
    return await stored_messages(client)


def test_signature_is_sha1_of_secret_then_body() -> None:
    body = b'{"event":"verify_webhook","client_key":"abc","content":{"challenge":12345}}'
    assert douyin_signature("secret", body) == "277df63c0efb431eccf64a233b0eee5ea94b6c4a"


async def test_verify_webhook_echoes_the_challenge(client: TestClient, settings: Settings) -> None:
    check = {"event": "verify_webhook", "client_key": "", "content": {"challenge": 12345}}
    response = await post(client, settings, check)
    assert response.status == 200 and await response.json() == {"challenge": 12345}


async def test_recorded_message_is_stored_once(client: TestClient, settings: Settings) -> None:
    assert (await post(client, settings, RECORDED)).status == 200
    assert (await post(client, settings, RECORDED)).status == 200  # Douyin's retry, or a replay: the same body
    [message] = await stored(client)
    assert (message.text, message.type) == ("我和家里吵架了", "text")
    conversation = await client.app[STREAM].get_conversation(message.conversation_id)
    assert (conversation.platform, conversation.desk) == ("douyin", "km-regional")


async def test_events_we_do_not_act_on_are_acknowledged_only(client: TestClient, settings: Settings) -> None:
    read = {"event": "im_message_read", "client_key": CLIENT_KEY, "from_user_id": YOUTH, "to_user_id": ENTERPRISE,
            "content": {"conversation_short_id": "1", "index": "2"}}
    assert (await post(client, settings, read)).status == 200
    assert await stored(client) == []


async def test_forged_tampered_and_unsigned_pushes_are_refused(client: TestClient, settings: Settings) -> None:
    raw = json.dumps(RECORDED).encode()
    forged = {"X-Douyin-Signature": douyin_signature("not-the-secret", raw)}
    response = await post(client, settings, raw, forged)
    assert response.status == 403 and await response.json() == {"error": "signature mismatch"}
    tampered = raw.replace(b"im_receive_msg", b"im_receive_msh")  # signed body, one byte changed
    response = await post(client, settings, tampered, signed_headers(account(settings), raw))
    assert response.status == 403
    response = await post(client, settings, raw, {"Content-Type": "application/json"})
    assert response.status == 403 and await response.json() == {"error": "X-Douyin-Signature required"}
    assert await stored(client) == []


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "malformed JSON"),
    (b"[]", "push must be a JSON object"),
    ({**RECORDED, "client_key": "someone-else"}, "client_key is not this account"),
    ({**RECORDED, "event": 5}, "event missing"),
    ({**RECORDED, "from_user_id": "a/b"}, "from_user_id and to_user_id must be open ids"),
    ({**RECORDED, "content": "[1]"}, "content must be a JSON object"),
    ({**RECORDED, "content": "{broken"}, "malformed JSON"),
    (push(server_message_id=""), "server_message_id missing"),
    (push(conversation_short_id=None), "conversation_short_id missing"),
    (push(text=""), "text message without text"),
    ({"event": "verify_webhook", "client_key": "", "content": {}}, "challenge missing"),
])
async def test_malformed_pushes_get_a_reason(client: TestClient, settings: Settings, body: Any, reason: str) -> None:
    response = await post(client, settings, body)
    assert response.status == 400 and await response.json() == {"error": reason}
    assert await stored(client) == []


async def test_reply_names_the_conversation_and_the_message(client: TestClient, settings: Settings,
                                                            standin) -> None:  # type: ignore[no-untyped-def]
    recorder: DouyinStandIn = standin[0]
    await post(client, settings, RECORDED)
    [message] = await stored(client)
    await client.app[STREAM].send(message.conversation_id, "你好，我是12355的老师", sender=SenderKind.COUNSELLOR)
    await wait_for(lambda: recorder.sent)
    [reply] = recorder.sent
    assert (reply.enterprise_open_id, reply.to_user_id, reply.text) == (ENTERPRISE, YOUTH, "你好，我是12355的老师")
    assert (reply.conversation_id, reply.msg_id) == ("7097234512345678901", "7097234598765432109")


async def test_platform_errors_retry_or_fail_and_late_replies_close_the_window(client: TestClient,
                                                                                settings: Settings, standin) -> None:  # type: ignore[no-untyped-def]
    recorder: DouyinStandIn = standin[0]
    await post(client, settings, RECORDED)
    [message] = await stored(client)
    recorder.fail_next(503, 2100004, "系统繁忙")
    ok = await client.app[STREAM].send(message.conversation_id, "稍等", sender=SenderKind.COUNSELLOR)
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": ok.id, "status": "sent"}))
    recorder.fail_next(401, 2190008, "access_token无效")
    bad = await client.app[STREAM].send(message.conversation_id, "再试", sender=SenderKind.COUNSELLOR)
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": bad.id, "status": "failed"}))
    assert "2190008" in (await client.app[STORE].messages.find_one({"_id": bad.id}))["error"]
    channel = client.app[CHANNELS]["douyin"]
    key = f"{CLIENT_KEY}:{YOUTH}"
    await channel.state.save("douyin", key, {**await channel.state.load("douyin", key), "received_at": 0})
    late = await client.app[STREAM].send(message.conversation_id, "还在吗", sender=SenderKind.COUNSELLOR)
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": late.id, "status": "failed"}))
    assert "24 hours" in (await client.app[STORE].messages.find_one({"_id": late.id}))["error"]


async def test_simulator_round_trip_through_the_standin(settings: Settings, embedded_client, capsys) -> None:  # type: ignore[no-untyped-def]
    def with_standin(base: str) -> Settings:
        return settings.model_copy(update={"accounts": [a.model_copy(update={"api_base": base})
                                                        if a.platform == "douyin" else a for a in settings.accounts]})

    await simulate_through_standin(with_standin, embedded_client, DouyinChannel, [
        "douyin", "--account", CLIENT_KEY, "--wait", "5", "我想找人聊聊"])
    out = capsys.readouterr().out
    assert "gateway answered HTTP 200" in out
    assert "reply to _000SimulatedYouth00000000000001: 收到：我想找人聊聊" in out
