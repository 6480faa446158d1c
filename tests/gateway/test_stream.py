"""The conversation stream: dedupe, ordering, routing, and nothing lost on failure."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from pymongo.errors import OperationFailure

from contract.config import Settings
from contract.handoff import HandoffRequest
from contract.keys import BUS, CHANNELS, STORE, STREAM, WORKERS
from contract.models import (
    Conversation,
    ConversationState,
    DeliveryStatus,
    Direction,
    Message,
    SenderKind,
)
from store.database import Store
from store.durable import DurableMongoClient
from tests.fakes import ExaminedDocuments, RecordingChannel, inbound, wait_for


class CountingRouter:
    def __init__(self) -> None:
        self.seen: list[Message] = []

    async def route(self, conversation: Conversation, message: Message) -> None:
        await asyncio.sleep(0)  # let other ingests interleave
        self.seen.append(message)


async def test_same_message_three_times_concurrently_is_stored_and_processed_once(start_app):
    client = await start_app(channel_classes=[RecordingChannel])
    stream = client.app[STREAM]
    router = stream.router = CountingRouter()

    results = await asyncio.gather(*(stream.ingest(inbound(msg_id="42")) for _ in range(3)))

    assert sorted(r.duplicate for r in results) == [False, True, True]
    assert len({r.message_id for r in results}) == 1
    await wait_for(lambda: stream.in_flight == 0 and router.seen)
    assert await client.app[STORE].messages.count_documents({}) == 1
    assert len(router.seen) == 1


async def test_order_is_preserved_under_concurrent_ingest(start_app):
    client = await start_app(channel_classes=[RecordingChannel])
    stream = client.app[STREAM]
    router = stream.router = CountingRouter()

    await asyncio.gather(*(stream.ingest(inbound(f"第{i}条", msg_id=str(i))) for i in range(40)))
    await wait_for(lambda: len(router.seen) == 40)

    seqs = [m.seq for m in router.seen]
    assert seqs == sorted(seqs) == list(range(1, 41))
    history = await stream.history(router.seen[0].conversation_id)
    assert [m.text for m in history] == [f"第{i}条" for i in range(40)]


async def test_sequential_messages_from_many_youths_each_keep_their_order(start_app):
    client = await start_app(channel_classes=[RecordingChannel])
    stream = client.app[STREAM]
    router = stream.router = CountingRouter()

    async def youth(n: int) -> None:
        for i in range(10):
            await stream.ingest(inbound(f"{n}-{i}", user=f"youth-{n}", msg_id=f"{n}-{i}"))

    await asyncio.gather(*(youth(n) for n in range(8)))
    await wait_for(lambda: len(router.seen) == 80)
    for n in range(8):
        texts = [m.text for m in router.seen if m.text.startswith(f"{n}-")]
        assert texts == [f"{n}-{i}" for i in range(10)]
    assert await client.app[STORE].conversations.count_documents({}) == 8


async def test_routing_failure_sends_conversation_to_a_human(start_app):
    client = await start_app(channel_classes=[RecordingChannel])
    stream = client.app[STREAM]
    stream.router = BrokenRouter()

    result = await stream.ingest(inbound("我不想活了"))
    await wait_for(lambda: stream.in_flight == 0)

    conversation = await stream.get_conversation(result.conversation_id)
    assert conversation.state == ConversationState.QUEUED
    stored = await client.app[STORE].messages.find_one({"_id": result.message_id})
    assert stored["processed"] is True and "bot exploded" in stored["error"]


class BrokenRouter:
    async def route(self, conversation, message):
        raise RuntimeError("bot exploded")


class RecordingHandoff:
    def __init__(self, *, fail: bool = False) -> None:
        self.requests: list[HandoffRequest] = []
        self.fail = fail

    async def request_handoff(self, request: HandoffRequest) -> None:
        if self.fail:
            raise RuntimeError("handoff engine down")
        self.requests.append(request)

    async def take_rating(self, conversation, message) -> bool:
        return False


async def test_routing_failure_goes_through_the_handoff_seam(start_app):
    client = await start_app(channel_classes=[RecordingChannel])
    stream = client.app[STREAM]
    stream.router = BrokenRouter()
    handoff = RecordingHandoff()
    stream.handoff = lambda: handoff

    result = await stream.ingest(inbound("我不想活了"))
    await wait_for(lambda: stream.in_flight == 0)

    assert handoff.requests == [HandoffRequest(conversation_id=result.conversation_id, reason="routing_failed",
                                               message_id=result.message_id)]
    assert (await stream.get_conversation(result.conversation_id)).state == ConversationState.BOT  # the engine's call


async def test_message_is_kept_for_a_retry_when_the_handoff_fails_too(start_app):
    client = await start_app(channel_classes=[RecordingChannel])
    stream = client.app[STREAM]
    stream.router = BrokenRouter()
    handoff = RecordingHandoff(fail=True)
    stream.handoff = lambda: handoff

    first = await stream.ingest(inbound("在吗", msg_id="1"))
    await wait_for(lambda: stream.in_flight == 0)
    stored = await client.app[STORE].messages.find_one({"_id": first.message_id})
    assert stored["processed"] is False and "bot exploded" in stored["error"]

    # The next message of the conversation retries the kept one first, in order.
    router = stream.router = CountingRouter()
    second = await stream.ingest(inbound("有人吗", msg_id="2"))
    await wait_for(lambda: stream.in_flight == 0 and len(router.seen) == 2)
    assert [m.id for m in router.seen] == [first.message_id, second.message_id]
    assert await stream.unprocessed_count() == 0


async def test_unprocessed_messages_are_routed_after_restart(start_app, embedded_client):
    first = await start_app(channel_classes=[RecordingChannel])

    class StuckRouter:
        async def route(self, conversation, message):
            await asyncio.Event().wait()  # the process "dies" while routing

    first.app[STREAM].router = StuckRouter()
    result = await first.app[STREAM].ingest(inbound("在吗"))
    first.app[STREAM].route_timeout = 0.05  # only so the test's shutdown is quick
    await first.close()

    # The message was stored; routing timed out on the way down and put it in front of a human.
    second = await start_app(channel_classes=[RecordingChannel])
    conversation = await second.app[STREAM].get_conversation(result.conversation_id)
    assert conversation.state == ConversationState.QUEUED


async def test_routing_still_running_after_the_grace_period_is_cancelled_and_resumed_after_restart(
        start_app, embedded_client):
    first = await start_app(channel_classes=[RecordingChannel])
    stream = first.app[STREAM]

    class StuckRouter:
        async def route(self, conversation, message):
            await asyncio.Event().wait()

    stream.router = StuckRouter()
    result = await stream.ingest(inbound("在吗"))
    await wait_for(lambda: stream.backlog.workers == 1)
    assert not await stream.drain(0.05)  # shutdown: nothing routes on against a store that is closing
    assert stream.backlog.workers == 0
    stored = await first.app[STORE].messages.find_one({"_id": result.message_id})
    assert stored["processed"] is False
    await first.close()

    second = await start_app(channel_classes=[RecordingChannel])

    async def routed() -> bool:
        doc = await second.app[STORE].messages.find_one({"_id": result.message_id})
        return doc["processed"]

    await wait_for(routed)


async def test_resume_routes_messages_stored_but_never_routed(start_app, embedded_client):
    first = await start_app(channel_classes=[RecordingChannel])
    stream = first.app[STREAM]
    stream._schedule = lambda conversation_id, urgency, text: None  # crash right after storing
    result = await stream.ingest(inbound("有人吗"))
    await first.close()

    stored = await first.app[STORE].messages.find_one({"_id": result.message_id})
    assert stored["processed"] is False

    second = await start_app(channel_classes=[RecordingChannel])  # start-up resumes routing

    async def routed() -> bool:
        doc = await second.app[STORE].messages.find_one({"_id": result.message_id})
        return doc["processed"]

    await wait_for(routed)


async def test_identifiers_are_encrypted_at_rest(start_app):
    client = await start_app(channel_classes=[RecordingChannel])
    await client.app[STREAM].ingest(inbound(user="oSecretOpenId123"))
    contact = await client.app[STORE].contacts.find_one({})
    assert "oSecretOpenId123" not in repr(contact)


async def test_closed_conversation_starts_a_new_one(start_app):
    client = await start_app(channel_classes=[RecordingChannel])
    stream = client.app[STREAM]
    first = await stream.ingest(inbound(msg_id="1"))
    await stream.set_state(first.conversation_id, ConversationState.CLOSED, reason="done", by="tester")
    second = await stream.ingest(inbound(msg_id="2"))
    assert second.conversation_id != first.conversation_id
    events = await client.app[STORE].events.find({"conversation_id": first.conversation_id}).to_list(None)
    assert [e["type"] for e in events] == ["conversation.state_changed"]  # its opening: the conversation's own document


def _commits(embedded_client: DurableMongoClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The collection of every commit to the embedded store's file from now on, in order."""
    committed: list[str] = []
    file = embedded_client._file
    write = file.write
    monkeypatch.setattr(file, "write", lambda database, collection, changed: committed.append(collection) or
                        write(database, collection, changed))
    return committed


