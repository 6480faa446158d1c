"""A store opened on the embedded store (or the server at MONGODB_URI), with its indexes."""

from __future__ import annotations

import pytest

from store.client import open_store


@pytest.fixture
async def store(settings, embedded_client):
    store = open_store(settings.service.mongodb_uri, settings.service.mongodb_database,
                       embedded_client=embedded_client)
    await store.ensure_indexes()
    yield store
    await store.close()
