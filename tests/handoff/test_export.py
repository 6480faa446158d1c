"""Record-level export: schema-valid records, national 案由 codes, de-identification, the authorised upward feed."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from contract.keys import SETTINGS, STORE
from contract.models import utcnow
from contract.youth import YouthProfile
from handoff.desks import CHINA
from handoff.errors import Invalid
from handoff.export import ExportInvalid, beijing_days, export_records, national_code, to_csv, to_jsonl, validate
from store import export as stored_export
from store.times import aware
from tests.handoff_support import conversation, login, start, user


async def _two_conversations(client) -> list[str]:  # type: ignore[no-untyped-def]
    first = await conversation(client, risk=2, category="crisis.suicide")
    second = await conversation(client)
    store = client.app[STORE]
    case = await store["cases"].find_one({"conversation_id": first})
    await store["cases"].update_one({"_id": case["_id"]}, {"$set": {"classification": "psych.study",
                                                                    "outcome": "已转介学校心理老师"}})
    await stored_export.save_profile(store, YouthProfile(
        case_id=case["_id"], age_band="15_17", gender="female", school_stage="senior_secondary",
        region_code="440305", left_behind=True, recorded_by="u1", recorded_at=utcnow()))
    return [first, second]


async def _days_opened(client, ids: list[str]) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """The first and last Beijing day the conversations opened on, which the export selects by: read back,
    not taken from the clock afterwards, which can be past midnight Beijing time by then."""
    store = client.app[STORE]
    opened = [aware((await store.conversations.find_one({"_id": cid}))["created_at"]) for cid in ids]
    days = sorted(at.astimezone(CHINA).strftime("%Y-%m-%d") for at in opened)
    return days[0], days[-1]


async def test_export_is_valid_against_the_schema_identified_and_deidentified(start_app, settings) -> None:  # type: ignore[no-untyped-def]
    client = await start(start_app, settings)
    ids = await _two_conversations(client)
    store, config = client.app[STORE], client.app[SETTINGS]
    start_at, end_at = beijing_days(*await _days_opened(client, ids))
    identified = await export_records(store, config, {"gd"}, start_at, end_at, deidentify=False)
    assert [record["record_id"] for record in identified] == ids
    first = identified[0]
    assert first["case"]["category"] == {"national": "02", "local": "psych.study"}
    assert first["case"]["risk"] == {"triage": 2, "assessed": None, "highest": 2}
    assert first["youth_profile"]["region_code"] == "440305"
    assert first["opened_at"]["beijing"].endswith("+08:00") and first["opened_at"]["utc"].endswith("Z")
    assert identified[1]["youth_profile"] == dict.fromkeys(first["youth_profile"])  # nothing recorded, nothing asked

    anonymous = await export_records(store, config, {"gd"}, start_at, end_at, deidentify=True)
    text = to_jsonl(anonymous)
    assert all(cid not in text for cid in ids) and "已转介" not in text
    assert anonymous[0]["identifiers"] is None and anonymous[0]["youth_profile"]["region_code"] == "440300"
    assert anonymous[0]["record_id"] == (await export_records(store, config, {"gd"}, start_at, end_at,
                                                              deidentify=True))[0]["record_id"]  # stable pseudonym
    rows = list(csv.DictReader(io.StringIO(to_csv(anonymous))))
    assert rows[0]["case.category.national"] == "02" and rows[0]["youth_profile.age_band"] == "15_17"
    # The human-readable form names the region next to its code.
    assert (rows[0]["youth_profile.region_code"], rows[0]["youth_profile.region_name"]) == ("440300", "深圳市")
    assert (rows[0]["desk.region_code"], rows[0]["desk.region_name"]) == ("440000", "广东省")


def test_an_invalid_record_is_refused_before_it_leaves() -> None:
    with pytest.raises(ExportInvalid, match="channel"):
        validate([{"schema_version": "1.0", "record_id": "x", "deidentified": True, "identifiers": None,
                   "desk": {"id": "gd", "level": "provincial", "region_code": None}, "channel": "fax",
                   "opened_at": {"utc": "2026-11-01T00:00:00Z", "beijing": "2026-11-01T08:00:00+08:00"},
                   "closed_at": None, "first_response_seconds": None, "message_counts": {"youth": 0, "counsellor": 0},
                   "case": None, "satisfaction": None,
                   "youth_profile": dict.fromkeys(["age_band", "gender", "school_stage", "region_code",
                                                   "left_behind", "migrant"])}])


def test_desk_categories_map_to_national_codes_through_their_parents(settings) -> None:  # type: ignore[no-untyped-def]
    assert national_code(settings, "crisis.self_harm") == "11"  # via its parent "crisis"
    assert national_code(settings, "desk.own_extension") == "99"
    assert national_code(settings, None) is None


def test_export_periods_are_beijing_days() -> None:
    assert beijing_days("2026-11-01", "2026-11-30") == (datetime(2026, 10, 31, 16, tzinfo=UTC),
                                                        datetime(2026, 11, 30, 16, tzinfo=UTC))
    with pytest.raises(Invalid):
        beijing_days("2026-11-30", "2026-11-01")
    assert beijing_days("2026-01-01", "2026-12-31")[1] - beijing_days("2026-01-01", "2026-12-31")[0] \
        == timedelta(days=365)


async def test_the_upward_feed_is_for_supervisors_of_the_desk_or_above(start_app, settings) -> None:  # type: ignore[no-untyped-def]
    client = await start(start_app, settings)
    ids = await _two_conversations(client)
    await user(client, "gd-boss", "supervisor", desk="gd")
    await user(client, "sz-boss", "supervisor", desk="sz")
    await user(client, "gd-counsellor", "counsellor", desk="gd")
    first, last = await _days_opened(client, ids)
    url = f"/api/v1/data/feed.jsonl?desk=gd&from={first}&to={last}"
    assert (await client.get(url)).status == 401
    assert (await client.get(url, headers=await login(client, "gd-counsellor"))).status == 403
    assert (await client.get(url, headers=await login(client, "sz-boss"))).status == 403
    response = await client.get(url, headers=await login(client, "gd-boss"))
    assert response.status == 200
    body = await response.text()
    records = [json.loads(line) for line in body.splitlines()]
    assert len(records) == 2 and all(record["deidentified"] for record in records)
    assert all(cid not in body for cid in ids)
    bad = await client.get(f"/api/v1/data/feed.jsonl?desk=gd&from=yesterday&to={last}",
                           headers=await login(client, "gd-boss"))
    assert bad.status == 400
