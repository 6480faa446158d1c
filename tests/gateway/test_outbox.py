"""The outbox: stored before delivery, delivered once, retried with backoff, failures visible."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from contract.channel import ReplyWindowClosedError, TransientDeliveryError
from contract.keys import CHANNELS, STORE, STREAM, WORKERS
from contract.models import DeliveryStatus, SenderKind
from gateway.outbox import POLL_INTERVAL
from tests.fakes import ExaminedDocuments, RecordingChannel, inbound, wait_for


async def _conversation(client) -> str:
    result = await client.app[STREAM].ingest(inbound("你好"))
    return result.conversation_id


async def _settled(client, message_id: str) -> None:
    """The channel records a message before the worker records the attempt: wait for the worker."""
    async def recorded() -> bool:
        doc = await client.app[STORE].messages.find_one({"_id": message_id})
        return doc["status"] not in (DeliveryStatus.PENDING, DeliveryStatus.SENDING)

    await wait_for(recorded)


async def test_reply_is_delivered_to_the_youths_channel_identity(start_app):
    client = await start_app(channel_classes=[RecordingChannel])
    conversation_id = await _conversation(client)
    message = await client.app[STREAM].send(conversation_id, "你好，我在。", sender=SenderKind.COUNSELLOR)

    channel = client.app[CHANNELS]["wechat"]
    await wait_for(lambda: channel.sent)
    await _settled(client, message.id)
    assert channel.sent[0].external_user_id == "openid-youth-1"
    assert channel.sent[0].text == "你好，我在。"
    stored = await client.app[STORE].messages.find_one({"_id": message.id})
    assert stored["status"] == DeliveryStatus.SENT and stored["channel_message_id"] == "chan-1"
    conversation = await client.app[STREAM].get_conversation(conversation_id)
    assert conversation.window.sent_since_youth_message == 1


async def test_message_survives_crash_between_persist_and_delivery(start_app):
    first = await start_app(channel_classes=[RecordingChannel], start_workers=False)
    conversation_id = await _conversation(first)
    message = await first.app[STREAM].send(conversation_id, "别担心", sender=SenderKind.BOT)
    await first.close()  # "crash": stored, never handed to the adapter
    assert first.app[CHANNELS]["wechat"].sent == []

    second = await start_app(channel_classes=[RecordingChannel])
    channel = second.app[CHANNELS]["wechat"]
    await wait_for(lambda: channel.sent)
    await asyncio.sleep(0.3)  # give any duplicate a chance to show up
    assert [m.message_id for m in channel.sent] == [message.id]


async def test_claim_left_by_a_dead_worker_is_released_once_its_lease_expires(start_app):
    first = await start_app(channel_classes=[RecordingChannel], start_workers=False)
    conversation_id = await _conversation(first)
    message = await first.app[STREAM].send(conversation_id, "在的", sender=SenderKind.BOT)
    await first.app[STORE].messages.update_one(
        {"_id": message.id},
        {"$set": {"status": DeliveryStatus.SENDING, "lease_until": message.created_at - timedelta(seconds=1)}},
    )
    await first.close()

    second = await start_app(channel_classes=[RecordingChannel])
    channel = second.app[CHANNELS]["wechat"]
    await wait_for(lambda: channel.sent)
    assert len(channel.sent) == 1


async def test_failing_adapter_is_retried_with_backoff_then_failed_with_reason(start_app, settings):
    client = await start_app(channel_classes=[RecordingChannel])
    channel = client.app[CHANNELS]["wechat"]
    channel.always_fail = TransientDeliveryError("platform busy (-1)")
    conversation_id = await _conversation(client)
    message = await client.app[STREAM].send(conversation_id, "测试", sender=SenderKind.BOT)

    async def failed() -> bool:
        doc = await client.app[STORE].messages.find_one({"_id": message.id})
        return doc["status"] == DeliveryStatus.FAILED

    await wait_for(failed)
    doc = await client.app[STORE].messages.find_one({"_id": message.id})
    attempts = doc["attempts"]
    assert len(attempts) == settings.service.delivery_max_attempts
    assert all(not a["ok"] and a["error"] == "platform busy (-1)" for a in attempts)
    gaps = [(b["at"] - a["at"]).total_seconds() for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps[-1] > gaps[0]  # exponential backoff
    assert "platform busy (-1)" in doc["error"] and "after 5 attempts" in doc["error"]


async def test_transient_failure_then_success_delivers_once(start_app):
    client = await start_app(channel_classes=[RecordingChannel])
    channel = client.app[CHANNELS]["wechat"]
    channel.failures.extend([TransientDeliveryError("timeout"), TransientDeliveryError("timeout")])
    conversation_id = await _conversation(client)
    message = await client.app[STREAM].send(conversation_id, "稍等", sender=SenderKind.BOT)
    await wait_for(lambda: channel.sent)
    await _settled(client, message.id)
    doc = await client.app[STORE].messages.find_one({"_id": message.id})
    assert [a["ok"] for a in doc["attempts"]] == [False, False, True]
    assert len(channel.sent) == 1


async def test_closed_window_fails_without_retry_and_is_recorded(start_app):
    client = await start_app(channel_classes=[RecordingChannel])
    channel = client.app[CHANNELS]["wechat"]
    channel.always_fail = ReplyWindowClosedError("45015: reply window expired")
    conversation_id = await _conversation(client)
    message = await client.app[STREAM].send(conversation_id, "还在吗", sender=SenderKind.COUNSELLOR)

    async def failed() -> bool:
        doc = await client.app[STORE].messages.find_one({"_id": message.id})
        return doc["status"] == DeliveryStatus.FAILED

    await wait_for(failed)
    doc = await client.app[STORE].messages.find_one({"_id": message.id})
    assert len(doc["attempts"]) == 1
    conversation = await client.app[STREAM].get_conversation(conversation_id)
    assert conversation.window.closed_reason == "45015: reply window expired"


async def test_later_message_waits_for_an_earlier_one_still_retrying(start_app):
    client = await start_app(channel_classes=[RecordingChannel])
    channel = client.app[CHANNELS]["wechat"]
    channel.failures.append(TransientDeliveryError("busy"))
    conversation_id = await _conversation(client)
    for text in ("一", "二", "三"):
        await client.app[STREAM].send(conversation_id, text, sender=SenderKind.BOT)
    await wait_for(lambda: len(channel.sent) == 3)
    assert [m.text for m in channel.sent] == ["一", "二", "三"]


async def test_replies_held_back_by_one_in_backoff_are_not_read_again_until_it_is_tried(start_app, settings):
    """A platform outage: the first reply waits a minute in backoff, 30 more wait behind it. A wake used to
    read the 20 due first, find each held back, and sleep a millisecond before doing it again."""
    service = settings.service.model_copy(update={"delivery_backoff_seconds": 60.0})
    client = await start_app(settings=settings.model_copy(update={"service": service}),
                             channel_classes=[RecordingChannel], start_workers=False)
    client.app[CHANNELS]["wechat"].always_fail = TransientDeliveryError("platform down")
    workers, stream = client.app[WORKERS], client.app[STREAM]
    conversation_id = await _conversation(client)
    first = await stream.send(conversation_id, "一", sender=SenderKind.BOT)
    claimed = await workers._claim()
    assert claimed is not None and claimed.id == first.id
    await workers._deliver(claimed)
    workers._in_flight.discard(conversation_id)
    retry_at = (await client.app[STORE].messages.find_one({"_id": first.id}))["next_attempt_at"]
    later = [await stream.send(conversation_id, f"第{n}条", sender=SenderKind.BOT) for n in range(30)]

    assert await workers._claim() is None  # each held back: made due when the first is tried again
    stored = client.app[STORE].messages.find({"_id": {"$in": [m.id for m in later]}})
    assert {doc["next_attempt_at"] for doc in await stored.to_list(None)} == {retry_at}
    examined = ExaminedDocuments(client.app[STORE].messages)
    for _ in range(3):
        assert await workers._claim() is None
    assert examined.count == 0  # nothing is due now: no reply read, however many wait
    assert await workers._idle_seconds() == POLL_INTERVAL  # not a millisecond: nothing it could take is due
    assert examined.count == 1  # the next due, the first reply, along the index


async def test_private_notes_never_reach_the_channel(start_app):
    client = await start_app(channel_classes=[RecordingChannel])
    conversation_id = await _conversation(client)
    await client.app[STREAM].send(conversation_id, "内部备注", sender=SenderKind.COUNSELLOR, private=True)
    await client.app[STREAM].send(conversation_id, "公开回复", sender=SenderKind.COUNSELLOR)
    channel = client.app[CHANNELS]["wechat"]
    await wait_for(lambda: channel.sent)
    await asyncio.sleep(0.1)
    assert [m.text for m in channel.sent] == ["公开回复"]
