"""Wrong passwords counted in Redis, so several gateways give a guesser one budget, not one each.

Behind a load balancer each instance's ``LoginThrottle`` sees only its share of the attempts: with
N instances a guesser would get N times the free failures and every delay would restart per
instance. With ``service.redis_url`` set, each wrong password is also written here, and an attempt
goes ahead only when both the local throttle and these shared counts allow it. The rules are the
local throttle's own (same budgets, same doubling delay, forgiven after the longest delay); what
stays per instance is only the limit on attempts being checked at once, which protects that
instance's password hashing.

Accounts and addresses are hashed into the key names: Redis holds no usernames or client addresses.
A Redis failure is logged and the local throttle alone decides: a counsellor must still be able
to sign in during a Redis outage.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from collections.abc import Callable

import redis.asyncio as redis

from handoff.sessions import LoginThrottle

log = logging.getLogger("youthdesk.api.session")

KEY_PREFIX = "youthdesk:sign-in"


def _hashed(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class SharedSignInFailures:
    def __init__(self, redis_url: str, rules: LoginThrottle, *, clock: Callable[[], float] = time.time) -> None:
        self._client = redis.from_url(redis_url)
        self._rules = rules
        self._clock = clock  # wall time: the instances compare each other's timestamps

    def _pair_key(self, account: str, address: str) -> str:
        return f"{KEY_PREFIX}:pair:{_hashed(account, address)}"

    def _address_key(self, address: str) -> str:
        return f"{KEY_PREFIX}:address:{_hashed(address)}"

    async def wait(self, account: str, address: str) -> float:
        """0 when the shared counts let the attempt go ahead, else the seconds to wait."""
        now, rules = self._clock(), self._rules
        try:
            check = self._client.pipeline(transaction=True)
            check.hmget(self._pair_key(account, address), "count", "last")
            check.zremrangebyscore(self._address_key(address), 0, now - rules.address_window)
            check.zrange(self._address_key(address), 0, 0, withscores=True)
            check.zcard(self._address_key(address))
            (count, last), _, oldest, address_failures = await check.execute()
        except redis.RedisError:
            log.warning("shared sign-in counts unavailable; this instance's throttle alone decides", exc_info=True)
            return 0.0
        if address_failures >= rules.address_budget and oldest:
            return max(oldest[0][1] + rules.address_window - now, 1.0)
        if count is not None and int(count) >= rules.free_failures:
            return max(float(last) + rules.delay_after(int(count)) - now, 0.0)
        return 0.0

    async def failed(self, account: str, address: str) -> None:
        now, rules = self._clock(), self._rules
        pair, by_address = self._pair_key(account, address), self._address_key(address)
        try:
            record = self._client.pipeline(transaction=True)
            record.hincrby(pair, "count", 1)
            record.hset(pair, "last", now)
            record.expire(pair, math.ceil(rules.max_delay))  # quiet for the longest delay: forgiven
            record.zadd(by_address, {f"{now}:{secrets.token_hex(4)}": now})
            record.expire(by_address, math.ceil(rules.address_window) + 1)
            await record.execute()
        except redis.RedisError:
            log.warning("could not share a failed sign-in; counted on this instance only", exc_info=True)

    async def succeeded(self, account: str, address: str) -> None:
        """The pair starts afresh everywhere; the address keeps its failures, as in the local throttle."""
        try:
            await self._client.delete(self._pair_key(account, address))
        except redis.RedisError:
            log.warning("could not clear shared sign-in failures", exc_info=True)

    async def close(self) -> None:
        await self._client.aclose()
