"""The conversation stream: ingest → dedupe → store → route, and send → outbox.

Every inbound message is stored before anyone acknowledges it to the platform, then routed
(bot or human) by a per-conversation processor that handles messages strictly in stored order
and marks each one processed, so a crash between storing and routing loses nothing: ``resume``
picks the unprocessed ones up again. Outbound messages are stored as ``pending`` and delivered
by ``gateway.outbox``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Protocol

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from contract.channel import InboundMessage, IngestResult, OutboundMessage
from contract.config import Settings
from contract.crypto import DataProtector
from contract.models import (
    ChannelIdentity,
    Contact,
    Conversation,
    ConversationState,
    DeliveryStatus,
    Direction,
    Event,
    MediaRef,
    Message,
    MessageType,
    SenderKind,
    new_id,
    utcnow,
)
from gateway.bus import EventBus
from store.client import Store

log = logging.getLogger("youthdesk.stream")


class MessageRouter(Protocol):
    """The stage after storage: the bot (triage) or the handoff engine decides what happens."""

    async def route(self, conversation: Conversation, message: Message) -> None: ...


class PassThroughRouter:
    """Until a bot or handoff is wired in, stored messages need no further action."""

    async def route(self, conversation: Conversation, message: Message) -> None:
        return None


class StreamClosed(Exception):
    """The service is shutting down and takes no new messages (platforms will retry)."""


class UnknownConversation(LookupError):
    pass


def inbound_message_id(platform: str, account: str, channel_message_id: str) -> str:
    """Deterministic id: the primary-key index makes a platform's retry a duplicate key."""
    digest = hashlib.sha256(f"{platform}\x1f{account}\x1f{channel_message_id}".encode()).hexdigest()
    return f"in_{digest[:32]}"


