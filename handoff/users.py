"""Counsellors, supervisors and admins: the people who take conversations.

Passwords are kept only as argon2 hashes. Presence and capacity drive auto-assignment;
``active_conversations`` is always counted from the conversations themselves, never cached.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from contract.config import Settings
from contract.models import new_id
from contract.people import Presence, Role, User, normalise_username
from handoff.access import OUTSIDE_YOUR_DESKS, visible_desks
from handoff.errors import Invalid, NotPermitted
from store import users as stored
from store.client import Store

_hasher = PasswordHasher()
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


class SignInBusy(Exception):
    """Every argon2 slot is taken: the caller should answer at once and let the client retry."""


class PasswordVerifier:
    """argon2 on its own small thread pool with a bounded waiting line.

    argon2 is deliberately slow (a CPU core and 64 MiB for about 0.1-0.6 s), so unbounded
    verification would let a flood of bad sign-ins queue real ones behind it for tens of seconds and
    starve the default thread pool the rest of the service uses. Past ``workers + waiting`` attempts in
    progress, ``SignInBusy`` is raised instead of queueing. A slot is freed when its thread finishes,
    not when the request goes away, so abandoned attempts cannot overfill the pool.

    ``reserved`` more places are kept for trusted attempts (an account signing in from an address it
    signed in from before): a flood of bad sign-ins from many addresses fills the shared places, and
    a counsellor at their usual desk still gets in.
    """

    def __init__(self, workers: int = 2, waiting: int = 4, reserved: int = 2) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="argon2")
        self._capacity = workers + waiting
        self._reserved = reserved
        self._in_progress = 0

    async def verify(self, password_hash: str, password: str, *, trusted: bool = False) -> bool:
        if self._in_progress >= self._capacity + (self._reserved if trusted else 0):
            raise SignInBusy
        loop = asyncio.get_running_loop()
        self._in_progress += 1
        job = self._pool.submit(_matches, password_hash, password)
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        return await asyncio.wrap_future(job)

    def _release(self) -> None:
        self._in_progress -= 1


def _matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# One per process: the cores it shares out are the process's, however many apps run in it.
PASSWORDS = PasswordVerifier()


async def verify_password(user: User, password: str, *, trusted: bool = False) -> bool:
    """Whether ``password`` is the user's; ``SignInBusy`` when every argon2 slot open to it is taken."""
    if not user.password_hash:
        return False
    return await PASSWORDS.verify(user.password_hash, password, trusted=trusted)


async def create_user(
    store: Store,
    settings: Settings,
    *,
    username: str,
    password: str,
    role: Role | str,
    desk: str,
    display_name: str | None = None,
    skills: list[str] | None = None,
    capacity: int = 3,
) -> User:
    """A new user; ``Invalid`` says which field cannot be accepted and why."""
    username = normalise_username(username)
    if not USERNAME.match(username):
        raise Invalid("username: 2-40 characters a-z 0-9 . _ -")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    try:
        settings.desk(desk)
    except KeyError:
        raise Invalid(f"desk: unknown desk {desk!r}") from None
    try:
        role = Role(role)
    except ValueError:
        raise Invalid("role: counsellor, supervisor or admin") from None
    user = User(
        id=new_id("u"), username=username, display_name=(display_name or username).strip()[:60],
        role=role, desk=desk, skills=sorted({s.strip() for s in skills or [] if s.strip()}),
        capacity=capacity, password_hash=await asyncio.to_thread(hash_password, password),
    )
    if not await stored.insert_user(store, user):
        raise Invalid(f"username: {username!r} already exists")
    return user


async def get_user(store: Store, user_id: str) -> User | None:
    return await stored.find_user(store, user_id)


async def get_user_by_username(store: Store, username: str) -> User | None:
    return await stored.find_user_by_username(store, normalise_username(username))


async def list_users(store: Store, desks: set[str] | None = None) -> list[User]:
    return await stored.users_by_username(store, desks)


async def online_counsellors(store: Store, desk: str) -> list[User]:
    """The counsellors of ``desk`` online now: who can take a conversation there, or shorten its wait."""
    return [user for user in await list_users(store, {desk})
            if user.role == Role.COUNSELLOR and user.presence == Presence.ONLINE]


async def colleagues(store: Store, settings: Settings, user: User, desk: str | None = None) -> list[User]:
    """The users of the desks ``user`` sees (transfer targets), or of one ``desk``.

    Admins may name any desk; counsellors only their own, supervisors only one they see.
    """
    visible = visible_desks(user, settings)
    if desk is not None:
        if user.role != Role.ADMIN and desk not in visible:
            raise NotPermitted(OUTSIDE_YOUR_DESKS)
        visible = {desk}
    return await list_users(store, visible)


async def set_presence(store: Store, user_id: str, presence: Presence) -> User | None:
    return await stored.update_presence(store, user_id, presence)


async def active_count(store: Store, user_id: str) -> int:
    return await stored.assigned_conversation_count(store, user_id)


async def public_user(store: Store, user: User) -> dict[str, Any]:
    return user.public(await active_count(store, user.id))


_DUMMY_HASH = _hasher.hash("youthdesk-no-such-user")


async def authenticate(store: Store, username: str, password: str, *, trusted: bool = False) -> User | None:
    """The user for these credentials, or None; unknown users cost the same time as wrong passwords.

    Raises ``SignInBusy`` when the argon2 pool is full (``trusted`` attempts may use its reserved places).
    """
    user = await get_user_by_username(store, username)
    if user is None:
        await verify_password(User(id="-", username="-", display_name="-", role=Role.COUNSELLOR, desk="-",
                                   password_hash=_DUMMY_HASH), password)
        return None
    return user if await verify_password(user, password, trusted=trusted) else None
