"""One client for the WeChat server APIs used by all three WeChat channels (our own, on aiohttp).

Access tokens: one per app, cached until five minutes before WeChat says they expire, with a
single refresh in flight per app (an asyncio lock in this process and, once ``REDIS_URL`` is set,
a Redis lock plus a shared cached token, so several gateway instances neither race nor invalidate
each other's token). Official accounts and mini-programs use ``stable_token`` (never
``/cgi-bin/token``, which invalidates the previous token); WeCom uses ``gettoken``.

Error codes become delivery behaviour:
  40001/40014/42001  token invalid/expired → refresh once and retry once
  -1                 system busy → TransientDeliveryError (the outbox backs off)
  45015/45047/43004  (and WeCom 95018) reply window closed → ReplyWindowClosedError
  anything else      PermanentDeliveryError naming the code and message
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from contract.channel import PermanentDeliveryError, ReplyWindowClosedError, TransientDeliveryError
from contract.config import ChannelAccountConfig

log = logging.getLogger("youthdesk.channels.wechat_api")

API_BASE = "https://api.weixin.qq.com"
WECOM_API_BASE = "https://qyapi.weixin.qq.com"
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
WINDOW_ERRORS = frozenset({45015, 45047, 43004, 95018})
BUSY = -1
REFRESH_EARLY_SECONDS = 300  # WeChat rotates stable tokens about five minutes before expiry
FORCE_REFRESH_SPACING_SECONDS = 30  # stable_token refuses forced refreshes closer together
LOCK_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class ApiApp:
    """The credentials of one account, and which API family it speaks."""

    platform: str
    app_id: str
    secret: str
    base: str
    wecom: bool

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.app_id}"

    @classmethod
    def for_account(cls, account: ChannelAccountConfig) -> ApiApp:
        wecom = account.platform == "wecom-kf"
        base = account.api_base or (WECOM_API_BASE if wecom else API_BASE)
        return cls(account.platform, account.id, account.secret, base.rstrip("/"), wecom)


class TokenStore(Protocol):
    """Where tokens live between refreshes, and the lock that keeps refreshes single."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, token: str, ttl_seconds: int) -> None: ...

    def exclusive(self, key: str) -> contextlib.AbstractAsyncContextManager[None]: ...


