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
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from contract.config import Settings
from contract.models import Conversation, new_id, utcnow
from store.client import Store

ReferralStatus = Literal["sent", "accepted", "resolved", "declined"]
# sent → accepted → resolved/declined; an agency may also decline straight away.
REFERRAL_TRANSITIONS: dict[str, frozenset[str]] = {
    "sent": frozenset({"accepted", "declined"}),
    "accepted": frozenset({"resolved", "declined"}),
    "resolved": frozenset(),
    "declined": frozenset(),
}
GENESIS_HASH = "0" * 64


class CaseError(ValueError):
    """A request the case rules refuse (unknown code, invalid transition, …)."""


class CaseConflict(CaseError):
    """The case changed between reading and writing it; the caller may reload and retry."""


class CaseNotFound(LookupError):
    pass


class Assessment(BaseModel):
    level: int = Field(ge=0, le=3)
    factors: list[str] = Field(default_factory=list)
    immediate_danger: bool = False
    protective_factors: list[str] = Field(default_factory=list)
    plan: str = ""
    notes: str = ""
    assessed_by: str
    assessed_at: datetime


class StatusChange(BaseModel):
    status: ReferralStatus
    by: str
    at: datetime
    note: str = ""


class Referral(BaseModel):
    id: str
    agency: str
    contact: str = ""
    note: str = ""
    due_at: datetime  # when to follow up with the agency
    status: ReferralStatus = "sent"
    created_by: str
    created_at: datetime
    history: list[StatusChange] = Field(default_factory=list)


class Followup(BaseModel):
    id: str
    title: str
    due_at: datetime
    done: bool = False
    note: str = ""
    created_by: str
    created_at: datetime
    done_by: str | None = None
    done_at: datetime | None = None


class MandatoryReport(BaseModel):
    """One 强制报告 record; frozen because it may never change once saved."""

    model_config = ConfigDict(frozen=True)

    id: str
    case_id: str
    seq: int
    reported_to: str
    reported_at: datetime
    reported_by: str
    reference: str
    note: str = ""
    recorded_at: datetime
    prev_hash: str
    hash: str


class Case(BaseModel):
    id: str
    number: str
    conversation_id: str
    contact_id: str
    desk: str
    status: Literal["open", "closed"] = "open"
    classification: str | None = None
    summary: str = ""
    risk_level: int = Field(default=0, ge=0, le=3)
    assessment: Assessment | None = None
    referrals: list[Referral] = Field(default_factory=list)
    followups: list[Followup] = Field(default_factory=list)
    mandatory_reports: list[MandatoryReport] = Field(default_factory=list)
    outcome: str | None = None
    no_referral_reason: str | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    created_at: datetime
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"mandatory_reports"}) | {
            "mandatory_reports": [report.model_dump(mode="json") for report in self.mandatory_reports]}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _from_doc(doc: dict[str, Any], reports: list[MandatoryReport]) -> Case:
    fields = {k: v for k, v in doc.items() if k not in ("_id", "report_head", "report_count")}
    return Case(id=doc["_id"], mandatory_reports=reports, **fields)


async def _reports(store: Store, case_id: str) -> list[MandatoryReport]:
    docs = await store["mandatory_reports"].find({"case_id": case_id}).sort("seq", 1).to_list(None)
    return [MandatoryReport(id=doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}) for doc in docs]


async def get_case(store: Store, case_id: str) -> Case:
    doc = await store["cases"].find_one({"_id": case_id})
    if doc is None:
        raise CaseNotFound(case_id)
    return _from_doc(doc, await _reports(store, case_id))


async def get_case_for_conversation(store: Store, conversation_id: str) -> Case | None:
    doc = await store["cases"].find_one({"conversation_id": conversation_id})
    return _from_doc(doc, await _reports(store, doc["_id"])) if doc else None


case_for_conversation = get_case_for_conversation  # the name the engine's bridge looks up


