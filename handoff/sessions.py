"""Console sessions and the sign-in throttle.

A session token is random and stored only as its SHA-256, so a database read does not hand
out live sessions. Sessions expire after ``handoff.session_idle_minutes`` without use and after
``handoff.session_max_hours`` in any case. How a request carries its token is ``handoff.web.auth``'s
business.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from contract.config import Settings
from contract.models import utcnow
from contract.people import Session, User
from store import users as stored
from store.client import Store

# Refresh last_seen at most this often: idle expiry needs minute precision, not a write per request.
_TOUCH_INTERVAL = timedelta(seconds=30)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_session(store: Store, user: User) -> tuple[str, Session]:
    """A new session for ``user``; returns the token (shown once) and the session."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session = Session(_hash(token), user.id, secrets.token_urlsafe(24), now, now)
    await stored.insert_session(store, session)
    return token, session


async def end_session(store: Store, token: str) -> None:
    await stored.delete_session(store, _hash(token))


async def load_session(store: Store, settings: Settings, token: str, *, now: datetime | None = None) -> Session | None:
    """The live session for ``token``, or None (expired sessions are deleted on sight)."""
    if not token or len(token) > 200:
        return None
    session = await stored.find_session(store, _hash(token))
    if session is None:
        return None
    now = now or utcnow()
    idle = timedelta(minutes=settings.handoff.session_idle_minutes)
    absolute = timedelta(hours=settings.handoff.session_max_hours)
    if now - session.last_seen_at > idle or now - session.created_at > absolute:
        await stored.delete_session(store, session.token_hash)
        return None
    if now - session.last_seen_at > _TOUCH_INTERVAL:
        await stored.touch_session(store, session.token_hash, now)
    return Session(session.token_hash, session.user_id, session.csrf_token, session.created_at, now)


def expires_at(session: Session, settings: Settings) -> datetime:
    """When ``session`` lapses unless used again: idle expiry, capped by the absolute lifetime."""
    idle = session.last_seen_at + timedelta(minutes=settings.handoff.session_idle_minutes)
    absolute = session.created_at + timedelta(hours=settings.handoff.session_max_hours)
    return min(idle, absolute)


async def has_live_session(store: Store, settings: Settings, user_id: str) -> bool:
    """Whether the user is really at a console: "online" alone survives a closed laptop."""
    now = utcnow()
    return await stored.has_session_since(
        store, user_id, seen_since=now - timedelta(minutes=settings.handoff.session_idle_minutes),
        created_since=now - timedelta(hours=settings.handoff.session_max_hours))


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
