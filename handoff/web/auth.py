"""Sessions, CSRF and the permission checks every route handler uses.

A session token is random and stored only as its SHA-256, so a database read does not hand
out live sessions. Sessions expire after ``handoff.session_idle_minutes`` without use and after
``handoff.session_max_hours`` in any case. Browser requests carry the token in an HttpOnly
cookie and must echo the session's CSRF token on state-changing requests; API clients send
``Authorization: Bearer`` and need no CSRF token (a browser never adds that header by itself).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web

from contract.config import Settings
from contract.keys import SETTINGS, STORE
from contract.models import utcnow
from handoff.users import Role, User, get_user
from handoff.web.errors import http_error
from store.client import Store

COOKIE = "youthdesk_session"
CSRF_HEADER = "X-CSRF-Token"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Refresh last_seen at most this often: idle expiry needs minute precision, not a write per request.
_TOUCH_INTERVAL = timedelta(seconds=30)
_AUTH = web.RequestKey("youthdesk_auth", tuple)


@dataclass(frozen=True, slots=True)
class Session:
    token_hash: str
    user_id: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def create_session(store: Store, user: User) -> tuple[str, Session]:
    """A new session for ``user``; returns the token (shown once) and the session."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session = Session(_hash(token), user.id, secrets.token_urlsafe(24), now, now)
    await store["sessions"].insert_one({"_id": session.token_hash, "user_id": user.id,
                                        "csrf_token": session.csrf_token, "created_at": now,
                                        "last_seen_at": now})
    return token, session


async def end_session(store: Store, token: str) -> None:
    await store["sessions"].delete_one({"_id": _hash(token)})


async def end_sessions_of(store: Store, user_id: str) -> None:
    await store["sessions"].delete_many({"user_id": user_id})


async def load_session(store: Store, settings: Settings, token: str, *, now: datetime | None = None) -> Session | None:
    """The live session for ``token``, or None (expired sessions are deleted on sight)."""
    if not token or len(token) > 200:
        return None
    doc = await store["sessions"].find_one({"_id": _hash(token)})
    if doc is None:
        return None
    now = now or utcnow()
    created, last_seen = _aware(doc["created_at"]), _aware(doc["last_seen_at"])
    idle = timedelta(minutes=settings.handoff.session_idle_minutes)
    absolute = timedelta(hours=settings.handoff.session_max_hours)
    if now - last_seen > idle or now - created > absolute:
        await store["sessions"].delete_one({"_id": doc["_id"]})
        return None
    if now - last_seen > _TOUCH_INTERVAL:
        await store["sessions"].update_one({"_id": doc["_id"]}, {"$set": {"last_seen_at": now}})
    return Session(doc["_id"], doc["user_id"], doc["csrf_token"], created, now)


async def has_live_session(store: Store, settings: Settings, user_id: str) -> bool:
    """Whether the user is really at a console: "online" alone survives a closed laptop."""
    now = utcnow()
    return await store["sessions"].count_documents({
        "user_id": user_id,
        "last_seen_at": {"$gte": now - timedelta(minutes=settings.handoff.session_idle_minutes)},
        "created_at": {"$gte": now - timedelta(hours=settings.handoff.session_max_hours)},
    }) > 0


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


def require_role(user: User, *roles: Role | str) -> None:
    if user.role not in {Role(r) for r in roles}:
        raise http_error(403, "not permitted for your role")


def descendants(settings: Settings, desk_id: str) -> set[str]:
    """``desk_id`` and every desk below it."""
    found = {desk_id}
    changed = True
    while changed:
        changed = False
        for desk in settings.desks:
            if desk.parent in found and desk.id not in found:
                found.add(desk.id)
                changed = True
    return found


def ancestors(settings: Settings, desk_id: str) -> list[str]:
    """The desks above ``desk_id``, nearest first."""
    chain: list[str] = []
    try:
        parent = settings.desk(desk_id).parent
    except KeyError:
        return chain
    while parent is not None and parent not in chain:
        chain.append(parent)
        parent = settings.desk(parent).parent
    return chain


def visible_desks(user: User, settings: Settings) -> set[str]:
    if user.role == Role.ADMIN:
        return {desk.id for desk in settings.desks}
    if user.role == Role.SUPERVISOR:
        return descendants(settings, user.desk)
    return {user.desk}


def ensure_desk_access(user: User, desk_id: str, settings: Settings) -> None:
    if desk_id not in visible_desks(user, settings):
        raise http_error(403, "outside your desks")


class LoginThrottle:
    """Slows password guessing: after ``limit`` failures for one username within ``window``, refuse for a while.

    In-process on purpose: it only has to make guessing slow, and a restart resetting it is harmless.
    """

    def __init__(self, limit: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, list[datetime]] = {}

    def blocked(self, username: str, now: datetime) -> bool:
        recent = [t for t in self._failures.get(username.lower(), []) if now - t < self.window]
        self._failures[username.lower()] = recent
        return len(recent) >= self.limit

    def failed(self, username: str, now: datetime) -> None:
        if len(self._failures) > 100_000:  # bounded memory under a spray of made-up names
            self._failures.clear()
        self._failures.setdefault(username.lower(), []).append(now)

    def succeeded(self, username: str) -> None:
        self._failures.pop(username.lower(), None)


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
