"""Conversation documents as the stream needs them: opening, numbering, state and the reply window.

One conversation is open per (contact, platform, account): an ``open_conversations`` pointer
document with that deterministic id makes two gateway instances opening it at once converge.

The reply window (``Conversation.window``) has one owner: it is written by ``take_next_seq``
(a youth message opens or closes it) and ``change_reply_window`` (a delivery used it, or the
platform refused one) in this module and nowhere else, and only the conversation stream calls
them (``gateway.stream.ConversationStream``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contract.models import Conversation, ConversationState, utcnow
from store.database import Index, Store

INDEXES = {
    "conversations": [
        Index([("contact_id", ASCENDING), ("platform", ASCENDING), ("account", ASCENDING), ("state", ASCENDING)],
              "contact_channel_state"),
        # The handoff queue's reads: waiting conversations of a desk by risk, and a counsellor's load.
        Index([("desk", ASCENDING), ("state", ASCENDING), ("risk_level", DESCENDING)], "desk_state_risk"),
        Index([("owner", ASCENDING), ("state", ASCENDING)], "owner_state"),
        # A queue is its desk's and those of the desks below that overflowed to it (``also_visible_to``).
        Index([("also_visible_to", ASCENDING), ("state", ASCENDING)], "also_visible_state"),
        # The deadline watcher reads only what is due: deadlines, 留言 not yet on the clock, who waits how long.
        Index([("state", ASCENDING), ("handoff.deadline_due_at", ASCENDING)], "state_deadline_due"),
        Index([("handoff.leave_message", ASCENDING), ("state", ASCENDING)], "leave_message_state"),
        Index([("state", ASCENDING), ("handoff.waiting_since", ASCENDING)], "state_waiting_since"),
        # Overflow reads the waiting conversations at risk whose check is due, not all of them.
        Index([("state", ASCENDING), ("handoff.overflow_due_at", ASCENDING)], "state_overflow_due"),
    ],
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyWindowChange:
    """What just happened to the platform's reply window (see ``contract.channel.ReplyPolicy``)."""

    youth_wrote_at: datetime | None = None  # the window (re)opens and the reply budget starts again
    closed_reason: str | None = None  # the platform closed it (unfollow, a refused delivery)
    reply_delivered: bool = False  # one more message sent since the youth last wrote


def _window_update(change: ReplyWindowChange) -> tuple[dict[str, Any], dict[str, int]]:
    """The ``$set`` and ``$inc`` parts of ``change``."""
    assignments: dict[str, Any] = {}
    increments: dict[str, int] = {}
    if change.youth_wrote_at is not None:
        assignments.update({"window.last_youth_message_at": change.youth_wrote_at,
                            "window.sent_since_youth_message": 0, "window.closed_reason": None})
    if change.closed_reason is not None:
        assignments["window.closed_reason"] = change.closed_reason
    if change.reply_delivered:
        increments["window.sent_since_youth_message"] = 1
    return assignments, increments


def numbered_first(candidate: Conversation, window: ReplyWindowChange | None) -> Conversation:
    """``candidate`` as ``take_next_seq`` would leave it after numbering its first message: opening a
    conversation for a youth's first message is then one write, not two."""
    assignments, _ = _window_update(window) if window is not None else ({}, {})
    reply_window = candidate.window.model_copy(
        update={path.removeprefix("window."): value for path, value in assignments.items()})
    return candidate.model_copy(update={"last_seq": 1, "window": reply_window})


def _open_slot(contact_id: str, platform: str, account: str) -> str:
    return f"{contact_id}\x1f{platform}\x1f{account}"


async def find_conversation(store: Store, conversation_id: str) -> Conversation | None:
    doc = await store.conversations.find_one({"_id": conversation_id})
    return Conversation.from_doc(doc) if doc is not None else None


