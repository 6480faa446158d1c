"""The shared WeChat API client: one token refresh at a time (in process and across instances), errors, media."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from channels.wechat_api import ApiApp, RedisTokenStore, WeChatApi, raise_for_errcode
from contract.channel import PermanentDeliveryError, ReplyWindowClosedError, TransientDeliveryError
from service.wechat_standin import WeChatStandIn, create_standin_app

APPID = "wxdemo0000000001"
SECRET = "demo-only-wechat-secret"


@pytest.fixture
async def standin() -> AsyncIterator[tuple[WeChatStandIn, str]]:
    app, recorder = create_standin_app({APPID: SECRET, "wwdemocorp000001": "corp-secret"})
    server = TestServer(app)
    await server.start_server()
    yield recorder, str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def app_for(base: str, *, wecom: bool = False) -> ApiApp:
    if wecom:
        return ApiApp("wecom-kf", "wwdemocorp000001", "corp-secret", base, True)
    return ApiApp("wechat", APPID, SECRET, base, False)


async def test_concurrent_callers_share_one_token_fetch(standin, http) -> None:  # type: ignore[no-untyped-def]
    recorder, base = standin
    api = WeChatApi(lambda: http)
    tokens = await asyncio.gather(*(api.tokens.get(app_for(base)) for _ in range(20)))
    assert len(set(tokens)) == 1 and recorder.token_requests == 1
    wecom = await api.tokens.get(app_for(base, wecom=True))
    assert wecom.startswith("standin-wwdemocorp000001") and recorder.token_requests == 2


async def test_concurrent_refreshes_of_one_refused_token_fetch_once(standin, http) -> None:  # type: ignore[no-untyped-def]
    recorder, base = standin
    api = WeChatApi(lambda: http)
    old = await api.tokens.get(app_for(base))
    recorder.tokens.pop(APPID)  # WeChat expired it
    fresh = await asyncio.gather(*(api.tokens.refresh(app_for(base), stale=old) for _ in range(10)))
    assert len(set(fresh)) == 1 and fresh[0] != old and recorder.token_requests == 2


async def test_a_token_wechat_still_hands_out_is_force_refreshed_at_most_every_30_s(standin, http) -> None:  # type: ignore[no-untyped-def]
    recorder, base = standin
    api = WeChatApi(lambda: http)
    old = await api.tokens.get(app_for(base))
    fresh = await api.tokens.refresh(app_for(base), stale=old)  # stable_token returns `old` again → force
    assert fresh != old and recorder.forced_refreshes == 1
    again = await api.tokens.refresh(app_for(base), stale=fresh)
    assert again == fresh and recorder.forced_refreshes == 1  # too soon to force again


async def test_token_errors_refresh_and_retry_once_then_back_off(standin, http) -> None:  # type: ignore[no-untyped-def]
    recorder, base = standin
    api = WeChatApi(lambda: http)
    payload = {"touser": "o1", "msgtype": "text", "text": {"content": "你好"}}
    recorder.fail_next(40014, "invalid access_token")
    await api.custom_send(app_for(base), payload)
    assert [m.text for m in recorder.sent] == ["你好"] and recorder.token_requests == 2
    recorder.fail_next(42001, "expired", times=2)
    with pytest.raises(TransientDeliveryError, match="42001"):
        await api.custom_send(app_for(base), payload)
    assert recorder.token_requests == 3 and len(recorder.sent) == 1  # one refresh, one retry, no loop


def test_error_codes_map_to_delivery_behaviour() -> None:
    raise_for_errcode({"errcode": 0, "errmsg": "ok"}, "send")
    with pytest.raises(TransientDeliveryError, match="wechat error -1"):
        raise_for_errcode({"errcode": -1, "errmsg": "system error"}, "send")
    for code in (45015, 45047, 43004, 95018):
        with pytest.raises(ReplyWindowClosedError, match=str(code)):
            raise_for_errcode({"errcode": code, "errmsg": "closed"}, "send")
    with pytest.raises(PermanentDeliveryError, match="send: wechat error 45002: content size out of limit") as info:
        raise_for_errcode({"errcode": 45002, "errmsg": "content size out of limit"}, "send")
    assert not isinstance(info.value, ReplyWindowClosedError)


async def test_unreachable_or_failing_servers_are_transient(standin, http) -> None:  # type: ignore[no-untyped-def]
    recorder, base = standin
    api = WeChatApi(lambda: http)
    await api.tokens.get(app_for(base))
    recorder.fail_next(0, "", status=502)
    with pytest.raises(TransientDeliveryError, match="HTTP 502"):
        await api.custom_send(app_for(base), {"touser": "o1", "msgtype": "text", "text": {"content": "x"}})
    with pytest.raises(TransientDeliveryError, match="unreachable"):
        await api.tokens.get(ApiApp("wechat", "wxunreachable0001", SECRET, "http://127.0.0.1:9", False))


async def test_bad_credentials_fail_permanently(standin, http) -> None:  # type: ignore[no-untyped-def]
    _, base = standin
    api = WeChatApi(lambda: http)
    with pytest.raises(PermanentDeliveryError, match="40125"):
        await api.tokens.get(ApiApp("wechat", APPID, "wrong", base, False))


async def test_media_upload_and_download_round_trip(standin, http) -> None:  # type: ignore[no-untyped-def]
    recorder, base = standin
    api = WeChatApi(lambda: http)
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    media_id = await api.upload_media(app_for(base), "image", "a.png", png, "image/png")
    assert await api.download_media(app_for(base), media_id) == (png, "image/png")
    with pytest.raises(PermanentDeliveryError, match="40007"):
        await api.download_media(app_for(base), "no-such-media")
    recorder.fail_next(42001, "expired")
    assert (await api.download_media(app_for(base), media_id))[0] == png


# --------------------------------------------------------------------- redis


@pytest.mark.redis
async def test_instances_sharing_redis_fetch_the_token_once(standin, http, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    import redis.asyncio as redis

    recorder, base = standin
    clients: list[Any] = [redis.from_url(redis_url) for _ in range(3)]
    try:
        instances = [WeChatApi(lambda: http, RedisTokenStore(client)) for client in clients]
        tokens = await asyncio.gather(*(api.tokens.get(app_for(base)) for api in instances for _ in range(5)))
        assert len(set(tokens)) == 1 and recorder.token_requests == 1
        ttl = await clients[0].ttl(f"youthdesk:wechat:token:wechat:{APPID}")
        assert 7200 - 300 - 5 < ttl <= 7200 - 300
        # One instance is told the token is dead; the others pick up its replacement from Redis.
        recorder.tokens.pop(APPID)
        fresh = await instances[0].tokens.refresh(app_for(base), stale=tokens[0])
        assert await instances[1].tokens.refresh(app_for(base), stale=tokens[0]) == fresh
        assert recorder.token_requests == 2
    finally:
        for client in clients:
            await client.aclose()
