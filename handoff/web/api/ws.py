"""``GET /api/v1/ws``: live events for the console, scoped like the REST API.

A counsellor gets their desk's queue and alert events and message events only of conversations
they own or that wait in the queue; supervisors get everything of their desks. A conversation that
overflowed up from a desk is still that desk's: its events reach the desk's consoles too. A client that
falls behind is disconnected (close code 4008) and should reconnect and re-fetch.

Browsers send the session cookie with a WebSocket handshake from any site (WebSockets are outside
the same-origin policy, and SameSite is the only other guard), so a browser handshake must come from
the console's own origin: the Host it is served from or ``service.public_url``. Clients without an
``Origin`` (API clients with a bearer token) carry no ambient credentials and are let through.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from contract.keys import BUS, SETTINGS
from contract.models import ConversationState, Event
from contract.people import Role, User
from gateway.bus import Subscription
from handoff.access import visible_desks
from handoff.queue import load
from handoff.web.api.common import engine_of
from handoff.web.api.openapi import ERROR
from handoff.web.auth import current_user
from handoff.web.errors import http_error
from handoff.web.keys import CONSOLE_PRESENCE

log = logging.getLogger("youthdesk.api.ws")
ROUTES = web.RouteTableDef()

FORWARDED = frozenset({
    "queue.changed", "message.created", "message.status", "conversation.assigned", "conversation.state_changed",
    "conversation.risk_changed", "conversation.joined", "alert.raised", "deadline.warning", "deadline.breached",
    "conversation.window_closed", "task.created", "task.updated", "task.reminder", "wellbeing.debrief",
    "case.work_order",
})
_PER_CONVERSATION = frozenset({"message.created", "message.status", "conversation.joined"})
HEARTBEAT_SECONDS = 20.0
# Events a writer takes at once when it wakes; beyond them the subscription's own queue (500) holds the rest.
BATCH = 100
LAGGING = 4008


def _in_scope(user: User, desks: set[str], event: Event) -> bool:
    if event.type not in FORWARDED:
        return False
    if event.type == "alert.raised" and user.id in (event.data.get("alert") or {}).get("recipients", []):
        return True
    return not desks.isdisjoint(event.desks)  # its desk, or one it overflowed from (``Event.also_desks``)


async def _allowed_for_counsellor(request: web.Request, user: User, event: Event) -> bool:
    if user.role != Role.COUNSELLOR or event.type not in _PER_CONVERSATION or not event.conversation_id:
        return True
    item = await load(engine_of(request).store, event.conversation_id)
    if item is None:
        return False
    return (item.conversation.owner == user.id or user.id in item.info.joined
            or item.conversation.state == ConversationState.QUEUED)


def console_origins(request: web.Request) -> set[str]:
    """The origins the console is served from: this request's Host (either scheme) and the public URL."""
    host = request.host.lower()
    origins = {f"http://{host}", f"https://{host}"}
    public_url = request.app[SETTINGS].service.public_url
    if public_url:
        origins.add(_origin_of(public_url))
    return origins


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_origin(request: web.Request) -> None:
    origin = request.headers.get("Origin")
    if origin is not None and origin.lower() not in console_origins(request):
        log.warning("console socket refused for origin %r", origin[:100])
        raise http_error(403, "origin not allowed")


@ROUTES.get("/ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    check_origin(request)
    user = await current_user(request)
    desks = visible_desks(user, request.app[SETTINGS])
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=4096)
    await ws.prepare(request)
    subscription = request.app[BUS].subscribe(lambda event: _in_scope(user, desks, event), maxsize=500)
    presence = request.app[CONSOLE_PRESENCE]
    await presence.connected(user.id)

    async def drain_incoming() -> None:
        async for message in ws:  # the console sends nothing we act on; this keeps pongs flowing
            if message.type == WSMsgType.ERROR:
                return

    reader = asyncio.create_task(drain_incoming())
    try:
        while not ws.closed:
            get = asyncio.create_task(subscription.get())
            done, _ = await asyncio.wait({get, reader}, return_when=asyncio.FIRST_COMPLETED)
            if get not in done:
                get.cancel()
                break
            if not await _send_batch(request, ws, user, subscription, [get.result(), *subscription.take_queued(BATCH)]):
                break
    except ConnectionResetError:
        pass
    finally:
        await presence.disconnected(user.id)
        subscription.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        if not ws.closed:
            await ws.close()
    return ws


def _send_order(event: Event | None) -> int:
    return 2 if event is None else 0 if event.type == "alert.raised" else 1


async def _send_batch(request: web.Request, ws: web.WebSocketResponse, user: User, subscription: Subscription,
                      events: list[Event | None]) -> bool:
    """Send the events queued when the writer woke, alerts first; False once the subscription has ended.

    All of them in one go, not one per wake-up: each wake-up costs the writer a few turns of the event loop,
    and at 500 pushes/s a turn took 120-170 ms, so an alert with four events ahead of it reached the
    supervisor 2-3 s after it was raised. So an alert may arrive before its conversation's ``queue.changed``
    or ``message.created``: the console lists alerts on their own and re-reads the conversation when it opens.
    A console that lagged gets its alerts and the close, not the stale rest: it re-fetches on reconnect."""
    lagged = subscription.lagged  # then the end marker is queued already, and nothing more comes
    for event in sorted(events, key=_send_order):  # stable: the other events keep their order
        if event is None or (lagged and event.type != "alert.raised"):
            if lagged:
                await ws.close(code=LAGGING, message=b"lagging; reconnect and re-fetch")
            return False
        if await _allowed_for_counsellor(request, user, event):
            await ws.send_str(json.dumps({"type": event.type, "conversation_id": event.conversation_id,
                                          "desk": event.desk, "data": event.data, "at": event.at.isoformat()},
                                         ensure_ascii=False, default=str))
    return True


PATHS = {
    "/ws": {"get": {"summary": "Live events (WebSocket upgrade)", "responses": {
        "101": {"description": "switching protocols"},
        "401": {"description": "not signed in", "content": {"application/json": {"schema": ERROR}}},
        "403": {"description": "opened from a foreign origin", "content": {"application/json": {"schema": ERROR}}},
    }}},
}
