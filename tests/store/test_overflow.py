"""Overflow's due times: a check's due time never overwrites a newer write's, and waiting conversations
at risk from before due times were kept become due once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contract.queue import Handed
from store import overflow

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


async def _waiting(store, conversation_id: str, risk: int = 3, **handoff: object) -> None:  # type: ignore[no-untyped-def]
    await store.conversations.insert_one({
        "_id": conversation_id, "contact_id": "ct-1", "platform": "widget", "account": "demo", "desk": "sz",
        "state": "queued", "owner": None, "risk_level": risk, "created_at": T0, "updated_at": T0,
        "handoff": {"waiting_since": T0, "leave_message": False, **handoff}})


async def _read(store, conversation_id: str) -> Handed:  # type: ignore[no-untyped-def]
    return Handed.from_doc(await store.conversations.find_one({"_id": conversation_id}))


async def test_a_check_sets_the_window_end_unless_a_write_made_it_due_again_meanwhile(store) -> None:
    await _waiting(store, "cv-1", overflow_due_at=T0)
    read = await _read(store, "cv-1")
    assert [item.conversation.id for item in await overflow.due(store, T0)] == ["cv-1"]
    await overflow.set_due(store, read, T0 + timedelta(seconds=30))
    assert await overflow.due(store, T0 + timedelta(seconds=29)) == []
    assert [item.conversation.id for item in await overflow.due(store, T0 + timedelta(seconds=30))] == ["cv-1"]

    stale = await _read(store, "cv-1")
    await store.conversations.update_one({"_id": "cv-1"}, {"$set": {"risk_level": 2}})  # raised meanwhile
    await overflow.set_due(store, stale, T0 + timedelta(hours=1))
    assert (await _read(store, "cv-1")).info.overflow_due_at == T0 + timedelta(seconds=30)


async def test_waiting_at_risk_without_a_due_time_becomes_due_once(store) -> None:
    await _waiting(store, "cv-old")  # queued before due times were kept
    await _waiting(store, "cv-top", overflow_due_at=None)  # at the top desk: nothing falls due
    await _waiting(store, "cv-low", risk=1)
    assert await overflow.due_where_unknown(store, T0) == 1
    assert [item.conversation.id for item in await overflow.due(store, T0)] == ["cv-old"]
    assert await overflow.due_where_unknown(store, T0) == 0
    assert overflow.due_after_write(1, T0) is None and overflow.due_after_write(2, T0) == T0
