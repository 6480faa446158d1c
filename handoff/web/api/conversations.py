"""Conversations: list, read (audited), reply, notes, whispers, join, risk, transfer, close."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from contract.keys import SETTINGS
from contract.models import ConversationState, SenderKind
from contract.people import Role
from handoff import audit
from handoff.access import visible_desks
from handoff.queue import load, places, queue_entries
from handoff.views import message_public, summary
from handoff.web.api.common import engine_of, load_visible, may_view
from handoff.web.api.openapi import (
    BOOL,
    INT,
    STR,
    TIME,
    items_of,
    nullable,
    obj,
    operation,
    path_param,
    query_param,
    ref,
)
from handoff.web.auth import current_user
from handoff.web.errors import http_error, read_body
from store import handoff as stored

ROUTES = web.RouteTableDef()
_STATES = {s.value for s in ConversationState}


class TextBody(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class RiskBody(BaseModel):
    level: int = Field(ge=0, le=3)
    category: str | None = Field(default=None, max_length=60)
    reason: str = Field(min_length=1, max_length=500)


class TransferBody(BaseModel):
    to: Literal["user", "desk", "bot"]
    user_id: str | None = None
    desk_id: str | None = None
    note: str = Field(min_length=1, max_length=2000)


class CloseBody(BaseModel):
    outcome: str = Field(min_length=1, max_length=200)
    request_rating: bool = True
    no_referral_reason: str | None = Field(default=None, max_length=500)


async def _summary_of(request: web.Request, conversation_id: str, user: Any, detail: bool = True) -> web.Response:
    engine = engine_of(request)
    item = await load(engine.store, conversation_id)
    assert item is not None
    return web.json_response(await summary(engine, item, user, detail=detail))


@ROUTES.get("/conversations")
async def list_conversations(request: web.Request) -> web.Response:
    user = await current_user(request)
    engine = engine_of(request)
    scope = request.query.get("scope", "mine")
    state = request.query.get("state")
    if scope not in ("mine", "desk", "all") or (state is not None and state not in _STATES):
        raise http_error(400, "scope: mine|desk|all; state: bot|queued|assigned|closed")
    if scope == "all" and user.role != Role.ADMIN:
        raise http_error(403, "admins only")
    found = await stored.latest(
        engine.store, owner=user.id if scope == "mine" else None,
        desks=visible_desks(user, request.app[SETTINGS]) if scope == "desk" else None,
        state=ConversationState(state) if state is not None else None, open_only=scope == "mine")
    items = [item for item in found if may_view(user, item, request)]
    positions = places(await queue_entries(engine.store, {i.conversation.desk for i in items}))
    return web.json_response({"items": [await summary(engine, item, user, position=positions.get(item.conversation.id))
                                        for item in items]})


@ROUTES.get("/conversations/{id}")
async def get_conversation(request: web.Request) -> web.Response:
    user = await current_user(request)
    item = await load_visible(request, user)
    engine = engine_of(request)
    positions = places(await queue_entries(engine.store, {item.conversation.desk}))
    return web.json_response(await summary(engine, item, user, position=positions.get(item.conversation.id),
                                           detail=True))


@ROUTES.get("/conversations/{id}/messages")
async def messages(request: web.Request) -> web.Response:
    user = await current_user(request)
    item = await load_visible(request, user)
    reason = request.query.get("reason", "").strip()[:500] or None
    participant = item.conversation.owner == user.id or user.id in item.info.joined
    if user.role in (Role.SUPERVISOR, Role.ADMIN) and not participant and reason is None:
        raise http_error(400, "reason: required when reading a conversation you do not own")
    engine = engine_of(request)
    await audit.record(engine.store, user.id, "transcript.read", item.conversation.id, reason)
    transcript = await stored.transcript(engine.store, item.conversation.id)
    names: dict[str, str] = {}
    return web.json_response({"items": [await message_public(engine, message, names, risk)
                                        for message, risk in transcript]})


@ROUTES.post("/conversations/{id}/messages")
async def reply(request: web.Request) -> web.Response:
    user = await current_user(request)
    item = await load_visible(request, user)
    body = await read_body(request, TextBody)
    engine = engine_of(request)
    message = await engine.reply(item.conversation.id, user, body.text)
    return web.json_response(await message_public(engine, message, {}), status=201)


@ROUTES.post("/conversations/{id}/notes")
async def note(request: web.Request) -> web.Response:
    user = await current_user(request)
    item = await load_visible(request, user)
    body = await read_body(request, TextBody)
    engine = engine_of(request)
    message = await engine.stream.send(item.conversation.id, body.text, sender=SenderKind.COUNSELLOR,
                                       sender_id=user.id, private=True)
    return web.json_response(await message_public(engine, message, {}), status=201)


@ROUTES.post("/conversations/{id}/whisper")
async def whisper(request: web.Request) -> web.Response:
    user = await current_user(request)
    if user.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise http_error(403, "supervisors only")
    item = await load_visible(request, user)
    body = await read_body(request, TextBody)
    engine = engine_of(request)
    message = await engine.stream.send(item.conversation.id, f"【督导提示】{body.text}", sender=SenderKind.COUNSELLOR,
                                       sender_id=user.id, private=True)
    return web.json_response(await message_public(engine, message, {}), status=201)


@ROUTES.post("/conversations/{id}/join")
async def join(request: web.Request) -> web.Response:
    user = await current_user(request)
    item = await load_visible(request, user)
    await engine_of(request).join(item.conversation.id, user)
    return await _summary_of(request, item.conversation.id, user)


@ROUTES.put("/conversations/{id}/risk")
async def set_risk(request: web.Request) -> web.Response:
    user = await current_user(request)
    item = await load_visible(request, user)
    if user.role == Role.COUNSELLOR and item.conversation.owner != user.id:
        raise http_error(403, "only the owner or a supervisor may set the risk level")
    body = await read_body(request, RiskBody)
    await engine_of(request).set_risk(item.conversation.id, body.level, body.category, by=user.id, reason=body.reason)
    return await _summary_of(request, item.conversation.id, user)


@ROUTES.post("/conversations/{id}/transfer")
async def transfer_conversation(request: web.Request) -> web.Response:
    user = await current_user(request)
    item = await load_visible(request, user)
    body = await read_body(request, TransferBody)
    await engine_of(request).transfer(item.conversation.id, user, to=body.to, note=body.note,
                                      user_id=body.user_id, desk_id=body.desk_id)
    return await _summary_of(request, item.conversation.id, user)


@ROUTES.post("/conversations/{id}/close")
async def close(request: web.Request) -> web.Response:
    user = await current_user(request)
    item = await load_visible(request, user)
    body = await read_body(request, CloseBody)
    await engine_of(request).close(item.conversation.id, user, outcome=body.outcome,
                                   request_rating=body.request_rating, no_referral_reason=body.no_referral_reason)
    return await _summary_of(request, item.conversation.id, user)


_WINDOW = obj(["policy", "last_youth_message_at", "expires_at", "messages_left", "closed_reason"],
              policy=nullable(obj(["hours", "max_messages"], hours={"type": "number"}, max_messages=INT)),
              last_youth_message_at=nullable(TIME), expires_at=nullable(TIME), messages_left=nullable(INT),
              closed_reason=nullable(STR))
_PERSON = nullable(obj(["id", "display_name"], id=STR, display_name=STR))
SCHEMAS = {
    "ConversationSummary": obj(
        ["id", "desk", "platform", "account", "state", "risk_level", "owner", "deadline_state", "contact", "window"],
        id=STR, desk=STR, platform=STR, account=STR, state={"type": "string", "enum": sorted(_STATES)},
        risk_level={"type": "integer", "minimum": 0, "maximum": 3}, risk_category=nullable(STR), topic=nullable(STR),
        risk_probability=nullable({"type": "number", "minimum": 0, "maximum": 1}),
        owner=_PERSON, waiting_since=nullable(TIME), first_response_due_at=nullable(TIME),
        reply_due_at=nullable(TIME), deadline_state={"type": "string", "enum": ["ok", "warning", "breached"]},
        last_message_preview=STR, contact=obj(["id", "label"], id=STR, label=STR), case_id=nullable(STR),
        case_number=nullable(STR), window=_WINDOW, queue_position=nullable(INT), leave_message=BOOL,
        previous_counsellor=_PERSON, transfers={"type": "array", "items": {"type": "object"}},
    ),
    "Message": obj(
        ["id", "seq", "direction", "sender", "type", "text", "created_at", "status", "private"],
        id=STR, seq=INT, direction={"type": "string", "enum": ["in", "out"]},
        sender={"type": "string", "enum": ["youth", "bot", "counsellor", "system"]}, sender_id=nullable(STR),
        sender_name=STR, type=STR, text=STR, media=nullable({"type": "object"}), created_at=TIME, status=STR,
        error=nullable(STR), private=BOOL, risk=nullable({"type": "object"}),
    ),
}
_ID = [path_param("id")]
_SUMMARY = ref("ConversationSummary")
_TEXT = obj(["text"], text={"type": "string", "minLength": 1, "maxLength": 4000})
_WRITE_ERRORS = (400, 401, 403, 404, 409, 415)
PATHS = {
    "/conversations": {"get": operation(
        "Conversations in your scope", ok=items_of(_SUMMARY), errors=(400, 401, 403),
        params=[query_param("scope", {"type": "string", "enum": ["mine", "desk", "all"]}),
                query_param("state", {"type": "string", "enum": sorted(_STATES)})])},
    "/conversations/{id}": {"get": operation("One conversation", ok=_SUMMARY, params=_ID, errors=(401, 403, 404))},
    "/conversations/{id}/messages": {
        "get": operation("Transcript (audited)", ok=items_of(ref("Message")), errors=(400, 401, 403, 404),
                         params=[*_ID, query_param("reason")]),
        "post": operation("Reply to the youth", ok=ref("Message"), status=201, params=_ID, body=_TEXT,
                          errors=_WRITE_ERRORS),
    },
    "/conversations/{id}/notes": {"post": operation("Private note", ok=ref("Message"), status=201, params=_ID,
                                                    body=_TEXT, errors=_WRITE_ERRORS)},
    "/conversations/{id}/whisper": {"post": operation("Supervisor whisper", ok=ref("Message"), status=201,
                                                      params=_ID, body=_TEXT, errors=_WRITE_ERRORS)},
    "/conversations/{id}/join": {"post": operation("Supervisor joins", ok=_SUMMARY, params=_ID,
                                                   errors=_WRITE_ERRORS)},
    "/conversations/{id}/risk": {"put": operation(
        "Set the risk level", ok=_SUMMARY, params=_ID, errors=_WRITE_ERRORS,
        body=obj(["level", "reason"], level={"type": "integer", "minimum": 0, "maximum": 3}, category=STR,
                 reason=STR))},
    "/conversations/{id}/transfer": {"post": operation(
        "Transfer to a colleague, a desk or the bot", ok=_SUMMARY, params=_ID, errors=_WRITE_ERRORS,
        body=obj(["to", "note"], to={"type": "string", "enum": ["user", "desk", "bot"]}, user_id=STR, desk_id=STR,
                 note=STR))},
    "/conversations/{id}/close": {"post": operation(
        "Close (asks the youth for a rating)", ok=_SUMMARY, params=_ID, errors=_WRITE_ERRORS,
        body=obj(["outcome"], outcome=STR, request_rating=BOOL, no_referral_reason=nullable(STR)))},
}
