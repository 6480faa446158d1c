"""Overflow (溢出) and surge: a waiting risk conversation moves up the hierarchy until someone can take it.

The youth writes to the Shenzhen desk (the demo WeChat account is pointed at ``sz`` here, open all day);
the engine's clock is moved by hand and the deadline tick run, so the windows are exact.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from contract.keys import STORE
from contract.people import Presence
from handoff.overflow import Overflow
from handoff.queue import load
from handoff.web.keys import DEADLINES
from store.users import update_presence
from tests.fakes import CountingReads
from tests.handoff_support import AnotherRequest, Clock, at_shenzhen, conversation, engine, login, start, user


async def where(client, cid: str) -> tuple[str, list[str], list[str]]:  # type: ignore[no-untyped-def]
    item = await load(client.app[STORE], cid)
    assert item is not None
    return item.conversation.desk, item.conversation.also_visible_to, [offer.label for offer in item.info.offers]


async def unanswered_level3_at_shenzhen(start_app, settings):  # type: ignore[no-untyped-def]
    """A level-3 conversation waiting at Shenzhen, whose counsellor is online but does not answer, below
    Guangdong's; returns the client and the conversation id."""
    client = await start(start_app, at_shenzhen(settings))
    await user(client, "c-sz", desk="sz", skills=["psychological"])
    await user(client, "c-gd", desk="gd", skills=["psychological"])
    return client, await conversation(client, risk=3, category="suicide")


async def test_nobody_online_at_the_city_desk_sends_a_level3_to_the_parent_desk_at_once(start_app, settings) -> None:
    client = await start(start_app, at_shenzhen(settings))
    await user(client, "c-gd", desk="gd", skills=["psychological"])
    cid = await conversation(client, risk=3, category="suicide")

    assert await where(client, cid) == ("gd", ["sz"], ["由深圳转入：无人在线"])
    queue = await (await client.get("/api/v1/queue", headers=await login(client, "c-gd"))).json()
    assert [item["id"] for item in queue["items"]] == [cid]
    assert queue["items"][0]["overflow"] == {"from_desk": "sz", "label": "由深圳转入：无人在线"}
    taken = await client.post("/api/v1/queue/take-next", headers=await login(client, "c-gd"))
    assert taken.status == 200 and (await taken.json())["id"] == cid


async def test_unclaimed_risk_climbs_one_desk_per_window_and_stays_visible_below(start_app, settings) -> None:
    client, cid = await unanswered_level3_at_shenzhen(start_app, settings)
    clock = Clock(client)
    await clock.at(0)
    assert (await where(client, cid))[0] == "sz"

    await clock.at(29)
    assert (await where(client, cid))[0] == "sz"
    await clock.at(30)
    assert await where(client, cid) == ("gd", ["sz"], ["由深圳转入：30秒无人接听"])
    await clock.at(59)
    assert (await where(client, cid))[0] == "gd"
    await clock.at(60)
    assert await where(client, cid) == ("gd-regional", ["sz", "gd"],
                                        ["由深圳转入：30秒无人接听", "由广东转入：30秒无人接听"])

    # Still in Shenzhen's queue: the Shenzhen counsellor who finally looks takes it.
    headers = await login(client, "c-sz")
    queue = await (await client.get("/api/v1/queue", headers=headers)).json()
    assert [item["id"] for item in queue["items"]] == [cid]
    assert (await client.post(f"/api/v1/conversations/{cid}/claim", headers=headers)).status == 200


async def test_level2_waits_two_minutes_and_level1_never_overflows(start_app, settings) -> None:
    client = await start(start_app, at_shenzhen(settings))
    await user(client, "c-sz", desk="sz", skills=["psychological", "legal"])
    level2 = await conversation(client, risk=2, category="self_harm")
    level1 = await conversation(client, risk=1)
    clock = Clock(client)
    await clock.at(0)
    await clock.at(119)
    assert (await where(client, level2))[0] == "sz"
    await clock.at(120)
    assert (await where(client, level2))[2] == ["由深圳转入：120秒无人接听"]
    await clock.at(3600)
    assert (await where(client, level1))[0] == "sz"


async def test_a_desk_configures_its_own_window(start_app, settings) -> None:
    shenzhen = at_shenzhen(settings)
    desks = [d.model_copy(update={"overflow": d.overflow.model_copy(update={"level_3_seconds": 10})})
             if d.id == "sz" else d for d in shenzhen.desks]
    client = await start(start_app, shenzhen.model_copy(update={"desks": desks}))
    await user(client, "c-sz", desk="sz", skills=["psychological"])
    cid = await conversation(client, risk=3, category="suicide")
    clock = Clock(client)
    await clock.at(10)
    assert (await where(client, cid))[2] == ["由深圳转入：10秒无人接听"]


