"""Messages: inbound ones stored once and routed in order, outbound ones as the outbox.

Inbound message ids are derived from (platform, account, channel message id), so the primary-key
index is the dedupe index: a platform's retry is a duplicate key. The outbox is the outbound
messages themselves: a worker claims one with a lease (``pending`` → ``sending``), so a claim
held by a worker that died expires and the message goes out again.

Text is sealed at rest (``store.fields``) and opened here on reading, so callers see plain models.
An inbound message's ``channel_message_id`` is kept only as a keyed HMAC: for events and media without
a platform MsgId it is built from the sender's openid/uid. Nothing queries by it (dedupe is the ``_id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contract.models import DeliveryAttempt, DeliveryStatus, Direction, Message, SenderKind
from store.database import Index, Store
from store.fields import seal, unseal
from store.times import aware

INDEXES = {
    "messages": [
        Index([("conversation_id", ASCENDING), ("seq", ASCENDING)], "conversation_seq"),
        Index([("direction", ASCENDING), ("status", ASCENDING), ("next_attempt_at", ASCENDING)], "outbox"),
        Index([("direction", ASCENDING), ("processed", ASCENDING)], "unprocessed"),
    ],
}

HISTORY_LIMIT = 500
_UNDELIVERED = [DeliveryStatus.PENDING, DeliveryStatus.SENDING]
_UNPROCESSED = {"direction": Direction.INBOUND, "processed": False}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# ----------------------------------------------------------------- storing and reading


async def conversation_of(store: Store, message_id: str) -> str | None:
    """The conversation a stored message belongs to, or None if it is not stored."""
    doc = await store.messages.find_one({"_id": message_id}, {"conversation_id": 1})
    return doc["conversation_id"] if doc is not None else None


async def insert_message(store: Store, message: Message) -> bool:
    """Store the message; False when one with its id is already stored (a platform's retry)."""
    try:
        await store.messages.insert_one(_sealed(store, message))
    except DuplicateKeyError:
        return False
    return True


async def history(store: Store, conversation_id: str, *, include_private: bool = False, after_seq: int = 0,
                  limit: int = HISTORY_LIMIT) -> list[Message]:
    """The conversation's messages in order, those numbered after ``after_seq`` only."""
    query: dict[str, Any] = {"conversation_id": conversation_id}
    if not include_private:
        query["private"] = False
    if after_seq:
        query["seq"] = {"$gt": after_seq}
    cursor = store.messages.find(query).sort("seq", 1).limit(limit)
    return [opened_message(store, doc) for doc in await cursor.to_list(None)]


async def answered_after(store: Store, conversation_id: str, seq: int) -> bool:
    """Whether a counsellor wrote in the conversation after its message ``seq`` (numbering, not clocks:
    a message routed late may have been answered before it was routed)."""
    return await store.messages.find_one(
        {"conversation_id": conversation_id, "seq": {"$gt": seq}, "sender": SenderKind.COUNSELLOR.value},
        {"_id": 1}) is not None


async def events_named(store: Store, conversation_id: str, names: tuple[str, ...]) -> list[Message]:
    """The conversation's event messages of the given kinds, in order (a case's calls, whatever its length)."""
    cursor = store.messages.find({"conversation_id": conversation_id, "event": {"$in": list(names)}}).sort("seq", 1)
    return [opened_message(store, doc) for doc in await cursor.to_list(None)]


async def mark_read(store: Store, conversation_id: str, up_to_seq: int) -> list[str]:
    """Sent, public outbound messages up to ``up_to_seq`` become ``read``; their ids."""
    ids = await store.messages.distinct("_id", {
        "conversation_id": conversation_id, "direction": Direction.OUTBOUND, "private": False,
        "seq": {"$lte": up_to_seq}, "status": DeliveryStatus.SENT})
    if ids:
        await store.messages.update_many({"_id": {"$in": ids}, "status": DeliveryStatus.SENT},
                                         {"$set": {"status": DeliveryStatus.READ}})
    return ids


def opened_message(store: Store, doc: dict[str, Any]) -> Message:
    """A stored message document as the model, its text decrypted."""
    return Message.from_doc({**doc, "text": unseal(store, doc.get("text", ""))})


def _sealed(store: Store, message: Message) -> dict[str, Any]:
    doc = message.to_doc()
    doc["text"] = seal(store, message.text)
    if message.direction == Direction.INBOUND and message.channel_message_id and store.protector is not None:
        doc["channel_message_id"] = store.protector.blind_index("channel_message_id", message.channel_message_id)
    return doc


# --------------------------------------------------------------- routing of inbound


async def unprocessed_messages(store: Store, conversation_id: str) -> list[Message]:
    """The conversation's inbound messages not yet routed, in stored order."""
    cursor = store.messages.find({"conversation_id": conversation_id, **_UNPROCESSED}).sort("seq", 1)
    return [opened_message(store, doc) for doc in await cursor.to_list(None)]


async def has_unprocessed(store: Store, conversation_id: str) -> bool:
    return await store.messages.find_one({"conversation_id": conversation_id, **_UNPROCESSED}, {"_id": 1}) is not None


async def conversations_with_unprocessed(store: Store) -> list[str]:
    return await store.messages.distinct("conversation_id", _UNPROCESSED)


async def count_unprocessed(store: Store) -> int:
    return await store.messages.count_documents(_UNPROCESSED)


async def oldest_unprocessed_at(store: Store) -> datetime | None:
    """When the oldest inbound message still waiting for routing was stored, or None if none waits."""
    doc = await store.messages.find_one(_UNPROCESSED, {"created_at": 1}, sort=[("created_at", 1)])
    return aware(doc.get("created_at")) if doc is not None else None


async def mark_processed(store: Store, message_id: str) -> None:
    await store.messages.update_one({"_id": message_id}, {"$set": {"processed": True}})


async def record_routing_error(store: Store, message_id: str, error: str) -> None:
    await store.messages.update_one({"_id": message_id}, {"$set": {"error": error[:500]}})


# --------------------------------------------------------------------------- outbox


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A pending outbound message due for delivery, before anyone has claimed it."""

    message_id: str
    conversation_id: str
    seq: int


async def count_undelivered(store: Store) -> int:
    return await store.messages.count_documents(
        {"direction": Direction.OUTBOUND, "status": {"$in": _UNDELIVERED}})


async def due_entries(store: Store, now: datetime, *, skip_conversations: set[str],
                      limit: int = 20) -> list[OutboxEntry]:
    """Pending messages due by ``now``, oldest due first, outside ``skip_conversations``."""
    cursor = store.messages.find(
        {"direction": Direction.OUTBOUND, "status": DeliveryStatus.PENDING, "next_attempt_at": {"$lte": now},
         "conversation_id": {"$nin": list(skip_conversations)}},
        {"_id": 1, "conversation_id": 1, "seq": 1},
    ).sort("next_attempt_at", 1).limit(limit)
    return [OutboxEntry(doc["_id"], doc["conversation_id"], doc["seq"]) for doc in await cursor.to_list(None)]


@dataclass(frozen=True, slots=True)
class HeldBack:
    """The earliest reply of a conversation still undelivered ahead of an entry: the entry goes after it."""

    message_id: str
    retry_at: datetime | None  # when it is tried again while it waits in backoff; None while it is being sent


async def held_back_by(store: Store, entry: OutboxEntry) -> HeldBack | None:
    """The conversation's earliest outbound message before ``entry`` that still waits or is being sent, if any."""
    cursor = store.messages.find({
        "conversation_id": entry.conversation_id, "direction": Direction.OUTBOUND,
        "seq": {"$lt": entry.seq}, "status": {"$in": _UNDELIVERED},
    }, {"status": 1, "next_attempt_at": 1}).sort("seq", 1).limit(1)
    for doc in await cursor.to_list(None):
        pending = doc["status"] == DeliveryStatus.PENDING
        return HeldBack(doc["_id"], aware(doc.get("next_attempt_at")) if pending else None)
    return None


async def defer(store: Store, entry: OutboxEntry, until: datetime) -> None:
    """Make a pending message due at ``until`` (the reply ahead of it is tried again then, not before)."""
    await store.messages.update_one({"_id": entry.message_id, "status": DeliveryStatus.PENDING},
                                    {"$set": {"next_attempt_at": until}})


async def claim(store: Store, entry: OutboxEntry, lease_until: datetime) -> Message | None:
    """Take the message for delivery until ``lease_until``; None if another worker was faster."""
    doc = await store.messages.find_one_and_update(
        {"_id": entry.message_id, "status": DeliveryStatus.PENDING},
        {"$set": {"status": DeliveryStatus.SENDING, "lease_until": lease_until}},
        return_document=ReturnDocument.AFTER,
    )
    return opened_message(store, doc) if doc is not None else None


async def release_expired_claims(store: Store, now: datetime) -> int:
    """Claims whose lease ran out go back to ``pending``; how many."""
    released = await store.messages.update_many(
        {"direction": Direction.OUTBOUND, "status": DeliveryStatus.SENDING, "lease_until": {"$lt": now}},
        {"$set": {"status": DeliveryStatus.PENDING, "lease_until": None}},
    )
    return released.modified_count


async def next_attempt_due(store: Store) -> datetime | None:
    """When the earliest pending message is due, or None if none is pending."""
    # Every pending message has a next attempt; saying so bounds the read to the outbox index's dates, so the
    # embedded store walks them in order and stops at the first (store.first_documents), whatever is pending.
    doc = await store.messages.find_one(
        {"direction": Direction.OUTBOUND, "status": DeliveryStatus.PENDING, "next_attempt_at": {"$gte": _EPOCH}},
        {"next_attempt_at": 1}, sort=[("next_attempt_at", 1)],
    )
    return aware(doc.get("next_attempt_at")) if doc is not None else None


async def schedule_retry(store: Store, message_id: str, attempt: DeliveryAttempt, next_attempt_at: datetime) -> None:
    """Record a failed attempt and put the message back in the outbox for ``next_attempt_at``."""
    await store.messages.update_one({"_id": message_id}, {
        "$set": {"status": DeliveryStatus.PENDING, "lease_until": None, "next_attempt_at": next_attempt_at,
                 "error": attempt.error},
        "$push": {"attempts": attempt.model_dump()},
    })


async def finish_delivery(store: Store, message_id: str, status: DeliveryStatus, attempt: DeliveryAttempt, *,
                          error: str | None = None, channel_message_id: str | None = None) -> None:
    """Record the last attempt: the message leaves the outbox as ``sent`` or ``failed``."""
    update: dict[str, Any] = {"status": status, "lease_until": None, "next_attempt_at": None, "error": error}
    if channel_message_id:
        update["channel_message_id"] = channel_message_id
    await store.messages.update_one({"_id": message_id}, {"$set": update, "$push": {"attempts": attempt.model_dump()}})