class MemoryTokenStore:
    """One gateway process: a dict; the in-process lock in ``AccessTokens`` is all the exclusion needed."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}

    async def get(self, key: str) -> str | None:
        token, expires_at = self._tokens.get(key, ("", 0.0))
        return token if token and time.monotonic() < expires_at else None

    async def set(self, key: str, token: str, ttl_seconds: int) -> None:
        self._tokens[key] = (token, time.monotonic() + ttl_seconds)

    @contextlib.asynccontextmanager
    async def exclusive(self, key: str) -> AsyncIterator[None]:
        yield


class RedisTokenStore:
    """Several gateway processes: the token under a TTL key, refreshes behind ``SET NX PX``."""

    def __init__(self, client: Any, prefix: str = "youthdesk:wechat:token:") -> None:  # redis.asyncio.Redis
        self._client = client
        self._prefix = prefix

    async def get(self, key: str) -> str | None:
        value = await self._client.get(self._prefix + key)
        return value.decode() if isinstance(value, bytes) else value

    async def set(self, key: str, token: str, ttl_seconds: int) -> None:
        await self._client.set(self._prefix + key, token, ex=max(1, ttl_seconds))

    @contextlib.asynccontextmanager
    async def exclusive(self, key: str) -> AsyncIterator[None]:
        lock_key, owner = f"{self._prefix}{key}:lock", secrets.token_hex(8)
        deadline = time.monotonic() + LOCK_SECONDS
        # Another instance refreshing holds the lock for at most LOCK_SECONDS; then it expires.
        while not await self._client.set(lock_key, owner, nx=True, px=int(LOCK_SECONDS * 1000)):
            if time.monotonic() > deadline:
                raise TransientDeliveryError("timed out waiting for another instance's token refresh")
            await asyncio.sleep(0.05)
        try:
            yield
        finally:
            # Release only our own lock (it may have expired and been taken by someone else).
            if await self._client.get(lock_key) in (owner, owner.encode()):
                await self._client.delete(lock_key)


def shared_tokens_ctx(api: WeChatApi, redis_url: str | None) -> Callable[[Any], AsyncIterator[None]]:
    """A cleanup context: with REDIS_URL, access tokens are shared (and refreshed once) across instances."""

    async def ctx(app: Any) -> AsyncIterator[None]:
        if not redis_url:
            yield
            return
        import redis.asyncio as redis

        client = redis.from_url(redis_url)
        api.tokens.store = RedisTokenStore(client)
        yield
        await client.aclose()

    return ctx


class AccessTokens:
    """Token per app: cached, refreshed once at a time, force-refreshed only when WeChat insists."""

    def __init__(self, fetch: TokenFetcher, store: TokenStore | None = None) -> None:
        self._fetch = fetch
        self.store: TokenStore = store or MemoryTokenStore()
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._local: dict[str, tuple[str, float]] = {}
        self._last_forced: dict[str, float] = {}
        self.refreshes = 0

    async def get(self, app: ApiApp) -> str:
        token, expires_at = self._local.get(app.key, ("", 0.0))
        if token and time.monotonic() < expires_at:
            return token
        return await self._refresh(app, stale=None)

    async def refresh(self, app: ApiApp, stale: str) -> str:
        """WeChat refused ``stale``: get another one (unless a concurrent refresh already did)."""
        self._local.pop(app.key, None)
        return await self._refresh(app, stale=stale)

    async def _refresh(self, app: ApiApp, stale: str | None) -> str:
        async with self._locks[app.key]:
            token = await self._usable(app, stale)
            if token:
                return token
            async with self.store.exclusive(app.key):
                token = await self._usable(app, stale)
                if token:
                    return token
                token, expires_in = await self._fetch(app, force=False)
                now = time.monotonic()
                if token == stale and now - self._last_forced.get(app.key, -1e9) >= FORCE_REFRESH_SPACING_SECONDS:
                    # WeChat still hands out the token it just refused: ask for a new one outright.
                    self._last_forced[app.key] = now
                    token, expires_in = await self._fetch(app, force=True)
                self.refreshes += 1
                ttl = max(60, expires_in - REFRESH_EARLY_SECONDS)
                await self.store.set(app.key, token, ttl)
                self._local[app.key] = (token, time.monotonic() + ttl)
                return token

    async def _usable(self, app: ApiApp, stale: str | None) -> str | None:
        token, expires_at = self._local.get(app.key, ("", 0.0))
        if token and token != stale and time.monotonic() < expires_at:
            return token
        shared = await self.store.get(app.key)
        if shared and shared != stale:
            self._local[app.key] = (shared, time.monotonic() + 60)  # re-read the shared copy each minute
            return shared
        return None


class TokenFetcher(Protocol):
    async def __call__(self, app: ApiApp, *, force: bool) -> tuple[str, int]: ...


def raise_for_errcode(body: dict[str, Any], what: str) -> None:
    code = body.get("errcode", 0)
    if code in (0, None):
        return
    reason = f"{what}: wechat error {code}: {str(body.get('errmsg', ''))[:200]}"
    if code == BUSY:
        raise TransientDeliveryError(reason)
    if code in WINDOW_ERRORS:
        raise ReplyWindowClosedError(reason)
    if code in TOKEN_ERRORS:  # still refused after a refresh: try again later with yet another one
        raise TransientDeliveryError(reason)
    raise PermanentDeliveryError(reason)


class WeChatApi:
    """The API calls the channels make; ``http`` is the app's session getter."""

    def __init__(self, http: Any, tokens_store: TokenStore | None = None) -> None:
        self._http = http
        self.tokens = AccessTokens(self._fetch_token, tokens_store)

    async def _fetch_token(self, app: ApiApp, *, force: bool) -> tuple[str, int]:
        if app.wecom:
            body = await self._request("GET", f"{app.base}/cgi-bin/gettoken",
                                       params={"corpid": app.app_id, "corpsecret": app.secret})
        else:
            body = await self._request("POST", f"{app.base}/cgi-bin/stable_token",
                                       json_body={"grant_type": "client_credential", "appid": app.app_id,
                                                  "secret": app.secret, "force_refresh": force})
        code = body.get("errcode", 0)
        if code not in (0, None):
            reason = f"access token: wechat error {code}: {str(body.get('errmsg', ''))[:200]}"
            raise TransientDeliveryError(reason) if code == BUSY else PermanentDeliveryError(reason)
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise TransientDeliveryError("access token: answer without access_token/expires_in")
        return token, expires_in

    async def with_token(self, app: ApiApp, request: Callable[[str], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """Run ``request(token)``; on a token error refresh once and run it once more (never a loop)."""
        token = await self.tokens.get(app)
        body = await request(token)
        if body.get("errcode") in TOKEN_ERRORS:
            log.info("wechat refused the access token of %s (%s); refreshing once", app.key, body.get("errcode"))
            body = await request(await self.tokens.refresh(app, stale=token))
        return body

    async def call(self, app: ApiApp, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST JSON with the app's token; refresh and retry once on a token error; map other errors."""
        async def post(token: str) -> dict[str, Any]:
            return await self._request("POST", f"{app.base}{path}", params={"access_token": token}, json_body=payload)

        body = await self.with_token(app, post)
        raise_for_errcode(body, path.rsplit("/", 1)[-1])
        return body

    # --------------------------------------------------------------- endpoints

    async def custom_send(self, app: ApiApp, payload: dict[str, Any]) -> dict[str, Any]:
        """Official account and mini-program customer-service message."""
        return await self.call(app, "/cgi-bin/message/custom/send", payload)

    async def kf_sync_msg(self, app: ApiApp, *, open_kfid: str, cursor: str, token: str) -> dict[str, Any]:
        payload: dict[str, Any] = {"open_kfid": open_kfid, "limit": 1000}
        if cursor:
            payload["cursor"] = cursor
        if token:
            payload["token"] = token
        return await self.call(app, "/cgi-bin/kf/sync_msg", payload)

    async def kf_send_msg(self, app: ApiApp, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.call(app, "/cgi-bin/kf/send_msg", payload)

    async def kf_send_msg_on_event(self, app: ApiApp, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.call(app, "/cgi-bin/kf/send_msg_on_event", payload)

    async def upload_media(self, app: ApiApp, kind: str, filename: str, data: bytes, content_type: str) -> str:
        """Temporary media (lives 3 days); returns its media_id."""
        async def upload(token: str) -> dict[str, Any]:
            form = aiohttp.FormData()
            form.add_field("media", data, filename=filename, content_type=content_type)
            return await self._request("POST", f"{app.base}/cgi-bin/media/upload",
                                       params={"access_token": token, "type": kind}, data=form)

        body = await self.with_token(app, upload)
        raise_for_errcode(body, "media/upload")
        if not body.get("media_id"):
            raise PermanentDeliveryError("media/upload: answer without media_id")
        return str(body["media_id"])

    async def download_media(self, app: ApiApp, media_id: str) -> tuple[bytes, str]:
        """A youth's media (fetch promptly: WeChat keeps it 3 days): (bytes, content type)."""
        fetched: list[tuple[bytes, str]] = []

        async def download(token: str) -> dict[str, Any]:
            try:
                async with self._http().get(f"{app.base}/cgi-bin/media/get",
                                            params={"access_token": token, "media_id": media_id}) as response:
                    status, content_type, data = response.status, response.content_type, await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise TransientDeliveryError(f"wechat unreachable: {exc!r}"[:200]) from None
            if status >= 500:
                raise TransientDeliveryError(f"media/get: HTTP {status}")
            if content_type in ("application/json", "text/plain"):  # errors come back as JSON
                return _json_object(data, status)
            fetched.append((data, content_type))
            return {}

        body = await self.with_token(app, download)
        if fetched:
            return fetched[-1]
        raise_for_errcode(body, "media/get")
        raise PermanentDeliveryError("media/get: JSON answer without media")

    # ------------------------------------------------------------------ HTTP

    async def _request(self, method: str, url: str, *, params: dict[str, str] | None = None,
                       json_body: dict[str, Any] | None = None, data: Any = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"params": params}
        if json_body is not None:
            # WeChat wants UTF-8 characters as they are, not \\u escapes (they count against length limits).
            kwargs["data"] = json.dumps(json_body, ensure_ascii=False).encode()
            kwargs["headers"] = {"Content-Type": "application/json; charset=utf-8"}
        elif data is not None:
            kwargs["data"] = data
        try:
            async with self._http().request(method, url, **kwargs) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientDeliveryError(f"wechat unreachable: {exc!r}"[:200]) from None
        if status >= 500:
            raise TransientDeliveryError(f"wechat answered HTTP {status}")
        return _json_object(raw, status)


def _json_object(raw: bytes, status: int) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise TransientDeliveryError(f"wechat answered HTTP {status} without JSON") from None
    if not isinstance(body, dict):
        raise TransientDeliveryError(f"wechat answered HTTP {status} without a JSON object")
    return body
