"""Consent ledger (append-only, guardians for under-14s) and data-subject access and erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contract.config import Settings
from contract.people import Role, User
from handoff import audit
from handoff.consent import (
    GUARDIAN_REQUIRED,
    consent_ledger,
    current_decisions,
    record_consent,
    subject_access,
    subject_erasure,
)
from handoff.errors import Conflict, Invalid, NotPermitted
from handoff.retention import place_legal_hold
from handoff.youth_profile import record_profile
from store.client import Store
from tests.handoff.data_support import add_case, store  # noqa: F401 - the fixture

NOW = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)


def _user(role: str, desk: str) -> User:
    return User(id=f"u-{role}-{desk}", username=f"{role}-{desk}", password_hash="x", role=Role(role), desk=desk,
                display_name=role)


SUPERVISOR = _user("supervisor", "gd")


async def test_under_14_consent_comes_from_a_guardian_and_the_ledger_only_grows(store: Store,  # noqa: F811
                                                                                settings: Settings) -> None:
    conversation, _ = await add_case(store, NOW)
    contact = "ct" + conversation.removeprefix("cv")
    with pytest.raises(Invalid, match=GUARDIAN_REQUIRED):
        await record_consent(store, settings, SUPERVISOR, contact, purpose="profile", decision="granted",
                             given_by="youth", under_14=True, note="", now=NOW)
    await record_consent(store, settings, SUPERVISOR, contact, purpose="profile", decision="granted",
                         given_by="guardian", under_14=True, note="母亲电话同意", now=NOW)
    await record_consent(store, settings, SUPERVISOR, contact, purpose="follow_up_contact", decision="granted",
                         given_by="guardian", under_14=True, note="", now=NOW)
    await record_consent(store, settings, SUPERVISOR, contact, purpose="profile", decision="withdrawn",
                         given_by="guardian", under_14=True, note="", now=NOW + timedelta(days=1))
    ledger = await consent_ledger(store, settings, SUPERVISOR, contact)
    assert [(r.seq, r.purpose, r.decision) for r in ledger] == [
        (1, "profile", "granted"), (2, "follow_up_contact", "granted"), (3, "profile", "withdrawn")]
    assert current_decisions(ledger)["profile"].decision == "withdrawn"
    with pytest.raises(NotPermitted):
        await consent_ledger(store, settings, _user("supervisor", "sh-regional"), contact)


async def test_withdrawing_profile_consent_deletes_and_stops_profiles(store: Store, settings: Settings) -> None:  # noqa: F811
    conversation, case_id = await add_case(store, NOW, profile={"age_band": "12_14"})
    contact = "ct" + conversation.removeprefix("cv")
    await record_consent(store, settings, SUPERVISOR, contact, purpose="profile", decision="withdrawn",
                         given_by="youth", under_14=False, note="", now=NOW)
    assert await store["youth_profiles"].find_one({"_id": case_id}) is None
    with pytest.raises(Conflict):
        await record_profile(store, settings, SUPERVISOR, case_id, {"age_band": "12_14"}, NOW)


async def test_access_returns_the_youths_identified_records(store: Store, settings: Settings) -> None:  # noqa: F811
    conversation, case_id = await add_case(store, NOW, closed=NOW)
    contact = "ct" + conversation.removeprefix("cv")
    with pytest.raises(NotPermitted):
        await subject_access(store, settings, _user("counsellor", "gd"), contact, "本人申请")
    found = await subject_access(store, settings, SUPERVISOR, contact, "本人申请")
    assert [r["identifiers"]["case_id"] for r in found["records"]] == [case_id]
    assert any(e.action == "subject.access" for e in await audit.list_audit(store, contact))


async def test_erasure_keeps_what_must_be_kept(store: Store, settings: Settings) -> None:  # noqa: F811
    closed, closed_case = await add_case(store, NOW, closed=NOW)
    contact = "ct" + closed.removeprefix("cv")
    held, held_case = await add_case(store, NOW, closed=NOW)
    open_conversation, _ = await add_case(store, NOW)
    for conversation_id in (held, open_conversation):  # the same youth wrote three times
        await store.conversations.update_one({"_id": conversation_id}, {"$set": {"contact_id": contact}})
        await store["cases"].update_one({"conversation_id": conversation_id}, {"$set": {"contact_id": contact}})
    await place_legal_hold(store, settings, SUPERVISOR, held_case, "公安机关调查", NOW)

    result = await subject_erasure(store, settings, SUPERVISOR, contact, "本人申请删除", NOW)
    assert result.conversations_erased == [closed] and result.cases_anonymised == [closed_case]
    assert result.kept == {held_case: "法律保全", open_conversation: "会话尚未结束"}
    assert not result.contact_deleted  # still needed by what is kept
    assert (await store.messages.find_one({"conversation_id": closed}))["text"] == ""
    assert (await store.messages.find_one({"conversation_id": held}))["text"] != ""
    assert (await store["cases"].find_one({"_id": closed_case}))["summary"] == ""
