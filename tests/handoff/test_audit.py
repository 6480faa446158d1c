"""The audit log: append-only entries, newest first, filtered by target; case and transcript reads land in it."""

from __future__ import annotations

import pytest

from contract.config import Settings
from handoff import audit
from store.client import Store, open_store
from store.durable import DurableMongoClient
from tests.handoff_support import conversation, login, start, user


@pytest.fixture
async def store(settings: Settings, embedded_client: DurableMongoClient) -> Store:
    opened = open_store(settings.service.mongodb_uri, settings.service.mongodb_database,
                        embedded_client=embedded_client)
    await opened.ensure_indexes()
    return opened


async def test_entries_are_listed_newest_first_and_by_target(store: Store) -> None:
    await audit.record(store, actor="u1", action="case.read", target="case_1")
    await audit.record(store, actor="u2", action="case.read", target="case_1", reason="督导抽查")
    await audit.record(store, actor="u1", action="transcript.read", target="cv_9")
    entries = await audit.list_audit(store, target="case_1")
    assert [(e.actor, e.reason) for e in entries] == [("u2", "督导抽查"), ("u1", None)]
    assert len(await audit.list_audit(store)) == 3
    assert len(await audit.list_audit(store, limit=1)) == 1


async def test_engine_bridge_writes_through_this_module(store: Store) -> None:
    await audit.record(store, "u3", "transcript.read", "cv_1", "安全评估")
    (entry,) = await audit.list_audit(store, target="cv_1")
    assert (entry.actor, entry.action, entry.reason) == ("u3", "transcript.read", "安全评估")


async def test_case_and_transcript_reads_are_audited(start_app) -> None:  # type: ignore[no-untyped-def]
    client = await start(start_app)
    await user(client, "c1", desk="gd")
    await user(client, "sup", role="supervisor", desk="gd")
    c1, sup = await login(client, "c1"), await login(client, "sup")
    conversation_id = await conversation(client)
    claimed = await client.post(f"/api/v1/conversations/{conversation_id}/claim", headers=c1)
    case_id = (await claimed.json())["case_id"]
    await client.get(f"/api/v1/cases/{case_id}", headers=c1)
    await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=c1)
    await client.get(f"/api/v1/cases/{case_id}", params={"reason": "高危复核"}, headers=sup)
    log = (await (await client.get("/api/v1/audit", headers=sup)).json())["items"]
    seen = {(entry["action"], entry["target"], entry["reason"]) for entry in log}
    assert {("case.read", case_id, None), ("transcript.read", conversation_id, None),
            ("case.read", case_id, "高危复核")} <= seen