async def cases_for_contact(store: Store, contact_id: str, limit: int = 50) -> list[Case]:
    docs = await store["cases"].find({"contact_id": contact_id}).sort("created_at", -1).limit(limit).to_list(None)
    return [_from_doc(doc, []) for doc in docs]


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
    """``12355-<DESK>-<YYYYMMDD>-<seq>`` from an atomic per desk and day counter."""
    stamp = _aware(day).astimezone(UTC).strftime("%Y%m%d")
    key = f"{desk}:{stamp}"
    for _ in range(3):
        try:
            doc = await store["case_counters"].find_one_and_update(
                {"_id": key}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER)
            break
        except DuplicateKeyError:
            # Two first-of-the-day upserts raced on MongoDB; the loser retries as a plain increment.
            await asyncio.sleep(0)
    else:
        raise RuntimeError(f"case counter {key} unavailable")
    return f"12355-{desk.upper()}-{stamp}-{doc['seq']:06d}"


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
    doc = {"_id": new_id("case"), "number": await next_number(store, conversation.desk, now),
           "conversation_id": conversation.id, "contact_id": conversation.contact_id, "desk": conversation.desk,
           "status": "open", "classification": None, "summary": "", "risk_level": conversation.risk_level,
           "assessment": None, "referrals": [], "followups": [], "report_head": GENESIS_HASH, "report_count": 0,
           "created_at": now, "updated_at": now}
    try:
        await store["cases"].insert_one(doc)
    except DuplicateKeyError:
        pass  # a racing call created it first (unique conversation_id index); theirs is the case
    found = await get_case_for_conversation(store, conversation.id)
    assert found is not None
    return found


async def follow_risk(store: Store, conversation_id: str, level: int) -> None:
    """The case shows the conversation's current risk: a later message or a counsellor may change it."""
    await store["cases"].update_one({"conversation_id": conversation_id},
                                    {"$set": {"risk_level": level, "updated_at": utcnow()}})


async def move_case(store: Store, conversation_id: str, desk: str) -> None:
    """A transfer to another desk keeps the same case and number (one unified work order)."""
    await store["cases"].update_one({"conversation_id": conversation_id},
                                    {"$set": {"desk": desk, "updated_at": utcnow()}})


async def close_case(store: Store, conversation_id: str, outcome: str, by: str | None = None,
                     no_referral_reason: str | None = None) -> None:
    await store["cases"].update_one(
        {"conversation_id": conversation_id},
        {"$set": {"status": "closed", "outcome": outcome[:200], "no_referral_reason": no_referral_reason,
                  "closed_by": by, "closed_at": utcnow(), "updated_at": utcnow()}})


# ------------------------------------------------------------------ editing


async def _update(store: Store, case_id: str, query: dict[str, Any], update: dict[str, Any]) -> Case:
    update.setdefault("$set", {})["updated_at"] = utcnow()
    doc = await store["cases"].find_one_and_update({"_id": case_id, **query}, update)
    if doc is None:
        await get_case(store, case_id)  # raises CaseNotFound when that is the reason
        raise CaseConflict("the case changed meanwhile; reload and retry")
    return await get_case(store, case_id)


async def update_case(store: Store, settings: Settings, case_id: str, *, classification: str | None = None,
                      summary: str | None = None) -> Case:
    changes: dict[str, Any] = {}
    if classification is not None:
        if classification not in settings.cases.classification_codes():
            raise CaseError(f"classification: unknown code {classification!r}")
        changes["classification"] = classification
    if summary is not None:
        changes["summary"] = summary
    return await _update(store, case_id, {}, {"$set": changes})


async def set_assessment(store: Store, case_id: str, assessment: Assessment) -> Case:
    return await _update(store, case_id, {}, {"$set": {"assessment": assessment.model_dump(),
                                                       "risk_level": assessment.level}})


async def add_referral(store: Store, settings: Settings, case_id: str, *, agency: str, by: str, due_at: datetime,
                       note: str = "", contact: str = "") -> Case:
    if agency not in settings.cases.agency_codes():
        raise CaseError(f"agency: unknown agency {agency!r}")
    now = utcnow()
    referral = Referral(id=new_id("ref"), agency=agency, contact=contact, note=note, due_at=_aware(due_at),
                        created_by=by, created_at=now, history=[StatusChange(status="sent", by=by, at=now, note=note)])
    return await _update(store, case_id, {}, {"$push": {"referrals": referral.model_dump()}})


async def set_referral_status(store: Store, case_id: str, referral_id: str, status: str, *, by: str,
                              note: str = "") -> Case:
    case = await get_case(store, case_id)
    index = next((i for i, r in enumerate(case.referrals) if r.id == referral_id), None)
    if index is None:
        raise CaseNotFound(referral_id)
    referral = case.referrals[index]
    if status not in REFERRAL_TRANSITIONS[referral.status]:
        raise CaseError(f"status: a {referral.status} referral cannot become {status}")
    change = StatusChange(status=status, by=by, at=utcnow(), note=note)  # type: ignore[arg-type]
    # Conditional on the status we checked, so two racing updates cannot both pass the rule.
    # Referrals are only ever appended, so the index found above stays the referral's position.
    unchanged = {f"referrals.{index}.id": referral_id, f"referrals.{index}.status": referral.status}
    return await _update(store, case_id, unchanged, {"$set": {f"referrals.{index}.status": status},
                                                     "$push": {f"referrals.{index}.history": change.model_dump()}})


