"""What the youths waiting in a desk's queue were last told of their places: one record per desk, replaced
by each reading of the queue, never by an older reading, read back for a reconnecting widget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contract.queue import PositionNotice
from store import handoff as stored
from store.queue_places import record_told, told_place

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


async def _queued(store, conversation_id: str, risk: int = 0) -> None:  # type: ignore[no-untyped-def]
    await store.conversations.insert_one({
        "_id": conversation_id, "contact_id": "ct-1", "platform": "widget", "account": "demo", "desk": "sz",
        "state": "queued", "risk_level": risk, "created_at": T0, "updated_at": T0,
        "handoff": {"waiting_since": T0}})


async def test_each_reading_returns_what_was_told_before_and_an_older_reading_is_refused(store) -> None:
    await _queued(store, "cv-1")
    third, second = PositionNotice(position=3, expected_wait_seconds=600), PositionNotice(position=2)
    assert await record_told(store, "sz", {"cv-1": third}, T0) == {}
    assert await record_told(store, "sz", {"cv-1": third}, T0 + timedelta(seconds=1)) == {"cv-1": third}
    assert await record_told(store, "sz", {"cv-1": second}, T0 + timedelta(seconds=3)) == {"cv-1": third}
    # A reading from before the last one (another gateway, slower) is refused, and tells nobody.
    assert await record_told(store, "sz", {"cv-1": third}, T0 + timedelta(seconds=2)) is None
    assert await told_place(store, "cv-1") == 2
    assert await record_told(store, "gd", {}, T0) == {}  # each desk has its own record


async def test_no_place_for_a_youth_at_risk_not_waiting_or_never_told(store) -> None:
    await _queued(store, "cv-risk", risk=2)
    await _queued(store, "cv-1")
    await _queued(store, "cv-new")
    await record_told(store, "sz", {"cv-risk": PositionNotice(position=1),  # raised to 2 since it was told
                                    "cv-1": PositionNotice(position=2)}, T0)
    assert await told_place(store, "cv-risk") is None
    assert await told_place(store, "cv-new") is None
    assert await told_place(store, "cv-unknown") is None
    assert await told_place(store, "cv-1") == 2
    assert await stored.claim(store, "cv-1", "u1", T0) is not None
    assert await told_place(store, "cv-1") is None  # with a counsellor: no place
