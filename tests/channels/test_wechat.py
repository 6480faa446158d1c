"""WeChat official account and mini-program: verification, modes, bad input, dedupe, replies via the stand-in."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from channels.wechat import MiniProgramChannel, WeChatChannel, custom_payload
from channels.wechat_protocol import (
    Envelope,
    SignedQuery,
    WeChatPush,
    encrypted_json,
    encrypted_xml,
    parse_body,
    signed_push,
    to_xml,
    wechat_signature,
)
from contract.config import ChannelAccountConfig, Settings
from contract.keys import STORE, STREAM
from contract.models import Message, SenderKind
from service.wechat_standin import WeChatStandIn, create_standin_app
from tests.fakes import EchoRouter, stored_messages, wait_for

APPID = "wxdemo0000000001"
MINIPROG = "wxdemominiprog01"
OPENID = "oYouth0000000000000000000042"


@pytest.fixture
async def standin() -> Any:
    app, recorder = create_standin_app({APPID: "demo-only-wechat-secret", MINIPROG: "demo-only-miniprogram-secret"})
    server = TestServer(app)
    await server.start_server()
    yield recorder, str(server.make_url("")).rstrip("/")
    await server.close()


def with_accounts(settings: Settings, base: str, **changes: Any) -> Settings:
    accounts = [a.model_copy(update={"api_base": base, **changes.get(a.platform, {})})
                if a.platform in ("wechat", "miniprogram") else a for a in settings.accounts]
    return settings.model_copy(update={"accounts": accounts})


@pytest.fixture
async def client(start_app, settings: Settings, standin) -> TestClient:  # type: ignore[no-untyped-def]
    return await start_app(channel_classes=[WeChatChannel, MiniProgramChannel],
                           settings=with_accounts(settings, standin[1]))


def account(client: TestClient, platform: str = "wechat") -> ChannelAccountConfig:
    from contract.keys import SETTINGS

    return next(a for a in client.app[SETTINGS].accounts if a.platform == platform)


def text_push(text: str = "我最近压力很大", msg_id: int = 24404512345678901, **extra: Any) -> dict[str, Any]:
    return {"ToUserName": "gh_demo12355", "FromUserName": OPENID, "CreateTime": int(time.time()),
            "MsgType": "text", "Content": text, "MsgId": msg_id, **extra}


def event_push(event: str, key: str = "", **extra: Any) -> dict[str, Any]:
    fields = {"ToUserName": "gh_demo12355", "FromUserName": OPENID, "CreateTime": int(time.time()),
              "MsgType": "event", "Event": event, **extra}
    if key:
        fields["EventKey"] = key
    return fields


async def post(client: TestClient, fields: dict[str, Any], *, platform: str = "wechat", mode: str | None = None,
               push_format: str | None = None, query: SignedQuery | None = None) -> Any:
    acc = account(client, platform)
    params, body = signed_push(token=acc.token, encoding_aes_key=acc.encoding_aes_key, receive_id=acc.id,
                               mode=mode or acc.mode, fields=fields, push_format=push_format or acc.push_format,
                               query=query)
    return await client.post(f"/channels/{platform}/{acc.id}", params=params, data=body)


async def stored(client: TestClient) -> list[Message]:
    return await stored_messages(client)


# ------------------------------------------------------------------ protocol


def test_signature_matches_the_official_vector() -> None:
    signature = wechat_signature("AAAAA", "1714036504", "1514711492")
    assert signature.startswith("f464b24f") and signature.endswith("1696")


def test_encrypt_decrypt_round_trips_in_xml_and_json() -> None:
    envelope = Envelope("REVNTy1PTkxZLXlvdXRoZGVzay1hZXMta2V5LTAwMDE", APPID)
    inner = to_xml(text_push("你好 <&> ]]> 世界"))
    query = SignedQuery("1714036504", "1514711492")
    body, msg_signature = encrypted_xml(envelope, "tok", inner, query, "gh_demo12355")
    encrypt = parse_body(body.encode())["Encrypt"]
    assert msg_signature == wechat_signature("tok", "1714036504", "1514711492", encrypt)
    assert WeChatPush.parse(parse_body(envelope.decrypt(encrypt).encode())).content == "你好 <&> ]]> 世界"
    body, _ = encrypted_json(envelope, "tok", json.dumps(text_push("json 你好"), ensure_ascii=False), query, "gh")
    decrypted = envelope.decrypt(json.loads(body)["Encrypt"])
    assert WeChatPush.parse(parse_body(decrypted.encode())).content == "json 你好"


# -------------------------------------------------------------- URL check


async def test_url_check_echoes_only_with_a_valid_signature(client: TestClient) -> None:
    acc = account(client)
    good = {"timestamp": "1714036504", "nonce": "1514711492", "echostr": "4527867583016829426",
            "signature": wechat_signature(acc.token, "1714036504", "1514711492")}
    response = await client.get(f"/channels/wechat/{APPID}", params=good)
    assert response.status == 200 and await response.text() == "4527867583016829426"
    forged = {**good, "signature": wechat_signature("AAAAA", "1714036504", "1514711492")}
    response = await client.get(f"/channels/wechat/{APPID}", params=forged)
    assert response.status == 403 and await response.json() == {"error": "signature mismatch"}
    assert (await client.get("/channels/wechat/wxunknown", params=good)).status == 404


# ---------------------------------------------------------- inbound, modes


async def test_safe_mode_text_is_stored_once_and_answered_success_fast(client: TestClient) -> None:
    started = time.perf_counter()
    response = await post(client, text_push())
    assert response.status == 200 and await response.text() == "success"
    assert time.perf_counter() - started < 5.0  # WeChat's own limit; the figure itself is in bench/
    for _ in range(3):  # WeChat's retries of the same MsgId (fresh nonce and timestamp each time)
        assert (await post(client, text_push())).status == 200
    [message] = await stored(client)
    assert (message.text, message.type, message.sender) == ("我最近压力很大", "text", "youth")
    conversation = await client.app[STREAM].get_conversation(message.conversation_id)
    assert (conversation.platform, conversation.desk) == ("wechat", "gd")
    assert conversation.window.last_youth_message_at is not None


@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
async def test_each_mode_is_accepted(start_app, settings: Settings, standin, mode: str) -> None:  # type: ignore[no-untyped-def]
    client = await start_app(channel_classes=[WeChatChannel],
                             settings=with_accounts(settings, standin[1], wechat={"mode": mode}))
    response = await post(client, text_push(f"{mode} 模式"))
    assert response.status == 200 and await response.text() == "success"
    [message] = await stored(client)
    assert message.text == f"{mode} 模式"


async def test_safe_mode_refuses_plaintext_and_plain_mode_refuses_ciphertext(start_app, settings: Settings,
                                                                             standin) -> None:  # type: ignore[no-untyped-def]
    safe = await start_app(channel_classes=[WeChatChannel], settings=with_accounts(settings, standin[1]))
    response = await post(safe, text_push(), mode="plain")
    assert response.status == 400 and await response.json() == {"error": "safe mode: Encrypt required"}
    plain = await start_app(channel_classes=[WeChatChannel],
                            settings=with_accounts(settings, standin[1], wechat={"mode": "plain"}))
    response = await post(plain, text_push(), mode="safe")
    assert response.status == 400 and await response.json() == {"error": "encrypted push to a plaintext-mode account"}


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                  b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
                  b"<xml><ToUserName>gh</ToUserName><Content>&lol3;</Content></xml>")
EXTERNAL_ENTITY = (b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                   b"<xml><ToUserName>gh</ToUserName><Content>&xxe;</Content></xml>")


@pytest.mark.parametrize("body, status, reason", [
    (b"<xml><ToUserName>gh</ToUserName", 400, "malformed XML"),
    (BILLION_LAUGHS, 400, "XML with DTD or entities refused"),
    (EXTERNAL_ENTITY, 400, "XML with DTD or entities refused"),
    (b"<xml>" + b"<Content>x</Content>" * 4000 + b"</xml>", 413, "body too large"),
    (b"", 400, "empty body"),
])
async def test_bad_bodies_are_refused_and_nothing_stored(start_app, settings: Settings, standin, body: bytes,
                                                         status: int, reason: str) -> None:  # type: ignore[no-untyped-def]
    client = await start_app(channel_classes=[WeChatChannel],
                             settings=with_accounts(settings, standin[1], wechat={"mode": "plain"}))
    params, _ = signed_push(token=account(client).token, encoding_aes_key="", receive_id=APPID, mode="plain",
                            fields={})
    response = await client.post(f"/channels/wechat/{APPID}", params=params, data=body)
    assert response.status == status and await response.json() == {"error": reason}
    assert await stored(client) == []


async def test_xxe_inside_the_ciphertext_is_refused_too(client: TestClient) -> None:
    acc = account(client)
    query = SignedQuery.now()
    body, msg_signature = encrypted_xml(Envelope(acc.encoding_aes_key, APPID), acc.token,
                                        EXTERNAL_ENTITY.decode(), query, "gh")
    params = {"signature": wechat_signature(acc.token, query.timestamp, query.nonce), "timestamp": query.timestamp,
              "nonce": query.nonce, "encrypt_type": "aes", "msg_signature": msg_signature}
    response = await client.post(f"/channels/wechat/{APPID}", params=params, data=body.encode())
    assert response.status == 400 and await response.json() == {"error": "XML with DTD or entities refused"}
    assert await stored(client) == []


async def test_forged_stale_undecryptable_and_foreign_pushes_are_refused(client: TestClient) -> None:
    acc = account(client)
    params, body = signed_push(token=acc.token, encoding_aes_key=acc.encoding_aes_key, receive_id=APPID,
                               mode="safe", fields=text_push())
    cases: list[tuple[dict[str, str], bytes, int, str]] = [
        ({**params, "signature": "0" * 40}, body, 403, "signature mismatch"),
        ({**params, "msg_signature": "0" * 40}, body, 403, "signature mismatch"),
        ({k: v for k, v in params.items() if k != "msg_signature"}, body, 403, "signature missing"),
        ({k: v for k, v in params.items() if k != "nonce"}, body, 403, "signature, timestamp and nonce required"),
    ]
    stale = SignedQuery(str(int(time.time()) - 301), "1514711492")
    stale_params, stale_body = signed_push(token=acc.token, encoding_aes_key=acc.encoding_aes_key,
                                           receive_id=APPID, mode="safe", fields=text_push(), query=stale)
    cases.append((stale_params, stale_body, 403, "timestamp outside the allowed window"))
    query = SignedQuery.now()
    garbage = "bm90IHJlYWxseSBjaXBoZXJ0ZXh0"
    cases.append(({"signature": wechat_signature(acc.token, query.timestamp, query.nonce),
                   "timestamp": query.timestamp, "nonce": query.nonce, "encrypt_type": "aes",
                   "msg_signature": wechat_signature(acc.token, query.timestamp, query.nonce, garbage)},
                  to_xml({"ToUserName": "gh", "Encrypt": garbage}).encode(), 400, "Encrypt cannot be decrypted"))
    foreign_params, foreign_body = signed_push(token=acc.token, encoding_aes_key=acc.encoding_aes_key,
                                               receive_id="wxsomeoneelse00001", mode="safe", fields=text_push())
    cases.append((foreign_params, foreign_body, 403, "ciphertext is for another app"))
    for query_params, raw, status, reason in cases:
        response = await client.post(f"/channels/wechat/{APPID}", params=query_params, data=raw)
        assert (response.status, await response.json()) == (status, {"error": reason}), reason
    response = await client.post("/channels/wechat/wxunknown00000000", params=params, data=body)
    assert response.status == 404 and await response.json() == {"error": "unknown wechat account"}
    assert await stored(client) == []


async def test_missing_fields_get_a_reason(client: TestClient) -> None:
    fields = text_push()
    del fields["FromUserName"]
    response = await post(client, fields)
    assert response.status == 400 and (await response.json())["error"].startswith("field FromUserName")


# ------------------------------------------------------ message and event types


async def test_image_and_voice_keep_media_and_recognition_becomes_the_text(client: TestClient) -> None:
    await post(client, {**text_push(msg_id=1), "MsgType": "image", "PicUrl": "http://mmbiz.example/p.jpg",
                        "MediaId": "media-img-1"})
    await post(client, {**text_push(msg_id=2), "MsgType": "voice", "MediaId": "media-voice-1", "Format": "amr",
                        "Recognition": "我不想活了"})
    await post(client, {**text_push(msg_id=3), "MsgType": "voice", "MediaId": "media-voice-2", "Format": "amr"})
    await post(client, {**text_push(msg_id=4), "MsgType": "video", "MediaId": "media-video-1"})
    image, recognised, voice, video = await stored(client)
    assert (image.type, image.media.media_id, image.media.url) == (
        "image", "media-img-1", "http://mmbiz.example/p.jpg")
    assert (recognised.type, recognised.text, recognised.media.kind) == ("text", "我不想活了", "voice")
    assert (voice.type, voice.media.media_id, voice.media.format) == ("voice", "media-voice-2", "amr")
    assert video.text == "[暂不支持的微信消息类型：video]" and video.media.media_id == "media-video-1"


async def test_subscribe_tags_the_scene_unsubscribe_closes_click_carries_the_key(client: TestClient) -> None:
    await post(client, event_push("subscribe", "qrscene_school_poster"))
    await post(client, event_push("subscribe", "qrscene_school_poster"))  # retry
    [follow] = await stored(client)
    assert (follow.type, follow.event) == ("event", "subscribe")
    conversation = await client.app[STREAM].get_conversation(follow.conversation_id)
    assert conversation.tags["wechat_scene"] == "school_poster"
    await post(client, event_push("CLICK", "intent:study_stress", CreateTime=int(time.time()) + 1))
    await post(client, event_push("unsubscribe", CreateTime=int(time.time()) + 2))
    _, click, unfollow = await stored(client)
    assert (click.event, click.text) == ("CLICK", "intent:study_stress")
    assert unfollow.event == "unsubscribe"
    conversation = await client.app[STREAM].get_conversation(follow.conversation_id)
    assert conversation.window.closed_reason == "unsubscribe"


async def test_events_we_do_not_act_on_are_answered_success_and_not_stored(client: TestClient) -> None:
    for event in ("VIEW", "LOCATION", "TEMPLATESENDJOBFINISH", "SCAN"):
        response = await post(client, event_push(event, "x"))
        assert response.status == 200 and await response.text() == "success"
    assert await stored(client) == []


async def test_miniprogram_json_safe_mode_session_from_and_page_cards(client: TestClient) -> None:
    enter = {"ToUserName": "gh_miniprog", "FromUserName": OPENID, "CreateTime": int(time.time()),
             "MsgType": "event", "Event": "user_enter_tempsession", "SessionFrom": "partner:school-app"}
    response = await post(client, enter, platform="miniprogram")
    assert response.status == 200 and await response.text() == "success"
    card = {"ToUserName": "gh_miniprog", "FromUserName": OPENID, "CreateTime": int(time.time()),
            "MsgType": "miniprogrampage", "MsgId": 7001, "Title": "心理测评", "AppId": MINIPROG,
            "PagePath": "pages/test/index", "ThumbUrl": "http://x/t.jpg", "ThumbMediaId": "thumb-1"}
    await post(client, card, platform="miniprogram")
    await post(client, text_push("小程序里的留言", msg_id=7002), platform="miniprogram", push_format="xml")
    entered, page, text = await stored(client)
    assert (entered.event, page.type, page.text) == ("user_enter_tempsession", "link", "[小程序卡片] 心理测评")
    assert (page.media.kind, page.media.url) == ("miniprogrampage", "pages/test/index")
    assert text.text == "小程序里的留言"
    conversation = await client.app[STREAM].get_conversation(entered.conversation_id)
    assert (conversation.platform, conversation.tags["session_from"]) == ("miniprogram", "partner:school-app")


# ------------------------------------------------------------------- outbound


async def test_three_retries_make_one_message_one_bot_turn_one_reply(client: TestClient, standin) -> None:  # type: ignore[no-untyped-def]
    recorder: WeChatStandIn = standin[0]
    router = client.app[STREAM].router = EchoRouter(client.app)
    responses = await asyncio.gather(*(post(client, text_push("在吗")) for _ in range(3)))
    assert [r.status for r in responses] == [200, 200, 200]
    await wait_for(lambda: recorder.sent)
    await asyncio.sleep(0.2)
    assert len(await stored(client)) == 2  # the youth's message and the one reply
    assert router.turns == 1
    [sent] = recorder.sent
    assert (sent.api, sent.touser, sent.msgtype, sent.text) == ("custom", OPENID, "text", "收到：在吗")


async def youth_conversation(client: TestClient) -> str:
    await post(client, text_push())
    [message] = await stored(client)
    return message.conversation_id


async def delivered(client: TestClient, message_id: str, status: str) -> dict[str, Any]:
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": message_id, "status": status}))
    return await client.app[STORE].messages.find_one({"_id": message_id})


async def test_token_error_mid_send_refreshes_once_and_retries_once(client: TestClient, standin) -> None:  # type: ignore[no-untyped-def]
    recorder: WeChatStandIn = standin[0]
    conversation_id = await youth_conversation(client)
    first = await client.app[STREAM].send(conversation_id, "第一条", sender=SenderKind.COUNSELLOR)
    await delivered(client, first.id, "sent")
    assert recorder.token_requests == 1
    recorder.fail_next(42001, "access_token expired")
    second = await client.app[STREAM].send(conversation_id, "第二条", sender=SenderKind.COUNSELLOR)
    doc = await delivered(client, second.id, "sent")
    assert recorder.token_requests == 2 and len(doc["attempts"]) == 1  # refreshed and retried inside one attempt
    recorder.fail_next(40001, "invalid credential")
    third = await client.app[STREAM].send(conversation_id, "第三条", sender=SenderKind.COUNSELLOR)
    await delivered(client, third.id, "sent")
    assert recorder.token_requests == 3
    assert [m.text for m in recorder.sent] == ["第一条", "第二条", "第三条"]


async def test_busy_backs_off_and_delivers_later(client: TestClient, standin) -> None:  # type: ignore[no-untyped-def]
    recorder: WeChatStandIn = standin[0]
    conversation_id = await youth_conversation(client)
    recorder.fail_next(-1, "system error")
    message = await client.app[STREAM].send(conversation_id, "稍等", sender=SenderKind.COUNSELLOR)
    doc = await delivered(client, message.id, "sent")
    assert [a["ok"] for a in doc["attempts"]] == [False, True]
    assert "wechat error -1" in doc["attempts"][0]["error"]


@pytest.mark.parametrize("code", [45015, 45047, 43004])
async def test_closed_window_fails_the_delivery_and_marks_the_conversation(client: TestClient, standin,
                                                                           code: int) -> None:  # type: ignore[no-untyped-def]
    recorder: WeChatStandIn = standin[0]
    conversation_id = await youth_conversation(client)
    recorder.fail_next(code, "response out of time limit or subscription is canceled")
    message = await client.app[STREAM].send(conversation_id, "你还在吗", sender=SenderKind.COUNSELLOR)
    doc = await delivered(client, message.id, "failed")
    assert f"wechat error {code}" in doc["error"] and len(doc["attempts"]) == 1
    conversation = await client.app[STREAM].get_conversation(conversation_id)
    assert f"wechat error {code}" in conversation.window.closed_reason
    events = await client.app[STORE].events.find({"type": "conversation.window_closed"}).to_list(None)
    assert [e["conversation_id"] for e in events] == [conversation_id]


async def test_other_errors_fail_with_code_and_message(client: TestClient, standin) -> None:  # type: ignore[no-untyped-def]
    recorder: WeChatStandIn = standin[0]
    conversation_id = await youth_conversation(client)
    recorder.fail_next(40003, "invalid openid")
    message = await client.app[STREAM].send(conversation_id, "你好", sender=SenderKind.COUNSELLOR)
    doc = await delivered(client, message.id, "failed")
    assert doc["error"] == "send: wechat error 40003: invalid openid"


async def test_miniprogram_replies_use_its_own_token(client: TestClient, standin) -> None:  # type: ignore[no-untyped-def]
    recorder: WeChatStandIn = standin[0]
    await post(client, text_push("小程序", msg_id=9), platform="miniprogram")
    [message] = await stored(client)
    await client.app[STREAM].send(message.conversation_id, "你好呀", sender=SenderKind.BOT)
    await wait_for(lambda: recorder.sent)
    assert (recorder.sent[0].app_id, recorder.sent[0].text) == (MINIPROG, "你好呀")


def test_payloads_fall_back_to_words_and_refuse_overlong_text() -> None:
    from contract.channel import OutboundMessage, PermanentDeliveryError
    from contract.models import MediaRef, MessageType

    base = {"message_id": "out_1", "conversation_id": "cv_1", "platform": "wechat", "account": APPID,
            "external_user_id": OPENID}
    image = OutboundMessage(**base, type=MessageType.IMAGE, media=MediaRef(kind="image", media_id="m1"))
    assert custom_payload(image) == {"touser": OPENID, "msgtype": "image", "image": {"media_id": "m1"}}
    local = OutboundMessage(**base, type=MessageType.IMAGE, media=MediaRef(kind="image", url="/x.png"))
    assert custom_payload(local)["text"] == {"content": "[图片]"}
    with pytest.raises(PermanentDeliveryError, match="2048 bytes"):
        custom_payload(OutboundMessage(**base, type=MessageType.TEXT, text="好" * 700))


def test_reply_policy_is_48_hours_5_messages() -> None:
    for channel in (WeChatChannel, MiniProgramChannel):
        assert channel.reply_policy.window.total_seconds() == 48 * 3600
        assert channel.reply_policy.max_messages == 5


class TwoTextRasa:
    """The bot answers with two texts; on WeChat's 5-message budget they must arrive as one."""

    def __init__(self) -> None:
        self.responds = 0

    async def parse(self, text: str) -> Any:
        return type("Parse", (), {"intent": "service_info", "confidence": 0.95})()

    async def respond(self, sender_id: str, text: str) -> Any:
        self.responds += 1
        return type("Reply", (), {"texts": ["12355是共青团的青少年服务台。", "我们为你保密。"]})()

    async def pause(self, sender_id: str) -> None:
        return None

    async def resume(self, sender_id: str) -> None:
        return None

    async def status(self) -> bool:
        return True


