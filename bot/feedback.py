"""Counsellors teach the risk model: their saved risk labels as de-identified training rows.

Each ``RiskLabel`` (a risk assessment or risk change a counsellor saved, ``contract.risk_labels``)
becomes one row in the format ``youthdesk risk train --with-feedback`` reads (``bot.risk_data``):
the youth's own text messages up to the moment of saving, joined by line breaks and cut to the
latest ``MAX_CHARS`` characters (the risk model reads messages, not whole transcripts), then
de-identified (``contract.redact``: the contact's platform ids, phone and ID numbers, e-mail, QQ and
WeChat ids, school and person names where a pattern shows them); the level and category the
counsellor set; the desk and the Beijing day.

Labels of the same messages (an assessment and a risk change saved on the same words) keep the
latest judgement. A label whose messages are gone (retention, an erasure) exports nothing. Every
export is audited: who (a supervisor or admin account), how many rows, which desks and since when.
"""

from __future__ import annotations

import getpass
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.lexicon import CATEGORIES
from bot.risk_data import LabelledRow
from contract.alerts import AuditEntry
from contract.people import Role, User
from contract.redact import deidentify
from contract.risk_labels import RiskLabel
from store import alerts as stored_audit
from store import risk_labels
from store.client import Store
from store.contacts import find_contact
from store.conversations import find_conversation

MAX_CHARS = 1000
SOURCE = "feedback"
AUDIT_ACTION = "risk.feedback.exported"
BEIJING = ZoneInfo("Asia/Shanghai")


class ExportRefused(ValueError):
    """The account may not export feedback."""


@dataclass(frozen=True, slots=True)
class FeedbackExport:
    rows: list[LabelledRow]
    labels: int  # labels read
    without_text: int  # labels whose youth messages are gone or were never text


async def export_feedback(store: Store, exporter: User, *, since: datetime | None,
                          desks: Collection[str] | None) -> FeedbackExport:
    """The de-identified rows of the labels saved since ``since`` on ``desks`` (None: all); audited."""
    if exporter.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise ExportRefused(f"{exporter.username}: only supervisors and admins export training data")
    if exporter.role == Role.SUPERVISOR and (desks is None or set(desks) - {exporter.desk}):
        raise ExportRefused(f"{exporter.username}: a supervisor exports their own desk only (--desk {exporter.desk})")
    labels = await risk_labels.labels_since(store, since, desks)
    latest: dict[tuple[str, int], RiskLabel] = {}
    for label in labels:  # oldest first: a later judgement of the same words replaces an earlier one
        latest.pop((label.conversation_id, label.up_to_seq), None)
        latest[(label.conversation_id, label.up_to_seq)] = label
    rows, without_text = [], 0
    for label in latest.values():
        row = await _row(store, label)
        if row is None:
            without_text += 1
        else:
            rows.append(row)
    scope = "all desks" if desks is None else ",".join(sorted(desks))
    start = since.isoformat() if since else "the start"
    await stored_audit.insert_audit_entry(store, AuditEntry.now(
        exporter.id, AUDIT_ACTION, "risk_labels",
        f"{len(rows)} rows from {len(labels)} labels; desks {scope}; since {start}; system user {getpass.getuser()}"))
    return FeedbackExport(rows=rows, labels=len(labels), without_text=without_text)


async def _row(store: Store, label: RiskLabel) -> LabelledRow | None:
    texts = await risk_labels.youth_texts(store, label.conversation_id, label.up_to_seq)
    if not texts:
        return None
    text = deidentify("\n".join(texts)[-MAX_CHARS:], await _identifiers(store, label.conversation_id))
    category = label.category if label.level >= 2 and label.category in CATEGORIES else None
    return LabelledRow(text=text, level=label.level, source=f"{SOURCE}:{label.kind}", category=category,
                       desk=label.desk, day=label.at.astimezone(BEIJING).date().isoformat())


async def _identifiers(store: Store, conversation_id: str) -> list[str]:
    """The youth's platform identifiers: removed from the text wherever they appear."""
    conversation = await find_conversation(store, conversation_id)
    if conversation is None or store.protector is None:
        return []
    contact = await find_contact(store, store.protector, conversation.contact_id)
    if contact is None:
        return []
    return [value for identity in contact.identities for value in (identity.external_id, identity.union_id) if value]