async def open_conversation_id(store: Store, contact_id: str, platform: str, account: str) -> str | None:
    """The id of the contact's open conversation on the channel account, or None (``open_conversation``
    opens one). What a webhook needs before numbering its message, which returns the conversation: read
    in full here too, it was copied out and validated twice per push."""
    pointer = await store["open_conversations"].find_one({"_id": _open_slot(contact_id, platform, account)})
    if pointer is None or await store.conversations.find_one({"_id": pointer["conversation_id"]}, {"_id": 1}) is None:
        return None
    return pointer["conversation_id"]


async def open_conversation(store: Store, candidate: Conversation) -> tuple[Conversation, bool]:
    """The contact's open conversation on ``candidate``'s channel account, or ``candidate`` stored as
    the new one; the flag says whether it was created."""
    slot = _open_slot(candidate.contact_id, candidate.platform, candidate.account)
    pointer = await store["open_conversations"].find_one({"_id": slot})
    if pointer is not None:
        current = await find_conversation(store, pointer["conversation_id"])
        if current is not None:
            return current, False
    await store.conversations.insert_one(candidate.to_doc())
    try:
        await store["open_conversations"].insert_one({"_id": slot, "conversation_id": candidate.id})
    except DuplicateKeyError:
        # Another instance opened one first: use theirs.
        await store.conversations.delete_one({"_id": candidate.id})
        pointer = await store["open_conversations"].find_one({"_id": slot})
        winner = await find_conversation(store, pointer["conversation_id"])
        if winner is None:
            raise LookupError(f"open conversation {pointer['conversation_id']} has no document") from None
        return winner, False
    return candidate, True


async def recent_conversations(store: Store, contact_id: str, platform: str, account: str,
                               limit: int) -> list[Conversation]:
    """The contact's newest conversations on one channel account, newest first."""
    cursor = store.conversations.find(
        {"contact_id": contact_id, "platform": platform, "account": account}
    ).sort("created_at", -1).limit(limit)
    return [Conversation.from_doc(doc) for doc in await cursor.to_list(None)]


async def take_next_seq(store: Store, conversation_id: str, *, tags: Mapping[str, str] | None = None,
                        window: ReplyWindowChange | None = None) -> Conversation | None:
    """Number the next message of the conversation, applying what that message says about its
    tags and reply window in the same atomic update; the updated conversation, or None if unknown."""
    assignments: dict[str, Any] = {"updated_at": utcnow()}
    increments: dict[str, int] = {"last_seq": 1}
    if window is not None:
        window_assignments, window_increments = _window_update(window)
        assignments.update(window_assignments)
        increments.update(window_increments)
    for key, value in (tags or {}).items():
        assignments[f"tags.{key}"] = value
    doc = await store.conversations.find_one_and_update(
        {"_id": conversation_id}, {"$inc": increments, "$set": assignments}, return_document=ReturnDocument.AFTER)
    return Conversation.from_doc(doc) if doc is not None else None


async def change_reply_window(store: Store, conversation_id: str, change: ReplyWindowChange) -> None:
    assignments, increments = _window_update(change)
    update: dict[str, Any] = {}
    if assignments:
        update["$set"] = assignments
    if increments:
        update["$inc"] = increments
    if update:
        await store.conversations.update_one({"_id": conversation_id}, update)


async def write_state(store: Store, conversation_id: str, state: ConversationState,
                      changes: Mapping[str, Any]) -> Conversation | None:
    """Set the state (with ``changes``, dotted paths allowed); closing frees the channel account for a
    new conversation. The updated conversation, or None if unknown."""
    now = utcnow()
    assignments: dict[str, Any] = {"state": state, "updated_at": now, **changes}
    if state == ConversationState.CLOSED:
        assignments["closed_at"] = now
    doc = await store.conversations.find_one_and_update(
        {"_id": conversation_id}, {"$set": assignments}, return_document=ReturnDocument.AFTER)
    if doc is None:
        return None
    conversation = Conversation.from_doc(doc)
    if state == ConversationState.CLOSED:
        await store["open_conversations"].delete_one(
            {"_id": _open_slot(conversation.contact_id, conversation.platform, conversation.account)})
    return conversation