async def test_bot_replies_are_merged_into_one_customer_service_message(start_app, settings: Settings,
                                                                        standin) -> None:  # type: ignore[no-untyped-def]
    recorder: WeChatStandIn = standin[0]
    service = settings.service.model_copy(update={"triage_enabled": True})
    configured = with_accounts(settings, standin[1]).model_copy(update={"service": service})
    client = await start_app(channel_classes=[WeChatChannel], settings=configured)
    rasa = client.app[STREAM].router.rasa = TwoTextRasa()
    for _ in range(3):  # WeChat's retries: still one bot turn
        assert (await post(client, text_push("你们是做什么的"))).status == 200
    await wait_for(lambda: recorder.sent)
    await asyncio.sleep(0.2)
    assert [m.text for m in recorder.sent] == ["12355是共青团的青少年服务台。\n\n我们为你保密。"]
    assert rasa.responds == 1
    [youth] = [m for m in await stored(client) if m.direction == "in"]
    conversation = await client.app[STREAM].get_conversation(youth.conversation_id)
    assert conversation.window.sent_since_youth_message == 1


async def test_a_closed_window_is_visible_to_the_counsellor_through_the_api(start_app, settings: Settings,
                                                                           standin) -> None:  # type: ignore[no-untyped-def]
    from contract.handoff import HandoffRequest
    from gateway.stream import PassThroughRouter
    from tests.handoff_support import engine, login, user

    recorder: WeChatStandIn = standin[0]
    client = await start_app(channel_classes=[WeChatChannel], settings=with_accounts(settings, standin[1]))
    client.app[STREAM].router = PassThroughRouter()
    conversation_id = await youth_conversation(client)
    [youth] = await stored(client)
    await engine(client).request_handoff(HandoffRequest(conversation_id=conversation_id, reason="ask_human",
                                                        risk_level=0, message_id=youth.id))
    owner = await user(client, "owner-gd", desk="gd")
    await engine(client).claim(conversation_id, owner)
    headers = await login(client, "owner-gd")
    summary = await (await client.get(f"/api/v1/conversations/{conversation_id}", headers=headers)).json()
    assert summary["window"]["policy"] == {"hours": 48, "max_messages": 5}

    async def outbox_empty() -> bool:
        return await client.app[STORE].messages.find_one({"direction": "out", "status": {"$ne": "sent"}}) is None

    await wait_for(outbox_empty)
    summary = await (await client.get(f"/api/v1/conversations/{conversation_id}", headers=headers)).json()
    assert summary["window"]["messages_left"] == 5 - len(recorder.sent)  # e.g. the "counsellor is here" notice
    assert summary["window"]["closed_reason"] is None
    recorder.fail_next(45015, "response out of time limit or subscription is canceled")
    reply = await client.post(f"/api/v1/conversations/{conversation_id}/messages", json={"text": "你还在吗"},
                              headers=headers)
    assert reply.status == 201
    reply_id = (await reply.json())["id"]
    await delivered(client, reply_id, "failed")
    summary = await (await client.get(f"/api/v1/conversations/{conversation_id}", headers=headers)).json()
    assert "wechat error 45015" in summary["window"]["closed_reason"]
    items = (await (await client.get(f"/api/v1/conversations/{conversation_id}/messages",
                                     headers=headers)).json())["items"]
    failed = next(m for m in items if m["id"] == reply_id)
    assert failed["status"] == "failed" and "45015" in failed["error"]


