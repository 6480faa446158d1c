"""Replay caches: what was seen, until when. One implementation for every signed input.

The widget consumes each partner token's ``jti`` once; the webhook channels remember each signed
push's (signature, timestamp, nonce) with the hash of its body. In memory on one instance; in
Redis (``service.redis_url``) when several instances share the traffic.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from contract.channel import WebhookRejected

KEY_PREFIX = "youthdesk"


class ReplayCache(ABC):
    @abstractmethod
    async def first_fingerprint(self, key: str, fingerprint: str, expires_at: float) -> str:
        """The fingerprint first recorded for ``key`` until ``expires_at`` (unix seconds): this one if new."""

    async def claim(self, key: str, expires_at: float) -> bool:
        """True the first time ``key`` is seen before ``expires_at``, False after."""
        mine = secrets.token_hex(8)
        return await self.first_fingerprint(key, mine, expires_at) == mine


class MemoryReplayCache(ReplayCache):
    """One gateway instance: a dict of seen keys, purged as they expire."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, float]] = {}
        self._next_purge = 0.0

    async def first_fingerprint(self, key: str, fingerprint: str, expires_at: float) -> str:
        now = time.time()
        if now >= self._next_purge:
            self._seen = {k: entry for k, entry in self._seen.items() if entry[1] > now}
            self._next_purge = now + 60
        seen = self._seen.get(key)
        if seen is not None and seen[1] > now:
            return seen[0]
        self._seen[key] = (fingerprint, expires_at)
        return fingerprint


class RedisReplayCache(ReplayCache):
    """Several gateway instances: ``SET NX`` with the entry's own expiry; the first writer wins."""

    def __init__(self, client, namespace: str = "widget:jti") -> None:  # type: ignore[no-untyped-def]  # redis.asyncio.Redis
        self._client = client
        self._namespace = namespace

    async def first_fingerprint(self, key: str, fingerprint: str, expires_at: float) -> str:
        name = f"{KEY_PREFIX}:{self._namespace}:{key}"
        ttl = max(1, int(expires_at - time.time()) + 1)
        if await self._client.set(name, fingerprint, nx=True, ex=ttl):
            return fingerprint
        first = await self._client.get(name)
        # Expired between the two calls: nobody else holds the key, so it counts as ours.
        return fingerprint if first is None else first.decode()


def redis_replay_ctx(redis_url: str, namespace: str,
                     use: Callable[[ReplayCache], None]) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that hands ``use`` a Redis cache while the app runs (nothing without a URL)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if not redis_url:
            yield
            return
        import redis.asyncio as redis

        client = redis.from_url(redis_url)
        use(RedisReplayCache(client, namespace))
        yield
        await client.aclose()

    return ctx


class SignedPushGuard:
    """Refuses a signed push whose (signature, timestamp, nonce) already came with another body.

    Platforms such as WeChat's plaintext/compatible modes and Weibo sign only the query, not the
    body, so a captured query could carry any body. A platform's own retry repeats the body too:
    same query and same body pass here and are deduplicated by message id downstream.
    """

    def __init__(self, platform: str, window_seconds: int) -> None:
        self.platform = platform
        self.window_seconds = window_seconds
        self.cache: ReplayCache = MemoryReplayCache()

    async def check(self, account_id: str, signature: str, timestamp: float, nonce: str, body: bytes) -> None:
        key = hashlib.sha256(f"{account_id}\x1f{signature.lower()}\x1f{timestamp}\x1f{nonce}".encode()).hexdigest()
        fingerprint = hashlib.sha256(body).hexdigest()
        # The timestamp is refused once it is a window away from now; the entry need not outlive that.
        expires_at = timestamp + self.window_seconds + 1
        if await self.cache.first_fingerprint(f"{self.platform}:{key}", fingerprint, expires_at) != fingerprint:
            raise WebhookRejected(403, "signature already used for another body")

    def setup(self, app: web.Application, redis_url: str) -> None:
        def use(cache: ReplayCache) -> None:
            self.cache = cache

        app.cleanup_ctx.append(redis_replay_ctx(redis_url, "push", use))
