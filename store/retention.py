"""Retention and legal holds in MongoDB: ``legal_holds`` (one per held case) and the purges retention runs.

Every purge takes the ids the domain chose (``handoff.retention``), so which records are protected
(held cases, cases with mandatory reports) is decided in one place. Mandatory reports have no
purge here at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from contract.youth import LegalHold
from store.database import Index, Store
from store.times import aware

INDEXES = {"legal_holds": [Index([("released_at", ASCENDING)], "released")]}


# ---------------------------------------------------------------- legal holds


async def place_hold(store: Store, hold: LegalHold) -> None:
    """Hold the case (a second hold replaces the first: the latest reason is what matters)."""
    await store["legal_holds"].replace_one({"_id": hold.case_id}, hold.model_dump(exclude={"case_id"}), upsert=True)


async def release_hold(store: Store, case_id: str, by: str, at: datetime) -> bool:
    """False when the case is not held."""
    result = await store["legal_holds"].update_one({"_id": case_id, "released_at": None},
                                                   {"$set": {"released_by": by, "released_at": at}})
    return result.modified_count == 1


async def find_hold(store: Store, case_id: str) -> LegalHold | None:
    doc = await store["legal_holds"].find_one({"_id": case_id})
    if doc is None:
        return None
    fields = {k: v for k, v in doc.items() if k != "_id"}
    return LegalHold(case_id=doc["_id"], **fields | {"at": aware(doc["at"]), "released_at": aware(doc["released_at"])})


async def held_case_ids(store: Store) -> set[str]:
    return {doc["_id"] for doc in await store["legal_holds"].find({"released_at": None}, {"_id": 1}).to_list(None)}


async def cases_with_mandatory_reports(store: Store) -> set[str]:
    return {doc["_id"] for doc in await store["cases"].find({"report_count": {"$gt": 0}}, {"_id": 1}).to_list(None)}


async def case_conversations(store: Store, case_ids: set[str]) -> dict[str, str]:
    """case id -> its conversation id."""
    docs = await store["cases"].find({"_id": {"$in": sorted(case_ids)}}, {"conversation_id": 1}).to_list(None)
    return {doc["_id"]: doc["conversation_id"] for doc in docs}


# ----------------------------------------------------------------- candidates


async def conversations_with_content_closed_before(store: Store, cutoff: datetime) -> list[dict[str, str]]:
    """Closed before ``cutoff`` and not purged yet: ``{"id", "contact_id"}`` each."""
    docs = await store.conversations.find({"state": "closed", "closed_at": {"$lt": cutoff},
                                           "content_purged_at": None}, {"contact_id": 1}).to_list(None)
    return [{"id": doc["_id"], "contact_id": doc["contact_id"]} for doc in docs]


async def cases_closed_before(store: Store, cutoff: datetime) -> list[dict[str, Any]]:
    """Closed before ``cutoff`` and not anonymised yet, with what anonymising rewrites."""
    return await store["cases"].find({"status": "closed", "closed_at": {"$lt": cutoff}, "anonymised_at": None},
                                     {"conversation_id": 1, "referrals": 1, "followups": 1, "assessment": 1}
                                     ).to_list(None)


async def contacts_still_in_use(store: Store, contact_ids: list[str], cutoff: datetime) -> set[str]:
    """Of ``contact_ids``, those with a conversation still open or closed since ``cutoff``."""
    docs = await store.conversations.find({"contact_id": {"$in": contact_ids}, "$or": [
        {"state": {"$ne": "closed"}}, {"closed_at": {"$gte": cutoff}}]}, {"contact_id": 1}).to_list(None)
    return {doc["contact_id"] for doc in docs}


async def message_count(store: Store, conversation_ids: list[str]) -> int:
    return await store.messages.count_documents({"conversation_id": {"$in": conversation_ids}})


async def audit_count_before(store: Store, cutoff: datetime) -> int:
    return await store["audit"].count_documents({"at": {"$lt": cutoff}})


# --------------------------------------------------------------------- purges


async def purge_message_content(store: Store, conversation_ids: list[str], at: datetime) -> int:
    """Blank the text and media of the conversations' messages; their times, senders and counts stay."""
    result = await store.messages.update_many({"conversation_id": {"$in": conversation_ids}},
                                              {"$set": {"text": "", "media": None, "purged_at": at}})
    await store.conversations.update_many({"_id": {"$in": conversation_ids}}, {"$set": {"content_purged_at": at}})
    return result.modified_count


async def delete_contacts(store: Store, contact_ids: list[str]) -> int:
    """Remove the contacts (their encrypted platform identities) and unlink their closed conversations.

    A contact id is derived from the platform identity, so without the unlinking a youth writing
    again would be joined to the old conversations once more.
    """
    await store.conversations.update_many({"contact_id": {"$in": contact_ids}, "state": "closed"},
                                          {"$set": {"contact_id": ""}})
    return (await store.contacts.delete_many({"_id": {"$in": contact_ids}})).deleted_count


async def anonymise_case(store: Store, case: dict[str, Any], at: datetime) -> None:
    """Clear a case's free text (its appointments' notes too) and its youth profile; category, risk levels,
    agencies and times stay."""
    referrals = [referral | {"contact": "", "note": "", "history": [change | {"note": ""}
                                                                    for change in referral.get("history", [])]}
                 for referral in case.get("referrals", [])]
    followups = [followup | {"note": "", "title": ""} for followup in case.get("followups", [])]
    changes: dict[str, Any] = {"summary": "", "outcome": None, "no_referral_reason": None, "contact_id": "",
                               "referrals": referrals, "followups": followups, "anonymised_at": at}
    if case.get("assessment"):
        changes |= {"assessment.notes": "", "assessment.plan": "", "assessment.protective_factors": []}
    await store["cases"].update_one({"_id": case["_id"]}, {"$set": changes})
    await store["youth_profiles"].delete_one({"_id": case["_id"]})
    await store["appointments"].update_many({"case_id": case["_id"]}, {"$set": {"note": ""}})


async def delete_audit_before(store: Store, cutoff: datetime) -> int:
    return (await store["audit"].delete_many({"at": {"$lt": cutoff}})).deleted_count