async def test_a_youth_s_first_message_commits_four_documents_and_a_known_youth_s_two(
        start_app, embedded_client, monkeypatch):
    # At 500 first messages/s the webhook's tail is CPU per push: a first message committed six documents
    # (its conversation stored, then numbered, and a conversation.created event besides), a known youth's two.
    client = await start_app(channel_classes=[RecordingChannel])
    stream = client.app[STREAM]
    stream.router = GatedRouter()  # nothing routed (and marked) while counting
    heard = client.app[BUS].subscribe()
    committed = _commits(embedded_client, monkeypatch)

    first = await stream.ingest(inbound("你好", msg_id="1"))
    assert committed == ["contacts", "conversations", "open_conversations", "messages"]
    committed.clear()
    again = await stream.ingest(inbound("还在吗", msg_id="2"))
    assert committed == ["conversations", "messages"]

    assert again.conversation_id == first.conversation_id
    assert [m.seq for m in await stream.history(first.conversation_id)] == [1, 2]
    events = [await asyncio.wait_for(heard.get(), 1) for _ in range(3)]
    assert [(e.type, e.data.get("message", {}).get("seq")) for e in events] == [
        ("conversation.created", None), ("message.created", 1), ("message.created", 2)]
    assert await client.app[STORE].events.count_documents({}) == 0  # its opening is the conversation's document


