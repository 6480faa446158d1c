"""Desk statistics for supervisors: volume, waiting and first-response times, satisfaction.

Everything is computed from stored facts: conversations (channel, risk), cases (案由), the
``conversation.state_changed`` events (queued → assigned), message timestamps and ratings.
The CSV export is a flattening of the same numbers, never a separate computation.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from contract.config import Settings
from contract.models import ConversationState, utcnow
from contract.people import User
from handoff.access import descendants, ensure_desk_access, visible_desks
from handoff.desks import CHINA
from handoff.errors import Invalid
from store import stats as stored
from store.client import Store

# Histogram upper bounds in seconds; the last bucket is open-ended.
BUCKETS: tuple[int, ...] = (30, 60, 120, 300, 600, 1800, 3600)
MAX_CONVERSATIONS = 50_000


def period_start(days: int, now: datetime | None = None) -> datetime:
    """``days=1`` is today (from midnight Beijing time, the desks' day); otherwise the last ``days`` × 24 h
    (the daily series, ``handoff.daily_stats``, counts whole Beijing days instead)."""
    now = now or utcnow()
    if days == 1:
        return now.astimezone(CHINA).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    return now - timedelta(days=days)


def percentile(samples: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None for no samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _bucket_label(index: int) -> str:
    low = 0 if index == 0 else BUCKETS[index - 1]
    return f"{low}-{BUCKETS[index]}" if index < len(BUCKETS) else f"{low}+"


def distribution(samples: list[float]) -> dict[str, Any]:
    counts = [0] * (len(BUCKETS) + 1)
    for value in samples:
        counts[next((i for i, bound in enumerate(BUCKETS) if value < bound), len(BUCKETS))] += 1
    return {"count": len(samples), "p50": percentile(samples, 0.5), "p90": percentile(samples, 0.9),
            "histogram": [{"bucket": _bucket_label(i), "count": n} for i, n in enumerate(counts)]}


@dataclass(frozen=True, slots=True)
class Stats:
    since: datetime
    desks: list[str]
    volume_by_channel: dict[str, int]
    volume_by_category: dict[str, int]
    volume_by_risk: dict[str, int]
    waiting_seconds: dict[str, Any]
    first_response_seconds: dict[str, Any]
    satisfaction: dict[str, Any]

    def public(self) -> dict[str, Any]:
        return {"since": self.since.isoformat(), "desks": self.desks, "volume_by_channel": self.volume_by_channel,
                "volume_by_category": self.volume_by_category, "volume_by_risk": self.volume_by_risk,
                "waiting_seconds": self.waiting_seconds, "first_response_seconds": self.first_response_seconds,
                "satisfaction": self.satisfaction}

    def csv(self) -> str:
        """``section,key,value`` rows with exactly the numbers of :meth:`public`."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["section", "key", "value"])
        for section in ("volume_by_channel", "volume_by_category", "volume_by_risk"):
            for key, value in getattr(self, section).items():
                writer.writerow([section, key, value])
        for section in ("waiting_seconds", "first_response_seconds"):
            numbers = getattr(self, section)
            for key in ("count", "p50", "p90"):
                writer.writerow([section, key, "" if numbers[key] is None else numbers[key]])
            for bucket in numbers["histogram"]:
                writer.writerow([section, f"histogram:{bucket['bucket']}", bucket["count"]])
        writer.writerow(["satisfaction", "count", self.satisfaction["count"]])
        mean = self.satisfaction["mean"]
        writer.writerow(["satisfaction", "mean", "" if mean is None else mean])
        for score, count in self.satisfaction["histogram"].items():
            writer.writerow(["satisfaction", f"histogram:{score}", count])
        return out.getvalue()


def _count(values: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


async def _times(store: Store, conversation_ids: list[str]) -> tuple[list[float], list[float]]:
    """(waiting seconds per queue episode, first-response seconds per handed-off conversation)."""
    queued_at: dict[str, datetime] = {}
    first_queued: dict[str, datetime] = {}
    waiting: list[float] = []
    for change in await stored.state_changes(store, conversation_ids):
        conversation_id, to, at = change.conversation_id, change.to, change.at
        if to == ConversationState.QUEUED:
            queued_at.setdefault(conversation_id, at)
            first_queued.setdefault(conversation_id, at)
        elif to == ConversationState.ASSIGNED and conversation_id in queued_at:
            waiting.append((at - queued_at.pop(conversation_id)).total_seconds())
        elif conversation_id in queued_at:  # left the queue another way (closed, back to the bot)
            queued_at.pop(conversation_id)
    first_reply = await stored.first_counsellor_replies(store, list(first_queued))
    first_response = [max(0.0, (first_reply[cid] - queued).total_seconds())
                      for cid, queued in first_queued.items() if cid in first_reply]
    return waiting, first_response


async def first_response_seconds(store: Store, conversation_ids: list[str]) -> dict[str, float]:
    """Per conversation, from first entering the queue to the first counsellor message (as in ``_times``)."""
    first_queued: dict[str, datetime] = {}
    for change in await stored.state_changes(store, conversation_ids):
        if change.to == ConversationState.QUEUED:
            first_queued.setdefault(change.conversation_id, change.at)
    replies = await stored.first_counsellor_replies(store, list(first_queued))
    return {cid: max(0.0, (replies[cid] - queued).total_seconds())
            for cid, queued in first_queued.items() if cid in replies}


async def compute_stats(store: Store, desks: set[str], since: datetime) -> Stats:
    desk_list = sorted(desks)
    conversations = await stored.conversations_since(store, desk_list, since, MAX_CONVERSATIONS)
    classifications = await stored.case_classifications_since(store, desk_list, since)
    waiting, first_response = await _times(store, [conversation.id for conversation in conversations])
    scores = await stored.rating_scores_since(store, desk_list, since)
    return Stats(
        since=since, desks=desk_list,
        volume_by_channel=_count([conversation.platform for conversation in conversations]),
        volume_by_category=_count([code or "unclassified" for code in classifications]),
        volume_by_risk={str(level): sum(1 for conversation in conversations if conversation.risk_level == level)
                        for level in range(4)},
        waiting_seconds=distribution(waiting),
        first_response_seconds=distribution(first_response),
        satisfaction={"count": len(scores), "mean": round(sum(scores) / len(scores), 2) if scores else None,
                      "histogram": {str(score): scores.count(score) for score in range(1, 6)}},
    )


def desks_in_scope(settings: Settings, user: User, desk: str | None = None) -> set[str]:
    """The desks ``user`` sees, or ``desk`` and the desks below it among those (a supervisor: their desk and
    the desks below; an admin: any desk)."""
    desks = visible_desks(user, settings)
    if desk:
        if desk not in {d.id for d in settings.desks}:
            raise Invalid("desk: 未知的服务台")
        ensure_desk_access(user, desk, settings)
        desks &= descendants(settings, desk)
    return desks


async def stats_in_scope(store: Store, settings: Settings, user: User, since: datetime,
                         desk: str | None = None) -> Stats:
    """Statistics of the desks ``user`` sees, or of ``desk`` and the desks below it among those."""
    return await compute_stats(store, desks_in_scope(settings, user, desk), since)
