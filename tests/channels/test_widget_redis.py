"""The widget's replay cache on a real local redis-server (several gateway instances share it)."""

from __future__ import annotations

import pytest

from channels.replay import RedisReplayCache
from channels.widget_identity import IdentityRejected, IdentityVerifier, sign_partner_token
from contract.config import PartnerConfig

pytestmark = pytest.mark.redis

PARTNER = PartnerConfig(id="demo-video", name="演示", secret="partner-secret-for-tests-0123456789", desk="sz")
DATA_KEY = "7vVhVc1G4ktNhx3UMUf9Akqg3MfmNWXfzKsXFte_mVw="


async def test_a_token_used_on_one_instance_is_refused_on_another(redis_url: str) -> None:
    import redis.asyncio as redis

    first, second = redis.from_url(redis_url), redis.from_url(redis_url)
    try:
        instance_a = IdentityVerifier.from_data_key(DATA_KEY, RedisReplayCache(first))
        instance_b = IdentityVerifier.from_data_key(DATA_KEY, RedisReplayCache(second))
        token = sign_partner_token(PARTNER, "youth-9")
        assert (await instance_a.partner_token(PARTNER, token)).external_user_id == "youth-9"
        with pytest.raises(IdentityRejected, match="already used"):
            await instance_b.partner_token(PARTNER, token)
        ttl = await first.ttl(f"youthdesk:widget:jti:demo-video:{_jti(token)}")
        assert 0 < ttl <= 600 + 31
    finally:
        await first.aclose()
        await second.aclose()


def _jti(token: str) -> str:
    import jwt

    return jwt.decode(token, options={"verify_signature": False})["jti"]


async def test_the_widget_uses_redis_when_configured(start_app, settings, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    from channels.widget import WidgetChannel
    from contract.keys import CHANNELS

    service = settings.service.model_copy(update={"redis_url": redis_url})
    client = await start_app(channel_classes=[WidgetChannel], settings=settings.model_copy(update={"service": service}))
    assert isinstance(client.app[CHANNELS]["widget"].verifier.replay, RedisReplayCache)
    token = sign_partner_token(settings.partner("demo-video"), "youth-10")
    for expected in ("welcome", "error"):
        ws = await client.ws_connect("/channels/widget/ws?partner=demo-video")
        await ws.send_json({"type": "hello", "token": token})
        assert (await ws.receive_json())["type"] == expected
        await ws.close()
