"""Console sessions and the sign-in throttle.

A session token is random and stored only as its SHA-256, so a database read does not hand
out live sessions. Sessions expire after ``handoff.session_idle_minutes`` without use and after
``handoff.session_max_hours`` in any case. How a request carries its token is ``handoff.web.auth``'s
business.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
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


# How many (account, address) pairs that signed in are remembered; a desk's counsellors fit many times over.
KNOWN_PAIRS = 10_000


class LoginThrottle:
    """Slows password guessing without handing strangers a way to lock counsellors out.

    Two budgets, both counted in-process (they only have to make guessing slow; a restart resetting
    them is harmless) and, with several gateways, also in Redis (``handoff.sign_in_limits``):

    - per (account, address): ``free_failures`` wrong passwords, then each further attempt must wait
      ``base_delay`` seconds, doubling per failure up to ``max_delay``. Only that address is slowed, so
      someone guessing from elsewhere cannot keep the real counsellor from signing in.
    - per address, across accounts: ``address_budget`` failures within ``address_window`` seconds,
      so spraying many usernames from one address is refused too; and at most ``concurrent_per_address``
      attempts being checked at once, so one address cannot take every argon2 slot
      (``handoff.users.PasswordVerifier``) from everyone else.

    Attempts still being checked count as failures until they end, so a burst of concurrent
    attempts cannot all pass the check before the first one fails. Usernames are expected normalised
    (``handoff.users.normalise_username``): every spelling of an account shares its budget.
    """

    def __init__(self, *, free_failures: int = 5, base_delay: float = 1.0, max_delay: float = 900.0,
                 address_budget: int = 20, address_window: float = 600.0, concurrent_per_address: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free_failures = free_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.address_budget = address_budget
        self.address_window = address_window
        self.concurrent_per_address = concurrent_per_address
        self._clock = clock
        self._pairs: dict[tuple[str, str], _Failures] = {}
        self._addresses: dict[str, deque[float]] = {}
        self._in_progress: Counter[str] = Counter()
        # (account, address) pairs that signed in before, newest last: trusted with argon2's reserved places.
        self._known: OrderedDict[tuple[str, str], None] = OrderedDict()

    def admit(self, account: str, address: str) -> float:
        """0 when the attempt may go ahead (it is then counted until ``failed``/``succeeded``), else the
        seconds to wait before trying again."""
        now = self._clock()
        self._forget_old(now)
        recent = self._addresses.setdefault(address, deque())
        while recent and now - recent[0] >= self.address_window:
            recent.popleft()
        if len(recent) >= self.address_budget:
            return max(recent[0] + self.address_window - now, 1.0)
        if self._in_progress[address] >= self.concurrent_per_address:
            return 1.0
        pair = self._pairs.get((account, address))
        if pair is not None and now - pair.last >= self.max_delay:
            del self._pairs[(account, address)]  # quiet for the longest delay: forgiven
            pair = None
        if pair is not None and pair.count >= self.free_failures:
            wait = pair.last + self.delay_after(pair.count) - now
            if wait > 0:
                return wait
        recent.append(now)
        self._in_progress[address] += 1
        pair = self._pairs.setdefault((account, address), _Failures())
        pair.count += 1
        pair.last = now
        return 0.0

    def failed(self, account: str, address: str) -> None:
        """The admitted attempt was wrong: it stays counted."""
        self._ended(address)
        pair = self._pairs.get((account, address))
        if pair is not None:
            pair.last = self._clock()

    def succeeded(self, account: str, address: str) -> None:
        """The admitted attempt was right: the pair starts afresh and the address gets its attempt back."""
        self._ended(address)
        self._pairs.pop((account, address), None)
        self._give_back(address)
        self._known[(account, address)] = None
        self._known.move_to_end((account, address))
        while len(self._known) > KNOWN_PAIRS:
            self._known.popitem(last=False)

    def known(self, account: str, address: str) -> bool:
        """Whether this account signed in from this address before (since the process started)."""
        return (account, address) in self._known

    def abandoned(self, account: str, address: str) -> None:
        """The admitted attempt was never checked (the service was busy): it does not count."""
        self._ended(address)
        pair = self._pairs.get((account, address))
        if pair is not None:
            pair.count -= 1
            if pair.count <= 0:
                self._pairs.pop((account, address))
        self._give_back(address)

    def _ended(self, address: str) -> None:
        self._in_progress[address] -= 1
        if self._in_progress[address] <= 0:
            del self._in_progress[address]

    def _give_back(self, address: str) -> None:
        recent = self._addresses.get(address)
        if recent:
            recent.pop()

    def delay_after(self, count: int) -> float:
        """The wait before the next attempt of a pair with ``count`` failures past the free ones."""
        return min(self.base_delay * 2 ** (count - self.free_failures), self.max_delay)

    def _forget_old(self, now: float) -> None:
        """Drop what no longer slows anyone: memory stays bounded under a spray of made-up names."""
        if len(self._pairs) + len(self._addresses) < _SWEEP_ABOVE:
            return
        self._pairs = {key: f for key, f in self._pairs.items() if now - f.last < self.max_delay}
        for address in list(self._addresses):
            recent = self._addresses[address]
            while recent and now - recent[0] >= self.address_window:
                recent.popleft()
            if not recent:
                del self._addresses[address]


# Sweeping is O(entries): only worth it once the tables have grown.
_SWEEP_ABOVE = 10_000


@dataclass(slots=True)
class _Failures:
    count: int = 0
    last: float = 0.0
