"""The dashboard's time series: per Beijing-time day of the last 30 or 90, conversations, cases,
conversations at risk level 2 or above, and the median (nearest-rank, as on the rest of the
dashboard) first response in seconds.

A day is the desks' day, 00:00 to 24:00 Beijing time, whatever the server's zone; today counts as
the last day so far. A conversation (its risk, its first response) counts on the day it was opened,
a case on the day it was opened, so a day's figures do not move once the day is over except for
first responses still to come. Days with nothing are listed with zeros so the chart has no holes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from handoff.desks import CHINA
from handoff.stats import MAX_CONVERSATIONS, first_response_seconds, percentile
from store import stats as stored
from store.client import Store

SERIES_DAYS: tuple[int, ...] = (30, 90)
HIGH_RISK = 2


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    conversations: int = 0
    cases: int = 0
    risk_2_plus: int = 0
    first_response_p50: float | None = None

    def public(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "conversations": self.conversations, "cases": self.cases,
                "risk_2_plus": self.risk_2_plus, "first_response_p50": self.first_response_p50}


def beijing_day(at: datetime) -> date:
    return at.astimezone(CHINA).date()


def series_start(days: int, now: datetime) -> datetime:
    """00:00 Beijing time ``days - 1`` days before today, as UTC: ``days`` whole days ending today."""
    first = beijing_day(now) - timedelta(days=days - 1)
    return datetime(first.year, first.month, first.day, tzinfo=CHINA).astimezone(UTC)


async def daily_series(store: Store, desks: set[str], days: int, now: datetime) -> list[Day]:
    """One :class:`Day` per Beijing day of the last ``days``, oldest first."""
    since = series_start(days, now)
    desk_list = sorted(desks)
    conversations = await stored.conversations_since(store, desk_list, since, MAX_CONVERSATIONS)
    cases = Counter(beijing_day(at) for at in await stored.case_open_times_since(store, desk_list, since))
    responses = await first_response_seconds(store, [conversation.id for conversation in conversations])
    opened: dict[date, list[str]] = {}
    risky: Counter[date] = Counter()
    for conversation in conversations:
        day = beijing_day(conversation.created_at)
        opened.setdefault(day, []).append(conversation.id)
        risky[day] += conversation.risk_level >= HIGH_RISK
    first_day = beijing_day(since)
    series = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        ids = opened.get(day, [])
        times = [responses[cid] for cid in ids if cid in responses]
        series.append(Day(day, conversations=len(ids), cases=cases[day], risk_2_plus=risky[day],
                          first_response_p50=percentile(times, 0.5)))
    return series
