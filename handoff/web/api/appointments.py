"""In-person appointments (面询/商谈): slots (supervisors open them), bookings from a case, outcomes, and
the case timeline (calls and appointments). Scope and role come first, then the body, then the domain;
every read and change of a case's appointments is audited like the case itself."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, Field, StrictInt, StrictStr

from handoff import appointments, audit
from handoff.web.api.cases import When, case_in_scope
from handoff.web.api.common import engine_of
from handoff.web.api.openapi import INT, STR, TIME, items_of, nullable, obj, operation, path_param, query_param, ref
from handoff.web.auth import current_user
from handoff.web.errors import read_body

ROUTES = web.RouteTableDef()

Short = Annotated[StrictStr, Field(min_length=1, max_length=200)]


class SlotBody(BaseModel):
    desk: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    starts_at: When
    ends_at: When
    place: Short
    counsellor: Short  # the username of who meets the youth
    capacity: Annotated[StrictInt, Field(ge=1, le=50)] = 1


class BookingBody(BaseModel):
    slot_id: Annotated[StrictStr, Field(min_length=1, max_length=100)]


class OutcomeBody(BaseModel):
    status: Literal["attended", "no_show", "cancelled"]
    note: Annotated[StrictStr, Field(max_length=4000)] = ""


def _reason(request: web.Request) -> str | None:
    return request.query.get("reason", "").strip()[:500] or None


@ROUTES.get("/appointment-slots")
async def list_slots(request: web.Request) -> web.Response:
    user = await current_user(request)
    slots = await appointments.open_slots(engine_of(request).context, user)
    return web.json_response({"items": [slot.public() for slot in slots]})


@ROUTES.post("/appointment-slots")
async def create_slot(request: web.Request) -> web.Response:
    user = await current_user(request)
    body = await read_body(request, SlotBody)
    engine = engine_of(request)
    slot = await appointments.create_slot(engine.context, user, desk=body.desk, starts_at=body.starts_at,
                                          ends_at=body.ends_at, place=body.place, counsellor=body.counsellor,
                                          capacity=body.capacity)
    await audit.record(engine.store, actor=user.id, action="appointment_slot.create", target=slot.id)
    return web.json_response(slot.public(), status=201)


@ROUTES.get("/cases/{id}/appointments")
async def case_appointments(request: web.Request) -> web.Response:
    user = await current_user(request)
    case, _ = await case_in_scope(request, user, write=False)
    engine = engine_of(request)
    found = await appointments.of_case(engine.context, case)
    await audit.record(engine.store, actor=user.id, action="case.appointments.read", target=case.id,
                       reason=_reason(request))
    return web.json_response({"items": [appointment.public() for appointment in found]})


@ROUTES.post("/cases/{id}/appointments")
async def book(request: web.Request) -> web.Response:
    user = await current_user(request)
    case, _ = await case_in_scope(request, user, write=True)
    body = await read_body(request, BookingBody)
    engine = engine_of(request)
    appointment = await appointments.book(engine.context, user, case, body.slot_id)
    await audit.record(engine.store, actor=user.id, action="case.appointment.book", target=case.id,
                       reason=_reason(request))
    return web.json_response(appointment.public(), status=201)


@ROUTES.patch("/cases/{id}/appointments/{aid}")
async def record_outcome(request: web.Request) -> web.Response:
    user = await current_user(request)
    case, _ = await case_in_scope(request, user, write=True)
    body = await read_body(request, OutcomeBody)
    engine = engine_of(request)
    appointment = await appointments.record_outcome(engine.context, user, case, request.match_info["aid"],
                                                    body.status, body.note)
    await audit.record(engine.store, actor=user.id, action=f"case.appointment.{body.status}", target=case.id,
                       reason=_reason(request))
    return web.json_response(appointment.public())


@ROUTES.get("/cases/{id}/timeline")
async def timeline(request: web.Request) -> web.Response:
    user = await current_user(request)
    case, _ = await case_in_scope(request, user, write=False)
    engine = engine_of(request)
    entries = await appointments.timeline(engine.context, case)
    await audit.record(engine.store, actor=user.id, action="case.timeline.read", target=case.id,
                       reason=_reason(request))
    return web.json_response({"items": [entry.public() for entry in entries]})


# ------------------------------------------------------------------ OpenAPI

_STATUS = {"type": "string", "enum": ["booked", "attended", "no_show", "cancelled"]}
_SHORT = {"type": "string", "minLength": 1, "maxLength": 200}
_CASE_ID = [path_param("id"), query_param("reason")]
_WRITE = (400, 401, 403, 404, 409, 415)

SCHEMAS = {
    "AppointmentSlot": obj(
        ["id", "desk", "starts_at", "ends_at", "place", "counsellor", "capacity", "free"],
        id=STR, desk=STR, starts_at=TIME, ends_at=TIME, place=STR, counsellor=STR, counsellor_name=STR,
        capacity=INT, free=INT, created_by=STR, created_at=TIME),
    "Appointment": obj(
        ["id", "slot_id", "case_id", "status", "starts_at", "ends_at", "place"],
        id=STR, slot_id=STR, case_id=STR, conversation_id=STR, desk=STR, starts_at=TIME, ends_at=TIME, place=STR,
        counsellor_name=STR, status=_STATUS, booked_by=STR, booked_at=TIME,
        confirmation_message_id=nullable(STR), remind_at=nullable(TIME), reminded_at=nullable(TIME),
        reminder_message_id=nullable(STR), outcome_by=nullable(STR), outcome_at=nullable(TIME), note=STR),
    "TimelineEntry": obj(["at", "kind", "text", "ref"], at=TIME,
                         kind={"type": "string", "enum": ["call", "appointment"]}, text=STR, ref=STR),
}

PATHS = {
    "/appointment-slots": {
        "get": operation("Future appointment slots of your desks", ok=items_of(ref("AppointmentSlot")),
                         errors=(401,)),
        "post": operation(
            "Open a slot at a city desk (supervisor/admin)", ok=ref("AppointmentSlot"), status=201,
            errors=(400, 401, 403, 415),
            body=obj(["desk", "starts_at", "ends_at", "place", "counsellor"],
                     desk={"type": "string", "minLength": 1, "maxLength": 100}, starts_at=TIME, ends_at=TIME,
                     place=_SHORT, counsellor=_SHORT, capacity={"type": "integer", "minimum": 1, "maximum": 50})),
    },
    "/cases/{id}/appointments": {
        "get": operation("The case's appointments", ok=items_of(ref("Appointment")), params=_CASE_ID,
                         errors=(401, 403, 404)),
        "post": operation("Book a seat in a slot; the confirmation goes to the youth", ok=ref("Appointment"),
                          status=201, params=_CASE_ID, errors=_WRITE,
                          body=obj(["slot_id"], slot_id={"type": "string", "minLength": 1, "maxLength": 100})),
    },
    "/cases/{id}/appointments/{aid}": {"patch": operation(
        "Record attended / no-show / cancelled", ok=ref("Appointment"), params=[*_CASE_ID, path_param("aid")],
        errors=_WRITE, body=obj(["status"], status={"type": "string", "enum": ["attended", "no_show", "cancelled"]},
                                note={"type": "string", "maxLength": 4000}))},
    "/cases/{id}/timeline": {"get": operation(
        "Calls and appointments of the case, in time order", ok=items_of(ref("TimelineEntry")), params=_CASE_ID,
        errors=(401, 403, 404))},
}
