"""The early-warning reads on ``alerts``: whether a cell alerted lately (alerts are written by ``store.alerts``)."""

from __future__ import annotations

from datetime import datetime

from store.database import Store


async def warning_raised_since(store: Store, category: str, region: str, since: datetime) -> bool:
    found = await store["alerts"].find_one({"type": "early_warning", "data.category": category,
                                            "data.region": region, "created_at": {"$gte": since}})
    return found is not None
