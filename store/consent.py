"""The consent ledger (``consents``): append-only, one document per entry, numbered per contact.

This module offers no update or delete of an entry; the unique (contact, seq) index makes two racing
appends for one contact take different numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from contract.models import Conversation
from contract.youth import PRIVACY_NOTICE, ConsentRecord
from store.database import Index, Store
from store.times import aware

INDEXES = {"consents": [Index([("contact_id", ASCENDING), ("seq", ASCENDING)], "contact_seq", unique=True)]}


async def consent_ledger(store: Store, contact_id: str) -> list[ConsentRecord]:
    """The contact's entries, oldest first."""
    docs = await store["consents"].find({"contact_id": contact_id}).sort("seq", 1).to_list(None)
    return [ConsentRecord(id=doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}
                          | {"recorded_at": aware(doc["recorded_at"])}) for doc in docs]


async def append_consent(store: Store, record: ConsentRecord) -> bool:
    """False when another entry took ``record.seq`` first (read the ledger again and retry)."""
    try:
        await store["consents"].insert_one({"_id": record.id, **record.model_dump(exclude={"id"})})
    except DuplicateKeyError:
        return False
    return True


async def append_to_ledger(store: Store, contact_id: str, entry: Callable[[int], ConsentRecord],
                           attempts: int = 3) -> ConsentRecord | None:
    """Append ``entry(seq)`` under the contact's next number; None if other appends kept taking it."""
    for _ in range(attempts):
        record = entry(await store["consents"].count_documents({"contact_id": contact_id}) + 1)
        if await append_consent(store, record):
            return record
    return None


async def notice_shown(store: Store, contact_id: str, version: str) -> bool:
    """Whether the ledger records that the contact was shown this version of the privacy notice."""
    return await store["consents"].find_one(
        {"contact_id": contact_id, "purpose": PRIVACY_NOTICE, "notice_version": version}, {"_id": 1}) is not None


async def conversations_of(store: Store, contact_id: str) -> list[Conversation]:
    docs = await store.conversations.find({"contact_id": contact_id}).sort("created_at", 1).to_list(None)
    return [Conversation.from_doc(doc | {"created_at": aware(doc["created_at"]),
                                         "closed_at": aware(doc.get("closed_at"))}) for doc in docs]


async def cases_of_contact(store: Store, contact_id: str) -> list[dict[str, Any]]:
    """The raw case documents (what retention's anonymising rewrites), with ``status``."""
    return await store["cases"].find({"contact_id": contact_id},
                                     {"conversation_id": 1, "status": 1, "referrals": 1, "followups": 1,
                                      "assessment": 1}).to_list(None)


async def delete_profiles(store: Store, case_ids: list[str]) -> int:
    return (await store["youth_profiles"].delete_many({"_id": {"$in": case_ids}})).deleted_count