@pytest.mark.parametrize("fields, message", [
    ('mode = "safe"', "accounts.0: encoding_aes_key: required for wechat wxconfig00000001 (mode safe)"),
    ('mode = "safe"\nencoding_aes_key = "c2hvcnQ"', "accounts.0: encoding_aes_key: must be the 43-character key"),
])
def test_config_refuses_an_unusable_aes_key(tmp_path, fields: str, message: str) -> None:  # type: ignore[no-untyped-def]
    from contract.config import ConfigError, load_settings

    path = tmp_path / "c.toml"
    path.write_text(f'[[desks]]\nid = "gd"\nname = "广东"\n\n[[accounts]]\nplatform = "wechat"\n'
                    f'id = "wxconfig00000001"\ndesk = "gd"\n{fields}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert str(info.value).startswith(message)


async def test_miniprogram_json_envelope_may_carry_xml_and_images_keep_their_reference(client: TestClient) -> None:
    acc = account(client, "miniprogram")
    query = SignedQuery.now()
    inner = to_xml({**text_push(msg_id=8001), "MsgType": "image", "PicUrl": "http://mmbiz.example/m.jpg",
                    "MediaId": "mp-media-1"})
    body, msg_signature = encrypted_json(Envelope(acc.encoding_aes_key, acc.id), acc.token, inner, query, "gh_mp")
    params = {"signature": wechat_signature(acc.token, query.timestamp, query.nonce), "timestamp": query.timestamp,
              "nonce": query.nonce, "encrypt_type": "aes", "msg_signature": msg_signature}
    response = await client.post(f"/channels/miniprogram/{acc.id}", params=params, data=body.encode())
    assert response.status == 200 and await response.text() == "success"
    [image] = await stored(client)
    assert (image.type, image.media.media_id) == ("image", "mp-media-1")
