"""Record-level export in the unified data fields (统一数据字段), validated against ``contract/export_schema.json``.

One record per conversation, carrying its case when a counsellor had it. The schema is versioned
(``schema_version``) and lists the national 案由 codes; each desk's own categories map onto them
through ``[data.national_categories]``, so desks share one vocabulary and keep their own detail.

De-identified records are what leaves a desk (the upward feed, research): no identifiers, no free
text, a keyed pseudonym (HMAC-SHA256 with the service's data key) as ``record_id`` so the same
conversation keeps one id across pulls without being traceable, times to the hour and regions
to the prefecture (地级) so rare combinations do not single out a child.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from contract.cases import Case
from contract.config import Settings
from contract.models import Conversation
from contract.people import User
from contract.regions import region_name
from contract.youth import YouthProfile
from handoff.access import descendants, ensure_desk_access, require_role, visible_desks
from handoff.desks import CHINA
from handoff.errors import Invalid
from handoff.stats import first_response_seconds
from store import export as stored
from store.client import Store

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "contract" / "export_schema.json"
SCHEMA_VERSION = "1.0"
OTHER_CATEGORY = "99"
PROFILE_FIELDS = ("age_band", "gender", "school_stage", "region_code", "left_behind", "migrant")


class ExportInvalid(Exception):
    """A record does not match the schema: a bug to fix before anything leaves the desk."""


@cache
def export_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def national_categories() -> dict[str, str]:
    """National code -> its Chinese name, as the schema lists them."""
    return {item["const"]: item["title"] for item in export_schema()["$defs"]["national_category"]["oneOf"]}


def national_code(settings: Settings, local: str | None) -> str | None:
    """The national code of a desk category: its own mapping, else its nearest mapped parent, else 其他."""
    if not local:
        return None
    mapping = settings.data.national_categories
    parts = local.split(".")
    for depth in range(len(parts), 0, -1):
        if found := mapping.get(".".join(parts[:depth])):
            return found
    return OTHER_CATEGORY


def _times(at: datetime, coarse: bool) -> dict[str, str]:
    at = at.astimezone(UTC)
    if coarse:
        at = at.replace(minute=0, second=0, microsecond=0)
    return {"utc": at.isoformat().replace("+00:00", "Z"), "beijing": at.astimezone(CHINA).isoformat()}


def _prefecture(region_code: str | None) -> str | None:
    return region_code[:4] + "00" if region_code else None


def pseudonym(settings: Settings, conversation_id: str) -> str:
    key = settings.service.data_key.encode() or b"youthdesk-no-data-key"
    return "r_" + hmac.new(key, conversation_id.encode(), hashlib.sha256).hexdigest()[:20]


def _case_fields(settings: Settings, conversation: Conversation, case: Case, reports: int,
                 deidentify: bool) -> dict[str, Any]:
    assessed = case.assessment.level if case.assessment else None
    return {
        "status": case.status,
        "category": {"national": national_code(settings, case.classification), "local": case.classification},
        "risk": {"triage": conversation.risk_level, "assessed": assessed,
                 "highest": max(conversation.risk_level, case.risk_level, assessed or 0)},
        "outcome": None if deidentify else case.outcome,
        "referrals": [{"agency": referral.agency, "status": referral.status} for referral in case.referrals],
        "followups": {"total": len(case.followups), "done": sum(1 for f in case.followups if f.done)},
        "mandatory_reports": reports,
    }


def build_record(settings: Settings, conversation: Conversation, *, case: Case | None, reports: int,
                 profile: YouthProfile | None, score: int | None, counts: dict[str, int],
                 first_response: float | None, deidentify: bool) -> dict[str, Any]:
    desk = settings.desk(conversation.desk)
    region = profile.region_code if profile and profile.region_code else None
    profile_fields = {name: getattr(profile, name) if profile else None for name in PROFILE_FIELDS}
    desk_region = desk.region_code or None
    if deidentify:
        profile_fields["region_code"] = _prefecture(region)
        desk_region = _prefecture(desk_region)
    return {
        "schema_version": SCHEMA_VERSION,
        "record_id": pseudonym(settings, conversation.id) if deidentify else conversation.id,
        "deidentified": deidentify,
        "identifiers": None if deidentify else {
            "conversation_id": conversation.id, "contact_id": conversation.contact_id,
            "case_id": case.id if case else None, "case_number": case.number if case else None},
        "desk": {"id": desk.id, "level": desk.level, "region_code": desk_region},
        "channel": conversation.platform,
        "opened_at": _times(conversation.created_at, deidentify),
        "closed_at": _times(conversation.closed_at, deidentify) if conversation.closed_at else None,
        "first_response_seconds": first_response,
        "message_counts": {"youth": counts.get("youth", 0), "counsellor": counts.get("counsellor", 0)},
        "case": _case_fields(settings, conversation, case, reports, deidentify) if case else None,
        "satisfaction": score,
        "youth_profile": profile_fields,
    }


def validate(records: Iterable[dict[str, Any]]) -> None:
    validator = jsonschema.Draft202012Validator(export_schema(), format_checker=jsonschema.FormatChecker())
    for index, record in enumerate(records):
        error = jsonschema.exceptions.best_match(validator.iter_errors(record))
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path) or "record"
            raise ExportInvalid(f"record {index} ({record.get('record_id')}): {where}: {error.message}")


async def export_records(store: Store, settings: Settings, desks: set[str], start: datetime, end: datetime, *,
                         deidentify: bool) -> list[dict[str, Any]]:
    """Every conversation of ``desks`` opened in [start, end), as schema-valid records (validated here)."""
    conversations = await stored.conversations_opened(store, sorted(desks), start, end)
    return await records_for(store, settings, conversations, deidentify=deidentify)


async def records_for(store: Store, settings: Settings, conversations: list[Conversation], *,
                      deidentify: bool) -> list[dict[str, Any]]:
    """The conversations as schema-valid records (validated here)."""
    ids = [conversation.id for conversation in conversations]
    cases = await stored.cases_of_conversations(store, ids)
    case_ids = [case.id for case in cases.values()]
    reports = await stored.mandatory_report_counts(store, case_ids)
    profiles = await stored.profiles_of_cases(store, case_ids)
    scores = await stored.rating_scores(store, ids)
    counts = await stored.message_counts(store, ids)
    first_response = await first_response_seconds(store, ids)
    records = []
    for conversation in conversations:
        case = cases.get(conversation.id)
        records.append(build_record(
            settings, conversation, case=case, reports=reports.get(case.id, 0) if case else 0,
            profile=profiles.get(case.id) if case else None, score=scores.get(conversation.id),
            counts=counts.get(conversation.id, {}), first_response=first_response.get(conversation.id),
            deidentify=deidentify))
    validate(records)
    return records


async def feed_for(store: Store, settings: Settings, user: User, desk: str, start: datetime,
                   end: datetime) -> list[dict[str, Any]]:
    """The upward feed: de-identified records of ``desk`` and the desks below it, for its supervisors."""
    require_role(user, "supervisor", "admin")
    ensure_desk_access(user, desk, settings)
    return await export_records(store, settings, descendants(settings, desk) & visible_desks(user, settings),
                                start, end, deidentify=True)


def to_jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n" for record in records)


def _flatten(value: Any, prefix: str, row: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else key, row)
    elif isinstance(value, list):
        row[prefix] = ";".join(f"{item['agency']}:{item['status']}" for item in value)
    else:
        row[prefix] = "" if value is None else value


def to_csv(records: list[dict[str, Any]]) -> str:
    """One row per record; nested fields become dotted columns, referrals ``agency:status;…``.

    This is the human-readable form, so each region code has a ``…region_name`` column next to it
    (``contract.regions``); the JSON Lines form carries codes only, as the schema defines them.
    """
    rows = []
    for record in records:
        row: dict[str, Any] = {}
        _flatten({k: v for k, v in record.items() if k not in ("case", "identifiers")}, "", row)
        _flatten({"identifiers": record["identifiers"] or {}, "case": record["case"] or {}}, "", row)
        for part in ("desk", "youth_profile"):
            row[f"{part}.region_name"] = region_name(record[part]["region_code"]) or ""
        rows.append(row)
    columns = sorted({column for row in rows for column in row})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


MAX_EXPORT_DAYS = 366


def beijing_days(first: str, last: str) -> tuple[datetime, datetime]:
    """[00:00 Beijing of ``first``, 00:00 Beijing of the day after ``last``) as UTC; dates are YYYY-MM-DD."""
    try:
        start = datetime.strptime(first, "%Y-%m-%d").replace(tzinfo=CHINA)
        end = datetime.strptime(last, "%Y-%m-%d").replace(tzinfo=CHINA) + timedelta(days=1)
    except ValueError:
        raise Invalid("日期格式应为 YYYY-MM-DD") from None
    if not timedelta(0) < end - start <= timedelta(days=MAX_EXPORT_DAYS):
        raise Invalid(f"结束日期须不早于开始日期，且区间不超过 {MAX_EXPORT_DAYS} 天")
    return start.astimezone(UTC), end.astimezone(UTC)
