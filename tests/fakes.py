"""Test doubles: a channel that records what it was asked to send and can be told to fail; a scripted Rasa;
a count of the documents the durable store's queries examine."""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import mongomock
from aiohttp import web

from contract.channel import (
    Channel,
    DeliveryError,
    DeliveryReceipt,
    InboundMessage,
    OutboundMessage,
    QueueNotice,
)
from contract.config import Settings
from contract.keys import STORE, STREAM
from contract.models import Conversation, Message, MessageType, SenderKind
from store.database import Store
from store.durable import DurableMongoClient
from store.messages import opened_message


class RecordingChannel(Channel):
    """Stands in for a platform adapter. Uses the demo "wechat" accounts."""

    platform: ClassVar[str] = "wechat"
    # Tests read the wait from ``queue.position`` events; BudgetedChannel (test_hours) takes text notices.
    queue_notice: ClassVar[QueueNotice] = "live"
    instances: ClassVar[list[RecordingChannel]] = []

    def __init__(self, context) -> None:  # type: ignore[no-untyped-def]
        super().__init__(context)
        self.sent: list[OutboundMessage] = []
        self.failures: deque[DeliveryError] = deque()
        self.always_fail: DeliveryError | None = None
        self.delivered = asyncio.Event()
        RecordingChannel.instances.append(self)

    def routes(self) -> list[web.AbstractRouteDef]:
        return []

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        if self.always_fail is not None:
            raise self.always_fail
        if self.failures:
            raise self.failures.popleft()
        self.sent.append(message)
        self.delivered.set()
        return DeliveryReceipt(channel_message_id=f"chan-{len(self.sent)}")


def inbound(text: str = "你好", *, user: str = "openid-youth-1", msg_id: str = "1001",
            account: str = "wxdemo0000000001", **kwargs) -> InboundMessage:  # type: ignore[no-untyped-def]
    return InboundMessage(platform="wechat", account=account, external_user_id=user,
                          channel_message_id=msg_id, type=MessageType.TEXT, text=text, **kwargs)


async def wait_for(predicate, timeout: float = 5.0, interval: float = 0.01) -> None:  # type: ignore[no-untyped-def]
    """Poll until ``predicate()`` (sync or async) is true; fail the test on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


async def stored_messages(client_or_store, **query) -> list[Message]:  # type: ignore[no-untyped-def]
    """The stored messages matching ``query`` (a Mongo filter), in seq order, as the product reads them.

    Text is sealed at rest; this opens it through ``store.messages.opened_message`` so tests compare
    what the message means rather than its ciphertext. Takes a test client (its app's store) or a store.
    """
    store: Store = client_or_store if isinstance(client_or_store, Store) else client_or_store.app[STORE]
    docs = await store.messages.find(query).sort("seq", 1).to_list(None)
    return [opened_message(store, doc) for doc in docs]


# ------------------------------------------------------------------ Rasa

@dataclass(frozen=True)
class Parse:
    intent: str
    confidence: float
    ranking: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Reply:
    texts: list[str]


class RasaDown(Exception):
    pass


class FakeRasa:
    """Stands in for bot.rasa_client.RasaClient (same methods)."""

    def __init__(self, intent: str = "greet", confidence: float = 0.95, texts: list[str] | None = None) -> None:
        self.intent, self.confidence = intent, confidence
        self.texts = texts if texts is not None else ["你好，我是12355小助手。"]
        self.down = False
        self.calls: list[tuple[str, str]] = []

    def _check(self) -> None:
        if self.down:
            raise RasaDown("connection refused")

    async def parse(self, text: str) -> Parse:
        self.calls.append(("parse", text))
        self._check()
        return Parse(self.intent, self.confidence)

    async def respond(self, sender_id: str, text: str) -> Reply:
        self.calls.append(("respond", text))
        self._check()
        return Reply(list(self.texts))

    async def pause(self, sender_id: str) -> None:
        self.calls.append(("pause", sender_id))
        self._check()

    async def resume(self, sender_id: str) -> None:
        self.calls.append(("resume", sender_id))
        self._check()

    async def status(self) -> bool:
        return not self.down


# ------------------------------------------------------------------ simulators


class EchoRouter:
    """Answers every youth message with "收到：<text>" as the bot, counting its turns."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.turns = 0

    async def route(self, conversation: Conversation, message: Message) -> None:
        self.turns += 1
        await self.app[STREAM].send(conversation.id, f"收到：{message.text}", sender=SenderKind.BOT)


def loopback_socket() -> socket.socket:
    """A socket bound to a free loopback port, for ``web.SockSite``: the server listens on the port it was
    given. Probing a port, closing the probe and binding it again leaves a moment in which another process
    on a busy machine (its outgoing connections take ports from the same range) can take it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


async def simulate_through_standin(settings_for: Callable[[str], Settings], embedded_client: Any,
                                   channel_class: type[Channel], argv: list[str]) -> None:
    """Serve a gateway with ``channel_class`` on a free port, its API going to this server's own stand-in
    (``settings_for(stand-in base URL)``), echoing every message, and run ``youthdesk simulate … argv``."""
    from service.app import create_app
    from service.cli import main

    sock = loopback_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(settings_for(f"{base}/standin/{channel_class.platform}"), channel_classes=[channel_class],
                     embedded_client=embedded_client)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        app[STREAM].router = EchoRouter(app)
        await asyncio.to_thread(main, ["simulate", "--url", base, *argv])
    finally:
        await runner.cleanup()


@asynccontextmanager
async def side_by_side(directory: Path, name: str, documents: Callable[[], list[dict[str, Any]]],
                       indexes: list[list[tuple[str, int]]]) -> AsyncIterator[tuple[Any, Any]]:
    """A durable-store collection and a mongomock one holding the same ``documents()``: the reference the
    durable store's own fast paths answer as."""
    client = DurableMongoClient(directory / "store.sqlite3")
    durable = client["db"][name]
    reference = mongomock.MongoClient(tz_aware=True)["db"][name]
    for keys in indexes:
        await durable.create_index(keys)
    await durable.insert_many(documents())
    reference.insert_many(documents())
    try:
        yield durable, reference
    finally:
        await client.close()


class ExaminedDocuments:
    """How many documents a durable-store collection's queries hand to mongomock's matcher: the
    candidates its indexes leave (``store.memory_index``), or every document when they cannot narrow, or
    those a sorted read walks along an index until it has what it needs."""

    def __init__(self, collection: Any) -> None:
        self.count = 0
        store = collection._store
        candidates = store.candidates

        def counted(spec: Any) -> list[Any] | None:
            ids = candidates(spec)
            self.count += len(store._documents) if ids is None else len(ids)
            return ids

        store.candidates = counted
        in_index_order = store.in_index_order

        def walked(*args: Any, **kwargs: Any) -> Any:
            documents = in_index_order(*args, **kwargs)
            return None if documents is None else (self._examined(document) for document in documents)

        store.in_index_order = walked

    def _examined(self, document: Any) -> Any:
        self.count += 1
        return document


class CountingReads:
    """Wraps the conversations collection's ``find``: how many documents the reads returned."""

    def __init__(self, collection) -> None:  # type: ignore[no-untyped-def]
        self.find_documents = 0
        self._find = collection.find
        collection.find = self.find

    def find(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        cursor = self._find(*args, **kwargs)
        to_list = cursor.to_list

        async def counted(length=None):  # type: ignore[no-untyped-def]
            docs = await to_list(length)
            self.find_documents += len(docs)
            return docs

        cursor.to_list = counted
        return cursor
