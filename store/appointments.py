"""Appointment slots (``appointment_slots``) and bookings (``appointments``).

A slot's seats are taken by a conditional ``$inc`` on its ``free`` count, so two counsellors booking
the last seat at once cannot both get it. A booking is stored after its seat is taken; if that insert
fails the seat is given back. A booking's ``seat_key`` (slot and case, unique) keeps one case from
holding two seats of a slot however the requests race; a cancelled booking's key becomes its own id,
so the case may book that slot again. Outcome notes are sealed like every other note about a youth.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contract.appointments import Appointment, AppointmentStatus, Slot
from store.database import Index, Store
from store.fields import seal, unseal
from store.times import aware

INDEXES = {
    "appointment_slots": [Index([("desk", ASCENDING), ("starts_at", ASCENDING)], "desk_time")],
    "appointments": [
        Index([("case_id", ASCENDING), ("starts_at", ASCENDING)], "case_time"),
        Index([("seat_key", ASCENDING)], "one_seat_per_case", unique=True),
        Index([("slot_id", ASCENDING), ("status", ASCENDING)], "slot_status"),
        Index([("status", ASCENDING), ("reminded_at", ASCENDING), ("remind_at", ASCENDING)], "reminders"),
    ],
}
_SLOT_TIMES = ("starts_at", "ends_at", "created_at")
_APPOINTMENT_TIMES = ("starts_at", "ends_at", "booked_at", "remind_at", "reminded_at", "outcome_at")


def _slot(doc: dict[str, Any]) -> Slot:
    return Slot.model_validate({**doc, "id": doc["_id"], **{k: aware(doc[k]) for k in _SLOT_TIMES}})


def _appointment(store: Store, doc: dict[str, Any]) -> Appointment:
    times = {k: aware(doc.get(k)) for k in _APPOINTMENT_TIMES}
    fields = {k: v for k, v in doc.items() if k != "seat_key"}
    return Appointment.model_validate({**fields, "id": doc["_id"], **times, "note": unseal(store, doc.get("note", ""))})


async def insert_slot(store: Store, slot: Slot) -> None:
    doc = slot.model_dump()
    doc["_id"] = doc.pop("id")
    await store["appointment_slots"].insert_one(doc)


async def find_slot(store: Store, slot_id: str) -> Slot | None:
    doc = await store["appointment_slots"].find_one({"_id": slot_id})
    return _slot(doc) if doc else None


async def slots_of(store: Store, desks: set[str], *, after: datetime, limit: int = 200) -> list[Slot]:
    """Slots of ``desks`` starting after ``after``, soonest first."""
    docs = await store["appointment_slots"].find(
        {"desk": {"$in": sorted(desks)}, "starts_at": {"$gt": after}}).sort("starts_at", 1).limit(limit).to_list(None)
    return [_slot(doc) for doc in docs]


async def take_seat(store: Store, slot_id: str) -> Slot | None:
    """One seat of the slot, or None when it is full."""
    doc = await store["appointment_slots"].find_one_and_update(
        {"_id": slot_id, "free": {"$gt": 0}}, {"$inc": {"free": -1}}, return_document=ReturnDocument.AFTER)
    return _slot(doc) if doc else None


async def give_back_seat(store: Store, slot_id: str) -> None:
    await store["appointment_slots"].update_one({"_id": slot_id}, {"$inc": {"free": 1}})


async def insert_appointment(store: Store, appointment: Appointment) -> bool:
    """Store a booking; False if the case holds a seat of that slot already."""
    doc = appointment.model_dump()
    doc["_id"] = doc.pop("id")
    doc["note"] = seal(store, appointment.note)
    doc["seat_key"] = f"{appointment.slot_id}:{appointment.case_id}"
    try:
        await store["appointments"].insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def find_appointment(store: Store, appointment_id: str) -> Appointment | None:
    doc = await store["appointments"].find_one({"_id": appointment_id})
    return _appointment(store, doc) if doc else None


async def booked_on_slot(store: Store, slot_id: str, case_id: str) -> bool:
    """Whether the case already holds a seat of this slot."""
    held = await store["appointments"].find_one({"slot_id": slot_id, "case_id": case_id, "status": "booked"})
    return held is not None


async def of_case(store: Store, case_id: str) -> list[Appointment]:
    docs = await store["appointments"].find({"case_id": case_id}).sort("starts_at", 1).to_list(None)
    return [_appointment(store, doc) for doc in docs]


async def set_confirmation(store: Store, appointment_id: str, message_id: str) -> None:
    await store["appointments"].update_one({"_id": appointment_id},
                                           {"$set": {"confirmation_message_id": message_id}})


async def record_outcome(store: Store, appointment_id: str, status: AppointmentStatus, *, by: str, at: datetime,
                         note: str) -> Appointment | None:
    """Close a booked appointment with its outcome; None if it was closed already."""
    changes = {"status": status, "outcome_by": by, "outcome_at": at, "note": seal(store, note)}
    if status == "cancelled":
        changes["seat_key"] = appointment_id  # the case may book this slot again
    doc = await store["appointments"].find_one_and_update(
        {"_id": appointment_id, "status": "booked"}, {"$set": changes},
        return_document=ReturnDocument.AFTER)
    return _appointment(store, doc) if doc else None


async def due_reminders(store: Store, now: datetime) -> list[Appointment]:
    """Booked appointments whose reminder is due and not sent, still in the future."""
    docs = await store["appointments"].find(
        {"status": "booked", "reminded_at": None, "remind_at": {"$ne": None, "$lte": now},
         "starts_at": {"$gt": now}}).to_list(None)
    return [_appointment(store, doc) for doc in docs]


async def claim_reminder(store: Store, appointment_id: str, now: datetime) -> bool:
    """True for exactly one caller, across restarts and instances: a reminder goes out once."""
    result = await store["appointments"].update_one({"_id": appointment_id, "status": "booked", "reminded_at": None},
                                                    {"$set": {"reminded_at": now}})
    return bool(result.modified_count)


async def set_reminder_message(store: Store, appointment_id: str, message_id: str) -> None:
    await store["appointments"].update_one({"_id": appointment_id}, {"$set": {"reminder_message_id": message_id}})
