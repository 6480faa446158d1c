"""Presence across two gateway instances sharing the store and Redis: a console open on either keeps a
counsellor online; closing the last one anywhere sets them away."""

from __future__ import annotations

import asyncio

import pytest

from tests.fakes import wait_for
from tests.handoff.web.test_ws import presence_is
from tests.handoff_support import login, start, user

pytestmark = pytest.mark.redis


async def test_a_console_on_another_instance_keeps_the_counsellor_online(redis_url, start_app, settings) -> None:  # type: ignore[no-untyped-def]
    handoff = settings.handoff.model_copy(update={"console_away_after_seconds": 0.3})
    service = settings.service.model_copy(update={"redis_url": redis_url})
    shared = settings.model_copy(update={"handoff": handoff, "service": service})
    # Two apps on the one store: two instances, as far as the console and presence go.
    first, second = await start(start_app, shared), await start(start_app, shared)
    counsellor = await user(first, "c-gd", desk="gd")
    headers = await login(first, "c-gd")

    on_first = await first.ws_connect("/api/v1/ws", headers=headers)
    on_second = await second.ws_connect("/api/v1/ws", headers=headers)
    await on_second.close()
    await asyncio.sleep(0.6)  # twice the grace period
    assert await presence_is(first, counsellor.id, "online")
    await on_first.close()
    await wait_for(lambda: presence_is(first, counsellor.id, "away"))
