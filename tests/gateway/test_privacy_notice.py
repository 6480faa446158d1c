"""The privacy notice on first contact: once per contact and version, on every channel, after any crisis reply."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest

from bot.replies import SUICIDE
from channels.douyin import DouyinChannel
from channels.qq import QQChannel
from channels.wechat import WeChatChannel
from channels.wecom_kf import WeComKfChannel
from channels.weibo import WeiboChannel
from contract.channel import InboundMessage, ReplyPolicy
from contract.config import Settings
from contract.keys import CHANNELS, STORE, STREAM
from contract.models import ConversationState, Direction, MessageType, SenderKind
from contract.privacy import PrivacyNotice, load_privacy_notice
from store.consent import consent_ledger
from tests.fakes import FakeRasa, RecordingChannel, wait_for

NOTICE = load_privacy_notice()


def recording(platform: str, policy: ReplyPolicy | None = None, *, text: bool = True) -> type[RecordingChannel]:
    """A recording stand-in for one platform, with that platform's reply budget."""
    attributes = {"platform": platform, "reply_policy": policy, "privacy_notice_by_voice": not text}
    return type(f"Recording_{platform}", (RecordingChannel,), attributes)


# platform -> (its recording channel, the account or widget partner of the demo configuration)
TEXT_CHANNELS: dict[str, tuple[type[RecordingChannel], str]] = {
    "wechat": (recording("wechat", WeChatChannel.reply_policy), "wxdemo0000000001"),
    "miniprogram": (recording("miniprogram", WeChatChannel.reply_policy), "wxdemominiprog01"),
    "wecom-kf": (recording("wecom-kf", WeComKfChannel.reply_policy), "wwdemocorp000001"),
    "weibo": (recording("weibo", WeiboChannel.reply_policy), "5000000001"),
    "qq": (recording("qq", QQChannel.reply_policy), "102000001"),
    "douyin": (recording("douyin", DouyinChannel.reply_policy), "awdemo12355youth"),
    "partner-api": (recording("partner-api"), "demo-school-app"),
    "widget": (recording("widget"), "demo-video"),
}
Hotline = recording("hotline", text=False)


class Unbudgeted(RecordingChannel):
    platform: ClassVar[str] = "wechat"


class Budgeted(RecordingChannel):
    platform: ClassVar[str] = "wechat"
    reply_policy: ClassVar[ReplyPolicy | None] = WeChatChannel.reply_policy


def youth(platform: str, account: str, text: str, msg_id: str, *, user: str = "youth-1") -> InboundMessage:
    return InboundMessage(platform=platform, account=account, external_user_id=user, channel_message_id=msg_id,
                          type=MessageType.TEXT, text=text)


@pytest.fixture
def noticing(settings: Settings) -> Settings:
    service = settings.service.model_copy(update={"privacy_notice_enabled": True,
                                                  "public_url": "https://12355.example.cn"})
    return settings.model_copy(update={"service": service})


@pytest.fixture
def noticing_triage(noticing: Settings) -> Settings:
    return noticing.model_copy(update={"service": noticing.service.model_copy(update={"triage_enabled": True})})


async def routed(client, message_id: str) -> None:  # type: ignore[no-untyped-def]
    async def done() -> bool:
        doc = await client.app[STORE].messages.find_one({"_id": message_id})
        return bool(doc and doc["processed"])
    await wait_for(done)


async def settled(client) -> None:  # type: ignore[no-untyped-def]
    """Routing done and the outbox empty."""
    stream, store = client.app[STREAM], client.app[STORE]
    await wait_for(lambda: stream.in_flight == 0)

    async def outbox_empty() -> bool:
        waiting = {"direction": "out", "status": {"$in": ["pending", "sending"]}}
        return await store.messages.count_documents(waiting) == 0
    await wait_for(outbox_empty)


