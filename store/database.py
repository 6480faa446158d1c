"""The database handle every store module works on, and how a module declares its indexes.

Each store module owns a group of collections and declares their indexes next to the queries
they serve (``INDEXES``); ``store.client`` gathers the declarations into the ``Store`` it opens,
and ``Store.ensure_indexes`` creates them. This module imports no other store module, so the
collection modules can use ``Store`` while ``store.client`` imports them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from contract.crypto import DataProtector

log = logging.getLogger("youthdesk.store")


@dataclass(frozen=True, slots=True)
class Index:
    """One index: ``keys`` as (field, ASCENDING/DESCENDING) pairs. Unique constraints protect invariants."""

    keys: Sequence[tuple[str, int]]
    name: str
    unique: bool = False


IndexDeclarations = Mapping[str, Sequence[Index]]  # collection name -> its indexes


@dataclass(frozen=True, slots=True)
class Store:
    client: Any
    database: Any
    embedded: bool
    indexes: Sequence[IndexDeclarations] = field(default_factory=tuple)
    # False when the caller passed the client in and closes it itself (a test restarting the app).
    owns_client: bool = True
    # Encrypts stored text fields (``store.fields``); None only for tools and tests without a data key,
    # which then store text as given. The service always opens its store with one.
    protector: DataProtector | None = None

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
        for declarations in self.indexes:
            for collection, indexes in declarations.items():
                for index in indexes:
                    options: dict[str, Any] = {"name": index.name}
                    if index.unique:
                        options["unique"] = True
                    await self.database[collection].create_index(list(index.keys), **options)

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