async def add_followup(store: Store, case_id: str, *, title: str, due_at: datetime, by: str) -> Case:
    followup = Followup(id=new_id("fu"), title=title, due_at=_aware(due_at), created_by=by, created_at=utcnow())
    return await _update(store, case_id, {}, {"$push": {"followups": followup.model_dump()}})


async def set_followup_done(store: Store, case_id: str, followup_id: str, *, done: bool, by: str,
                            note: str | None = None) -> Case:
    case = await get_case(store, case_id)
    index = next((i for i, f in enumerate(case.followups) if f.id == followup_id), None)
    if index is None:
        raise CaseNotFound(followup_id)
    at = f"followups.{index}"
    changes: dict[str, Any] = {f"{at}.done": done, f"{at}.done_by": by if done else None,
                               f"{at}.done_at": utcnow() if done else None}
    if note is not None:
        changes[f"{at}.note"] = note
    return await _update(store, case_id, {f"{at}.id": followup_id}, {"$set": changes})


# -------------------------------------------------------- mandatory reports


def _report_hash(prev_hash: str, record: dict[str, Any]) -> str:
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def _hashed_fields(report: dict[str, Any]) -> dict[str, Any]:
    fields = ("id", "case_id", "seq", "reported_to", "reported_at", "reported_by", "reference", "note", "recorded_at")
    # Milliseconds: what a BSON date keeps, so a stored record hashes as it did before saving.
    return {name: (_aware(report[name]).isoformat(timespec="milliseconds") if isinstance(report[name], datetime)
                   else report[name]) for name in fields}


async def append_mandatory_report(store: Store, case_id: str, *, reported_to: str, reported_at: datetime,
                                  reported_by: str, reference: str, note: str = "") -> Case:
    """Append one 强制报告 record. There is deliberately no function to edit or remove one."""
    for _ in range(20):
        case = await store["cases"].find_one({"_id": case_id}, {"report_head": 1, "report_count": 1})
        if case is None:
            raise CaseNotFound(case_id)
        seq = case.get("report_count", 0) + 1
        prev_hash = case.get("report_head", GENESIS_HASH)
        record = {"id": f"{case_id}-mr{seq:04d}", "case_id": case_id, "seq": seq, "reported_to": reported_to,
                  "reported_at": _aware(reported_at), "reported_by": reported_by, "reference": reference,
                  "note": note, "recorded_at": utcnow()}
        digest = _report_hash(prev_hash, _hashed_fields(record))
        # Move the case's chain head first, conditional on the head we read: racing appends serialise here.
        moved = await store["cases"].find_one_and_update(
            {"_id": case_id, "report_head": prev_hash, "report_count": seq - 1},
            {"$set": {"report_head": digest, "report_count": seq, "updated_at": utcnow()}})
        if moved is None:
            await asyncio.sleep(0)
            continue
        doc = {"_id": record.pop("id"), **record, "prev_hash": prev_hash, "hash": digest}
        await store["mandatory_reports"].insert_one(doc)
        return await get_case(store, case_id)
    raise CaseConflict("too many concurrent mandatory reports; retry")


async def verify_report_chain(store: Store, case_id: str) -> bool:
    """True when every stored report hashes to the chain and the chain ends at the case's head."""
    case = await store["cases"].find_one({"_id": case_id}, {"report_head": 1, "report_count": 1})
    if case is None:
        raise CaseNotFound(case_id)
    docs = await store["mandatory_reports"].find({"case_id": case_id}).sort("seq", 1).to_list(None)
    prev = GENESIS_HASH
    for expected_seq, doc in enumerate(docs, start=1):
        record = {**doc, "id": doc["_id"]}
        if doc["seq"] != expected_seq or doc["prev_hash"] != prev:
            return False
        if _report_hash(prev, _hashed_fields(record)) != doc["hash"]:
            return False
        prev = doc["hash"]
    return prev == case.get("report_head", GENESIS_HASH) and len(docs) == case.get("report_count", 0)