async def test_a_first_message_the_disk_refused_is_stored_by_the_platform_s_retry_in_the_same_conversation(
        start_app, embedded_client, monkeypatch):
    # The conversation is stored before its first message: the push is not acknowledged when the message
    # could not be, and the retry finds the conversation instead of opening a second one.
    client = await start_app(channel_classes=[RecordingChannel])
    stream, store = client.app[STREAM], client.app[STORE]
    stream.router = CountingRouter()
    file = embedded_client._file
    write = file.write

    def refusing_messages(database, collection, changed):  # type: ignore[no-untyped-def]
        if collection == "messages":
            raise sqlite3.OperationalError("disk I/O error")
        return write(database, collection, changed)

    monkeypatch.setattr(file, "write", refusing_messages)
    with pytest.raises(OperationFailure):
        await stream.ingest(inbound("你好", msg_id="1"))
    assert await store.messages.count_documents({}) == 0
    monkeypatch.setattr(file, "write", write)

    retried = await stream.ingest(inbound("你好", msg_id="1"))

    assert not retried.duplicate
    assert await store.conversations.count_documents({}) == await store.contacts.count_documents({}) == 1
    assert [m.text for m in await stream.history(retried.conversation_id)] == ["你好"]
    await wait_for(lambda: [m.text for m in stream.router.seen] == ["你好"])


# ------------------------------------------------------------------ routing from the stored backlog