class ConversationStream:
    def __init__(
        self,
        *,
        store: Store,
        bus: EventBus,
        protector: DataProtector,
        settings: Settings,
        router: MessageRouter | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.protector = protector
        self.settings = settings
        self.router: MessageRouter = router or PassThroughRouter()
        self.outbox_ready = asyncio.Event()
        self.accepting = True
        self.route_timeout = 30.0
        self._conversation_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._contact_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._processors: dict[str, asyncio.Task[None]] = {}
        self._rerun: set[str] = set()

    # ----------------------------------------------------------------- ingest

    async def ingest(self, inbound: InboundMessage) -> IngestResult:
        """Store one inbound message exactly once; returns only after it is durable."""
        if not self.accepting:
            raise StreamClosed("shutting down")
        message_id = inbound_message_id(inbound.platform, inbound.account, inbound.channel_message_id)
        existing = await self.store.messages.find_one({"_id": message_id}, {"conversation_id": 1})
        if existing is not None:
            return IngestResult(message_id, existing["conversation_id"], duplicate=True)

        contact = await self._contact_for(inbound)
        conversation = await self._open_conversation(contact, inbound)
        async with self._conversation_locks[conversation.id]:
            existing = await self.store.messages.find_one({"_id": message_id}, {"conversation_id": 1})
            if existing is not None:
                return IngestResult(message_id, existing["conversation_id"], duplicate=True)
            seq, conversation = await self._next_seq(conversation.id, inbound)
            message = Message(
                id=message_id,
                conversation_id=conversation.id,
                seq=seq,
                direction=Direction.INBOUND,
                sender=SenderKind.YOUTH,
                type=inbound.type,
                text=inbound.text,
                media=inbound.media,
                event=inbound.event,
                channel_message_id=inbound.channel_message_id,
                created_at=inbound.sent_at or utcnow(),
                status=DeliveryStatus.RECEIVED,
            )
            try:
                await self.store.messages.insert_one(message.to_doc())
            except DuplicateKeyError:
                # Another gateway instance stored the same platform message first.
                return IngestResult(message_id, conversation.id, duplicate=True)
        await self.publish("message.created", conversation, message=_public_message(message))
        self._schedule(conversation.id)
        return IngestResult(message_id, conversation.id, duplicate=False)

    async def _contact_for(self, inbound: InboundMessage) -> Contact:
        lookup = self.protector.blind_index(inbound.platform, inbound.account, inbound.external_user_id)
        contact_id = f"ct_{lookup[:24]}"
        async with self._contact_locks[contact_id]:
            doc = await self.store.contacts.find_one({"_id": contact_id})
            if doc is not None:
                return _decrypt_contact(doc, self.protector)
            identity = ChannelIdentity(
                platform=inbound.platform,
                account=inbound.account,
                external_id=inbound.external_user_id,
                union_id=inbound.union_id,
            )
            contact = Contact(id=contact_id, identities=[identity])
            doc = contact.to_doc()
            doc["lookup"] = [lookup]
            doc["identities"] = [_encrypt_identity(identity, self.protector)]
            try:
                await self.store.contacts.insert_one(doc)
            except DuplicateKeyError:
                pass  # created concurrently elsewhere; same deterministic id, same content
            return contact

    async def _open_conversation(self, contact: Contact, inbound: InboundMessage) -> Conversation:
        slot = f"{contact.id}\x1f{inbound.platform}\x1f{inbound.account}"
        async with self._contact_locks[slot]:
            pointer = await self.store["open_conversations"].find_one({"_id": slot})
            if pointer is not None:
                doc = await self.store.conversations.find_one({"_id": pointer["conversation_id"]})
                if doc is not None:
                    return Conversation.from_doc(doc)
            conversation = Conversation(
                id=new_id("cv"),
                contact_id=contact.id,
                platform=inbound.platform,
                account=inbound.account,
                desk=self.settings.desk_for_account(inbound.platform, inbound.account),
                tags=dict(inbound.tags),
            )
            await self.store.conversations.insert_one(conversation.to_doc())
            try:
                await self.store["open_conversations"].insert_one(
                    {"_id": slot, "conversation_id": conversation.id}
                )
            except DuplicateKeyError:
                await self.store.conversations.delete_one({"_id": conversation.id})
                pointer = await self.store["open_conversations"].find_one({"_id": slot})
                doc = await self.store.conversations.find_one({"_id": pointer["conversation_id"]})
                return Conversation.from_doc(doc)
            await self.record_event(
                Event(type="conversation.created", conversation_id=conversation.id, desk=conversation.desk,
                      data={"platform": conversation.platform, "state": conversation.state})
            )
            return conversation

    async def _next_seq(self, conversation_id: str, inbound: InboundMessage | None) -> tuple[int, Conversation]:
        update: dict[str, Any] = {"$inc": {"last_seq": 1}, "$set": {"updated_at": utcnow()}}
        if inbound is not None:
            if inbound.window == "open":
                update["$set"].update({
                    "window.last_youth_message_at": utcnow(),
                    "window.sent_since_youth_message": 0,
                    "window.closed_reason": None,
                })
            elif inbound.window == "close":
                update["$set"]["window.closed_reason"] = inbound.event or "closed by platform"
            for key, value in inbound.tags.items():
                update["$set"][f"tags.{key}"] = value
        doc = await self.store.conversations.find_one_and_update(
            {"_id": conversation_id}, update, return_document=ReturnDocument.AFTER
        )
        conversation = Conversation.from_doc(doc)
        return conversation.last_seq, conversation

    # ------------------------------------------------------------ processing

    def _schedule(self, conversation_id: str) -> None:
        task = self._processors.get(conversation_id)
        if task is not None and not task.done():
            self._rerun.add(conversation_id)
            return
        self._processors[conversation_id] = asyncio.create_task(
            self._process(conversation_id), name=f"process:{conversation_id}"
        )

    async def _process(self, conversation_id: str) -> None:
        try:
            while True:
                self._rerun.discard(conversation_id)
                cursor = self.store.messages.find(
                    {"conversation_id": conversation_id, "direction": Direction.INBOUND, "processed": False}
                ).sort("seq", 1)
                pending = [Message.from_doc(doc) for doc in await cursor.to_list(None)]
                for message in pending:
                    await self._route_one(message)
                if conversation_id not in self._rerun:
                    return
        finally:
            self._processors.pop(conversation_id, None)

    async def _route_one(self, message: Message) -> None:
        conversation = await self.get_conversation(message.conversation_id)
        try:
            await asyncio.wait_for(self.router.route(conversation, message), self.route_timeout)
        except Exception as exc:  # noqa: BLE001 - a routing failure must reach a human, not vanish
            log.exception("routing failed for message %s; sending the conversation to a counsellor", message.id)
            await self.store.messages.update_one(
                {"_id": message.id}, {"$set": {"error": f"routing failed: {exc!r}"[:500]}}
            )
            if conversation.state == ConversationState.BOT:
                await self.set_state(conversation.id, ConversationState.QUEUED, reason="routing_failed")
        await self.store.messages.update_one({"_id": message.id}, {"$set": {"processed": True}})

    async def resume(self) -> int:
        """Schedule every conversation that has stored but unprocessed messages (after a restart)."""
        ids = await self.store.messages.distinct(
            "conversation_id", {"direction": Direction.INBOUND, "processed": False}
        )
        for conversation_id in ids:
            self._schedule(conversation_id)
        return len(ids)

    async def drain(self, timeout: float) -> bool:
        """Stop intake and wait for in-flight routing; True when everything finished in time."""
        self.accepting = False
        deadline = asyncio.get_running_loop().time() + timeout
        while self._processors:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            await asyncio.wait(list(self._processors.values()), timeout=remaining)
        return True

    @property
    def in_flight(self) -> int:
        return len(self._processors)

    # ------------------------------------------------------------------ send

    async def send(
        self,
        conversation_id: str,
        text: str,
        *,
        sender: SenderKind,
        sender_id: str | None = None,
        type: MessageType = MessageType.TEXT,  # noqa: A002
        media: MediaRef | None = None,
        private: bool = False,
    ) -> Message:
        """Store an outbound message in the outbox; a delivery worker sends it.

        Private messages (counsellor notes, supervisor whispers) are stored and published to the
        console but never leave for the youth's channel.
        """
        async with self._conversation_locks[conversation_id]:
            doc = await self.store.conversations.find_one_and_update(
                {"_id": conversation_id},
                {"$inc": {"last_seq": 1}, "$set": {"updated_at": utcnow()}},
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                raise UnknownConversation(conversation_id)
            conversation = Conversation.from_doc(doc)
            now = utcnow()
            message = Message(
                id=new_id("out"),
                conversation_id=conversation_id,
                seq=conversation.last_seq,
                direction=Direction.OUTBOUND,
                sender=sender,
                sender_id=sender_id,
                type=type,
                text=text,
                media=media,
                created_at=now,
                status=DeliveryStatus.RECEIVED if private else DeliveryStatus.PENDING,
                next_attempt_at=None if private else now,
                private=private,
            )
            await self.store.messages.insert_one(message.to_doc())
        await self.publish("message.created", conversation, message=_public_message(message))
        if not private:
            self.outbox_ready.set()
        return message

    async def outbound_for(self, message: Message) -> OutboundMessage:
        conversation = await self.get_conversation(message.conversation_id)
        contact_doc = await self.store.contacts.find_one({"_id": conversation.contact_id})
        contact = _decrypt_contact(contact_doc, self.protector)
        identity = next(
            i for i in contact.identities
            if i.platform == conversation.platform and i.account == conversation.account
        )
        return OutboundMessage(
            message_id=message.id,
            conversation_id=conversation.id,
            platform=conversation.platform,
            account=conversation.account,
            external_user_id=identity.external_id,
            type=message.type,
            text=message.text,
            media=message.media,
            tags=conversation.tags,
        )

    # ------------------------------------------------------ state and events

    async def get_conversation(self, conversation_id: str) -> Conversation:
        doc = await self.store.conversations.find_one({"_id": conversation_id})
        if doc is None:
            raise UnknownConversation(conversation_id)
        return Conversation.from_doc(doc)

    async def history(self, conversation_id: str, *, include_private: bool = False,
                      limit: int = 500) -> list[Message]:
        query: dict[str, Any] = {"conversation_id": conversation_id}
        if not include_private:
            query["private"] = False
        cursor = self.store.messages.find(query).sort("seq", 1).limit(limit)
        return [Message.from_doc(doc) for doc in await cursor.to_list(None)]

    async def recent_conversations(self, platform: str, account: str, external_user_id: str,
                                   limit: int = 3) -> list[Conversation]:
        """The newest conversations of one platform identity, newest first (a returning youth's history)."""
        lookup = self.protector.blind_index(platform, account, external_user_id)
        cursor = self.store.conversations.find(
            {"contact_id": f"ct_{lookup[:24]}", "platform": platform, "account": account}
        ).sort("created_at", -1).limit(limit)
        return [Conversation.from_doc(doc) for doc in await cursor.to_list(None)]

    async def history_after(self, conversation_id: str, after_seq: int) -> list[Message]:
        """Non-private messages with ``seq`` greater than ``after_seq``, in order (resume after reconnect)."""
        cursor = self.store.messages.find(
            {"conversation_id": conversation_id, "private": False, "seq": {"$gt": after_seq}}
        ).sort("seq", 1).limit(500)
        return [Message.from_doc(doc) for doc in await cursor.to_list(None)]

    async def mark_read(self, conversation_id: str, up_to_seq: int) -> int:
        """The youth has seen outbound messages up to ``up_to_seq``; tell the console."""
        query = {"conversation_id": conversation_id, "direction": Direction.OUTBOUND, "private": False,
                 "seq": {"$lte": up_to_seq}, "status": DeliveryStatus.SENT}
        ids = await self.store.messages.distinct("_id", query)
        if not ids:
            return 0
        await self.store.messages.update_many({"_id": {"$in": ids}, "status": DeliveryStatus.SENT},
                                              {"$set": {"status": DeliveryStatus.READ}})
        conversation = await self.get_conversation(conversation_id)
        for message_id in ids:
            await self.publish("message.status", conversation, message_id=message_id,
                               status=DeliveryStatus.READ, error=None)
        return len(ids)

    async def set_state(self, conversation_id: str, state: ConversationState, *, reason: str,
                        by: str | None = None, **changes: Any) -> Conversation:
        """Change a conversation's state and record who did it and why."""
        before = await self.get_conversation(conversation_id)
        update: dict[str, Any] = {"state": state, "updated_at": utcnow(), **changes}
        if state == ConversationState.CLOSED:
            update["closed_at"] = utcnow()
        doc = await self.store.conversations.find_one_and_update(
            {"_id": conversation_id}, {"$set": update}, return_document=ReturnDocument.AFTER
        )
        conversation = Conversation.from_doc(doc)
        if state == ConversationState.CLOSED:
            await self.store["open_conversations"].delete_one(
                {"_id": f"{conversation.contact_id}\x1f{conversation.platform}\x1f{conversation.account}"}
            )
        await self.record_event(Event(
            type="conversation.state_changed", conversation_id=conversation_id, desk=conversation.desk,
            data={"from": before.state, "to": state, "reason": reason, "by": by,
                  **{k: v for k, v in changes.items() if isinstance(v, str | int | None)}},
        ))
        return conversation

    async def record_event(self, event: Event) -> None:
        """Store a state-changing event, then publish it."""
        doc = event.model_dump(mode="python")
        doc["_id"] = new_id("ev")
        await self.store.events.insert_one(doc)
        await self.bus.publish(event)

    async def publish(self, event_type: str, conversation: Conversation, **data: Any) -> None:
        await self.bus.publish(
            Event(type=event_type, conversation_id=conversation.id, desk=conversation.desk, data=data)
        )

    async def unprocessed_count(self) -> int:
        return await self.store.messages.count_documents(
            {"direction": Direction.INBOUND, "processed": False}
        )


def _public_message(message: Message) -> dict[str, Any]:
    return message.model_dump(
        mode="json", include={"id", "conversation_id", "seq", "direction", "sender", "sender_id", "type",
                              "text", "media", "event", "created_at", "status", "private"}
    )


def _encrypt_identity(identity: ChannelIdentity, protector: DataProtector) -> dict[str, Any]:
    doc = identity.model_dump()
    doc["external_id"] = protector.encrypt(identity.external_id)
    if identity.union_id:
        doc["union_id"] = protector.encrypt(identity.union_id)
    return doc


def _decrypt_contact(doc: dict[str, Any], protector: DataProtector) -> Contact:
    data = dict(doc)
    data.pop("lookup", None)
    identities: Iterable[dict[str, Any]] = data.get("identities", [])
    data["identities"] = [
        {**i, "external_id": protector.decrypt(i["external_id"]),
         "union_id": protector.decrypt(i["union_id"]) if i.get("union_id") else None}
        for i in identities
    ]
    return Contact.from_doc(data)
