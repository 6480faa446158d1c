"""In-person appointments (面询/商谈): a city desk's slots and the bookings made from cases.

A slot is a time and a place at one desk with a counsellor and a capacity; a booking ties one case to
one slot and records what became of it (attended, no-show, cancelled).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from contract.models import new_id

AppointmentStatus = Literal["booked", "attended", "no_show", "cancelled"]
OUTCOMES: tuple[AppointmentStatus, ...] = ("attended", "no_show", "cancelled")


class Slot(BaseModel):
    id: str = Field(default_factory=lambda: new_id("sl"))
    desk: str
    starts_at: datetime
    ends_at: datetime
    place: str
    counsellor: str  # user id of who meets the youth
    counsellor_name: str
    capacity: int
    free: int  # seats left; the store decrements it only while it is positive
    created_by: str
    created_at: datetime

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Appointment(BaseModel):
    id: str = Field(default_factory=lambda: new_id("ap"))
    slot_id: str
    case_id: str
    conversation_id: str
    desk: str
    starts_at: datetime
    ends_at: datetime
    place: str
    counsellor_name: str
    status: AppointmentStatus = "booked"
    booked_by: str
    booked_at: datetime
    confirmation_message_id: str | None = None
    remind_at: datetime | None = None  # None: booked too close to the time for a reminder
    reminded_at: datetime | None = None
    reminder_message_id: str | None = None
    outcome_by: str | None = None
    outcome_at: datetime | None = None
    note: str = ""

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
