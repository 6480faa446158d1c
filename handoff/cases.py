"""Cases (工单): one work order per handed-off conversation, unique across the 12355 network.

A case carries the 案由 classification, a structured risk assessment, a summary, referrals to
agencies with tracked status, follow-up tasks and mandatory reports (强制报告). Mandatory reports
live in their own append-only collection, one document per report, chained by SHA-256 over
(previous hash, record) so an edited or removed record is detectable; this module offers no way
to change one once saved.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime
from typing import Any

from contract.cases import (
    GENESIS_HASH,
    Assessment,
    Case,
    Followup,
    MandatoryReport,
    Referral,
    ReportChainHead,
    StatusChange,
)
from contract.config import Settings
from contract.models import Conversation, new_id, utcnow
from contract.queue import Handed
from contract.risk_labels import RiskLabel
from handoff.desks import CHINA
from handoff.errors import Conflict, Invalid, NotFound
from store import cases as stored
from store import risk_labels
from store.client import Store
from store.conversations import find_conversation
from store.times import aware

# sent → accepted → resolved/declined; an agency may also decline straight away.
REFERRAL_TRANSITIONS: dict[str, frozenset[str]] = {
    "sent": frozenset({"accepted", "declined"}),
    "accepted": frozenset({"resolved", "declined"}),
    "resolved": frozenset(),
    "declined": frozenset(),
}
CHANGED_MEANWHILE = "the case changed meanwhile; reload and retry"


async def get_case(store: Store, case_id: str) -> Case:
    case = await stored.find_case(store, case_id)
    if case is None:
        raise NotFound(case_id)
    return case


async def get_case_for_conversation(store: Store, conversation_id: str) -> Case | None:
    return await stored.find_case_for_conversation(store, conversation_id)


async def cases_for_contact(store: Store, contact_id: str, limit: int = 50) -> list[Case]:
    return await stored.cases_of_contact(store, contact_id, limit)


async def contact_conversations(store: Store, contact_id: str, limit: int = 50) -> list[Handed]:
    """The contact's latest conversations: who may see a contact's cases depends on them."""
    return await stored.conversations_of_contact(store, contact_id, limit)


def missing_before_close(case: Case | None, level: int, no_referral_reason: str | None = None) -> list[str]:
    """What a case at this risk level must carry before its conversation may be closed.

    From level 2: a risk assessment, the 案由 classification and a summary. At level 3 also a
    referral or a mandatory report, or a written reason why there is neither.
    """
    if level < 2:
        return []
    if case is None:
        return ["risk assessment", "classification", "summary"]
    missing = [name for name, present in (("risk assessment", case.assessment is not None),
                                          ("classification", bool(case.classification)),
                                          ("summary", bool(case.summary.strip()))) if not present]
    if level >= 3 and not case.referrals and not case.mandatory_reports and not (no_referral_reason or "").strip():
        missing.append("a referral, a mandatory report or no_referral_reason")
    return missing


# ---------------------------------------------------------------- numbering


async def next_number(store: Store, desk: str, day: datetime) -> str:
    """``12355-<DESK>-<YYYYMMDD>-<seq>`` from an atomic per desk and day counter; the day is Beijing's."""
    stamp = aware(day).astimezone(CHINA).strftime("%Y%m%d")
    seq = await stored.next_case_seq(store, f"{desk}:{stamp}")
    return f"12355-{desk.upper()}-{stamp}-{seq:06d}"


async def open_case(store: Store, settings: Settings, conversation: Conversation) -> Case:
    """The conversation's case, created on first handoff. Idempotent: a transfer or a second
    handoff of the same conversation keeps its case (and number)."""
    existing = await get_case_for_conversation(store, conversation.id)
    if existing is not None:
        if existing.desk != conversation.desk:  # handed off again elsewhere: the work order follows
            await move_case(store, conversation.id, conversation.desk)
            existing = existing.model_copy(update={"desk": conversation.desk})
        return existing
    now = utcnow()
    # If a racing call created the case first (unique per conversation), this insert is refused and theirs is the case.
    await stored.insert_case(store, Case(
        id=new_id("case"), number=await next_number(store, conversation.desk, now), conversation_id=conversation.id,
        contact_id=conversation.contact_id, desk=conversation.desk, risk_level=conversation.risk_level,
        created_at=now, updated_at=now))
    found = await get_case_for_conversation(store, conversation.id)
    assert found is not None
    return found


async def follow_risk(store: Store, conversation_id: str, level: int) -> None:
    """The case shows the conversation's current risk: a later message or a counsellor may change it."""
    await stored.set_on_conversation_case(store, conversation_id, risk_level=level)


async def move_case(store: Store, conversation_id: str, desk: str) -> None:
    """A transfer to another desk keeps the same case and number (one unified work order)."""
    await stored.set_on_conversation_case(store, conversation_id, desk=desk)


async def close_case(store: Store, conversation_id: str, outcome: str, by: str | None = None,
                     no_referral_reason: str | None = None) -> None:
    await stored.set_on_conversation_case(store, conversation_id, status="closed", outcome=outcome[:200],
                                          no_referral_reason=no_referral_reason, closed_by=by, closed_at=utcnow())


# ------------------------------------------------------------------ editing


async def _after(store: Store, case_id: str, changed: bool) -> Case:
    """The case after a change; a change that matched nothing means it is gone or changed meanwhile."""
    if not changed:
        await get_case(store, case_id)  # raises NotFound when that is the reason
        raise Conflict(CHANGED_MEANWHILE)
    return await get_case(store, case_id)


