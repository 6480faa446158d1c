"""Cases, their mandatory reports and satisfaction ratings in MongoDB.

``cases`` holds one document per handed-off conversation (the unique ``conversation_id`` index makes
racing creations converge) and the head of its mandatory-report chain; ``mandatory_reports`` is
append-only; ``case_counters`` numbers cases per desk and day; ``ratings`` holds one per conversation.
Updates that depend on what the caller read are conditional on it and report whether they matched.
Summaries, notes and referral contacts are sealed at rest (``store.fields``) and opened on reading.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contract.cases import (
    GENESIS_HASH,
    Case,
    Followup,
    MandatoryReport,
    Rating,
    Referral,
    ReferralStatus,
    ReportChainHead,
    StatusChange,
)
from contract.models import Conversation, ConversationState, SenderKind, utcnow
from contract.queue import Handed
from store.database import Index, Store
from store.fields import (
    ASSESSMENT_FIELDS,
    FOLLOWUP_FIELDS,
    REFERRAL_FIELDS,
    SEALED,
    seal,
    seal_paths,
    unseal,
    unseal_paths,
)

INDEXES = {
    # One case per handed-off conversation: the unique index makes racing open_case calls converge.
    "cases": [
        Index([("conversation_id", ASCENDING)], "conversation", unique=True),
        Index([("contact_id", ASCENDING), ("created_at", DESCENDING)], "contact_created"),
        Index([("desk", ASCENDING), ("created_at", DESCENDING)], "desk_created"),
    ],
    "mandatory_reports": [Index([("case_id", ASCENDING), ("seq", ASCENDING)], "case_seq", unique=True)],
    # One rating per conversation: a second answer is an ordinary message.
    "ratings": [Index([("conversation_id", ASCENDING)], "conversation", unique=True)],
}

# ------------------------------------------------------------------ reading


def _case(store: Store, doc: dict[str, Any], reports: list[MandatoryReport]) -> Case:
    opened = unseal_paths(store, doc, SEALED["cases"])
    fields = {k: v for k, v in opened.items() if k not in ("_id", "report_head", "report_count")}
    return Case(id=doc["_id"], mandatory_reports=reports, **fields)


async def mandatory_reports(store: Store, case_id: str) -> list[MandatoryReport]:
    """The case's reports in chain order."""
    docs = await store["mandatory_reports"].find({"case_id": case_id}).sort("seq", 1).to_list(None)
    return [MandatoryReport(id=doc["_id"], **{k: v for k, v in doc.items() if k not in ("_id", "note")},
                            note=unseal(store, doc.get("note", ""))) for doc in docs]


async def find_case(store: Store, case_id: str) -> Case | None:
    doc = await store["cases"].find_one({"_id": case_id})
    return _case(store, doc, await mandatory_reports(store, case_id)) if doc else None


async def find_case_for_conversation(store: Store, conversation_id: str) -> Case | None:
    doc = await store["cases"].find_one({"conversation_id": conversation_id})
    return _case(store, doc, await mandatory_reports(store, doc["_id"])) if doc else None


async def cases_of_contact(store: Store, contact_id: str, limit: int) -> list[Case]:
    """Newest first, without their mandatory reports."""
    docs = await store["cases"].find({"contact_id": contact_id}).sort("created_at", -1).limit(limit).to_list(None)
    return [_case(store, doc, []) for doc in docs]


async def conversations_of_contact(store: Store, contact_id: str, limit: int) -> list[Handed]:
    """The contact's conversations, newest first: who may see their cases depends on them."""
    docs = await store.conversations.find({"contact_id": contact_id}).sort("created_at", -1).limit(limit).to_list(None)
    return [Handed.from_doc(doc) for doc in docs]


# ----------------------------------------------------------------- creating


async def next_case_seq(store: Store, counter: str) -> int:
    """The next number of an atomic counter (one per desk and day), starting at 1."""
    for _ in range(3):
        try:
            doc = await store["case_counters"].find_one_and_update(
                {"_id": counter}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER)
            return int(doc["seq"])
        except DuplicateKeyError:
            # Two first-of-the-day upserts raced on MongoDB; the loser retries as a plain increment.
            await asyncio.sleep(0)
    raise RuntimeError(f"case counter {counter} unavailable")


async def insert_case(store: Store, case: Case) -> bool:
    """Store a new case with an empty report chain; False when its conversation has a case already."""
    doc = {"_id": case.id, **seal_paths(store, case.model_dump(exclude={"id", "mandatory_reports"}), SEALED["cases"]),
           "report_head": GENESIS_HASH, "report_count": 0}
    try:
        await store["cases"].insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


# ------------------------------------------------------------------ editing


async def set_on_conversation_case(store: Store, conversation_id: str, **fields: Any) -> None:
    """Set top-level fields of the conversation's case (if it has one) and stamp ``updated_at``."""
    await store["cases"].update_one({"conversation_id": conversation_id},
                                    {"$set": {**fields, "updated_at": utcnow()}})


async def _changed(store: Store, case_id: str, condition: dict[str, Any], update: dict[str, Any]) -> bool:
    update.setdefault("$set", {})["updated_at"] = utcnow()
    return await store["cases"].find_one_and_update({"_id": case_id, **condition}, update) is not None