async def test_surge_sends_risk_conversations_straight_to_named_centres_with_an_audit_entry(start_app,
                                                                                          settings) -> None:
    client = await start(start_app, at_shenzhen(settings))
    await user(client, "c-sz", desk="sz", skills=["psychological", "legal"])
    await user(client, "sup-regional", "supervisor", "gd-regional")
    await user(client, "sup-gd", "supervisor", "gd")
    await user(client, "c-sh", desk="sh-regional", skills=["psychological"])
    body = {"desk": "gd", "to_desks": ["sh-regional", "wh-regional"], "reason": "台风过境，深圳求助激增"}

    refused = await client.post("/api/v1/surges", json=body, headers=await login(client, "sup-gd"))
    assert refused.status == 403  # a provincial supervisor may not declare one
    assert (await client.post("/api/v1/surges", json=body, headers=await login(client, "c-sz"))).status == 403
    bad = await client.post("/api/v1/surges", json=body | {"to_desks": ["national"]},
                            headers=await login(client, "sup-regional"))
    assert bad.status == 400  # only regional centres take a surge's conversations

    started = await client.post("/api/v1/surges", json=body, headers=await login(client, "sup-regional"))
    assert started.status == 201, await started.text()
    surge = await started.json()
    cid = await conversation(client, risk=2, category="self_harm")
    assert await where(client, cid) == ("sh-regional", ["sz", "wh-regional"], ["由深圳转入：重大突发事件"])

    shanghai = await (await client.get("/api/v1/surges", headers=await login(client, "c-sh"))).json()
    shenzhen = await (await client.get("/api/v1/surges", headers=await login(client, "c-sz"))).json()
    assert [s["id"] for s in shanghai["items"]] == [s["id"] for s in shenzhen["items"]] == [surge["id"]]
    audit = await client.app[STORE]["audit"].find({"action": {"$regex": "^surge"}}).to_list(None)
    assert [(a["action"], a["target"]) for a in audit] == [("surge.started", "gd")]

    ended = await client.post(f"/api/v1/surges/{surge['id']}/end", headers=await login(client, "sup-regional"))
    assert ended.status == 200
    assert (await (await client.get("/api/v1/surges", headers=await login(client, "c-sz"))).json())["items"] == []
    later = await conversation(client, risk=2, category="self_harm")
    assert (await where(client, later))[0] == "sz"  # someone is online at Shenzhen again


async def test_a_waiting_conversation_raised_to_level_2_overflows_like_one_arriving_at_level_2(start_app,
                                                                                             settings) -> None:
    client = await start(start_app, at_shenzhen(settings))
    await user(client, "c-gd", desk="gd", skills=["psychological"])
    cid = await conversation(client, risk=1)
    assert await where(client, cid) == ("sz", [], [])  # below level 2 it waits where it is
    await engine(client).set_risk(cid, 2, "self_harm", by=None, reason="detector: 割腕")
    assert await where(client, cid) == ("gd", ["sz"], ["由深圳转入：无人在线"])


async def test_a_window_is_kept_in_the_store_so_a_restarted_or_another_instance_moves_it_once(start_app,
                                                                                                settings) -> None:
    client, cid = await unanswered_level3_at_shenzhen(start_app, settings)
    clock = Clock(client)
    await clock.at(10)
    item = await load(client.app[STORE], cid)
    assert item is not None and item.info.waiting_since is not None
    assert item.info.overflow_due_at == item.info.waiting_since + timedelta(seconds=30)

    # Two instances with nothing in memory (one just restarted) tick when the window has ended.
    eng = engine(client)
    restarted, other = Overflow(eng.context, eng.assignment), Overflow(eng.context, eng.assignment)
    eng.now = lambda: item.info.waiting_since + timedelta(seconds=30)  # type: ignore[method-assign]
    await asyncio.gather(restarted.tick(), other.tick())
    assert await where(client, cid) == ("gd", ["sz"], ["由深圳转入：30秒无人接听"])  # moved, and once


