"""Counsellors' risk labels (``risk_labels``) and the youth's words each one judged.

A label holds no text (``contract.risk_labels``); the example's text is read from ``messages`` when
the labels are exported, opened there like every other read of message text.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from contract.models import Direction, MessageType, SenderKind
from contract.risk_labels import RiskLabel
from store.database import Index, Store
from store.fields import unseal
from store.times import aware

INDEXES = {"risk_labels": [Index([("at", ASCENDING)], "at"),
                           Index([("conversation_id", ASCENDING), ("at", ASCENDING)], "conversation_at")]}


async def insert_label(store: Store, label: RiskLabel) -> None:
    doc = label.model_dump(mode="python")
    doc["_id"] = doc.pop("id")
    await store["risk_labels"].insert_one(doc)


async def labels_since(store: Store, since: datetime | None, desks: Collection[str] | None) -> list[RiskLabel]:
    """Labels saved at or after ``since`` on ``desks`` (None: all), oldest first."""
    query: dict[str, Any] = {}
    if since is not None:
        query["at"] = {"$gte": since}
    if desks is not None:
        query["desk"] = {"$in": sorted(desks)}
    docs = await store["risk_labels"].find(query).sort([("at", ASCENDING), ("_id", ASCENDING)]).to_list(None)
    return [RiskLabel.model_validate({**doc, "id": doc.pop("_id"), "at": aware(doc["at"])}) for doc in docs]


async def youth_texts(store: Store, conversation_id: str, up_to_seq: int) -> list[str]:
    """The youth's own text messages numbered up to ``up_to_seq``, in order; blanked ones (retention, an
    erasure) are left out."""
    cursor = store.messages.find({"conversation_id": conversation_id, "direction": Direction.INBOUND,
                                  "sender": SenderKind.YOUTH, "type": MessageType.TEXT,
                                  "seq": {"$lte": up_to_seq}, "text": {"$ne": ""}},
                                 {"text": 1}).sort("seq", ASCENDING)
    return [text for doc in await cursor.to_list(None) if (text := unseal(store, doc["text"]))]
