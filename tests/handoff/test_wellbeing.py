"""Counsellor wellbeing: the level-3 cap (never at a youth's expense), the debrief after a level 3 closes,
the supervisor's view of today; and the safety plan kept in a case at level >= 2."""

from __future__ import annotations

from contract.keys import STORE, STREAM
from contract.people import Presence
from handoff import wellbeing
from handoff.queue import load
from handoff.users import set_presence
from tests.handoff_support import conversation, engine, login, start, user

SKILLS = ["psychological"]


async def _three_level3_in_a_row(client, counsellor) -> None:  # type: ignore[no-untyped-def]
    for _ in range(engine(client).settings.handoff.consecutive_level3_cap):
        cid = await conversation(client, risk=3, category="suicide")
        item = await load(client.app[STORE], cid)
        assert item is not None
        if item.conversation.owner is None:  # a pull desk; an auto desk gave it to them already
            await engine(client).claim(cid, counsellor)
    assert await wellbeing.at_level3_cap(engine(client).context, counsellor.id)


async def test_a_capped_counsellor_is_passed_over_for_level_3_only_when_a_colleague_can_take_it(start_app) -> None:
    client = await start(start_app)
    tired = await user(client, "tired-gd", desk="gd", capacity=10, skills=SKILLS)
    await _three_level3_in_a_row(client, tired)
    crisis = await conversation(client, risk=3, category="self_harm")
    calm = await conversation(client, risk=0)
    # Alone on the desk: the cap must not leave the youth waiting.
    fresh = await user(client, "fresh-gd", desk="gd", capacity=10, skills=SKILLS)
    taken = await engine(client).take_next(tired)
    assert taken is not None and taken.id == calm  # the level 3 stays for the colleague who can take it
    taken = await engine(client).take_next(fresh)
    assert taken is not None and taken.id == crisis

    alone = await conversation(client, risk=3, category="suicide")
    await set_presence(client.app[STORE], fresh.id, Presence.AWAY)
    taken = await engine(client).take_next(tired)
    assert taken is not None and taken.id == alone  # nobody else: the capped counsellor still gets it


async def test_auto_assignment_prefers_a_colleague_below_the_cap(start_app, settings) -> None:
    client = await start(start_app, settings, auto=True)
    tired = await user(client, "tired-gd", desk="gd", capacity=10, skills=SKILLS)
    await _three_level3_in_a_row(client, tired)
    fresh = await user(client, "fresh-gd", desk="gd", capacity=10, skills=SKILLS)
    # Everyday conversations go to the least loaded as before; the level 3 to the colleague below the cap.
    for _ in range(4):  # least loaded first: these make the fresh colleague the busier one (4 against 3)
        calm = await conversation(client, risk=0)
        assert (await load(client.app[STORE], calm)).conversation.owner == fresh.id  # type: ignore[union-attr]
    crisis = await conversation(client, risk=3, category="suicide")
    item = await load(client.app[STORE], crisis)
    assert item is not None and item.conversation.owner == fresh.id


async def test_a_closed_level_3_prompts_a_debrief_and_supervisors_see_today(start_app) -> None:
    client = await start(start_app)
    counsellor = await user(client, "c-gd", desk="gd")
    await user(client, "sup-gd", "supervisor", "gd")
    cid = await conversation(client, risk=3, category="suicide")
    closed = await engine(client).claim(cid, counsellor)
    prompts = client.app[STREAM].bus.subscribe(lambda e: e.type == "wellbeing.debrief")
    await wellbeing.after_close(engine(client).context, closed, counsellor)
    prompts.close()
    assert [event.data["user_id"] async for event in prompts] == [counsellor.id]
    task = await client.app[STORE]["tasks"].find_one({"kind": "debrief", "conversation_id": cid})
    assert task["assignee"] == counsellor.id

    supervisor = await login(client, "sup-gd")
    rows = (await (await client.get("/api/v1/wellbeing/today", headers=supervisor)).json())["items"]
    mine = next(row for row in rows if row["user_id"] == counsellor.id)
    assert (mine["high_risk"], mine["level3"], mine["consecutive_level3"]) == (1, 1, 1)
    assert (await client.get("/api/v1/wellbeing/today", headers=await login(client, "c-gd"))).status == 403


async def test_the_safety_plan_is_kept_in_the_case(start_app) -> None:
    client = await start(start_app)
    owner = await user(client, "owner-gd", desk="gd")
    await user(client, "counsellor-sz", desk="sz")
    cid = await conversation(client, risk=2, category="suicide")
    await engine(client).claim(cid, owner)
    case = await client.app[STORE]["cases"].find_one({"conversation_id": cid})
    url = f"/api/v1/cases/{case['_id']}/safety-plan"
    headers = await login(client, "owner-gd")
    empty = await (await client.get(url, headers=headers)).json()
    assert empty["required"] and empty["warning_signs"] == [] and empty["updated_at"] is None
    plan = {"warning_signs": ["一个人在房间里越想越难受", " "], "coping_steps": ["听歌", "出门走走"],
            "people_and_places": ["姐姐", "楼下的便利店"], "professionals": ["12356心理援助热线", "学校心理老师"],
            "means_safety": ["药交给妈妈保管"]}
    saved = await client.put(url, headers=headers, json=plan)
    assert saved.status == 200
    again = await (await client.get(url, headers=headers)).json()
    assert again["warning_signs"] == ["一个人在房间里越想越难受"] and again["means_safety"] == ["药交给妈妈保管"]
    assert again["updated_by"] == owner.id
    outsider = await login(client, "counsellor-sz")
    assert (await client.get(url, headers=outsider)).status == 403
    assert (await client.put(url, headers=outsider, json=plan)).status == 403
