"""Cases: network-unique numbers, one case per conversation, referrals, follow-ups, mandatory reports."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest

from contract.cases import Assessment, MandatoryReport
from contract.config import Settings
from contract.models import Conversation, new_id
from handoff import cases
from handoff.desks import CHINA
from handoff.errors import Invalid, NotFound
from store import cases as stored_cases
from store.client import Store, open_store
from store.durable import DurableMongoClient


@pytest.fixture
async def store(settings: Settings, embedded_client: DurableMongoClient) -> Store:
    opened = open_store(settings.service.mongodb_uri, settings.service.mongodb_database,
                        embedded_client=embedded_client)
    await opened.ensure_indexes()
    return opened


def conversation(desk: str = "gd", contact: str = "ct_1", risk: int = 0) -> Conversation:
    return Conversation(id=new_id("cv"), contact_id=contact, platform="wechat", account="wx1", desk=desk,
                        risk_level=risk)


async def test_case_numbers_are_unique_under_concurrent_opens(store: Store, settings: Settings) -> None:
    conversations = [conversation(desk=("gd", "sz", "national")[i % 3]) for i in range(50)]
    opened = await asyncio.gather(*(cases.open_case(store, settings, c) for c in conversations))
    numbers = [case.number for case in opened]
    assert len(set(numbers)) == 50
    today = datetime.now(CHINA).strftime("%Y%m%d")  # case numbers carry the Beijing date
    assert all(re.fullmatch(rf"12355-(GD|SZ|NATIONAL)-{today}-\d{{6}}", n) for n in numbers)
    gd = sorted(n for n in numbers if n.startswith("12355-GD-"))
    assert [int(n[-6:]) for n in gd] == list(range(1, len(gd) + 1))


async def test_one_case_per_conversation_even_when_opened_concurrently(store: Store, settings: Settings) -> None:
    c = conversation()
    opened = await asyncio.gather(*(cases.open_case(store, settings, c) for _ in range(10)))
    assert len({case.id for case in opened}) == 1
    assert await store["cases"].count_documents({"conversation_id": c.id}) == 1


async def test_transfer_keeps_the_case_and_number(store: Store, settings: Settings) -> None:
    c = conversation(desk="sz")
    first = await cases.open_case(store, settings, c)
    await cases.move_case(store, c.id, "gd-regional")
    again = await cases.open_case(store, settings, c.model_copy(update={"desk": "gd-regional"}))
    assert (again.id, again.number, again.desk) == (first.id, first.number, "gd-regional")
    requeued = await cases.open_case(store, settings, c.model_copy(update={"desk": "national"}))
    assert (requeued.number, (await cases.get_case(store, first.id)).desk) == (first.number, "national")


async def test_classification_must_come_from_the_taxonomy(store: Store, settings: Settings) -> None:
    case = await cases.open_case(store, settings, conversation())
    updated = await cases.update_case(store, settings, case.id, classification="psych.study", summary="考试焦虑")
    assert (updated.classification, updated.summary) == ("psych.study", "考试焦虑")
    with pytest.raises(Invalid):
        await cases.update_case(store, settings, case.id, classification="made.up")
    with pytest.raises(NotFound):
        await cases.update_case(store, settings, "case_missing", summary="x")


async def test_assessment_recorded_and_visible_to_the_engine(store: Store, settings: Settings) -> None:
    c = conversation(risk=3)
    case = await cases.open_case(store, settings, c)
    assert cases.missing_before_close(case, 3) == [
        "risk assessment", "classification", "summary", "a referral, a mandatory report or no_referral_reason"]
    assert cases.missing_before_close(case, 3, no_referral_reason="家长已接回，拒绝转介")[-1] == "summary"
    assessment = Assessment(level=2, factors=["自杀念头"], immediate_danger=False, protective_factors=["母亲支持"],
                            plan="每日回访", notes="", assessed_by="u1", assessed_at=datetime.now(UTC))
    updated = await cases.set_assessment(store, case.id, assessment)
    assert updated.assessment is not None and updated.risk_level == 2
    assert cases.missing_before_close(updated, 2) == ["classification", "summary"]
    assert cases.missing_before_close(updated, 1) == []


async def test_referral_status_transitions(store: Store, settings: Settings) -> None:
    case = await cases.open_case(store, settings, conversation())
    due = datetime.now(UTC) + timedelta(days=3)
    case = await cases.add_referral(store, settings, case.id, agency="12348", by="u1", due_at=due, note="法律援助")
    rid = case.referrals[0].id
    assert case.referrals[0].status == "sent"
    with pytest.raises(Invalid):
        await cases.set_referral_status(store, case.id, rid, "resolved", by="u1")  # must be accepted first
    case = await cases.set_referral_status(store, case.id, rid, "accepted", by="u1")
    case = await cases.set_referral_status(store, case.id, rid, "resolved", by="u1", note="已结案")
    assert [h.status for h in case.referrals[0].history] == ["sent", "accepted", "resolved"]
    with pytest.raises(Invalid):
        await cases.set_referral_status(store, case.id, rid, "declined", by="u1")  # final
    with pytest.raises(Invalid):
        await cases.add_referral(store, settings, case.id, agency="999", by="u1", due_at=due)


async def test_followups_are_ticked_off(store: Store, settings: Settings) -> None:
    case = await cases.open_case(store, settings, conversation())
    case = await cases.add_followup(store, case.id, title="一周后回访", due_at=datetime.now(UTC), by="u1")
    fid = case.followups[0].id
    case = await cases.set_followup_done(store, case.id, fid, done=True, by="u2", note="情绪稳定")
    assert (case.followups[0].done, case.followups[0].done_by, case.followups[0].note) == (True, "u2", "情绪稳定")
    with pytest.raises(NotFound):
        await cases.set_followup_done(store, case.id, "fu_missing", done=True, by="u2")


async def test_close_case_records_outcome(store: Store, settings: Settings) -> None:
    c = conversation()
    await cases.open_case(store, settings, c)
    await cases.close_case(store, c.id, "resolved", by="u1")
    case = await cases.get_case_for_conversation(store, c.id)
    assert case is not None and (case.status, case.outcome, case.closed_by) == ("closed", "resolved", "u1")


async def _with_reports(store: Store, settings: Settings, count: int) -> str:
    case = await cases.open_case(store, settings, conversation())
    for n in range(count):
        await cases.append_mandatory_report(store, case.id, reported_to="深圳市公安局", reported_at=datetime.now(UTC),
                                            reported_by="u1", reference=f"SZ-{n}", note="疑似家暴")
    return case.id


async def test_mandatory_reports_append_only_and_chained(store: Store, settings: Settings) -> None:
    case_id = await _with_reports(store, settings, 3)
    case = await cases.get_case(store, case_id)
    assert [r.seq for r in case.mandatory_reports] == [1, 2, 3]
    assert case.mandatory_reports[1].prev_hash == case.mandatory_reports[0].hash
    assert await cases.verify_report_chain(store, case_id)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        case.mandatory_reports[0].reference = "changed"  # type: ignore[misc]
    assert not any(name.startswith(("update_mandatory", "delete_mandatory", "edit_mandatory"))
                   for module in (cases, stored_cases) for name in dir(module))
    assert MandatoryReport.model_config.get("frozen") is True


async def test_concurrent_mandatory_reports_keep_one_chain(store: Store, settings: Settings) -> None:
    case = await cases.open_case(store, settings, conversation())
    await asyncio.gather(*(cases.append_mandatory_report(
        store, case.id, reported_to="检察院", reported_at=datetime.now(UTC), reported_by="u1", reference=str(n))
        for n in range(8)))
    assert len((await cases.get_case(store, case.id)).mandatory_reports) == 8
    assert await cases.verify_report_chain(store, case.id)


async def test_chain_detects_an_edited_record(store: Store, settings: Settings) -> None:
    case_id = await _with_reports(store, settings, 3)
    await store["mandatory_reports"].update_one({"case_id": case_id, "seq": 2}, {"$set": {"reference": "forged"}})
    assert not await cases.verify_report_chain(store, case_id)


async def test_chain_detects_a_removed_record(store: Store, settings: Settings) -> None:
    case_id = await _with_reports(store, settings, 3)
    await store["mandatory_reports"].delete_one({"case_id": case_id, "seq": 3})
    assert not await cases.verify_report_chain(store, case_id)
