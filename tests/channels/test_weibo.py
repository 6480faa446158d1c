"""Weibo private messages: URL check, signed JSON pushes, dedupe, window events, replies via the stand-in."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from channels.weibo import WeiboChannel, parse_push, split_reply, weibo_signature
from contract.config import Settings
from contract.keys import STORE, STREAM
from contract.models import Message, SenderKind
from service.weibo_simulate import signed_query
from service.weibo_standin import WeiboStandIn, create_standin_app
from tests.fakes import simulate_through_standin, stored_messages, wait_for

UID = "5000000001"
YOUTH = 6000000042
CREATED_AT = "Mon Jul 16 18:09:20 +0800 2012"


@pytest.fixture
async def standin() -> Any:
    app, standin = create_standin_app({"demo-only-weibo-access-token"})
    server = TestServer(app)
    await server.start_server()
    yield standin, str(server.make_url("/standin/weibo"))
    await server.close()


@pytest.fixture
async def client(start_app, settings: Settings, standin) -> TestClient:  # type: ignore[no-untyped-def]
    _, base = standin
    accounts = [a.model_copy(update={"api_base": base}) if a.platform == "weibo" else a for a in settings.accounts]
    return await start_app(channel_classes=[WeiboChannel], settings=settings.model_copy(update={"accounts": accounts}))


def account(settings: Settings):  # type: ignore[no-untyped-def]
    return next(a for a in settings.accounts if a.platform == "weibo")


def push(kind: str = "text", text: str = "我不想上学了", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "receiver_id": int(UID), "sender_id": YOUTH, "created_at": CREATED_AT, "text": text,
            "data": {}, **extra}


async def post(client: TestClient, settings: Settings, body: Any, *, query: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    params = signed_query(account(settings)) if query is None else query
    return await client.post(f"/channels/weibo/{UID}", params=params, data=raw,
                             headers={"Content-Type": "application/json"})


async def stored(client: TestClient) -> list[Message]:
    return await stored_messages(client)


def test_signature_matches_the_documented_vector() -> None:
    signature = weibo_signature("xyz123xyz", "1397022061823", "57155157")
    assert signature.startswith("90e4c22c") and signature.endswith("eaa1")


async def test_url_check_echoes_only_with_a_valid_signature(client: TestClient, settings: Settings) -> None:
    secret = account(settings).secret
    good = {"timestamp": "1397022061823", "nonce": "57155157", "echostr": "dnPdpTZz85",
            "signature": weibo_signature(secret, "1397022061823", "57155157")}
    response = await client.get(f"/channels/weibo/{UID}", params=good)
    assert response.status == 200 and await response.text() == "dnPdpTZz85"
    forged = {**good, "signature": weibo_signature("xyz123xyz", "1397022061823", "57155157")}
    response = await client.get(f"/channels/weibo/{UID}", params=forged)
    assert response.status == 403 and await response.json() == {"error": "signature mismatch"}
    assert (await client.get("/channels/weibo/123", params=good)).status == 404


async def test_text_push_is_stored_once_and_answered_empty(client: TestClient, settings: Settings) -> None:
    first = await post(client, settings, push())
    assert first.status == 200 and await first.read() == b""
    again = await post(client, settings, push())  # Weibo's retry of the same push
    assert again.status == 200
    [message] = await stored(client)
    assert (message.text, message.type, message.sender) == ("我不想上学了", "text", "youth")
    conversation = await client.app[STREAM].get_conversation(message.conversation_id)
    assert (conversation.platform, conversation.desk) == ("weibo", "sh-regional")
    await post(client, settings, push(text="第二句"))
    assert len(await stored(client)) == 2


@pytest.mark.parametrize("query, reason", [
    ({"signature": "0" * 40, "timestamp": "1", "nonce": "2"}, "signature mismatch"),
    ({}, "signature, timestamp and nonce required"),
])
async def test_forged_pushes_are_refused_and_not_stored(client: TestClient, settings: Settings,
                                                        query: dict[str, str], reason: str) -> None:
    response = await post(client, settings, push(), query=query)
    assert response.status == 403 and (await response.json())["error"] == reason
    assert await stored(client) == []


async def test_stale_signed_push_is_refused(client: TestClient, settings: Settings) -> None:
    secret = account(settings).secret
    old = {"timestamp": "1397022061823", "nonce": "57155157",
           "signature": weibo_signature(secret, "1397022061823", "57155157")}
    response = await post(client, settings, push(), query=old)
    assert response.status == 403 and (await response.json())["error"] == "timestamp outside the allowed window"
    assert await stored(client) == []


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "malformed JSON"),
    ([1, 2], "push must be a JSON object"),
    (push(receiver_id=123), "receiver_id is not this account"),
    (push(sender_id="abc"), "sender_id missing or not a uid"),
    (push(created_at="yesterday"), "created_at missing or malformed"),
    (push(kind="event", text="", data={"subtype": "dance"}), "unknown event subtype"),
    (push(kind="image", text="", data={}), "image push without a file id"),
])
async def test_malformed_pushes_get_a_reason(client: TestClient, settings: Settings, body: Any, reason: str) -> None:
    response = await post(client, settings, body)
    assert response.status == 400 and (await response.json()) == {"error": reason}
    assert await stored(client) == []


async def test_image_and_voice_keep_their_references(client: TestClient, settings: Settings) -> None:
    await post(client, settings, push(kind="image", text="分享图片", data={"vfid": 821804459, "tovfid": 821804469}))
    await post(client, settings, push(kind="voice", text="", data={"vfid": 11, "tovfid": 12},
                                      created_at="Mon Jul 16 18:09:21 +0800 2012"))
    image, voice = await stored(client)
    assert (image.type, image.media.kind, image.media.media_id) == ("image", "image", "821804469")
    assert (voice.type, voice.media.media_id) == ("voice", "12")


async def test_follow_opens_and_unfollow_closes_the_window(client: TestClient, settings: Settings) -> None:
    await post(client, settings, push(kind="event", text="", data={"subtype": "scan_follow", "key": "qrscene_school"}))
    [follow] = await stored(client)
    assert (follow.type, follow.event) == ("event", "scan_follow")
    conversation = await client.app[STREAM].get_conversation(follow.conversation_id)
    assert conversation.window.last_youth_message_at is not None
    assert conversation.tags["weibo_scene"] == "qrscene_school"
    await post(client, settings, push(kind="event", text="", data={"subtype": "unfollow"},
                                      created_at="Mon Jul 16 18:10:00 +0800 2012"))
    conversation = await client.app[STREAM].get_conversation(follow.conversation_id)
    assert conversation.window.closed_reason == "unfollow"


async def test_reply_goes_through_reply_json_with_weibo_form_fields(client: TestClient, settings: Settings,
                                                                    standin) -> None:  # type: ignore[no-untyped-def]
    recorder, _ = standin
    await post(client, settings, push())
    [message] = await stored(client)
    await client.app[STREAM].send(message.conversation_id, "你好，我是12355的老师", sender=SenderKind.COUNSELLOR)
    await wait_for(lambda: recorder.sent)
    [reply] = recorder.sent
    assert (reply.receiver_id, reply.type, reply.text) == (str(YOUTH), "text", "你好，我是12355的老师")
    assert reply.access_token == "demo-only-weibo-access-token" and reply.save_sender_box == "1"


async def test_platform_errors_retry_or_fail_visibly(client: TestClient, settings: Settings, standin) -> None:  # type: ignore[no-untyped-def]
    recorder: WeiboStandIn = standin[0]
    await post(client, settings, push())
    [message] = await stored(client)
    recorder.fail_next(500, 10001, "system error")
    ok = await client.app[STREAM].send(message.conversation_id, "稍等", sender=SenderKind.COUNSELLOR)
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": ok.id, "status": "sent"}))
    recorder.fail_next(403, 21332, "invalid_access_token")
    bad = await client.app[STREAM].send(message.conversation_id, "再试", sender=SenderKind.COUNSELLOR)
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": bad.id, "status": "failed"}))
    failed = await client.app[STORE].messages.find_one({"_id": bad.id})
    assert "21332" in failed["error"]


def test_long_replies_are_split_at_weibo_limit() -> None:
    parts = split_reply("好" * 650)
    assert [len(p) for p in parts] == [300, 300, 50]


def test_reply_policy_is_48_hours_99_messages() -> None:
    assert WeiboChannel.reply_policy.window.total_seconds() == 48 * 3600
    assert WeiboChannel.reply_policy.max_messages == 99


def test_unknown_push_type_is_kept_visible(settings: Settings) -> None:
    inbound = parse_push(account(settings), push(kind="sticker", text="嗯"))
    assert inbound.text.startswith("[暂不支持的微博消息类型：sticker]")


async def test_simulator_posts_like_weibo_and_prints_the_reply(settings: Settings, embedded_client, capsys) -> None:  # type: ignore[no-untyped-def]
    def with_standin(base: str) -> Settings:
        return settings.model_copy(update={"accounts": [a.model_copy(update={"api_base": base})
                                                        if a.platform == "weibo" else a for a in settings.accounts]})

    await simulate_through_standin(with_standin, embedded_client, WeiboChannel, [
        "weibo", "--account", UID, "--wait", "5", "我想找人聊聊"])
    out = capsys.readouterr().out
    assert "gateway answered HTTP 200 ''" in out
    assert "reply to 6000000001: 收到：我想找人聊聊" in out
