"""Minors' consent ledger and data-subject requests (个人信息保护法 arts. 31, 44–47).

The ledger is append-only (``store.consent``): each entry says who decided what for which purpose;
the latest entry per purpose is the current decision. A youth under 14 cannot consent alone: the
entry must come from a guardian. Consent governs only optional processing (the youth profile,
contacting the youth later): help never waits for it. Withdrawing ``profile`` deletes the recorded
profiles and stops new ones.

Data-subject requests, by supervisors and admins of a desk the youth wrote to: **access** returns the
youth's records (the export's identified form) and ledger; **erasure** does for one youth what
retention does at the end of the period — blank message content, anonymise cases, delete the contact —
now, except what must be kept: cases under legal hold or with mandatory reports, and conversations
still open. The ledger stays as the record of what was decided. Both are audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contract.config import Settings
from contract.models import Conversation, ConversationState, new_id
from contract.people import User
from contract.youth import ConsentPurpose, ConsentRecord
from handoff import audit
from handoff.access import OUTSIDE_YOUR_DESKS, require_role, visible_desks
from handoff.errors import Conflict, Invalid, NotFound, NotPermitted
from handoff.export import records_for
from store import consent as stored
from store import retention as stored_retention
from store.client import Store

GUARDIAN_REQUIRED = "不满十四周岁的未成年人，须由其监护人作出同意"


async def _contact_in_scope(store: Store, settings: Settings, user: User, contact_id: str) -> list[Conversation]:
    conversations = await stored.conversations_of(store, contact_id)
    if not conversations:
        raise NotFound(contact_id)
    if not {c.desk for c in conversations} & visible_desks(user, settings):
        raise NotPermitted(OUTSIDE_YOUR_DESKS)
    return conversations


def current_decisions(ledger: list[ConsentRecord]) -> dict[str, ConsentRecord]:
    """purpose -> its latest entry."""
    return {record.purpose: record for record in ledger}


async def profile_withdrawn(store: Store, contact_id: str) -> bool:
    latest = current_decisions(await stored.consent_ledger(store, contact_id)).get("profile")
    return latest is not None and latest.decision == "withdrawn"


async def record_consent(store: Store, settings: Settings, user: User, contact_id: str, *, purpose: ConsentPurpose,
                         decision: str, given_by: str, under_14: bool, note: str, now: datetime) -> ConsentRecord:
    if under_14 and given_by != "guardian":
        raise Invalid(GUARDIAN_REQUIRED)
    await _contact_in_scope(store, settings, user, contact_id)
    record = await stored.append_to_ledger(store, contact_id, lambda seq: ConsentRecord(
        id=new_id("cs"), contact_id=contact_id, seq=seq, purpose=purpose, decision=decision, given_by=given_by,
        under_14=under_14, note=note, recorded_by=user.id, recorded_at=now))
    if record is None:
        raise Conflict("the consent ledger changed meanwhile; retry")
    if purpose == "profile" and decision == "withdrawn":
        cases = await stored.cases_of_contact(store, contact_id)
        await stored.delete_profiles(store, [case["_id"] for case in cases])
    await audit.record(store, user.id, f"consent.{decision}", contact_id, purpose)
    return record


async def consent_ledger(store: Store, settings: Settings, user: User, contact_id: str) -> list[ConsentRecord]:
    await _contact_in_scope(store, settings, user, contact_id)
    return await stored.consent_ledger(store, contact_id)


async def subject_access(store: Store, settings: Settings, user: User, contact_id: str,
                         reason: str) -> dict[str, Any]:
    """What we hold about the youth: their records (identified) and their consent ledger."""
    require_role(user, "supervisor", "admin")
    conversations = await _contact_in_scope(store, settings, user, contact_id)
    records = await records_for(store, settings, conversations, deidentify=False)
    ledger = await stored.consent_ledger(store, contact_id)
    await audit.record(store, user.id, "subject.access", contact_id, reason)
    return {"contact_id": contact_id, "records": records,
            "consents": [record.model_dump(mode="json") for record in ledger]}


@dataclass(slots=True)
class ErasureResult:
    conversations_erased: list[str] = field(default_factory=list)
    cases_anonymised: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)  # conversation or case id -> why it was kept
    contact_deleted: bool = False


async def subject_erasure(store: Store, settings: Settings, user: User, contact_id: str, reason: str,
                          now: datetime) -> ErasureResult:
    require_role(user, "supervisor", "admin")
    conversations = await _contact_in_scope(store, settings, user, contact_id)
    held = await stored_retention.held_case_ids(store)
    reported = await stored_retention.cases_with_mandatory_reports(store)
    result = ErasureResult()
    kept_conversations: set[str] = set()
    cases = await stored.cases_of_contact(store, contact_id)
    for case in cases:
        if case["_id"] in held or case["_id"] in reported:
            result.kept[case["_id"]] = "法律保全" if case["_id"] in held else "强制报告记录"
            kept_conversations.add(case["conversation_id"])
    for conversation in conversations:
        if conversation.state != ConversationState.CLOSED:
            result.kept[conversation.id] = "会话尚未结束"
        elif conversation.id not in kept_conversations:
            result.conversations_erased.append(conversation.id)
    erased = set(result.conversations_erased)
    await stored_retention.purge_message_content(store, result.conversations_erased, now)
    for case in cases:
        if case["conversation_id"] in erased and case["_id"] not in result.kept:
            await stored_retention.anonymise_case(store, case, now)
            result.cases_anonymised.append(case["_id"])
    if not result.kept:
        result.contact_deleted = await stored_retention.delete_contacts(store, [contact_id]) == 1
    await audit.record(store, user.id, "subject.erasure", contact_id,
                       f"{reason}; erased {len(erased)} conversations, kept {len(result.kept)}")
    return result
