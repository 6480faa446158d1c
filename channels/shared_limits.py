"""Rate limits shared by gateway instances: a sliding window of hits per key in Redis.

Behind a load balancer each instance sees part of a sender's traffic, so a per-process limit
would let N instances admit N times the limit. With ``service.redis_url`` set, the partner-API and
hotline request limits and the widget's new-conversation limits count here instead: one sorted
set of hit times per key, trimmed to the window on every check. Checking and counting are two
round trips, so instances checking at the same instant may each admit the last allowed hit: the
limit can be overshot by at most one per instance, never by a factor.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence

from aiohttp import web

from channels.replay import KEY_PREFIX


class SharedWindow:
    def __init__(self, client, namespace: str) -> None:  # type: ignore[no-untyped-def]  # redis.asyncio.Redis
        self._client = client
        self._namespace = namespace

    async def admit(self, limits: Sequence[tuple[str, int]], window_seconds: float) -> int | None:
        """Count one hit on every key, unless a key already had its limit of hits within the window:
        then the index of that key in ``limits``, and nothing is counted."""
        now = time.time()
        names = [f"{KEY_PREFIX}:{self._namespace}:{key}" for key, _ in limits]
        check = self._client.pipeline(transaction=True)
        for name in names:
            check.zremrangebyscore(name, 0, now - window_seconds)
            check.zcard(name)
        counts = (await check.execute())[1::2]
        for index, (count, (_, limit)) in enumerate(zip(counts, limits, strict=True)):
            if count >= limit:
                return index
        count_hit = self._client.pipeline(transaction=True)
        for name in names:
            count_hit.zadd(name, {f"{now}:{secrets.token_hex(4)}": now})
            count_hit.expire(name, math.ceil(window_seconds) + 1)
        await count_hit.execute()
        return None


def shared_window_ctx(redis_url: str, namespace: str,
                      use: Callable[[SharedWindow], None]) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that hands ``use`` a shared window while the app runs (nothing without a URL)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if not redis_url:
            yield
            return
        import redis.asyncio as redis

        client = redis.from_url(redis_url)
        use(SharedWindow(client, namespace))
        yield
        await client.aclose()

    return ctx
