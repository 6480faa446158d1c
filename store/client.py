"""The system of record: opening the store, with every store module's index declarations.

With ``MONGODB_URI`` set this connects with PyMongo's ``AsyncMongoClient``; without it, it runs
on the durable embedded store (``store.durable``: same call shapes, kept in ``<data_dir>/store.sqlite3``).
Other modules take collections from ``Store`` and never build clients themselves.

Each store module declares the indexes of the collections it owns (its ``INDEXES``); ``SCHEMA``
gathers them and ``Store.ensure_indexes`` creates them. Unique constraints that protect
invariants (dedupe, one owner) are declared there and nowhere else.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from contract.crypto import DataProtector
from store import (
    alerts,
    appointments,
    cases,
    consent,
    contacts,
    conversations,
    events,
    floods,
    messages,
    retention,
    risk_labels,
    tasks,
    users,
    work_orders,
)
from store.database import IndexDeclarations, Store
from store.durable import DurableMongoClient

__all__ = ["SCHEMA", "Store", "open_store"]

log = logging.getLogger("youthdesk.store")

SCHEMA: tuple[IndexDeclarations, ...] = (
    contacts.INDEXES, conversations.INDEXES, events.INDEXES, messages.INDEXES,
    alerts.INDEXES, cases.INDEXES, users.INDEXES, tasks.INDEXES, floods.INDEXES, retention.INDEXES,
    consent.INDEXES, risk_labels.INDEXES, appointments.INDEXES, work_orders.INDEXES,
)

STORE_FILE_NAME = "store.sqlite3"


def open_store(mongodb_uri: str, database: str, *, data_dir: str | Path = "",
               embedded_client: DurableMongoClient | None = None, protector: DataProtector | None = None) -> Store:
    """Build a store: MongoDB when ``mongodb_uri`` is set, else the durable store in ``data_dir``.

    ``protector`` encrypts text fields at rest (``store.fields``).

    PyMongo connects lazily; the durable store loads ``database`` from disk here and locks the
    file against other processes (``store.document_file.StoreFileInUse``).
    """
    if mongodb_uri:
        client: Any = AsyncMongoClient(mongodb_uri, tz_aware=True, appname="youthdesk")
        return Store(client=client, database=client[database], embedded=False, indexes=SCHEMA, protector=protector)
    if embedded_client is not None:
        return Store(client=embedded_client, database=embedded_client[database], embedded=True, owns_client=False,
                     indexes=SCHEMA, protector=protector)
    if not data_dir:
        raise ValueError("open_store: without a MongoDB URI the durable store needs a data_dir")
    client = DurableMongoClient(Path(data_dir) / STORE_FILE_NAME)
    return Store(client=client, database=client[database], embedded=True, indexes=SCHEMA, protector=protector)
