"""Appointment seats: a full slot refuses, one case holds one seat of a slot whatever the race, a
cancelled booking frees both the seat and the case's key."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from contract.appointments import Appointment, Slot
from store import appointments
from store.client import Store

AT = datetime(2026, 12, 9, 2, 0, tzinfo=UTC)


def _slot(capacity: int) -> Slot:
    return Slot(desk="sz", starts_at=AT, ends_at=AT + timedelta(hours=1), place="深圳团市委", counsellor="u1",
                counsellor_name="林老师", capacity=capacity, free=capacity, created_by="u2", created_at=AT)


def _booking(slot: Slot, case_id: str) -> Appointment:
    return Appointment(slot_id=slot.id, case_id=case_id, conversation_id=f"cv-{case_id}", desk="sz",
                       starts_at=slot.starts_at, ends_at=slot.ends_at, place=slot.place,
                       counsellor_name=slot.counsellor_name, booked_by="u1", booked_at=AT - timedelta(days=2))


async def test_seats_run_out_and_never_below_zero(store: Store) -> None:
    slot = _slot(capacity=2)
    await appointments.insert_slot(store, slot)
    taken = await asyncio.gather(*(appointments.take_seat(store, slot.id) for _ in range(5)))
    assert sum(seat is not None for seat in taken) == 2
    assert (await appointments.find_slot(store, slot.id)).free == 0  # type: ignore[union-attr]


async def test_one_case_holds_one_seat_of_a_slot_until_it_cancels(store: Store) -> None:
    slot = _slot(capacity=3)
    await appointments.insert_slot(store, slot)
    first = _booking(slot, "case-1")
    assert await appointments.insert_appointment(store, first) is True
    assert await appointments.insert_appointment(store, _booking(slot, "case-1")) is False
    assert await appointments.insert_appointment(store, _booking(slot, "case-2")) is True
    await appointments.record_outcome(store, first.id, "cancelled", by="u1", at=AT - timedelta(days=1), note="")
    assert await appointments.insert_appointment(store, _booking(slot, "case-1")) is True