async def set_case_fields(store: Store, case_id: str, **fields: Any) -> bool:
    """Set top-level fields; False when there is no such case."""
    if "summary" in fields:
        fields["summary"] = seal(store, fields["summary"])
    if isinstance(fields.get("assessment"), dict):
        fields["assessment"] = seal_paths(store, fields["assessment"], ASSESSMENT_FIELDS)
    return await _changed(store, case_id, {}, {"$set": fields})


async def add_referral(store: Store, case_id: str, referral: Referral) -> bool:
    return await _changed(store, case_id, {},
                          {"$push": {"referrals": seal_paths(store, referral.model_dump(), REFERRAL_FIELDS)}})


async def change_referral_status(store: Store, case_id: str, index: int, referral_id: str,
                                 expected: ReferralStatus, change: StatusChange) -> bool:
    """Move the referral at ``index`` on, only if it still is ``referral_id`` in status ``expected``.

    Referrals are only ever appended, so an index once read stays the referral's position; the
    condition on the status keeps two racing changes from both passing the caller's transition rule.
    """
    at = f"referrals.{index}"
    return await _changed(store, case_id, {f"{at}.id": referral_id, f"{at}.status": expected},
                          {"$set": {f"{at}.status": change.status},
                           "$push": {f"{at}.history": {**change.model_dump(), "note": seal(store, change.note)}}})


async def add_followup(store: Store, case_id: str, followup: Followup) -> bool:
    return await _changed(store, case_id, {},
                          {"$push": {"followups": seal_paths(store, followup.model_dump(), FOLLOWUP_FIELDS)}})


async def set_followup_state(store: Store, case_id: str, index: int, followup_id: str, *, done: bool,
                             done_by: str | None, done_at: datetime | None, note: str | None) -> bool:
    """Tick the follow-up at ``index`` (only if it still is ``followup_id``); ``note=None`` keeps the note."""
    at = f"followups.{index}"
    changes: dict[str, Any] = {f"{at}.done": done, f"{at}.done_by": done_by, f"{at}.done_at": done_at}
    if note is not None:
        changes[f"{at}.note"] = seal(store, note)
    return await _changed(store, case_id, {f"{at}.id": followup_id}, {"$set": changes})


# -------------------------------------------------------- mandatory reports


async def report_chain_head(store: Store, case_id: str) -> ReportChainHead | None:
    """The end of the case's report chain, or None when there is no such case."""
    doc = await store["cases"].find_one({"_id": case_id}, {"report_head": 1, "report_count": 1})
    if doc is None:
        return None
    return ReportChainHead(hash=doc.get("report_head", GENESIS_HASH), count=doc.get("report_count", 0))


async def advance_report_chain(store: Store, case_id: str, read: ReportChainHead, new_hash: str) -> bool:
    """Move the chain head one record on, only from the head the caller read: racing appends serialise here."""
    moved = await store["cases"].find_one_and_update(
        {"_id": case_id, "report_head": read.hash, "report_count": read.count},
        {"$set": {"report_head": new_hash, "report_count": read.count + 1, "updated_at": utcnow()}})
    return moved is not None


async def insert_mandatory_report(store: Store, report: MandatoryReport) -> None:
    await store["mandatory_reports"].insert_one({"_id": report.id, **report.model_dump(exclude={"id"}),
                                                 "note": seal(store, report.note)})


# ------------------------------------------------------------------ ratings


async def last_closed_conversation(store: Store, contact_id: str, closed_since: datetime,
                                   conversation_id: str | None = None) -> Conversation | None:
    """The contact's most recently closed conversation (or ``conversation_id``) closed since ``closed_since``."""
    query: dict[str, Any] = {"contact_id": contact_id, "state": ConversationState.CLOSED,
                             "closed_at": {"$gte": closed_since}}
    if conversation_id:
        query["_id"] = conversation_id
    docs = await store.conversations.find(query).sort("closed_at", -1).limit(1).to_list(None)
    return Conversation.from_doc(docs[0]) if docs else None


async def has_system_message_starting(store: Store, conversation_id: str, prefix: str, since: datetime) -> bool:
    """Whether the system wrote a message beginning with ``prefix`` in the conversation since ``since``.

    Text is sealed at rest, so the few system messages of the period are opened and compared here.
    """
    docs = await store.messages.find({
        "conversation_id": conversation_id, "sender": SenderKind.SYSTEM, "created_at": {"$gte": since}},
        {"text": 1}).to_list(None)
    return any(unseal(store, doc.get("text", "")).startswith(prefix) for doc in docs)


async def youth_message_count(store: Store, conversation_id: str) -> int:
    return await store.messages.count_documents({"conversation_id": conversation_id, "sender": SenderKind.YOUTH})


async def case_id_of_conversation(store: Store, conversation_id: str) -> str | None:
    doc = await store["cases"].find_one({"conversation_id": conversation_id}, {"_id": 1})
    return doc["_id"] if doc else None


async def insert_rating(store: Store, rating: Rating) -> bool:
    """Store a rating; False when the conversation was rated already (the unique index decides)."""
    try:
        await store["ratings"].insert_one({"_id": rating.id, **rating.model_dump(exclude={"id"})})
    except DuplicateKeyError:
        return False
    return True
