"""Messages: stored once, routed in order, read back, and the outbox's claims and leases."""

from __future__ import annotations

from datetime import timedelta

from contract.models import DeliveryAttempt, DeliveryStatus, Direction, Message, SenderKind, utcnow
from store import messages


def _inbound(seq: int, conversation_id: str = "cv_1") -> Message:
    return Message(id=f"in_{conversation_id}_{seq}", conversation_id=conversation_id, seq=seq,
                   direction=Direction.INBOUND, sender=SenderKind.YOUTH, text=f"youth {seq}",
                   status=DeliveryStatus.RECEIVED)


def _outbound(seq: int, conversation_id: str = "cv_1", *, due_in: timedelta = timedelta(0),
              status: DeliveryStatus = DeliveryStatus.PENDING, private: bool = False) -> Message:
    return Message(id=f"out_{conversation_id}_{seq}", conversation_id=conversation_id, seq=seq,
                   direction=Direction.OUTBOUND, sender=SenderKind.COUNSELLOR, text=f"reply {seq}", status=status,
                   next_attempt_at=None if private else utcnow() + due_in, private=private)


async def _store_all(store, *stored: Message) -> None:
    for message in stored:
        assert await messages.insert_message(store, message)


async def test_a_message_is_stored_once(store):
    assert await messages.insert_message(store, _inbound(1))
    assert not await messages.insert_message(store, _inbound(1))
    assert await messages.conversation_of(store, "in_cv_1_1") == "cv_1"
    assert await messages.conversation_of(store, "in_unknown") is None


async def test_unprocessed_inbound_messages_come_in_order_until_processed(store):
    await _store_all(store, _inbound(2), _inbound(1), _inbound(1, "cv_2"), _outbound(3))
    assert [m.seq for m in await messages.unprocessed_messages(store, "cv_1")] == [1, 2]
    assert sorted(await messages.conversations_with_unprocessed(store)) == ["cv_1", "cv_2"]
    await messages.record_routing_error(store, "in_cv_1_1", "routing failed: " + "x" * 600)
    await messages.mark_processed(store, "in_cv_1_1")
    await messages.mark_processed(store, "in_cv_2_1")
    assert [m.seq for m in await messages.unprocessed_messages(store, "cv_1")] == [2]
    assert await messages.conversations_with_unprocessed(store) == ["cv_1"]
    assert await messages.count_unprocessed(store) == 1
    assert len((await store.messages.find_one({"_id": "in_cv_1_1"}))["error"]) == 500


async def test_history_leaves_out_private_notes_unless_asked(store):
    await _store_all(store, _inbound(1), _outbound(2, private=True), _outbound(3), _inbound(1, "cv_2"))
    assert [m.seq for m in await messages.history(store, "cv_1")] == [1, 3]
    assert [m.seq for m in await messages.history(store, "cv_1", include_private=True)] == [1, 2, 3]
    assert [m.seq for m in await messages.history(store, "cv_1", after_seq=1)] == [3]
    assert [m.seq for m in await messages.history(store, "cv_1", include_private=True, limit=2)] == [1, 2]


async def test_only_sent_public_replies_up_to_the_seen_one_become_read(store):
    await _store_all(store, _outbound(1, status=DeliveryStatus.SENT), _outbound(2, status=DeliveryStatus.PENDING),
                     _outbound(3, status=DeliveryStatus.SENT), _outbound(4, status=DeliveryStatus.SENT))
    assert sorted(await messages.mark_read(store, "cv_1", up_to_seq=3)) == ["out_cv_1_1", "out_cv_1_3"]
    assert await messages.mark_read(store, "cv_1", up_to_seq=3) == []
    statuses = [m.status for m in await messages.history(store, "cv_1")]
    assert statuses == [DeliveryStatus.READ, DeliveryStatus.PENDING, DeliveryStatus.READ, DeliveryStatus.SENT]


async def test_due_entries_skip_future_and_in_flight_conversations(store):
    await _store_all(store, _outbound(1), _outbound(2, due_in=timedelta(minutes=5)), _outbound(1, "cv_2"),
                     _outbound(1, "cv_3", status=DeliveryStatus.SENT))
    due = await messages.due_entries(store, utcnow(), skip_conversations={"cv_2"})
    assert [(e.message_id, e.conversation_id, e.seq) for e in due] == [("out_cv_1_1", "cv_1", 1)]
    later = await messages.due_entries(store, utcnow() + timedelta(minutes=10), skip_conversations=set())
    assert {e.message_id for e in later} == {"out_cv_1_1", "out_cv_1_2", "out_cv_2_1"}
    assert await messages.held_back_by(store, due[0]) is None
    second = next(e for e in later if e.message_id == "out_cv_1_2")
    ahead = await messages.held_back_by(store, second)
    assert ahead is not None and ahead.message_id == "out_cv_1_1" and ahead.retry_at <= utcnow()
    assert await messages.count_undelivered(store) == 3


async def test_a_claim_is_taken_once_and_released_when_its_lease_expires(store):
    await _store_all(store, _outbound(1))
    [entry] = await messages.due_entries(store, utcnow(), skip_conversations=set())
    lease_until = utcnow() + timedelta(seconds=60)
    claimed = await messages.claim(store, entry, lease_until)
    assert claimed is not None and claimed.status == DeliveryStatus.SENDING
    assert await messages.claim(store, entry, lease_until) is None
    assert await messages.release_expired_claims(store, utcnow()) == 0
    assert await messages.release_expired_claims(store, utcnow() + timedelta(seconds=61)) == 1
    assert (await messages.claim(store, entry, lease_until)) is not None


async def test_retries_and_the_final_attempt_are_recorded(store):
    await _store_all(store, _outbound(1))
    retry_at = utcnow() + timedelta(seconds=30)
    await messages.schedule_retry(store, "out_cv_1_1", DeliveryAttempt(at=utcnow(), ok=False, error="busy"), retry_at)
    due = await messages.next_attempt_due(store)
    assert due is not None and due.tzinfo is not None and abs(due - retry_at) < timedelta(milliseconds=1)
    await messages.finish_delivery(store, "out_cv_1_1", DeliveryStatus.SENT, DeliveryAttempt(at=utcnow(), ok=True),
                                   channel_message_id="chan-1")
    [message] = await messages.history(store, "cv_1")
    assert (message.status, message.channel_message_id, message.error) == (DeliveryStatus.SENT, "chan-1", None)
    assert [a.ok for a in message.attempts] == [False, True] and message.next_attempt_at is None
    assert await messages.next_attempt_due(store) is None
