"""The system of record: opening the store, with every store module's index declarations.

With ``MONGODB_URI`` set this connects with PyMongo's ``AsyncMongoClient``; without it, it runs
on the embedded in-process store (``store.embedded``), which has the same call shapes.
Other modules take collections from ``Store`` and never build clients themselves.

Each store module declares the indexes of the collections it owns (its ``INDEXES``); ``SCHEMA``
gathers them and ``Store.ensure_indexes`` creates them. Unique constraints that protect
invariants (dedupe, one owner) are declared there and nowhere else.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo import AsyncMongoClient

from store import alerts, cases, contacts, conversations, events, messages, users
from store.database import IndexDeclarations, Store
from store.embedded import EmbeddedMongoClient

__all__ = ["SCHEMA", "Store", "open_store"]

log = logging.getLogger("youthdesk.store")

SCHEMA: tuple[IndexDeclarations, ...] = (
    contacts.INDEXES, conversations.INDEXES, events.INDEXES, messages.INDEXES,
    alerts.INDEXES, cases.INDEXES, users.INDEXES,
)

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
        return Store(client=client, database=client[database], embedded=False, indexes=SCHEMA)
    log.warning(_EMBEDDED_WARNING)
    client = embedded_client or EmbeddedMongoClient()
    return Store(client=client, database=client[database], embedded=True, indexes=SCHEMA)