async def notices_shown(client, contact_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [entry.notice_version for entry in await consent_ledger(client.app[STORE], contact_id)
            if entry.purpose == "privacy_notice"]


def notice_texts(channel: RecordingChannel) -> list[str]:
    return [message.text for message in channel.sent if message.text.startswith("【隐私小提示】")]


async def test_first_contact_on_every_channel_gets_one_notice_and_the_second_message_none(start_app, noticing):
    # Triage is off here (the conftest default): the notice does not depend on the bot.
    assert not noticing.service.triage_enabled
    client = await start_app(settings=noticing, channel_classes=[c for c, _ in TEXT_CHANNELS.values()] + [Hotline])
    stream = client.app[STREAM]
    for platform, (_, account) in TEXT_CHANNELS.items():
        first = await stream.ingest(youth(platform, account, "你好", f"{platform}-1"))
        await routed(client, first.message_id)
        second = await stream.ingest(youth(platform, account, "在吗", f"{platform}-2"))
        await routed(client, second.message_id)
    await settled(client)

    for platform in TEXT_CHANNELS:
        channel = client.app[CHANNELS][platform]
        assert notice_texts(channel) == [NOTICE.short_text("https://12355.example.cn")], platform
        assert "https://12355.example.cn/privacy" in channel.sent[0].text
        conversation = await stream.get_conversation(channel.sent[0].conversation_id)
        assert await notices_shown(client, conversation.contact_id) == [NOTICE.version]
        stored = await stream.history(conversation.id)
        assert [(m.direction, m.sender) for m in stored] == [
            (Direction.INBOUND, SenderKind.YOUTH), (Direction.OUTBOUND, SenderKind.SYSTEM),
            (Direction.INBOUND, SenderKind.YOUTH)], platform


async def test_the_hotline_is_voice_so_nothing_is_sent_or_recorded(start_app, noticing):
    client = await start_app(settings=noticing, channel_classes=[Hotline])
    call = InboundMessage(platform="hotline", account="demo-callcentre", external_user_id="tel:caller",
                          channel_message_id="call-1:ringing", type=MessageType.EVENT, event="call_ringing",
                          text="来电", window="keep")
    result = await client.app[STREAM].ingest(call)
    await routed(client, result.message_id)
    await settled(client)
    conversation = await client.app[STREAM].get_conversation(result.conversation_id)
    assert [m.direction for m in await client.app[STREAM].history(conversation.id)] == [Direction.INBOUND]
    assert await notices_shown(client, conversation.contact_id) == []


async def test_a_risk_first_message_gets_the_crisis_reply_first_and_the_notice_after(start_app, noticing_triage):
    client = await start_app(settings=noticing_triage, channel_classes=[Unbudgeted])
    client.app[STREAM].router.rasa = FakeRasa()
    result = await client.app[STREAM].ingest(youth("wechat", "wxdemo0000000001", "安眠药我已经攒够了，今晚就全吃掉",
                                                   "risk-1"))
    await routed(client, result.message_id)
    await settled(client)

    conversation = await client.app[STREAM].get_conversation(result.conversation_id)
    assert conversation.state == ConversationState.QUEUED and conversation.risk_level == 3
    sent = client.app[CHANNELS]["wechat"].sent
    assert sent[0].text == SUICIDE  # delivered first, never behind the notice
    assert any("值班老师正在接入" in m.text for m in sent[1:-1])
    assert notice_texts(client.app[CHANNELS]["wechat"]) == [sent[-1].text]  # last, after every crisis message


async def test_on_a_budgeted_channel_a_crisis_keeps_every_reply_and_the_notice_waits(start_app, noticing_triage):
    client = await start_app(settings=noticing_triage, channel_classes=[Budgeted])
    client.app[STREAM].router.rasa = FakeRasa()
    stream, channel = client.app[STREAM], client.app[CHANNELS]["wechat"]
    risk = await stream.ingest(youth("wechat", "wxdemo0000000001", "安眠药我已经攒够了，今晚就全吃掉", "b-1"))
    await routed(client, risk.message_id)
    again = await stream.ingest(youth("wechat", "wxdemo0000000001", "我好害怕", "b-2"))
    await routed(client, again.message_id)
    await settled(client)
    conversation = await stream.get_conversation(risk.conversation_id)
    assert channel.sent[0].text == SUICIDE and notice_texts(channel) == []
    assert await notices_shown(client, conversation.contact_id) == []

    # The emergency is over (the conversation closed); the youth writes again: now the notice.
    await stream.set_state(conversation.id, ConversationState.CLOSED, reason="test")
    later = await stream.ingest(youth("wechat", "wxdemo0000000001", "你好", "b-3"))
    await routed(client, later.message_id)
    await settled(client)
    assert len(notice_texts(channel)) == 1
    assert await notices_shown(client, conversation.contact_id) == [NOTICE.version]


async def test_a_restart_does_not_send_it_again(start_app, noticing):
    first = await start_app(settings=noticing, channel_classes=[Unbudgeted])
    result = await first.app[STREAM].ingest(youth("wechat", "wxdemo0000000001", "你好", "r-1"))
    await routed(first, result.message_id)
    await settled(first)
    contact_id = (await first.app[STREAM].get_conversation(result.conversation_id)).contact_id
    assert len(notice_texts(first.app[CHANNELS]["wechat"])) == 1
    await first.close()

    second = await start_app(settings=noticing, channel_classes=[Unbudgeted])
    later = await second.app[STREAM].ingest(youth("wechat", "wxdemo0000000001", "又来了", "r-2"))
    await routed(second, later.message_id)
    await settled(second)
    assert notice_texts(second.app[CHANNELS]["wechat"]) == []
    assert await notices_shown(second, contact_id) == [NOTICE.version]


async def test_a_crash_after_queueing_the_notice_completes_the_ledger_without_a_second_notice(start_app, noticing):
    client = await start_app(settings=noticing, channel_classes=[Unbudgeted])
    stream, store = client.app[STREAM], client.app[STORE]
    result = await stream.ingest(youth("wechat", "wxdemo0000000001", "你好", "c-1"))
    await routed(client, result.message_id)
    await settled(client)
    contact_id = (await stream.get_conversation(result.conversation_id)).contact_id
    # As if the process died between queueing the notice and writing the ledger entry.
    await store["consents"].delete_many({"contact_id": contact_id})

    later = await stream.ingest(youth("wechat", "wxdemo0000000001", "在吗", "c-2"))
    await routed(client, later.message_id)
    await settled(client)
    assert len(notice_texts(client.app[CHANNELS]["wechat"])) == 1
    assert await notices_shown(client, contact_id) == [NOTICE.version]


async def test_a_new_version_is_shown_once_more_and_the_ledger_keeps_both(start_app, noticing):
    client = await start_app(settings=noticing, channel_classes=[Unbudgeted])
    stream, channel = client.app[STREAM], client.app[CHANNELS]["wechat"]
    result = await stream.ingest(youth("wechat", "wxdemo0000000001", "你好", "v-1"))
    await routed(client, result.message_id)
    await settled(client)
    revised = PrivacyNotice(version="2027-01-01.1", short="【隐私小提示】说明更新了。完整说明：{url}", full="全文")
    assert stream.notices is not None
    stream.notices = dataclasses.replace(stream.notices, notice=revised)
    for n in (2, 3):
        message = await stream.ingest(youth("wechat", "wxdemo0000000001", f"第{n}条", f"v-{n}"))
        await routed(client, message.message_id)
    await settled(client)

    assert notice_texts(channel) == [NOTICE.short_text("https://12355.example.cn"),
                                     "【隐私小提示】说明更新了。完整说明：https://12355.example.cn/privacy"]
    contact_id = (await stream.get_conversation(result.conversation_id)).contact_id
    assert await notices_shown(client, contact_id) == [NOTICE.version, "2027-01-01.1"]


async def test_the_notice_counts_as_one_reply_of_the_budget(start_app, noticing):
    client = await start_app(settings=noticing, channel_classes=[Budgeted])
    result = await client.app[STREAM].ingest(youth("wechat", "wxdemo0000000001", "你好", "q-1"))
    await routed(client, result.message_id)
    await settled(client)
    conversation = await client.app[STREAM].get_conversation(result.conversation_id)
    assert conversation.window.sent_since_youth_message == 1  # 4 of WeChat's 5 are left for the reply


async def test_the_full_notice_is_served_as_text(start_app, noticing):
    client = await start_app(settings=noticing, channel_classes=[Unbudgeted])
    response = await client.get("/privacy")
    assert response.status == 200 and response.content_type == "text/plain" and response.charset == "utf-8"
    body = await response.text()
    assert NOTICE.full in body and f"版本：{NOTICE.version}" in body
    # The short notice's "kept one year" is the configured retention; changing one means a new version.
    assert noticing.data.retention.messages_days == 365 and "聊天记录保存一年" in NOTICE.short
    assert noticing.data.retention.cases_days == 1095 and "个案记录保存三年" in NOTICE.full
