"""Helpers shared by the API modules: the engine, domain errors as JSON, scoped loading."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from contract.keys import SETTINGS
from contract.models import ConversationState
from handoff.engine import Conflict, HandoffEngine, HandoffError, Invalid, NotFound, NotPermitted
from handoff.queue import Handed, load
from handoff.users import Role, User
from handoff.web.auth import visible_desks
from handoff.web.errors import http_error
from handoff.web.keys import ENGINE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_STATUS: dict[type[HandoffError], int] = {NotFound: 404, NotPermitted: 403, Conflict: 409, Invalid: 400}


def engine_of(request: web.Request) -> HandoffEngine:
    return request.app[ENGINE]


def domain_errors(handler: Handler) -> Handler:
    """Turn the engine's refusals into JSON 4xx responses."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except HandoffError as exc:
            status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
            reason = "not found" if status == 404 else str(exc)
            raise http_error(status, reason) from None

    return wrapped


def may_view(user: User, item: Handed, request: web.Request) -> bool:
    """Counsellors see their desk's queue and their own conversations; supervisors their desks."""
    conversation = item.conversation
    if conversation.owner == user.id or user.id in item.info.joined:
        return True
    if conversation.desk not in visible_desks(user, request.app[SETTINGS]):
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
