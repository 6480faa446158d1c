"""A store opened on the embedded store (or the server at MONGODB_URI), with its indexes."""

from __future__ import annotations

import mongomock
import pytest

from store import durable
from store.client import open_store


@pytest.fixture
async def store(settings, embedded_client):
    store = open_store(settings.service.mongodb_uri, settings.service.mongodb_database,
                       embedded_client=embedded_client)
    await store.ensure_indexes()
    yield store
    await store.close()


@pytest.fixture
def copied_ids(monkeypatch) -> list[object]:
    """The ``_id`` of every document the embedded store copies out (by mongomock or ``store.projection``), in order."""
    copied: list[object] = []
    copy_only_fields = mongomock.Collection._copy_only_fields

    def counting(self, document, *args):  # type: ignore[no-untyped-def]
        copied.append(document["_id"])
        return copy_only_fields(self, document, *args)

    monkeypatch.setattr(mongomock.Collection, "_copy_only_fields", counting)
    project = durable.projected

    def counting_projected(document, *args):  # type: ignore[no-untyped-def]
        copied.append(document["_id"])
        return project(document, *args)

    monkeypatch.setattr(durable, "projected", counting_projected)  # the store's own projected copies
    return copied
