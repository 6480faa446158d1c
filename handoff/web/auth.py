"""Request-time authentication: the session a request carries, and CSRF.

Browser requests carry the session token in an HttpOnly cookie and must echo the session's CSRF
token on state-changing requests; API clients send ``Authorization: Bearer`` and need no CSRF token
(a browser never adds that header by itself). Sessions themselves live in ``handoff.sessions``.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from contract.keys import SETTINGS, STORE
from contract.people import Session, User
from handoff.sessions import load_session
from handoff.users import get_user
from handoff.web.errors import http_error

COOKIE = "youthdesk_session"
CSRF_HEADER = "X-CSRF-Token"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_AUTH = web.RequestKey("youthdesk_auth", tuple)


def request_token(request: web.Request) -> tuple[str | None, bool]:
    """(token, came_from_cookie). Bearer wins over the cookie; ``?token=`` only for WebSockets."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), False
    cookie = request.cookies.get(COOKIE)
    if cookie:
        return cookie, True
    if request.headers.get("Upgrade", "").lower() == "websocket" and request.query.get("token"):
        return request.query["token"], False
    return None, False


async def current_session(request: web.Request) -> tuple[Session, User]:
    cached = request.get(_AUTH)
    if cached is not None:
        return cached
    token, _ = request_token(request)
    store, settings = request.app[STORE], request.app[SETTINGS]
    session = await load_session(store, settings, token or "")
    user = await get_user(store, session.user_id) if session else None
    if session is None or user is None:
        raise http_error(401, "not signed in")
    request[_AUTH] = (session, user)
    return session, user


async def current_user(request: web.Request) -> User:
    """The signed-in user, or a JSON 401."""
    return (await current_session(request))[1]


@web.middleware
async def csrf_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Cookie-authenticated state changes must echo the session's CSRF token."""
    if (request.method in _UNSAFE_METHODS and request.path.startswith("/api/")
            and not request.path.endswith("/auth/login")):
        token, from_cookie = request_token(request)
        if token and from_cookie:
            session, _ = await current_session(request)
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                raise http_error(403, "csrf")
    return await handler(request)