class GatedRouter:
    """Routes nothing until the test opens the gate; records the order in which messages were routed."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.waiting: list[Message] = []
        self.seen: list[Message] = []

    async def route(self, conversation: Conversation, message: Message) -> None:
        self.waiting.append(message)
        await self.gate.wait()
        self.seen.append(message)


def _one_worker(settings: Settings) -> Settings:
    return settings.model_copy(update={"service": settings.service.model_copy(update={"routing_workers": 1})})


def _looks_risky(text: str) -> int:
    return 2 if "想死" in text else 0


async def test_the_platform_is_answered_before_the_message_is_routed(start_app):
    client = await start_app(channel_classes=[RecordingChannel])
    stream = client.app[STREAM]
    router = stream.router = GatedRouter()

    result = await asyncio.wait_for(stream.ingest(inbound("在吗")), 5)  # routing is stuck, the answer is not

    assert not result.duplicate and router.seen == []
    assert (await stream.routing_backlog())[0] == 1
    router.gate.set()
    await wait_for(lambda: stream.in_flight == 0 and router.seen)
    assert (await stream.routing_backlog())[0] == 0


async def test_urgent_conversations_are_routed_before_the_ordinary_backlog(start_app, settings):
    client = await start_app(settings=_one_worker(settings), channel_classes=[RecordingChannel])
    stream = client.app[STREAM]
    stream.risk_hint = _looks_risky
    known = await stream.ingest(inbound("你好", user="known-risk", msg_id="k0"))
    await wait_for(lambda: stream.in_flight == 0)
    await client.app[STORE].conversations.update_one({"_id": known.conversation_id}, {"$set": {"risk_level": 2}})
    router = stream.router = GatedRouter()

    await stream.ingest(inbound("第一个", user="first", msg_id="f"))  # takes the one worker, held at the gate
    await wait_for(lambda: router.waiting)
    for user in ["a", "b", "c"]:
        await stream.ingest(inbound("作业好多", user=user, msg_id=user))
    await stream.ingest(inbound("我真的想死", user="risky", msg_id="r"))
    await stream.ingest(inbound("还在吗", user="known-risk", msg_id="k1"))
    await stream.ingest(inbound("考完了", user="d", msg_id="d"))
    router.gate.set()
    await wait_for(lambda: stream.in_flight == 0 and len(router.seen) == 7)

    # The risky text and the conversation known to be at risk (in the order they came), then the rest in order.
    assert [m.text for m in router.seen] == ["第一个", "我真的想死", "还在吗", *["作业好多"] * 3, "考完了"]
    assert router.seen[2].conversation_id == known.conversation_id
    assert [m.conversation_id for m in router.seen[3:6]] == [
        (await stream.recent_conversations("wechat", "wxdemo0000000001", user, 1))[0].id for user in "abc"]


class OrdinaryStuck:
    """A bot that does not answer: ordinary messages wait for the gate; risky ones are routed at once."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.waiting: list[Message] = []
        self.seen: list[Message] = []

    async def route(self, conversation: Conversation, message: Message) -> None:
        if not _looks_risky(message.text):
            self.waiting.append(message)
            await self.gate.wait()
        self.seen.append(message)


async def test_a_risky_message_behind_200_ordinary_ones_is_routed_while_every_worker_is_stuck_on_them(
        start_app, settings):
    client = await start_app(settings=settings, channel_classes=[RecordingChannel])
    stream = client.app[STREAM]
    stream.risk_hint = _looks_risky
    router = stream.router = OrdinaryStuck()
    workers = settings.service.routing_workers
    for n in range(200):
        await stream.ingest(inbound("作业好多", user=f"y{n}", msg_id=f"o{n}"))
    await wait_for(lambda: len(router.waiting) == workers)  # every ordinary worker waits on the bot

    await stream.ingest(inbound("我真的想死", user="risky", msg_id="r"))
    await wait_for(lambda: [m.text for m in router.seen] == ["我真的想死"])
    assert len(router.waiting) == workers and (await stream.routing_backlog())[0] == 200

    router.gate.set()
    await wait_for(lambda: stream.in_flight == 0 and len(router.seen) == 201)
    assert await stream.unprocessed_count() == 0


async def test_after_a_restart_the_backlog_is_rebuilt_urgent_first_and_in_order(start_app, settings):
    client = await start_app(settings=_one_worker(settings), channel_classes=[RecordingChannel])
    stream = client.app[STREAM]
    stream._schedule = lambda conversation_id, urgency, text: None  # the process dies right after each store
    for user, texts in [("a", ["一", "二"]), ("risky", ["在吗", "我想死"]), ("b", ["三"])]:
        for n, text in enumerate(texts):
            await stream.ingest(inbound(text, user=user, msg_id=f"{user}{n}"))
    del stream._schedule
    stream.risk_hint = _looks_risky
    router = stream.router = CountingRouter()

    assert await stream.resume() == 3  # what a restart runs
    await wait_for(lambda: stream.in_flight == 0 and len(router.seen) == 5)

    assert [m.text for m in router.seen] == ["在吗", "我想死", "一", "二", "三"]
    assert await stream.unprocessed_count() == 0


# ------------------------------------------------------------------ work per message, whatever is stored


