"""Durable adapter state (``contract.channel.ChannelState``) in the ``channel_state`` collection.

Adapters never see the store; they get these three callbacks. One document per (platform, key).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo.errors import DuplicateKeyError

from contract.channel import ChannelState
from contract.models import utcnow
from store.database import Store


def _id(platform: str, key: str) -> str:
    return f"{platform}\x1f{key}"


def channel_state(store: Callable[[], Store]) -> ChannelState:
    """``store`` is a getter: the store exists only once the app has started."""

    async def load(platform: str, key: str) -> dict[str, Any] | None:
        doc = await store()["channel_state"].find_one({"_id": _id(platform, key)})
        return dict(doc["value"]) if doc is not None else None

    async def save(platform: str, key: str, value: dict[str, Any]) -> None:
        await store()["channel_state"].update_one(
            {"_id": _id(platform, key)}, {"$set": {"value": value, "updated_at": utcnow()}}, upsert=True)

    async def claim(platform: str, key: str) -> bool:
        try:
            await store()["channel_state"].insert_one({"_id": _id(platform, key), "value": {}, "updated_at": utcnow()})
        except DuplicateKeyError:
            return False
        return True

    return ChannelState(load=load, save=save, claim=claim)
