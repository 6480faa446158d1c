"""Rate limits shared through a real local redis-server: two instances together admit the limit once."""

from __future__ import annotations

import pytest

from channels.shared_limits import SharedWindow
from channels.signed_rest import RateLimits
from channels.widget_limits import TOO_MANY_FOR_PARTNER, TOO_MANY_FROM_ADDRESS, NewConversationLimits
from contract.channel import WebhookRejected
from contract.config import PartnerConfig, ServiceConfig

pytestmark = pytest.mark.redis

PARTNER = PartnerConfig(id="demo-video", name="演示", secret="partner-secret-for-tests-0123456789", desk="sz",
                        new_conversations_per_window=5)


@pytest.fixture
async def clients(redis_url: str):  # type: ignore[no-untyped-def]
    import redis.asyncio as redis

    first, second = redis.from_url(redis_url), redis.from_url(redis_url)
    yield first, second
    await first.aclose()
    await second.aclose()


async def test_two_instances_share_a_partner_s_requests_per_minute(clients) -> None:  # type: ignore[no-untyped-def]
    instances = [RateLimits(), RateLimits()]
    for instance, client in zip(instances, clients, strict=True):
        instance.shared = SharedWindow(client, "partner-api:requests")
    for n in range(10):
        await instances[n % 2].check("partner-a", 10)
    for instance in instances:
        with pytest.raises(WebhookRejected) as refused:
            await instance.check("partner-a", 10)
        assert refused.value.status == 429
    await instances[0].check("partner-b", 10)  # another sender has its own budget


async def test_two_instances_share_the_new_conversation_limits(clients) -> None:  # type: ignore[no-untyped-def]
    service = ServiceConfig(widget_new_conversations_per_ip=3, widget_new_conversation_window_seconds=60)
    instances = [NewConversationLimits(service), NewConversationLimits(service)]
    for instance, client in zip(instances, clients, strict=True):
        instance.shared = SharedWindow(client, "widget:new-conversations")
    assert [await instances[n % 2].admit(PARTNER, "10.0.0.1") for n in range(3)] == [None] * 3
    assert await instances[1].admit(PARTNER, "10.0.0.1") == TOO_MANY_FROM_ADDRESS
    assert await instances[0].admit(PARTNER, "10.0.0.2") is None
    assert await instances[1].admit(PARTNER, "10.0.0.3") is None
    assert await instances[0].admit(PARTNER, "10.0.0.4") == TOO_MANY_FOR_PARTNER  # 5 admitted for the partner


async def test_a_hit_leaves_the_window_when_it_is_older_than_the_window(clients) -> None:  # type: ignore[no-untyped-def]
    window = SharedWindow(clients[0], "trial")
    assert await window.admit([("k", 1)], 0.05) is None
    assert await window.admit([("k", 1)], 60) == 0
    import asyncio

    await asyncio.sleep(0.1)
    assert await window.admit([("k", 1)], 0.05) is None
