"""QQ official bot, one-to-one chats: Ed25519 callbacks, URL validation, passive replies through the stand-in."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from channels.qq import QQChannel, sign
from contract.config import Settings
from contract.keys import CHANNELS, STORE, STREAM
from contract.models import Message, SenderKind
from service.qq_simulate import signed_headers
from service.qq_standin import QQStandIn, create_standin_app
from tests.fakes import simulate_through_standin, stored_messages, wait_for

APPID = "102000001"
YOUTH = "E4F4AEA33253A2797FB897C50B81D7ED"
# A recorded C2C_MESSAGE_CREATE callback body (ids shortened; fields as QQ sends them).
RECORDED = {
    "op": 0, "id": "C2C_MESSAGE_CREATE:abc123", "t": "C2C_MESSAGE_CREATE",
    "d": {"author": {"user_openid": YOUTH}, "content": "我最近压力很大",
          "id": "ROBOT1.0_veoihSlTh8GGoRN4qHtaNa", "timestamp": "2026-12-06T13:37:18+08:00"},
}


@pytest.fixture
async def standin(settings: Settings) -> Any:
    app, standin = create_standin_app({a.id: a.secret for a in settings.accounts_for("qq")})
    server = TestServer(app)
    await server.start_server()
    yield standin, str(server.make_url("/standin/qq"))
    await server.close()


@pytest.fixture
async def client(start_app, settings: Settings, standin) -> TestClient:  # type: ignore[no-untyped-def]
    _, base = standin
    accounts = [a.model_copy(update={"api_base": base}) if a.platform == "qq" else a for a in settings.accounts]
    return await start_app(channel_classes=[QQChannel], settings=settings.model_copy(update={"accounts": accounts}))


def bot(settings: Settings):  # type: ignore[no-untyped-def]
    return next(a for a in settings.accounts if a.platform == "qq")


def c2c(message_id: str = "ROBOT1.0_veoihSlTh8GGoRN4qHtaNa", **data: Any) -> dict[str, Any]:
    return {**RECORDED, "d": {**RECORDED["d"], "id": message_id, **data}}


async def post(client: TestClient, settings: Settings, body: Any, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return await client.post(f"/channels/qq/{APPID}", data=raw,
                             headers=signed_headers(bot(settings), raw) if headers is None else headers)


async def stored(client: TestClient) -> list[Message]:
    return await stored_messages(client)


def test_signature_matches_the_documented_vector() -> None:
    # QQ's documentation: bot secret DG5g3B4j9X2KOErG, event_ts 1725442341, plain_token Arq0D5A61EgUu4OxUvOp.
    signature = sign("DG5g3B4j9X2KOErG", "1725442341", b"Arq0D5A61EgUu4OxUvOp")
    assert signature.startswith("87befc99c42c651b") and signature.endswith("6909ffc2d652c706")


async def test_url_validation_answers_plain_token_and_signature(client: TestClient, settings: Settings) -> None:
    body = {"op": 13, "d": {"plain_token": "Arq0D5A61EgUu4OxUvOp", "event_ts": "1725442341"}}
    response = await post(client, settings, body)
    answer = await response.json()
    assert response.status == 200 and answer["plain_token"] == "Arq0D5A61EgUu4OxUvOp"
    assert answer["signature"] == sign(bot(settings).secret, "1725442341", b"Arq0D5A61EgUu4OxUvOp")


async def test_recorded_message_is_stored_once(client: TestClient, settings: Settings) -> None:
    first = await post(client, settings, RECORDED)
    assert first.status == 200 and await first.json() == {"op": 12}
    assert (await post(client, settings, RECORDED)).status == 200  # QQ's retry, or a replay: same signed body
    [message] = await stored(client)
    assert (message.text, message.type, message.sender) == ("我最近压力很大", "text", "youth")
    conversation = await client.app[STREAM].get_conversation(message.conversation_id)
    assert (conversation.platform, conversation.desk) == ("qq", "wh-regional")


async def test_friend_events_move_the_window_and_others_are_only_acknowledged(client: TestClient,
                                                                               settings: Settings) -> None:
    add = {"op": 0, "id": "FRIEND_ADD:1", "t": "FRIEND_ADD", "d": {"openid": YOUTH, "timestamp": 1}}
    assert (await post(client, settings, add)).status == 200
    other = {"op": 0, "id": "GROUP_ADD_ROBOT:1", "t": "GROUP_ADD_ROBOT", "d": {"group_openid": "G1"}}
    assert (await post(client, settings, other)).status == 200
    delete = {"op": 0, "id": "FRIEND_DEL:2", "t": "FRIEND_DEL", "d": {"openid": YOUTH, "timestamp": 2}}
    assert (await post(client, settings, delete)).status == 200
    added, deleted = await stored(client)
    assert (added.event, deleted.event) == ("friend_add", "friend_del")
    conversation = await client.app[STREAM].get_conversation(added.conversation_id)
    assert conversation.window.closed_reason == "friend_del"


async def test_forged_stale_and_unsigned_callbacks_are_refused(client: TestClient, settings: Settings) -> None:
    raw = json.dumps(RECORDED).encode()
    forged = signed_headers(bot(settings).model_copy(update={"secret": "not-the-bot-secret"}), raw)
    response = await post(client, settings, raw, forged)
    assert response.status == 403 and await response.json() == {"error": "signature mismatch"}
    other_body = {**signed_headers(bot(settings), raw)}
    response = await post(client, settings, json.dumps(c2c("ROBOT1.0_other")).encode(), other_body)
    assert response.status == 403 and await response.json() == {"error": "signature mismatch"}
    stale_ts = str(int(time.time()) - 3600)
    stale = {**signed_headers(bot(settings), raw), "X-Signature-Timestamp": stale_ts,
             "X-Signature-Ed25519": sign(bot(settings).secret, stale_ts, raw)}
    response = await post(client, settings, raw, stale)
    assert response.status == 403 and (await response.json())["error"] == "timestamp outside the allowed window"
    response = await post(client, settings, raw, {"Content-Type": "application/json"})
    assert response.status == 403
    assert (await client.post("/channels/qq/999", data=raw, headers=signed_headers(bot(settings), raw))).status == 404
    assert await stored(client) == []


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "malformed JSON"),
    (b"[1]", "callback must be a JSON object"),
    ({"op": 7}, "unsupported op"),
    ({"op": 0, "t": "C2C_MESSAGE_CREATE"}, "t and d required"),
    (c2c(author={"user_openid": "../../etc"}), "author.user_openid missing or malformed"),
    (c2c(message_id=""), "message id missing"),
    (c2c(content=["x"]), "content must be a string"),
    (c2c(content="  "), "message without content"),
    ({"op": 13, "d": {"event_ts": "1"}}, "plain_token and event_ts required"),
    (b"[" * 100 + b"]" * 100, "JSON nested too deeply"),
])
async def test_malformed_callbacks_get_a_reason(client: TestClient, settings: Settings, body: Any,
                                                reason: str) -> None:
    response = await post(client, settings, body)
    assert response.status == 400 and await response.json() == {"error": reason}
    assert await stored(client) == []


async def test_replies_are_passive_and_budgeted(client: TestClient, settings: Settings, standin) -> None:  # type: ignore[no-untyped-def]
    recorder: QQStandIn = standin[0]
    await post(client, settings, RECORDED)
    [message] = await stored(client)
    sent = [await client.app[STREAM].send(message.conversation_id, f"回复{n}", sender=SenderKind.COUNSELLOR)
            for n in range(6)]
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": sent[-1].id, "status": "failed"}))
    assert [(r.content, r.msg_id, r.msg_seq) for r in recorder.sent] == [
        (f"回复{n}", "ROBOT1.0_veoihSlTh8GGoRN4qHtaNa", n + 1) for n in range(5)]
    failed = await client.app[STORE].messages.find_one({"_id": sent[-1].id})
    assert "5 passive replies" in failed["error"]


async def test_a_retried_delivery_keeps_its_msg_seq(client: TestClient, settings: Settings, standin) -> None:  # type: ignore[no-untyped-def]
    recorder: QQStandIn = standin[0]
    await post(client, settings, RECORDED)
    [message] = await stored(client)
    recorder.fail_next(500, 500, "internal error")
    ok = await client.app[STREAM].send(message.conversation_id, "稍等", sender=SenderKind.COUNSELLOR)
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": ok.id, "status": "sent"}))
    assert [(r.content, r.msg_seq) for r in recorder.sent] == [("稍等", 1)]


async def test_reply_after_the_window_is_refused_as_closed(client: TestClient, settings: Settings) -> None:
    await post(client, settings, RECORDED)
    [message] = await stored(client)
    key = f"{APPID}:{YOUTH}"
    channel = client.app[CHANNELS]["qq"]
    latest = await channel.state.load("qq", key)
    await channel.state.save("qq", key, {**latest, "received_at": time.time() - 3601})
    late = await client.app[STREAM].send(message.conversation_id, "还在吗", sender=SenderKind.COUNSELLOR)
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": late.id, "status": "failed"}))
    assert "60 minutes" in (await client.app[STORE].messages.find_one({"_id": late.id}))["error"]


def test_reply_policy_is_60_minutes_5_messages() -> None:
    assert QQChannel.reply_policy.window.total_seconds() == 3600
    assert QQChannel.reply_policy.max_messages == 5


async def test_simulator_round_trip_through_the_standin(settings: Settings, embedded_client, capsys) -> None:  # type: ignore[no-untyped-def]
    def with_standin(base: str) -> Settings:
        return settings.model_copy(update={"accounts": [a.model_copy(update={"api_base": base})
                                                        if a.platform == "qq" else a for a in settings.accounts]})

    await simulate_through_standin(with_standin, embedded_client, QQChannel, [
        "qq", "--account", APPID, "--wait", "5", "我想找人聊聊"])
    out = capsys.readouterr().out
    assert "gateway answered HTTP 200" in out
    assert f"reply to {YOUTH}: 收到：我想找人聊聊" in out
