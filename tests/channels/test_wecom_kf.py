"""WeCom customer service: encrypted echostr, notice → sync_msg pull with a saved cursor, dedupe, send_msg."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from channels.wechat_protocol import Envelope, SignedQuery, to_xml, wechat_signature
from channels.wecom_kf import WeComKfChannel, signed_notice
from contract.config import ChannelAccountConfig, Settings
from contract.keys import CHANNELS, STORE, STREAM
from contract.models import Conversation, Message, MessageType, SenderKind
from service.wechat_standin import WeChatStandIn, create_standin_app
from tests.fakes import stored_messages, wait_for

CORP = "wwdemocorp000001"
KF = "wkDEMO0000000001"
YOUTH = "wmYouthExternal0000000042"
CALLBACK_TOKEN = "ENCApHxnGDNAVNY4AaSJKj4Tb5mw"


@pytest.fixture
async def standin() -> Any:
    app, recorder = create_standin_app({CORP: "demo-only-wecom-secret"})
    server = TestServer(app)
    await server.start_server()
    yield recorder, str(server.make_url("")).rstrip("/")
    await server.close()


def with_base(settings: Settings, base: str) -> Settings:
    accounts = [a.model_copy(update={"api_base": base}) if a.platform == "wecom-kf" else a for a in settings.accounts]
    return settings.model_copy(update={"accounts": accounts})


@pytest.fixture
async def client(start_app, settings: Settings, standin) -> TestClient:  # type: ignore[no-untyped-def]
    return await start_app(channel_classes=[WeComKfChannel], settings=with_base(settings, standin[1]))


def account(client: TestClient) -> ChannelAccountConfig:
    return client.app[CHANNELS]["wecom-kf"].accounts[CORP]


def text(content: str, user: str = YOUTH) -> dict[str, Any]:
    return {"external_userid": user, "msgtype": "text", "text": {"content": content}}


async def notify(client: TestClient, open_kfid: str = KF, token: str = "") -> Any:
    token = token or CALLBACK_TOKEN
    params, body = signed_notice(account(client), open_kfid, token)
    return await client.post(f"/channels/wecom-kf/{CORP}", params=params, data=body)


async def stored(client: TestClient) -> list[Message]:
    return await stored_messages(client, direction="in")


async def pulled(client: TestClient, count: int) -> list[Message]:
    await wait_for(lambda: client.app[STORE].messages.count_documents({"direction": "in"}))
    await wait_for(lambda: not client.app[CHANNELS]["wecom-kf"]._pullers)
    messages = await stored(client)
    assert len(messages) == count
    return messages


async def test_callback_check_returns_the_decrypted_echostr(client: TestClient) -> None:
    acc = account(client)
    echostr = Envelope(acc.encoding_aes_key, CORP).encrypt("1616140317555161061")
    query = {"timestamp": "1714036504", "nonce": "1514711492", "echostr": echostr,
             "msg_signature": wechat_signature(acc.token, "1714036504", "1514711492", echostr)}
    response = await client.get(f"/channels/wecom-kf/{CORP}", params=query)
    assert response.status == 200 and await response.read() == b"1616140317555161061"
    response = await client.get(f"/channels/wecom-kf/{CORP}", params={**query, "msg_signature": "0" * 40})
    assert response.status == 403 and await response.json() == {"error": "signature mismatch"}


async def test_notice_pulls_stores_and_saves_the_cursor_per_open_kfid(client: TestClient, standin) -> None:  # type: ignore[no-untyped-def]
    recorder: WeChatStandIn = standin[0]
    recorder.kf_receive(KF, text("我被同学孤立了"))
    recorder.kf_receive(KF, {"external_userid": YOUTH, "msgtype": "image", "image": {"media_id": "kf-img-1"}})
    recorder.kf_receive(KF, {"external_userid": YOUTH, "msgtype": "text", "origin": 5,
                             "text": {"content": "servicer reply written in the WeCom app"}})
    recorder.kf_receive("wkOTHER000000002", text("另一个客服号", user="wmOther"))
    response = await notify(client)
    assert response.status == 200 and await response.text() == "success"
    first, image = await pulled(client, 2)
    assert (first.text, image.type, image.media.media_id) == ("我被同学孤立了", "image", "kf-img-1")
    conversation = await client.app[STREAM].get_conversation(first.conversation_id)
    assert (conversation.platform, conversation.desk, conversation.tags["open_kfid"]) == ("wecom-kf", "sz", KF)
    assert recorder.sync_calls[-1]["token"] == CALLBACK_TOKEN
    saved = await client.app[STORE]["channel_state"].find_one({"_id": f"wecom-kf\x1fcursor:{CORP}:{KF}"})
    assert saved["value"] == {"cursor": "c3"}
    assert await client.app[STORE]["channel_state"].find_one(
        {"_id": f"wecom-kf\x1fcursor:{CORP}:wkOTHER000000002"}) is None
    recorder.kf_receive(KF, text("还有一件事"))
    await notify(client)
    await pulled(client, 3)
    assert recorder.sync_calls[-1]["cursor"] == "c3"


async def test_a_message_pulled_twice_is_stored_once(client: TestClient, standin) -> None:  # type: ignore[no-untyped-def]
    recorder: WeChatStandIn = standin[0]
    recorder.kf_receive(KF, text("在吗"))
    await notify(client)
    await pulled(client, 1)
    await client.app[STORE]["channel_state"].delete_many({})  # as if the cursor save had been lost
    await notify(client)
    await wait_for(lambda: len(recorder.sync_calls) == 2)
    await pulled(client, 1)


async def test_the_cursor_survives_a_restart(start_app, settings: Settings, standin, embedded_client) -> None:  # type: ignore[no-untyped-def]
    from service.app import create_app

    recorder: WeChatStandIn = standin[0]
    configured = with_base(settings, standin[1])
    first = await start_app(channel_classes=[WeComKfChannel], settings=configured)
    recorder.kf_receive(KF, text("第一条"))
    await notify(first)
    await pulled(first, 1)
    await first.close()
    recorder.kf_receive(KF, text("停机期间"))  # WeCom's notice for it found nobody listening
    second = await start_app(create_app(configured, channel_classes=[WeComKfChannel], embedded_client=embedded_client))
    await pulled(second, 2)  # the catch-up pull at start, without a notice
    assert (recorder.sync_calls[-1]["cursor"], "token" in recorder.sync_calls[-1]) == ("c1", False)
    recorder.kf_receive(KF, text("重启后"))
    await notify(second)
    await wait_for(lambda: len(recorder.sync_calls) == 3)
    await pulled(second, 3)
    assert recorder.sync_calls[-1]["cursor"] == "c2"


@pytest.mark.parametrize("mutate, status, reason", [
    (lambda p, b: ({**p, "msg_signature": "0" * 40}, b), 403, "signature mismatch"),
    (lambda p, b: ({k: v for k, v in p.items() if k != "timestamp"}, b), 403,
     "signature, timestamp and nonce required"),
    (lambda p, b: (p, b"<xml><Encrypt>"), 400, "malformed XML"),
    (lambda p, b: (p, b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>'),
     400, "XML with DTD or entities refused"),
    (lambda p, b: (p, b"<xml><ToUserName>x</ToUserName></xml>"), 400, "Encrypt required"),
    (lambda p, b: (p, b"<xml>" + b" " * 70000 + b"</xml>"), 413, "body too large"),
])
async def test_bad_notices_are_refused_and_nothing_is_pulled(client: TestClient, standin, mutate, status: int,
                                                             reason: str) -> None:  # type: ignore[no-untyped-def]
    recorder: WeChatStandIn = standin[0]
    params, body = mutate(*signed_notice(account(client), KF, "t"))
    response = await client.post(f"/channels/wecom-kf/{CORP}", params=params, data=body)
    assert response.status == status and await response.json() == {"error": reason}
    assert recorder.sync_calls == []


async def test_stale_and_foreign_notices_are_refused(client: TestClient, standin) -> None:  # type: ignore[no-untyped-def]
    recorder: WeChatStandIn = standin[0]
    acc = account(client)
    params, body = signed_notice(acc, KF, "t", SignedQuery(str(int(time.time()) - 600), "1"))
    response = await client.post(f"/channels/wecom-kf/{CORP}", params=params, data=body)
    assert response.status == 403 and await response.json() == {"error": "timestamp outside the allowed window"}
    foreign = acc.model_copy(update={"id": "wwsomeothercorp01"})
    params, body = signed_notice(foreign, KF, "t")
    response = await client.post(f"/channels/wecom-kf/{CORP}", params=params, data=body)
    assert response.status == 403 and await response.json() == {"error": "ciphertext is for another app"}
    assert (await client.post("/channels/wecom-kf/wwunknown", params=params, data=body)).status == 404
    assert recorder.sync_calls == []


async def test_other_callback_events_are_answered_success(client: TestClient, standin) -> None:  # type: ignore[no-untyped-def]
    acc = account(client)
    query = SignedQuery.now()
    inner = to_xml({"ToUserName": CORP, "MsgType": "event", "Event": "change_external_contact"})
    encrypt = Envelope(acc.encoding_aes_key, CORP).encrypt(inner)
    params = {"msg_signature": wechat_signature(acc.token, query.timestamp, query.nonce, encrypt),
              "timestamp": query.timestamp, "nonce": query.nonce}
    response = await client.post(f"/channels/wecom-kf/{CORP}", params=params,
                                 data=to_xml({"ToUserName": CORP, "Encrypt": encrypt}).encode())
    assert response.status == 200 and await response.text() == "success"
    assert standin[0].sync_calls == []


async def youth_conversation(client: TestClient, recorder: WeChatStandIn) -> str:
    recorder.kf_receive(KF, text("你好"))
    await notify(client)
    [message] = await pulled(client, 1)
    return message.conversation_id


async def test_send_msg_is_idempotent_on_our_message_id(client: TestClient, standin) -> None:  # type: ignore[no-untyped-def]
    recorder: WeChatStandIn = standin[0]
    conversation_id = await youth_conversation(client, recorder)
    recorder.lose_responses = 1  # WeCom sent it, but its answer never reached us
    message = await client.app[STREAM].send(conversation_id, "老师在的", sender=SenderKind.COUNSELLOR)
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": message.id, "status": "sent"}))
    doc = await client.app[STORE].messages.find_one({"_id": message.id})
    assert [a["ok"] for a in doc["attempts"]] == [False, True]
    [sent] = recorder.sent
    assert (sent.api, sent.msgid, sent.touser, sent.open_kfid, sent.text) == ("kf", message.id, YOUTH, KF, "老师在的")
    assert doc["channel_message_id"] == message.id


async def test_session_state_refusal_closes_the_window(client: TestClient, standin) -> None:  # type: ignore[no-untyped-def]
    recorder: WeChatStandIn = standin[0]
    conversation_id = await youth_conversation(client, recorder)
    recorder.fail_next(95018, "send msg session status invalid")
    message = await client.app[STREAM].send(conversation_id, "你好", sender=SenderKind.COUNSELLOR)
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": message.id, "status": "failed"}))
    conversation = await client.app[STREAM].get_conversation(conversation_id)
    assert "95018" in conversation.window.closed_reason


class WelcomeRouter:
    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def route(self, conversation: Conversation, message: Message) -> None:
        reply = "欢迎来到12355" if message.type == MessageType.EVENT else f"收到：{message.text}"
        await self.app[STREAM].send(conversation.id, reply, sender=SenderKind.BOT)


async def test_enter_session_tags_the_scene_and_the_welcome_uses_the_code(client: TestClient, standin) -> None:  # type: ignore[no-untyped-def]
    recorder: WeChatStandIn = standin[0]
    client.app[STREAM].router = WelcomeRouter(client.app)
    recorder.kf_receive(KF, {"origin": 4, "msgtype": "event",
                             "event": {"event_type": "enter_session", "open_kfid": KF, "external_userid": YOUTH,
                                       "scene": "partner_qr", "scene_param": "school%3Dno3"}})
    await notify(client)
    [entered] = await pulled(client, 1)
    assert (entered.type, entered.event) == ("event", "enter_session")
    conversation = await client.app[STREAM].get_conversation(entered.conversation_id)
    assert (conversation.tags["kf_scene"], conversation.tags["kf_scene_param"]) == ("partner_qr", "school%3Dno3")
    assert conversation.window.last_youth_message_at is None  # entering alone opens no window
    await wait_for(lambda: recorder.sent)
    [welcome] = recorder.sent
    assert (welcome.api, welcome.text) == ("kf_event", "欢迎来到12355")
    recorder.kf_receive(KF, text("我想聊聊"))
    await notify(client)
    await pulled(client, 2)
    await wait_for(lambda: len(recorder.sent) == 2)
    assert (recorder.sent[1].api, recorder.sent[1].text) == ("kf", "收到：我想聊聊")  # the code is single-use


async def test_unreadable_entries_are_skipped_not_blocking(client: TestClient, standin) -> None:  # type: ignore[no-untyped-def]
    recorder: WeChatStandIn = standin[0]
    recorder.kf_receive(KF, {"origin": "not a number", "msgtype": "text"})
    recorder.kf_receive(KF, text("后面这条"))
    await notify(client)
    [message] = await pulled(client, 1)
    assert message.text == "后面这条"


def test_recorded_kf_shapes_become_messages() -> None:
    from channels.wecom_kf import KfMessage, kf_inbound

    def one(**fields: Any):  # type: ignore[no-untyped-def]
        return kf_inbound(CORP, KfMessage.model_validate({"msgid": "m", "open_kfid": KF, "external_userid": YOUTH,
                                                          "send_time": 1714036504, "origin": 3, **fields}))

    voice = one(msgtype="voice", voice={"media_id": "v1"})
    assert (voice.type, voice.media.media_id, voice.tags) == (MessageType.VOICE, "v1", {"open_kfid": KF})
    link = one(msgtype="link", link={"title": "求助帖", "url": "https://example.org/p"})
    assert (link.type, link.text) == (MessageType.LINK, "[链接] 求助帖 https://example.org/p")
    card = one(msgtype="miniprogram", miniprogram={"title": "测评", "pagepath": "pages/a", "thumb_media_id": "t"})
    assert (card.text, card.media.url) == ("[小程序卡片] 测评", "pages/a")
    place = one(msgtype="location", location={"name": "某某中学", "address": "深圳市"})
    assert place.text == "[位置] 某某中学 深圳市"
    assert one(msgtype="channels_shop_product").text == "[暂不支持的微信客服消息类型：channels_shop_product]"
    assert one(msgtype="text", text={"content": "x"}, origin=5) is None  # our servicer's own reply
    assert kf_inbound(CORP, KfMessage.model_validate({"msgid": "e", "origin": 4, "msgtype": "event",
                                                      "event": {"event_type": "msg_send_fail"}})) is None
