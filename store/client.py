"""The system of record: one place that knows about MongoDB, its collections and indexes.

With ``MONGODB_URI`` set this connects with PyMongo's ``AsyncMongoClient``; without it, it runs
on the embedded in-process store (``store.embedded``), which has the same call shapes.
Other modules take collections from ``Store`` and never build clients themselves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient

from store.embedded import EmbeddedMongoClient

log = logging.getLogger("youthdesk.store")

# Collection name -> indexes (keys, options). Unique constraints that protect invariants
# (dedupe, one owner) are declared here and nowhere else.
INDEXES: dict[str, list[tuple[list[tuple[str, int]], dict[str, Any]]]] = {
    "contacts": [([("lookup", ASCENDING)], {"name": "lookup"})],
    "conversations": [
        ([("contact_id", ASCENDING), ("platform", ASCENDING), ("account", ASCENDING), ("state", ASCENDING)],
         {"name": "contact_channel_state"}),
        ([("desk", ASCENDING), ("state", ASCENDING), ("risk_level", DESCENDING)], {"name": "desk_state_risk"}),
        ([("owner", ASCENDING), ("state", ASCENDING)], {"name": "owner_state"}),
    ],
    # Inbound message ids are derived from (platform, account, channel message id), so the
    # primary-key index is the dedupe index; these serve ordering and the outbox.
    "messages": [
        ([("conversation_id", ASCENDING), ("seq", ASCENDING)], {"name": "conversation_seq"}),
        ([("direction", ASCENDING), ("status", ASCENDING), ("next_attempt_at", ASCENDING)], {"name": "outbox"}),
        ([("direction", ASCENDING), ("processed", ASCENDING)], {"name": "unprocessed"}),
    ],
    "events": [([("conversation_id", ASCENDING), ("at", ASCENDING)], {"name": "conversation_at"})],
    "users": [([("username", ASCENDING)], {"name": "username", "unique": True})],
    "sessions": [([("user_id", ASCENDING)], {"name": "user"})],
    "alerts": [([("desk", ASCENDING), ("state", ASCENDING), ("created_at", DESCENDING)], {"name": "desk_state"})],
    # One case per handed-off conversation: the unique index makes racing open_case calls converge.
    "cases": [
        ([("conversation_id", ASCENDING)], {"name": "conversation", "unique": True}),
        ([("contact_id", ASCENDING), ("created_at", DESCENDING)], {"name": "contact_created"}),
        ([("desk", ASCENDING), ("created_at", DESCENDING)], {"name": "desk_created"}),
    ],
    "mandatory_reports": [([("case_id", ASCENDING), ("seq", ASCENDING)], {"name": "case_seq", "unique": True})],
    "audit": [([("target", ASCENDING), ("at", DESCENDING)], {"name": "target_at"})],
    "ratings": [([("conversation_id", ASCENDING)], {"name": "conversation", "unique": True})],
}


@dataclass(frozen=True, slots=True)
class Store:
    client: Any
    database: Any
    embedded: bool

    def __getitem__(self, name: str) -> Any:
        return self.database[name]

    @property
    def contacts(self) -> Any:
        return self.database["contacts"]

    @property
    def conversations(self) -> Any:
        return self.database["conversations"]

    @property
    def messages(self) -> Any:
        return self.database["messages"]

    @property
    def events(self) -> Any:
        return self.database["events"]

    async def ensure_indexes(self) -> None:
        for name, indexes in INDEXES.items():
            for keys, options in indexes:
                await self.database[name].create_index(keys, **options)

    async def ping(self) -> bool:
        try:
            await self.client.admin.command("ping")
        except Exception:  # noqa: BLE001 - any failure means "down" for health reporting
            log.exception("store ping failed")
            return False
        return True

    async def close(self) -> None:
        await self.client.close()


_EMBEDDED_WARNING = (
    "\n" + "!" * 78 + "\n"
    "!!  MONGODB_URI is not set: running on the EMBEDDED IN-PROCESS STORE.\n"
    "!!  Nothing is persisted: every message, case and account is lost on restart.\n"
    "!!  Use this for demos and tests only; set MONGODB_URI for real service.\n"
    + "!" * 78
)


def open_store(mongodb_uri: str, database: str, *, embedded_client: EmbeddedMongoClient | None = None) -> Store:
    """Build a store; no I/O happens here (PyMongo connects lazily)."""
    if mongodb_uri:
        client: Any = AsyncMongoClient(mongodb_uri, tz_aware=True, appname="youthdesk")
        return Store(client=client, database=client[database], embedded=False)
    log.warning(_EMBEDDED_WARNING)
    client = embedded_client or EmbeddedMongoClient()
    return Store(client=client, database=client[database], embedded=True)
