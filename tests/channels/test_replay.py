"""Replays: a captured signed query with new bodies is refused; the platform's own retry is answered."""

from __future__ import annotations

import json
import time

import pytest
from aiohttp.test_utils import TestClient

from channels.replay import RedisReplayCache, SignedPushGuard
from channels.wechat import WeChatChannel
from channels.wechat_protocol import SignedQuery, signed_push, to_xml
from channels.weibo import WeiboChannel
from contract.channel import WebhookRejected
from contract.config import Settings
from contract.keys import STORE
from service.weibo_simulate import signed_query
from store.messages import opened_message


def with_wechat_mode(settings: Settings, mode: str) -> Settings:
    accounts = [a.model_copy(update={"mode": mode}) if a.platform == "wechat" else a for a in settings.accounts]
    return settings.model_copy(update={"accounts": accounts})


def text_push(msg_id: int, text: str) -> dict[str, object]:
    return {"ToUserName": "gh", "FromUserName": f"oYouth{msg_id}", "CreateTime": int(time.time()), "MsgType": "text",
            "Content": text, "MsgId": msg_id}


async def stored_texts(client: TestClient) -> list[str]:
    docs = await client.app[STORE].messages.find({}).sort("seq", 1).to_list(None)
    return [opened_message(client.app[STORE], doc).text for doc in docs]


async def test_wechat_plain_mode_one_captured_query_five_bodies(start_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client = await start_app(channel_classes=[WeChatChannel], settings=with_wechat_mode(settings, "plain"))
    acc = next(a for a in settings.accounts if a.platform == "wechat")
    query = SignedQuery.now()
    params, first = signed_push(token=acc.token, encoding_aes_key="", receive_id=acc.id, mode="plain",
                                fields=text_push(1, "真的"), query=query)
    url = f"/channels/wechat/{acc.id}"
    assert (await client.post(url, params=params, data=first)).status == 200
    retry = await client.post(url, params=params, data=first)  # WeChat's retry: same query, same body
    assert retry.status == 200 and await retry.text() == "success"
    for n in range(2, 7):
        forged = to_xml(text_push(n, f"伪造 {n}")).encode()
        response = await client.post(url, params=params, data=forged)
        assert (response.status, await response.json()) == (403, {"error": "signature already used for another body"})
    assert await stored_texts(client) == ["真的"]


async def test_compatible_mode_refuses_a_push_without_encrypt(start_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client = await start_app(channel_classes=[WeChatChannel], settings=with_wechat_mode(settings, "compatible"))
    acc = next(a for a in settings.accounts if a.platform == "wechat")
    params, body = signed_push(token=acc.token, encoding_aes_key="", receive_id=acc.id, mode="plain",
                               fields=text_push(1, "明文"))
    response = await client.post(f"/channels/wechat/{acc.id}", params=params, data=body)
    assert (response.status, await response.json()) == (400, {"error": "compatible mode: Encrypt required"})
    assert await stored_texts(client) == []


async def test_weibo_one_captured_query_five_bodies(start_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client = await start_app(channel_classes=[WeiboChannel])
    acc = next(a for a in settings.accounts if a.platform == "weibo")
    params = signed_query(acc)

    def body(text: str) -> bytes:
        return json.dumps({"type": "text", "receiver_id": int(acc.id), "sender_id": 6000000042, "text": text,
                           "created_at": "Mon Jul 16 18:09:20 +0800 2012", "data": {}}).encode()

    url = f"/channels/weibo/{acc.id}"
    assert (await client.post(url, params=params, data=body("真的"))).status == 200
    assert (await client.post(url, params=params, data=body("真的"))).status == 200  # Weibo's retry
    for n in range(5):
        response = await client.post(url, params=params, data=body(f"伪造 {n}"))
        assert (response.status, await response.json()) == (403, {"error": "signature already used for another body"})
    assert await stored_texts(client) == ["真的"]


async def test_guard_entries_live_for_the_timestamp_window() -> None:
    guard = SignedPushGuard("wechat", window_seconds=300)
    long_ago = time.time() - 1000  # its window has passed: nothing to remember, nothing to refuse
    await guard.check("acc", "sig", long_ago, "n", b"one")
    await guard.check("acc", "sig", long_ago, "n", b"two")
    now = time.time()
    await guard.check("acc", "sig", now, "n", b"one")
    await guard.check("acc", "sig", now, "n", b"one")
    with pytest.raises(WebhookRejected, match="another body"):
        await guard.check("acc", "sig", now, "n", b"two")
    await guard.check("other-account", "sig", now, "n", b"two")


@pytest.mark.redis
async def test_a_replay_on_another_instance_is_refused_through_redis(redis_url: str) -> None:
    import redis.asyncio as redis

    first, second = redis.from_url(redis_url), redis.from_url(redis_url)
    try:
        instance_a, instance_b = SignedPushGuard("weibo", 300), SignedPushGuard("weibo", 300)
        instance_a.cache, instance_b.cache = RedisReplayCache(first, "push"), RedisReplayCache(second, "push")
        now = time.time()
        await instance_a.check("5000000001", "sig", now, "n", b"genuine")
        await instance_b.check("5000000001", "sig", now, "n", b"genuine")  # a retry that reached the other one
        with pytest.raises(WebhookRejected, match="another body"):
            await instance_b.check("5000000001", "sig", now, "n", b"forged")
        [key] = await first.keys("youthdesk:push:*")
        assert 0 < await first.ttl(key) <= 302
    finally:
        await first.aclose()
        await second.aclose()
