"""The desks' day is Beijing's: case numbers carry the Beijing date, and "today" starts at 00:00 Beijing time."""

from __future__ import annotations

from datetime import UTC, datetime

from contract.config import Settings
from handoff.cases import next_number
from handoff.stats import period_start
from store.client import open_store
from store.durable import DurableMongoClient


def test_today_starts_at_midnight_beijing_time() -> None:
    # 2026-11-29 07:30 in Beijing is still 2026-11-28 in UTC: today began at 2026-11-28 16:00 UTC.
    now = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)
    assert period_start(1, now) == datetime(2026, 11, 28, 16, 0, tzinfo=UTC)
    # 2026-11-29 09:00 Beijing (01:00 UTC): the same Beijing day, the same start.
    assert period_start(1, datetime(2026, 11, 29, 1, 0, tzinfo=UTC)) == datetime(2026, 11, 28, 16, 0, tzinfo=UTC)
    assert period_start(30, now) == datetime(2026, 10, 29, 23, 30, tzinfo=UTC)


async def test_case_numbers_carry_the_beijing_date(settings: Settings, embedded_client: DurableMongoClient) -> None:
    store = open_store(settings.service.mongodb_uri, settings.service.mongodb_database,
                       embedded_client=embedded_client)
    before_midnight_utc = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)  # 01:00 on the 29th in Beijing
    assert await next_number(store, "gd", before_midnight_utc) == "12355-GD-20261129-000001"
    assert await next_number(store, "gd", datetime(2026, 11, 29, 15, 59, tzinfo=UTC)) == "12355-GD-20261129-000002"
    assert await next_number(store, "gd", datetime(2026, 11, 29, 16, 0, tzinfo=UTC)) == "12355-GD-20261130-000001"
