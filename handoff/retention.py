"""Retention (数据保存期限) and legal holds: what is past its retention period is removed or anonymised.

Data classes and what happens to them (periods in ``[data.retention]``):

- messages of closed conversations: text and media blanked (times, senders and counts stay, so the
  statistics still add up); a contact whose every conversation is past retention is deleted.
- closed cases: free text, assessment notes and the youth profile cleared, the link to the contact cut;
  category, risk levels, referral agencies and times stay for research.
- the audit log (the access log to minors' data): entries older than its period are deleted; the
  period is at least 183 days (网络安全法 art. 21: network logs are kept no less than six months).
- mandatory reports (强制报告) are never purged, and a case that has one is kept whole, like a case
  under legal hold (who placed it, why, when). Every run that changes anything writes audit entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contract.config import Settings
from contract.people import User
from contract.youth import LegalHold
from handoff import audit
from handoff.access import ensure_desk_access, require_role
from handoff.cases import get_case
from handoff.errors import NotFound
from store import retention as stored
from store.client import Store

RETENTION_ACTOR = "retention"


@dataclass(slots=True)
class RetentionResult:
    dry_run: bool
    conversations_purged: int = 0
    messages_purged: int = 0
    contacts_deleted: int = 0
    cases_anonymised: int = 0
    audit_entries_deleted: int = 0
    cases_kept: list[str] = field(default_factory=list)  # held or carrying mandatory reports

    def lines(self) -> list[str]:
        verb = "将" if self.dry_run else "已"
        return [f"会话内容{verb}清除：{self.conversations_purged} 个会话，{self.messages_purged} 条消息",
                f"联系人{verb}删除：{self.contacts_deleted} 个",
                f"工单{verb}匿名化：{self.cases_anonymised} 件",
                f"审计日志{verb}删除：{self.audit_entries_deleted} 条",
                f"因法律保全或强制报告而保留的工单：{len(self.cases_kept)} 件"]


async def run_retention(store: Store, settings: Settings, now: datetime, *, dry_run: bool) -> RetentionResult:
    periods = settings.data.retention
    result = RetentionResult(dry_run=dry_run)
    kept_cases = await stored.held_case_ids(store) | await stored.cases_with_mandatory_reports(store)
    result.cases_kept = sorted(kept_cases)
    kept_conversations = set((await stored.case_conversations(store, kept_cases)).values())

    message_cutoff = now - timedelta(days=periods.messages_days)
    past = await stored.conversations_with_content_closed_before(store, message_cutoff)
    candidates = [c for c in past if c["id"] not in kept_conversations]
    conversation_ids = [c["id"] for c in candidates]
    # A contact stays while any of its conversations is kept, still open or within retention.
    kept_contacts = {c["contact_id"] for c in past if c["id"] in kept_conversations}
    contact_ids = sorted({c["contact_id"] for c in candidates if c["contact_id"]} - kept_contacts)
    in_use = await stored.contacts_still_in_use(store, contact_ids, message_cutoff)
    contact_ids = [cid for cid in contact_ids if cid not in in_use]
    case_cutoff = now - timedelta(days=periods.cases_days)
    cases = [case for case in await stored.cases_closed_before(store, case_cutoff) if case["_id"] not in kept_cases]
    audit_cutoff = now - timedelta(days=periods.audit_days)

    result.conversations_purged = len(conversation_ids)
    result.cases_anonymised = len(cases)
    if dry_run:
        result.messages_purged = await stored.message_count(store, conversation_ids)
        result.contacts_deleted = len(contact_ids)
        result.audit_entries_deleted = await stored.audit_count_before(store, audit_cutoff)
        return result

    # The audit log is trimmed first, so this run's own entries are never what it deletes.
    result.audit_entries_deleted = await stored.delete_audit_before(store, audit_cutoff)
    result.messages_purged = await stored.purge_message_content(store, conversation_ids, now)
    result.contacts_deleted = await stored.delete_contacts(store, contact_ids)
    for case in cases:
        await stored.anonymise_case(store, case, now)
    for action, count, cutoff in (
            ("retention.messages", result.messages_purged, message_cutoff),
            ("retention.contacts", result.contacts_deleted, message_cutoff),
            ("retention.cases", result.cases_anonymised, case_cutoff),
            ("retention.audit", result.audit_entries_deleted, audit_cutoff)):
        if count:
            await audit.record(store, RETENTION_ACTOR, action, "*", f"{count} before {cutoff.isoformat()}")
    for case in cases:
        await audit.record(store, RETENTION_ACTOR, "retention.case.anonymised", case["_id"])
    return result


async def _held_case_in_scope(store: Store, settings: Settings, user: User, case_id: str) -> None:
    require_role(user, "supervisor", "admin")
    ensure_desk_access(user, (await get_case(store, case_id)).desk, settings)


async def place_legal_hold(store: Store, settings: Settings, user: User, case_id: str, reason: str,
                           now: datetime) -> LegalHold:
    await _held_case_in_scope(store, settings, user, case_id)
    hold = LegalHold(case_id=case_id, by=user.id, reason=reason, at=now)
    await stored.place_hold(store, hold)
    await audit.record(store, user.id, "case.legal_hold.placed", case_id, reason)
    return hold


async def release_legal_hold(store: Store, settings: Settings, user: User, case_id: str, now: datetime) -> LegalHold:
    await _held_case_in_scope(store, settings, user, case_id)
    if not await stored.release_hold(store, case_id, user.id, now):
        raise NotFound(f"{case_id} 未处于法律保全")
    await audit.record(store, user.id, "case.legal_hold.released", case_id)
    hold = await stored.find_hold(store, case_id)
    assert hold is not None
    return hold
