"""Helpers shared by the API modules: the engine and scoped loading (domain refusals become JSON in ``json_errors``)."""

from __future__ import annotations

from aiohttp import web

from contract.keys import SETTINGS
from contract.models import ConversationState
from contract.people import Role, User
from contract.queue import Handed
from handoff.access import desk_in_view
from handoff.engine import HandoffEngine
from handoff.queue import load
from handoff.web.errors import http_error
from handoff.web.keys import ENGINE


def engine_of(request: web.Request) -> HandoffEngine:
    return request.app[ENGINE]


def may_view(user: User, item: Handed, request: web.Request) -> bool:
    """Counsellors see their desk's queue and their own conversations; supervisors their desks."""
    conversation = item.conversation
    if conversation.owner == user.id or user.id in item.info.joined:
        return True
    if not desk_in_view(user, item, request.app[SETTINGS]):
        return False
    if user.role == Role.COUNSELLOR:
        return conversation.state == ConversationState.QUEUED
    return True


async def load_visible(request: web.Request, user: User) -> Handed:
    item = await load(engine_of(request).store, request.match_info["id"])
    if item is None:
        raise http_error(404, "not found")
    if not may_view(user, item, request):
        raise http_error(403, "outside your desks")
    return item
