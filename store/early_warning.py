"""The early-warning reads: the cases of a period, and whether a cell alerted lately (alerts are written by
``store.alerts``)."""

from __future__ import annotations

from datetime import datetime

from contract.stats import CaseSample
from store.database import Store
from store.times import aware


async def cases_opened(store: Store, desks: list[str], start: datetime, end: datetime) -> list[CaseSample]:
    """Cases of ``desks`` opened in [start, end): a range read on the cases, no per-conversation lookups."""
    docs = await store["cases"].find({"desk": {"$in": desks}, "created_at": {"$gte": start, "$lt": end}},
                                     {"desk": 1, "classification": 1, "created_at": 1}).to_list(None)
    return [CaseSample(doc["_id"], doc["desk"], doc.get("classification"), aware(doc["created_at"])) for doc in docs]


async def warning_raised_since(store: Store, category: str, region: str, since: datetime) -> bool:
    found = await store["alerts"].find_one({"type": "early_warning", "data.category": category,
                                            "data.region": region, "created_at": {"$gte": since}})
    return found is not None
