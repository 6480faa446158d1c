"""Forty anonymous risk conversations from one source: one "possible flood" item, nothing lost, and a
real crisis from elsewhere still comes first."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from contract.handoff import HandoffRequest
from contract.keys import STORE, STREAM
from handoff.queue import queued
from tests.fakes import inbound
from tests.handoff_support import engine, login, start, user

_ids = itertools.count(1)
START = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)


async def _risk_from(client, source: str | None, *, anonymous: bool = True, level: int = 3) -> str:  # type: ignore[no-untyped-def]
    n = next(_ids)
    tags = {"widget_source": source, "widget_anonymous": "1" if anonymous else "0"} if source else {}
    result = await client.app[STREAM].ingest(inbound("我不想活了", user=f"anon-{n}", msg_id=f"f{n}", tags=tags))
    await engine(client).request_handoff(HandoffRequest(
        conversation_id=result.conversation_id, reason="risk", risk_level=level, category="suicide",
        cues=["测试"], message_id=result.message_id))
    return result.conversation_id


async def test_a_flood_from_one_source_becomes_one_item_and_buries_nobody(start_app) -> None:
    client = await start(start_app)
    clock = {"now": START}
    engine(client).now = lambda: clock["now"]
    await user(client, "sup-gd", "supervisor", "gd")
    store = client.app[STORE]
    threshold = engine(client).settings.handoff.flood_threshold
    flood = []
    for _ in range(threshold + 5):
        flood.append(await _risk_from(client, "source-a"))
        clock["now"] += timedelta(seconds=1)
    real = await _risk_from(client, "source-b")  # a real crisis, after all of them

    level3_alerts = await store["alerts"].count_documents({"type": "risk_level_3"})
    assert level3_alerts == threshold + 1  # the first few of the source (they may be real) and the real one
    flood_alerts = await store["alerts"].find({"type": "possible_flood"}).to_list(None)
    assert len(flood_alerts) == 1
    groups = await store["flood_groups"].find({}).to_list(None)
    assert len(groups) == 1 and set(groups[0]["conversation_ids"]) == set(flood)
    # Nothing dropped: every conversation is queued, every message stored.
    assert await store.conversations.count_documents({"_id": {"$in": flood}, "state": "queued"}) == len(flood)
    assert await store.messages.count_documents({"conversation_id": {"$in": flood}, "sender": "youth"}) == len(flood)
    order = [item.conversation.id for item in await queued(store, {"gd"})]
    assert order[0] == real  # the flood waits behind the real crisis of the same level

    headers = await login(client, "sup-gd")
    listed = await (await client.get("/api/v1/floods", headers=headers)).json()
    assert listed["items"][0]["count"] == len(flood)


async def test_the_window_passes_and_signed_or_scattered_sources_are_never_grouped(start_app) -> None:
    client = await start(start_app)
    clock = {"now": START}
    engine(client).now = lambda: clock["now"]
    settings = engine(client).settings.handoff
    store = client.app[STORE]
    for _ in range(settings.flood_threshold):
        await _risk_from(client, "source-c")
    clock["now"] += timedelta(seconds=settings.flood_window_seconds + 1)
    await _risk_from(client, "source-c")  # the earlier ones are outside the window now
    for _ in range(settings.flood_threshold + 2):
        await _risk_from(client, "source-d", anonymous=False)  # a signed identity is a known person
    for n in range(settings.flood_threshold + 2):
        await _risk_from(client, f"school-{n}")
    assert await store["flood_groups"].count_documents({}) == 0
    assert await store["alerts"].count_documents({"type": "possible_flood"}) == 0