async def update_case(store: Store, settings: Settings, case_id: str, *, classification: str | None = None,
                      summary: str | None = None) -> Case:
    changes: dict[str, Any] = {}
    if classification is not None:
        if classification not in settings.cases.classification_codes():
            raise Invalid(f"classification: unknown code {classification!r}")
        changes["classification"] = classification
    if summary is not None:
        changes["summary"] = summary
    return await _after(store, case_id, await stored.set_case_fields(store, case_id, **changes))


async def set_assessment(store: Store, case_id: str, assessment: Assessment) -> Case:
    changed = await stored.set_case_fields(store, case_id, assessment=assessment.model_dump(),
                                           risk_level=assessment.level)
    case = await _after(store, case_id, changed)
    # Each saved assessment teaches the risk model (youthdesk risk export-feedback); a later one does not
    # replace it there, since each judged the messages up to its own moment.
    conversation = await find_conversation(store, case.conversation_id)
    if conversation is not None:
        await risk_labels.insert_label(store, RiskLabel.saved(conversation, level=assessment.level, kind="assessment",
                                                              by=assessment.assessed_by, at=assessment.assessed_at))
    return case


async def add_referral(store: Store, settings: Settings, case_id: str, *, agency: str, by: str, due_at: datetime,
                       note: str = "", contact: str = "") -> Case:
    if agency not in settings.cases.agency_codes():
        raise Invalid(f"agency: unknown agency {agency!r}")
    now = utcnow()
    referral = Referral(id=new_id("ref"), agency=agency, contact=contact, note=note, due_at=aware(due_at),
                        created_by=by, created_at=now, history=[StatusChange(status="sent", by=by, at=now, note=note)])
    return await _after(store, case_id, await stored.add_referral(store, case_id, referral))


async def set_referral_status(store: Store, case_id: str, referral_id: str, status: str, *, by: str,
                              note: str = "") -> Case:
    case = await get_case(store, case_id)
    index = next((i for i, r in enumerate(case.referrals) if r.id == referral_id), None)
    if index is None:
        raise NotFound(referral_id)
    referral = case.referrals[index]
    if status not in REFERRAL_TRANSITIONS[referral.status]:
        raise Invalid(f"status: a {referral.status} referral cannot become {status}")
    change = StatusChange(status=status, by=by, at=utcnow(), note=note)  # type: ignore[arg-type]
    changed = await stored.change_referral_status(store, case_id, index, referral_id, referral.status, change)
    return await _after(store, case_id, changed)


async def add_followup(store: Store, case_id: str, *, title: str, due_at: datetime, by: str) -> Case:
    followup = Followup(id=new_id("fu"), title=title, due_at=aware(due_at), created_by=by, created_at=utcnow())
    return await _after(store, case_id, await stored.add_followup(store, case_id, followup))


async def set_followup_done(store: Store, case_id: str, followup_id: str, *, done: bool, by: str,
                            note: str | None = None) -> Case:
    case = await get_case(store, case_id)
    index = next((i for i, f in enumerate(case.followups) if f.id == followup_id), None)
    if index is None:
        raise NotFound(followup_id)
    changed = await stored.set_followup_state(store, case_id, index, followup_id, done=done,
                                              done_by=by if done else None, done_at=utcnow() if done else None,
                                              note=note)
    return await _after(store, case_id, changed)


# -------------------------------------------------------- mandatory reports

_HASHED_FIELDS = ("id", "case_id", "seq", "reported_to", "reported_at", "reported_by", "reference", "note",
                  "recorded_at")


def _hashed_value(value: object) -> object:
    # Milliseconds: what a BSON date keeps, so a stored record hashes as it did before saving.
    return aware(value).isoformat(timespec="milliseconds") if isinstance(value, datetime) else value


def _report_hash(prev_hash: str, report: MandatoryReport) -> str:
    record = {name: _hashed_value(getattr(report, name)) for name in _HASHED_FIELDS}
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


async def append_mandatory_report(store: Store, case_id: str, *, reported_to: str, reported_at: datetime,
                                  reported_by: str, reference: str, note: str = "") -> Case:
    """Append one 强制报告 record. There is deliberately no function to edit or remove one."""
    for _ in range(20):
        head = await stored.report_chain_head(store, case_id)
        if head is None:
            raise NotFound(case_id)
        seq = head.count + 1
        unhashed = MandatoryReport(id=f"{case_id}-mr{seq:04d}", case_id=case_id, seq=seq, reported_to=reported_to,
                                   reported_at=aware(reported_at), reported_by=reported_by, reference=reference,
                                   note=note, recorded_at=utcnow(), prev_hash=head.hash, hash="")
        report = unhashed.model_copy(update={"hash": _report_hash(head.hash, unhashed)})
        # Move the case's chain head first, conditional on the head we read: racing appends serialise there.
        if not await stored.advance_report_chain(store, case_id, head, report.hash):
            await asyncio.sleep(0)
            continue
        await stored.insert_mandatory_report(store, report)
        return await get_case(store, case_id)
    raise Conflict("too many concurrent mandatory reports; retry")


async def verify_report_chain(store: Store, case_id: str) -> bool:
    """True when every stored report hashes to the chain and the chain ends at the case's head."""
    head = await stored.report_chain_head(store, case_id)
    if head is None:
        raise NotFound(case_id)
    reports = await stored.mandatory_reports(store, case_id)
    prev = GENESIS_HASH
    for expected_seq, report in enumerate(reports, start=1):
        if report.seq != expected_seq or report.prev_hash != prev or _report_hash(prev, report) != report.hash:
            return False
        prev = report.hash
    return head == ReportChainHead(hash=prev, count=len(reports))
