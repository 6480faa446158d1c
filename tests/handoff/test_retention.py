"""Retention: what is past its period is purged or anonymised, held and mandatory-report cases are kept, all audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from contract.config import Settings
from contract.data_config import RetentionConfig
from contract.people import Role, User
from handoff import audit
from handoff.errors import NotFound, NotPermitted
from handoff.retention import place_legal_hold, release_legal_hold, run_retention
from store.client import Store
from tests.handoff.data_support import add_case, store  # noqa: F401 - the fixture

NOW = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=4 * 365)


def _user(role: str, desk: str) -> User:
    return User(id=f"u-{role}-{desk}", username=f"{role}-{desk}", password_hash="x", role=Role(role), desk=desk,
                display_name=role)


def test_access_logs_are_kept_at_least_six_months() -> None:
    with pytest.raises(ValidationError):
        RetentionConfig(audit_days=90)


async def test_a_dry_run_counts_and_changes_nothing(store: Store, settings: Settings) -> None:  # noqa: F811
    await add_case(store, LONG_AGO, closed=LONG_AGO + timedelta(hours=1))
    result = await run_retention(store, settings, NOW, dry_run=True)
    assert (result.conversations_purged, result.messages_purged, result.cases_anonymised,
            result.contacts_deleted) == (1, 1, 1, 1)
    assert await store.messages.count_documents({"text": ""}) == 0
    assert await store["audit"].count_documents({}) == 0


async def test_old_data_is_purged_held_and_reported_cases_are_kept(store: Store, settings: Settings) -> None:  # noqa: F811
    old, old_case = await add_case(store, LONG_AGO, closed=LONG_AGO + timedelta(hours=1),
                                   profile={"age_band": "12_14"}, referrals=["school"])
    held, held_case = await add_case(store, LONG_AGO, desk="sz", closed=LONG_AGO + timedelta(hours=1))
    reported, reported_case = await add_case(store, LONG_AGO, closed=LONG_AGO + timedelta(hours=1))
    await store["cases"].update_one({"_id": reported_case}, {"$set": {"report_count": 1}})
    recent, _ = await add_case(store, NOW - timedelta(days=30), closed=NOW - timedelta(days=29))
    await store["audit"].insert_one({"_id": "au_old", "actor": "u", "action": "case.read", "target": "x",
                                     "at": NOW - timedelta(days=4 * 365)})
    supervisor = _user("supervisor", "gd")
    await place_legal_hold(store, settings, supervisor, held_case, "法院调取证据", NOW)
    for case_id in (old_case, held_case):
        await store["appointments"].insert_one({"_id": f"ap-{case_id}", "case_id": case_id, "seat_key": f"sl:{case_id}",
                                                "note": "家长陪同来访"})

    result = await run_retention(store, settings, NOW, dry_run=False)
    assert (result.conversations_purged, result.cases_anonymised, result.contacts_deleted,
            result.audit_entries_deleted) == (1, 1, 1, 1)
    assert set(result.cases_kept) == {held_case, reported_case}

    assert (await store.messages.find_one({"conversation_id": old}))["text"] == ""
    case = await store["cases"].find_one({"_id": old_case})
    assert case["summary"] == "" and case["contact_id"] == "" and case["classification"] == "psych.study"
    assert case["referrals"][0]["contact"] == "" and case["referrals"][0]["agency"] == "school"
    assert await store["youth_profiles"].find_one({"_id": old_case}) is None
    assert (await store["appointments"].find_one({"case_id": old_case}))["note"] == ""
    assert (await store["appointments"].find_one({"case_id": held_case}))["note"] == "家长陪同来访"
    assert await store.contacts.find_one({"_id": "ct" + old.removeprefix("cv")}) is None
    for kept in (held, reported, recent):
        assert (await store.messages.find_one({"conversation_id": kept}))["text"] != ""
    assert (await store["cases"].find_one({"_id": held_case}))["summary"] != ""

    actions = {entry.action for entry in await audit.list_audit(store)}
    assert {"retention.messages", "retention.cases", "retention.contacts", "retention.audit",
            "retention.case.anonymised", "case.legal_hold.placed"} <= actions
    # Run again: nothing is left to do.
    again = await run_retention(store, settings, NOW, dry_run=False)
    assert (again.conversations_purged, again.cases_anonymised) == (0, 0)

    # Released, the held case goes at the next run.
    await release_legal_hold(store, settings, supervisor, held_case, NOW)
    assert (await run_retention(store, settings, NOW, dry_run=False)).cases_anonymised == 1


async def test_legal_holds_are_for_supervisors_of_the_cases_desk(store: Store, settings: Settings) -> None:  # noqa: F811
    _, case_id = await add_case(store, LONG_AGO, desk="gd")
    with pytest.raises(NotPermitted):
        await place_legal_hold(store, settings, _user("counsellor", "gd"), case_id, "理由", NOW)
    with pytest.raises(NotPermitted):
        await place_legal_hold(store, settings, _user("supervisor", "sz"), case_id, "理由", NOW)
    with pytest.raises(NotFound):
        await release_legal_hold(store, settings, _user("supervisor", "gd"), case_id, NOW)