async def _store_history(store: Store, upto: int) -> None:
    """Fill the store to ``upto`` messages of closed conversations (youth messages routed, replies sent)."""
    stored = await store.messages.count_documents({})
    conversations = [Conversation(id=f"cv_old_{n}", contact_id=f"ct_old_{n}", platform="wechat",
                                  account="wxdemo0000000001", desk="demo", state=ConversationState.CLOSED)
                     for n in range(stored // 100, upto // 100)]
    if conversations:
        await store.conversations.insert_many([conversation.to_doc() for conversation in conversations])
    await store.messages.insert_many([
        Message(id=f"old_{n}", conversation_id=f"cv_old_{n // 100}", seq=n % 100 + 1,
                direction=Direction.INBOUND if n % 2 else Direction.OUTBOUND,
                sender=SenderKind.YOUTH if n % 2 else SenderKind.COUNSELLOR, text="旧消息", processed=True,
                status=DeliveryStatus.RECEIVED if n % 2 else DeliveryStatus.SENT).to_doc()
        for n in range(stored, upto)])


async def test_a_message_costs_as_many_document_reads_with_5000_stored_as_with_100(start_app, settings):
    # A query no index narrows makes mongomock examine every document of its collection: then each
    # message costs more the more is stored (issue 17's bar: 100 messages/s with 100,000 stored).
    # Counted over the whole way of a message: ingest, routing, the privacy notice and its delivery.
    handoff = settings.handoff.model_copy(update={"tick_seconds": 3600})  # no periodic reads while counting
    service = settings.service.model_copy(update={"privacy_notice_enabled": True})
    client = await start_app(settings=settings.model_copy(update={"handoff": handoff, "service": service}),
                             channel_classes=[RecordingChannel])
    store, stream, workers = client.app[STORE], client.app[STREAM], client.app[WORKERS]
    channel = client.app[CHANNELS]["wechat"]
    assert isinstance(channel, RecordingChannel)
    await _store_history(store, 100)
    await stream.ingest(inbound("你好", user="regular", msg_id="r0"))  # a youth who writes again in each round
    await wait_for(lambda: stream.in_flight == 0 and workers.delivered == 1)
    counters = [ExaminedDocuments(collection) for collection in store.database._collections.values()]

    async def examined_for_one_round(round_: int) -> int:
        """Documents examined to take in, route and answer a new youth's first message and a known youth's next."""
        for counter in counters:
            counter.count = 0
        delivered = workers.delivered
        await stream.ingest(inbound("第一次来", user=f"new-{round_}", msg_id=f"n{round_}"))
        await stream.ingest(inbound("还是睡不着", user="regular", msg_id=f"r{round_}"))
        await wait_for(lambda: stream.in_flight == 0 and workers.delivered == delivered + 1)  # the new youth's notice
        return sum(counter.count for counter in counters)

    with_100 = [await examined_for_one_round(n) for n in (1, 2)]
    await _store_history(store, 5_000)
    with_5000 = [await examined_for_one_round(n) for n in (3, 4)]

    assert await store.messages.count_documents({}) > 5_000 and len(channel.sent) == 5
    assert with_100[0] < 50
    assert with_5000 == with_100


async def test_a_known_youth_s_message_is_taken_in_without_decrypting_the_contact_or_reading_the_conversation_twice(
        start_app, monkeypatch):
    # At 500 pushes/s each contact decrypted and each conversation copied out and validated before its
    # numbering read it again were ~10 % of a push's CPU: the webhook needs their ids only.
    client = await start_app(channel_classes=[RecordingChannel])
    stream = client.app[STREAM]
    stream.router = CountingRouter()
    await stream.ingest(inbound("你好", msg_id="1"))
    await wait_for(lambda: stream.in_flight == 0)
    decrypted: list[str] = []
    decrypt = stream.protector.decrypt
    monkeypatch.setattr(stream.protector, "decrypt", lambda token: decrypted.append(token) or decrypt(token))
    conversations_read: list[str] = []
    from_doc = Conversation.from_doc.__func__
    monkeypatch.setattr(Conversation, "from_doc", classmethod(
        lambda cls, doc: conversations_read.append(doc["_id"]) or from_doc(cls, doc)))

    result = await stream.ingest(inbound("还是睡不着", msg_id="2"))

    assert not result.duplicate
    assert decrypted == []
    assert conversations_read == [result.conversation_id]  # numbering the message, once
    history = await stream.history(result.conversation_id)
    assert [m.text for m in history] == ["你好", "还是睡不着"]