async def test_a_counsellor_going_offline_sends_the_desks_risk_conversations_up_on_the_next_tick(start_app,
                                                                                               settings) -> None:
    client = await start(start_app, at_shenzhen(settings))
    shenzhen = await user(client, "c-sz", desk="sz", skills=["psychological"])
    await user(client, "c-gd", desk="gd", skills=["psychological"])
    cid = await conversation(client, risk=3, category="suicide")
    clock = Clock(client)
    await clock.at(1)
    assert (await where(client, cid))[0] == "sz"  # its window runs until 30 s
    await update_presence(client.app[STORE], shenzhen.id, Presence.OFFLINE)
    await clock.at(2)
    assert await where(client, cid) == ("gd", ["sz"], ["由深圳转入：无人在线"])


@pytest.mark.parametrize("waiting", [20, 500])
async def test_an_overflow_tick_reads_what_moves_not_everyone_waiting_at_risk(start_app, settings,
                                                                             waiting: int) -> None:
    client = await start(start_app, at_shenzhen(settings))
    await user(client, "c-sz", desk="sz", skills=["psychological"])
    await user(client, "c-gd", desk="gd", skills=["psychological"])
    store, now = client.app[STORE], engine(client).now()
    template = await store.conversations.find_one({"_id": await conversation(client, risk=3, category="suicide")})
    clones = [{**template, "_id": f"cv-waiting-{n}", "contact_id": f"ct-waiting-{n}",
               "handoff": {**template["handoff"], "overflow_due_at": now + timedelta(hours=1)}}
              for n in range(waiting - 2)]
    clones.append({**template, "_id": "cv-due", "contact_id": "ct-due",  # waited past its window
                   "handoff": {**template["handoff"], "waiting_since": now - timedelta(minutes=1),
                               "overflow_due_at": now - timedelta(seconds=1)}})
    await store.conversations.insert_many(clones)
    await quiet(client)
    reads = CountingReads(store.conversations)

    await client.app[DEADLINES].overflow.tick()

    assert (await where(client, "cv-due"))[0] == "gd"
    # The due one, one of Shenzhen's (someone waits at risk there: are they stuck?), then the parent
    # desk's queue for the moved one's new place: the same with 20 or 500 waiting.
    assert reads.find_documents == 3


async def quiet(client) -> None:  # type: ignore[no-untyped-def]
    """The test ticks by hand: the app's own deadline ticker and a place-notice pass still pending from
    the set-up would otherwise land inside what it counts on a loaded machine."""
    await client.app[DEADLINES].stop()
    await engine(client).assignment.places.stop()


async def test_an_overflow_tick_gives_the_loop_back_after_each_conversation_it_checks(start_app, settings) -> None:
    client = await start(start_app, at_shenzhen(settings))
    await user(client, "c-sz", desk="sz", skills=["psychological"])
    await user(client, "c-gd", desk="gd", skills=["psychological"])
    store, now = client.app[STORE], engine(client).now()
    template = await store.conversations.find_one({"_id": await conversation(client, risk=3, category="suicide")})
    await store.conversations.insert_many([
        {**template, "_id": f"cv-due-{n}", "contact_id": f"ct-due-{n}",
         "handoff": {**template["handoff"], "waiting_since": now - timedelta(minutes=1),
                     "overflow_due_at": now - timedelta(seconds=1)}} for n in range(10)])
    await quiet(client)
    checks: list[tuple[int, int]] = []  # the other request's turns when each check began and ended
    overflow = client.app[DEADLINES].overflow
    check = overflow.check
    other = AnotherRequest()

    async def counted_check(*args, **kwargs):  # type: ignore[no-untyped-def]
        began = other.turns
        await check(*args, **kwargs)
        checks.append((began, other.turns))

    overflow.check = counted_check
    async with other:
        await overflow.tick()
    assert [(await where(client, f"cv-due-{n}"))[0] for n in range(10)] == ["gd"] * 10
    assert len(checks) == 10
    assert all(later[0] > earlier[1] for earlier, later in zip(checks, checks[1:], strict=False))


async def test_a_conversation_waiting_from_before_due_times_were_kept_still_overflows(start_app, settings) -> None:
    client, cid = await unanswered_level3_at_shenzhen(start_app, settings)
    store = client.app[STORE]
    await store.conversations.update_one({"_id": cid}, {"$unset": {"handoff.overflow_due_at": ""}})
    clock = Clock(client)
    await clock.at(40)
    assert (await where(client, cid))[0] == "sz"  # without a due time the tick does not see it ...
    await engine(client).overflow.start()  # ... until the engine starts on that store (``HandoffEngine.start``)
    await clock.at(41)
    assert await where(client, cid) == ("gd", ["sz"], ["由深圳转入：30秒无人接听"])
