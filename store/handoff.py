"""A conversation's handoff state: state, owner, desk, risk and the engine's ``handoff`` bookkeeping.

Besides the stream creating a conversation (and its ``set_state``, the low-level call the engine
closes with), this module is the only writer of those fields (``store.overflow`` of the overflow due
time its writes start), and only the handoff engine calls its writes. Each change that must not race
(queueing, claiming, transfers, deadline states) is one conditional update on what the caller read,
so two counsellors or two gateway instances never both win.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument

from contract.escalation import Offer
from contract.models import Conversation, ConversationState, Message, SenderKind
from contract.queue import Deadline, DeadlineState, Handed, HandoffInfo, MessageRisk, Transfer, YouthWords
from store.database import Store
from store.fields import unseal
from store.messages import opened_message
from store.overflow import OVERFLOW_DUE, due_after_write
from store.queue_places import seen_by
from store.times import aware_document

WITH_A_HUMAN = [ConversationState.QUEUED, ConversationState.ASSIGNED]


def _handed(doc: dict[str, Any]) -> Handed:
    return Handed.from_doc(aware_document(doc))


def _conversation(doc: dict[str, Any]) -> Conversation:
    return Conversation.from_doc(aware_document(doc))


def _deadline(deadline: Deadline) -> dict[str, Any]:
    return {"handoff.deadline_started_at": deadline.started_at, "handoff.deadline_due_at": deadline.due_at,
            "handoff.deadline_state": "ok"}


# ------------------------------------------------------------------ reading


async def load(store: Store, conversation_id: str) -> Handed | None:
    doc = await store.conversations.find_one({"_id": conversation_id})
    return _handed(doc) if doc else None


async def queued(store: Store, desks: set[str] | None = None) -> list[Handed]:
    """Queued conversations, in no particular order (``handoff.queue`` orders them)."""
    query: dict[str, Any] = {"state": ConversationState.QUEUED}
    if desks is not None:
        # A conversation moved up by overflow or surge stays in the queues of the desks it came from.
        query["$or"] = seen_by(desks)
    return [_handed(doc) for doc in await store.conversations.find(query).to_list(None)]


async def due_for_check(store: Store, *, deadline_due_by: datetime, requeue_due_before: datetime,
                        silent_since: datetime) -> list[Handed]:
    """The conversations with a human the deadline watcher may have to act on now, not all of them:
    a 留言 whose clock has not started, a deadline due by ``deadline_due_by`` (the caller's horizon
    covers the warning), a breached assigned one due before ``requeue_due_before``, a youth at risk
    silent since ``silent_since``. A superset: the watcher decides exactly, so a bound may be generous."""
    docs = await store.conversations.find({"state": {"$in": WITH_A_HUMAN}, "$or": [
        {"handoff.leave_message": True, "handoff.deadline_due_at": None, "handoff.first_responded_at": None},
        {"handoff.deadline_state": {"$in": ["ok", "warning"]}, "handoff.deadline_due_at": {"$lte": deadline_due_by}},
        {"state": ConversationState.ASSIGNED, "handoff.deadline_state": "breached",
         "handoff.deadline_due_at": {"$lte": requeue_due_before}},
        {"risk_level": {"$gte": 2}, "handoff.last_youth_at": {"$lte": silent_since}},
    ]}).to_list(None)
    return [_handed(doc) for doc in docs]


async def unanswered_below_risk(store: Store, below_level: int, waiting_since_before: datetime) -> list[Handed]:
    """Queued, unowned conversations below ``below_level``, not yet a 留言, waiting since before the
    bound: what the 留言 offer may apply to (the caller checks each desk's own window)."""
    docs = await store.conversations.find({"state": ConversationState.QUEUED, "owner": None,
                                           "risk_level": {"$lt": below_level},
                                           "handoff.leave_message": {"$ne": True},
                                           "handoff.waiting_since": {"$lte": waiting_since_before}}).to_list(None)
    return [_handed(doc) for doc in docs]


async def latest(store: Store, *, owner: str | None = None, desks: set[str] | None = None,
                 state: ConversationState | None = None, open_only: bool = False, limit: int = 200) -> list[Handed]:
    """The most recently updated conversations matching every filter given."""
    query: dict[str, Any] = {}
    if owner is not None:
        query["owner"] = owner
    if desks is not None:
        query["$or"] = seen_by(desks)
    if state is not None:
        query["state"] = state
    elif open_only:
        query["state"] = {"$ne": ConversationState.CLOSED}
    docs = await store.conversations.find(query).sort("updated_at", -1).limit(limit).to_list(None)
    return [_handed(doc) for doc in docs]


async def previous_owner(store: Store, conversation: Conversation) -> str | None:
    """Who last owned another conversation of the same youth."""
    doc = await store.conversations.find_one(
        {"contact_id": conversation.contact_id, "_id": {"$ne": conversation.id}, "owner": {"$ne": None}},
        {"owner": 1}, sort=[("created_at", -1)],
    )
    return doc["owner"] if doc else None


async def last_youth_words(store: Store, conversation_id: str) -> YouthWords:
    """The youth's own latest words (the queue preview: not the bot's crisis text or a notice)."""
    doc = await store.messages.find_one({"conversation_id": conversation_id, "sender": SenderKind.YOUTH,
                                         "text": {"$ne": ""}}, {"text": 1, "risk_probability": 1}, sort=[("seq", -1)])
    if doc is None:
        return YouthWords("", None)
    return YouthWords(unseal(store, doc["text"]), doc.get("risk_probability"))


async def risk_conversations_from_source(store: Store, source: str, since: datetime) -> list[str]:
    """Ids of the conversations at risk level >= 2 tagged with widget ``source`` queued since ``since``."""
    docs = await store.conversations.find(
        {"tags.widget_source": source, "risk_level": {"$gte": 2}, "handoff.waiting_since": {"$gte": since}},
        {"_id": 1}).to_list(None)
    return [doc["_id"] for doc in docs]


async def mark_flood(store: Store, conversation_ids: list[str], group_id: str) -> None:
    """Mark conversations as members of a possible flood: the queue lists them after the others of
    their level, and their level-3 alert is the group's."""
    await store.conversations.update_many({"_id": {"$in": conversation_ids}},
                                          {"$set": {"handoff.flood_group": group_id, "handoff.level3_alerted": True}})


async def transcript(store: Store, conversation_id: str, limit: int = 1000) -> list[tuple[Message, MessageRisk | None]]:
    """The conversation's messages in order, each with what the risk detector found in it."""
    docs = await store.messages.find({"conversation_id": conversation_id}).sort("seq", 1).to_list(limit)
    return [(opened_message(store, doc), MessageRisk.model_validate(doc["risk"]) if doc.get("risk") else None)
            for doc in docs]


# ------------------------------------------------------------ queueing, claiming


async def enqueue(store: Store, conversation: Conversation, *, level: int, category: str | None, desk: str,
                  info: HandoffInfo, now: datetime) -> Conversation | None:
    """Queue with fresh bookkeeping; ``None`` if the state changed since ``conversation`` was read
    (two racing handoff requests queue it once)."""
    doc = await store.conversations.find_one_and_update(
        {"_id": conversation.id, "state": conversation.state},
        {"$set": {"state": ConversationState.QUEUED, "owner": None, "risk_level": level, "desk": desk,
                  "risk_category": category, "updated_at": now, "handoff": info.model_dump(), "also_visible_to": []},
         "$max": {"risk_level_max": level}},
        return_document=ReturnDocument.AFTER,
    )
    return _conversation(doc) if doc else None


async def claim(store: Store, conversation_id: str, owner: str, now: datetime) -> Conversation | None:
    """Make ``owner`` the owner of a queued, unowned conversation; ``None`` if someone was faster."""
    doc = await store.conversations.find_one_and_update(
        {"_id": conversation_id, "state": ConversationState.QUEUED, "owner": None},
        {"$set": {"state": ConversationState.ASSIGNED, "owner": owner, "updated_at": now,
                  "handoff.assigned_at": now, OVERFLOW_DUE: None}},
        return_document=ReturnDocument.AFTER,
    )
    return _conversation(doc) if doc else None


async def mark_queue_notice_sent(store: Store, conversation_id: str) -> bool:
    """True for exactly one caller: the queue notice goes out once per handoff."""
    result = await store.conversations.update_one(
        {"_id": conversation_id, "handoff.queue_notice_sent": False}, {"$set": {"handoff.queue_notice_sent": True}})
    return bool(result.modified_count)


async def mark_at_risk_notice_sent(store: Store, conversation_id: str) -> bool:
    """True for exactly one caller: a youth at risk is told once per handoff that a person is coming."""
    result = await store.conversations.update_one(
        {"_id": conversation_id, "handoff.at_risk_notice_sent": {"$ne": True}},
        {"$set": {"handoff.at_risk_notice_sent": True}})
    return bool(result.modified_count)


async def offer_back(store: Store, conversation: Conversation, *, waiting_since: datetime, deadline: Deadline,
                     record: Transfer, now: datetime) -> bool:
    """Back to the queue from its owner, unless it changed hands meanwhile."""
    result = await store.conversations.update_one(
        {"_id": conversation.id, "state": ConversationState.ASSIGNED, "owner": conversation.owner},
        {"$set": {"state": ConversationState.QUEUED, "owner": None, "updated_at": now,
                  "handoff.waiting_since": waiting_since,
                  OVERFLOW_DUE: due_after_write(conversation.risk_level, now), **_deadline(deadline)},
         "$push": {"handoff.transfers": record.model_dump()}})
    return bool(result.modified_count)


async def transfer(store: Store, conversation: Conversation, record: Transfer, *, state: ConversationState,
                   owner: str | None, desk: str, now: datetime, assigned: bool = False,
                   waiting_since: datetime | None = None, deadline: Deadline | None = None) -> Conversation | None:
    """Hand the conversation on as ``record`` says; ``None`` if its state or owner changed meanwhile.
    ``deadline`` replaces the running one; without it the running deadline continues. The receiving
    desk owns it from now on: the overflow trail ends (no desk below keeps it, no arrival label stays)."""
    waiting = state == ConversationState.QUEUED
    changes: dict[str, Any] = {"state": state, "owner": owner, "desk": desk, "updated_at": now,
                               "also_visible_to": [], "handoff.offers": [],
                               OVERFLOW_DUE: due_after_write(conversation.risk_level, now) if waiting else None}
    if assigned:
        changes["handoff.assigned_at"] = now
    if waiting_since is not None:
        changes["handoff.waiting_since"] = waiting_since
    if deadline is not None:
        changes.update(_deadline(deadline))
    doc = await store.conversations.find_one_and_update(
        {"_id": conversation.id, "state": conversation.state, "owner": conversation.owner},
        {"$set": changes, "$push": {"handoff.transfers": record.model_dump()}},
        return_document=ReturnDocument.AFTER,
    )
    return _conversation(doc) if doc else None


# ------------------------------------------------------------------------ risk


async def change_risk(store: Store, conversation_id: str, *, level: int, category: str | None, now: datetime,
                      deadline_due_at: datetime | None = None, last_youth_at: datetime | None = None) -> Conversation:
    """A new risk level (and category, if given); a shortened deadline and a first sign of the youth too."""
    changes: dict[str, Any] = {"risk_level": level, "updated_at": now, OVERFLOW_DUE: due_after_write(level, now)}
    if category:
        changes["risk_category"] = category
    if deadline_due_at is not None:
        changes["handoff.deadline_due_at"] = deadline_due_at
    if last_youth_at is not None:
        changes["handoff.last_youth_at"] = last_youth_at
    doc = await store.conversations.find_one_and_update(
        {"_id": conversation_id}, {"$set": changes, "$max": {"risk_level_max": level}},
        return_document=ReturnDocument.AFTER)
    return _conversation(doc)


async def highest_risk_level(store: Store, conversation_id: str) -> int:
    """The highest level the conversation ever had (``risk_level_max``, kept by every risk write here)."""
    doc = await store.conversations.find_one({"_id": conversation_id}, {"risk_level": 1, "risk_level_max": 1})
    if doc is None:
        return 0
    return max(doc.get("risk_level", 0), doc.get("risk_level_max", 0))


async def offer_upwards(store: Store, conversation: Conversation, offer: Offer, *,
                        also_visible_to: list[str]) -> Conversation | None:
    """Move a waiting conversation from ``offer.from_desk`` up to ``offer.to_desk``, keeping it in the queues of
    ``also_visible_to``; ``None`` if it was claimed or moved since it was read (two ticks never move it twice)."""
    doc = await store.conversations.find_one_and_update(
        {"_id": conversation.id, "state": ConversationState.QUEUED, "owner": None, "desk": offer.from_desk},
        {"$set": {"desk": offer.to_desk, "updated_at": offer.at, OVERFLOW_DUE: offer.at},
         "$addToSet": {"also_visible_to": {"$each": also_visible_to}},
         "$push": {"handoff.offers": offer.model_dump()}},
        return_document=ReturnDocument.AFTER)
    return _conversation(doc) if doc else None


async def mark_level3_alerted(store: Store, conversation_id: str) -> None:
    await store.conversations.update_one({"_id": conversation_id}, {"$set": {"handoff.level3_alerted": True}})


async def move_waiting_message(store: Store, conversation: Conversation, *, to_desk: str, deadline: Deadline,
                               record: Transfer) -> Conversation | None:
    """A queued 留言 moves to ``to_desk`` with its clock running; ``None`` if it left the queue or its desk."""
    doc = await store.conversations.find_one_and_update(
        {"_id": conversation.id, "state": ConversationState.QUEUED, "desk": conversation.desk},
        {"$set": {"desk": to_desk, "handoff.leave_message": False,
                  OVERFLOW_DUE: due_after_write(conversation.risk_level, record.at), **_deadline(deadline)},
         "$push": {"handoff.transfers": record.model_dump()}},
        return_document=ReturnDocument.AFTER)
    return _conversation(doc) if doc else None


async def offer_leave_message(store: Store, conversation_id: str, *, now: datetime, task_id: str) -> bool:
    """Nobody took a queued conversation below risk 2 in time: it waits as a 留言, with no clock running
    (its task carries the due time). False if it was taken, raised to a risk or offered meanwhile."""
    result = await store.conversations.update_one(
        {"_id": conversation_id, "state": ConversationState.QUEUED, "owner": None, "risk_level": {"$lt": 2},
         "handoff.leave_message": False, "handoff.message_offered_at": None},
        {"$set": {"handoff.leave_message": True, "handoff.message_offered_at": now,
                  "handoff.message_task": task_id, **_deadline(Deadline.stopped())}})
    return bool(result.modified_count)


async def end_offered_message(store: Store, conversation_id: str, deadline: Deadline) -> Conversation | None:
    """A 留言 offered while its desk was open turned out to be a risk: it is on the clock again (and
    overflow applies). ``None`` if it is no such 留言 any more."""
    doc = await store.conversations.find_one_and_update(
        {"_id": conversation_id, "state": ConversationState.QUEUED, "handoff.leave_message": True,
         "handoff.message_offered_at": {"$ne": None}},
        {"$set": {"handoff.leave_message": False, OVERFLOW_DUE: deadline.started_at, **_deadline(deadline)}},
        return_document=ReturnDocument.AFTER)
    return _conversation(doc) if doc else None


async def record_detection(store: Store, message_id: str, *, risk: MessageRisk | None = None,
                           probability: float | None = None) -> None:
    """Keep what the detector found (for the transcript) and the risk model's calibrated P(level >= 2)
    next to the youth message they are about, in one write."""
    changes: dict[str, Any] = {}
    if risk is not None:
        changes["risk"] = risk.model_dump()
    if probability is not None:
        changes["risk_probability"] = probability
    if changes:
        await store.messages.update_one({"_id": message_id}, {"$set": changes})


# ------------------------------------------------------------- with a counsellor


async def record_reply(store: Store, conversation_id: str, *, first_response_at: datetime | None) -> None:
    """A counsellor answered: the running deadline stops (and the first response is noted once)."""
    changes = _deadline(Deadline.stopped())
    if first_response_at is not None:
        changes["handoff.first_responded_at"] = first_response_at
    await store.conversations.update_one({"_id": conversation_id}, {"$set": changes})


async def record_youth_message(store: Store, conversation_id: str, now: datetime, *,
                               reply_deadline: Deadline | None) -> None:
    """The youth wrote: their silence ends, and a reply deadline may start."""
    changes: dict[str, Any] = {"handoff.last_youth_at": now}
    if reply_deadline is not None:
        changes.update(_deadline(reply_deadline))
    await store.conversations.update_one({"_id": conversation_id}, {"$set": changes})


async def join(store: Store, conversation_id: str, user_id: str) -> Conversation:
    doc = await store.conversations.find_one_and_update(
        {"_id": conversation_id}, {"$addToSet": {"handoff.joined": user_id}}, return_document=ReturnDocument.AFTER)
    return _conversation(doc)


def closing_changes() -> dict[str, Any]:
    """What closing (through the stream's ``set_state``) does to the bookkeeping: no clock runs any more."""
    return {"handoff.deadline_due_at": None, "handoff.deadline_state": "ok", OVERFLOW_DUE: None}


# -------------------------------------------------------------------- deadlines


async def start_deadline(store: Store, conversation_id: str, deadline: Deadline) -> None:
    await store.conversations.update_one({"_id": conversation_id}, {"$set": _deadline(deadline)})


async def advance_deadline_state(store: Store, conversation_id: str, before: DeadlineState,
                                 after: DeadlineState) -> bool:
    """Move the deadline state once, even if two ticks (or two instances) race."""
    result = await store.conversations.update_one(
        {"_id": conversation_id, "handoff.deadline_state": before}, {"$set": {"handoff.deadline_state": after}})
    return bool(result.modified_count)


async def mark_outreach_raised(store: Store, conversation_id: str, now: datetime) -> None:
    await store.conversations.update_one({"_id": conversation_id}, {"$set": {"handoff.outreach_raised_at": now}})


# -------------------------------------------------------------------- wellbeing


async def risk_counts_since(store: Store, desks: set[str], since: datetime) -> list[dict[str, Any]]:
    """Conversations at risk level >= 2 assigned since ``since`` on ``desks``: owner and level each."""
    docs = await store.conversations.find(
        {"desk": {"$in": sorted(desks)}, "owner": {"$ne": None}, "risk_level": {"$gte": 2},
         "handoff.assigned_at": {"$gte": since}}, {"owner": 1, "risk_level": 1}).to_list(None)
    return [{"owner": doc["owner"], "risk_level": doc["risk_level"]} for doc in docs]


async def latest_assigned_levels(store: Store, owner: str, limit: int) -> list[int]:
    """The risk levels of the ``limit`` conversations ``owner`` took most recently, newest first."""
    docs = await store.conversations.find({"owner": owner, "handoff.assigned_at": {"$ne": None}},
                                          {"risk_level": 1}, sort=[("handoff.assigned_at", -1)]
                                          ).limit(limit).to_list(None)
    return [doc.get("risk_level", 0) for doc in docs]
