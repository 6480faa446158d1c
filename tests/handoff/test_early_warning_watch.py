"""Early warnings reach open consoles live: the gateway's own scheduled scan, and warnings the command stored."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import aiohttp

from contract.config import Settings
from contract.keys import SETTINGS, STORE
from contract.models import utcnow
from handoff.early_warning import raise_warnings
from handoff.web.keys import EARLY_WARNINGS
from store.client import Store
from tests.handoff.data_support import add_case
from tests.handoff_support import engine, login, start, user


def _settings(settings: Settings, *, run_every_minutes: int) -> Settings:
    # A long poll: the background task ticks once at start-up and the test ticks by hand.
    early = settings.data.early_warning.model_copy(update={"run_every_minutes": run_every_minutes,
                                                           "poll_seconds": 3600})
    return settings.model_copy(update={"data": settings.data.model_copy(update={"early_warning": early})})


async def _bullying_spike(store: Store, now: datetime) -> None:
    for week in range(1, 9):
        await add_case(store, now - timedelta(days=7 * week + 2), desk="sz", category="legal.bullying")
    for day in range(8):
        await add_case(store, now - timedelta(days=day % 6, hours=1), desk="sz", category="legal.bullying")


async def _alerts_heard(ws: aiohttp.ClientWebSocketResponse, seconds: float = 0.5, *, expected: int = 0) -> list[dict]:
    """The alerts pushed until the socket is quiet for ``seconds``, waiting longer (10 s) while fewer than
    ``expected`` came: on a loaded machine a push can take longer than the quiet gap."""
    heard = []
    try:
        while True:
            message = await asyncio.wait_for(ws.receive(), 10 if len(heard) < expected else seconds)
            event = json.loads(message.data)
            if event["type"] == "alert.raised":
                heard.append(event["data"]["alert"])
    except TimeoutError:
        return heard


async def test_the_gateways_own_scan_reaches_an_open_console(start_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client = await start(start_app, _settings(settings, run_every_minutes=60))
    now = utcnow() + timedelta(hours=2)  # past the start-up scan's hour
    engine(client).now = lambda: now
    await user(client, "sup-gd", role="supervisor", desk="gd")
    await user(client, "c-sz", desk="sz")
    supervisor = await client.ws_connect("/api/v1/ws", headers=await login(client, "sup-gd"))
    counsellor = await client.ws_connect("/api/v1/ws", headers=await login(client, "c-sz"))
    await _bullying_spike(client.app[STORE], now)

    published = await client.app[EARLY_WARNINGS].tick()
    assert [alert.type for alert in published] == ["early_warning"]
    heard = await _alerts_heard(supervisor, expected=1)
    assert [alert["id"] for alert in heard] == [published[0].id]
    assert heard[0]["desk"] == "gd" and "深圳市（440300）" in heard[0]["data"]["summary"]
    assert heard[0]["data"]["region_name"] == "深圳市"
    assert await _alerts_heard(counsellor) == []  # a provincial warning is for supervisors of gd and above

    engine(client).now = lambda: now + timedelta(minutes=10)
    assert await client.app[EARLY_WARNINGS].tick() == []  # not due again, and nothing left to publish
    await supervisor.close()
    await counsellor.close()


async def test_a_warning_the_command_stored_is_pushed_on_the_next_poll(start_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client = await start(start_app, _settings(settings, run_every_minutes=0))
    store, now = client.app[STORE], utcnow()
    engine(client).now = lambda: now
    await user(client, "sup-gd", role="supervisor", desk="gd")
    supervisor = await client.ws_connect("/api/v1/ws", headers=await login(client, "sup-gd"))
    await _bullying_spike(store, now)
    assert await client.app[EARLY_WARNINGS].tick() == []  # run_every_minutes = 0: the gateway does not scan

    # What `youthdesk early-warning run` does in its own process: scan and store.
    stored = await raise_warnings(store, client.app[SETTINGS], now)
    assert len(stored) == 1
    assert await _alerts_heard(supervisor, 0.2) == []  # stored, not yet pushed
    assert [alert.id for alert in await client.app[EARLY_WARNINGS].tick()] == [stored[0].id]
    assert [alert["id"] for alert in await _alerts_heard(supervisor, expected=1)] == [stored[0].id]
    # A second scan the same day (another instance, the command again) stores nothing new.
    assert await raise_warnings(store, client.app[SETTINGS], now + timedelta(minutes=5)) == []
    assert await client.app[EARLY_WARNINGS].tick() == []
    listed = await (await client.get("/api/v1/alerts", params={"state": "open"},
                                     headers=await login(client, "sup-gd"))).json()
    assert [alert["type"] for alert in listed["items"]] == ["early_warning"]
    await supervisor.close()
