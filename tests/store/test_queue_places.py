"""What a waiting youth was last told of their place: recorded once per change, never overwritten by an
older reading of the queue, read back for a reconnecting widget, forgotten when the youth is queued again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contract.queue import Deadline, PositionNotice, Transfer
from store import handoff as stored
from store.queue_places import queue_entries, record_position_told, told_place

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


async def _queued(store, conversation_id: str = "cv-1", risk: int = 0) -> None:  # type: ignore[no-untyped-def]
    await store.conversations.insert_one({
        "_id": conversation_id, "contact_id": "ct-1", "platform": "widget", "account": "demo", "desk": "sz",
        "state": "queued", "risk_level": risk, "created_at": T0, "updated_at": T0,
        "handoff": {"waiting_since": T0}})


async def test_each_change_is_recorded_once_and_an_older_reading_never_follows_a_newer(store) -> None:
    await _queued(store)
    third, second = PositionNotice(position=3, expected_wait_seconds=600), PositionNotice(position=2)
    assert await record_position_told(store, "cv-1", third, T0) is True
    assert await record_position_told(store, "cv-1", third, T0 + timedelta(seconds=1)) is False  # told already
    assert await record_position_told(store, "cv-1", second, T0 + timedelta(seconds=2)) is True
    assert await record_position_told(store, "cv-1", third, T0 + timedelta(seconds=1)) is False  # older reading
    assert [entry.told for entry in await queue_entries(store, {"sz"})] == [second]
    assert await told_place(store, "cv-1") == 2


async def test_no_place_for_a_youth_at_risk_or_not_waiting_and_none_kept_across_a_requeue(store) -> None:
    await _queued(store, "cv-risk", risk=2)
    await record_position_told(store, "cv-risk", PositionNotice(position=1), T0)  # raised since it was told
    assert await told_place(store, "cv-risk") is None
    assert await told_place(store, "cv-unknown") is None

    await _queued(store)
    await record_position_told(store, "cv-1", PositionNotice(position=1), T0)
    taken = await stored.claim(store, "cv-1", "u1", T0)
    assert taken is not None and await told_place(store, "cv-1") is None
    assert await stored.offer_back(store, taken, waiting_since=T0, deadline=Deadline.stopped(), now=T0,
                                   record=Transfer(at=T0, by="u1", to="queue", from_desk="sz", to_desk="sz",
                                                   note="退回"))
    # Back in the queue the youth's widget no longer shows that place: the next pass must tell it again.
    assert await told_place(store, "cv-1") is None
