"""Safety plans (``safety_plans``): one per case, keyed by the case id, replaced as a whole on save."""

from __future__ import annotations

from typing import Any

from store.database import Store


async def find(store: Store, case_id: str) -> dict[str, Any] | None:
    doc = await store["safety_plans"].find_one({"_id": case_id})
    if doc is None:
        return None
    return {key: value for key, value in doc.items() if key != "_id"}


async def save(store: Store, case_id: str, plan: dict[str, Any]) -> None:
    await store["safety_plans"].replace_one({"_id": case_id}, {"_id": case_id, **plan}, upsert=True)
