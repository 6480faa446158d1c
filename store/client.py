"""The system of record: one place that knows about MongoDB, its collections and indexes.

With ``MONGODB_URI`` set this connects with PyMongo's ``AsyncMongoClient``; without it, it runs
on the durable embedded store (``store.durable``: same call shapes, kept in ``<data_dir>/store.sqlite3``).
Other modules take collections from ``Store`` and never build clients themselves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient

from store.durable import DurableMongoClient

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


STORE_FILE_NAME = "store.sqlite3"


@dataclass(frozen=True, slots=True)
class Store:
    client: Any
    database: Any
    embedded: bool
    # False when the caller passed the client in and closes it itself (a test restarting the app).
    owns_client: bool = True

    @property
    def location(self) -> str:
        """Where the data lives, for start-up output and health (never the URI: it may hold a password)."""
        if self.embedded:
            return f"{self.client.path} (durable embedded store)"
        return f"MongoDB database {self.database.name!r}"

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
        if self.owns_client:
            await self.client.close()


def open_store(mongodb_uri: str, database: str, *, data_dir: str | Path = "",
               embedded_client: DurableMongoClient | None = None) -> Store:
    """Build a store: MongoDB when ``mongodb_uri`` is set, else the durable store in ``data_dir``.

    PyMongo connects lazily; the durable store loads ``database`` from disk here and locks the
    file against other processes (``store.document_file.StoreFileInUse``).
    """
    if mongodb_uri:
        client: Any = AsyncMongoClient(mongodb_uri, tz_aware=True, appname="youthdesk")
        return Store(client=client, database=client[database], embedded=False)
    if embedded_client is not None:
        return Store(client=embedded_client, database=embedded_client[database], embedded=True, owns_client=False)
    if not data_dir:
        raise ValueError("open_store: without a MongoDB URI the durable store needs a data_dir")
    client = DurableMongoClient(Path(data_dir) / STORE_FILE_NAME)
    return Store(client=client, database=client[database], embedded=True)
