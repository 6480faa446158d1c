"""The close lock holds: lowering a level 3 (or any level to 0) is a supervisor's audited decision, and
closing asks for what the highest level the conversation ever had asks for."""

from __future__ import annotations

from contract.keys import STORE
from tests.handoff_support import conversation, engine, login, start, user

CLOSE = {"outcome": "resolved", "request_rating": False}


async def test_the_owner_cannot_lower_a_level3_and_close_without_an_assessment(start_app, settings) -> None:
    client = await start(start_app, settings)
    counsellor = await user(client, "c-gd", desk="gd")
    await user(client, "sup-gd", "supervisor", "gd")
    cid = await conversation(client, risk=3, category="suicide")
    await engine(client).claim(cid, counsellor)
    owner = await login(client, "c-gd")

    for level in (0, 1, 2):
        lowered = await client.put(f"/api/v1/conversations/{cid}/risk", headers=owner,
                                   json={"level": level, "reason": "青少年说是开玩笑"})
        assert lowered.status == 403, level
        assert (await lowered.json())["error"] == "lowering a level-3 risk, or any risk to 0, needs a supervisor"

    lowered = await client.put(f"/api/v1/conversations/{cid}/risk", headers=await login(client, "sup-gd"),
                               json={"level": 0, "reason": "督导复核：误报，系游戏台词"})
    assert lowered.status == 200 and (await lowered.json())["risk_level"] == 0
    (entry,) = await client.app[STORE]["audit"].find({"action": "risk.lowered"}).to_list(None)
    assert (entry["target"], entry["reason"]) == (cid, "3 → 0: 督导复核：误报，系游戏台词")

    # The field says 0, but the conversation was at level 3: closing still needs the level-3 case work.
    refused = await client.post(f"/api/v1/conversations/{cid}/close", headers=owner, json=CLOSE)
    assert refused.status == 409
    assert "risk assessment" in (await refused.json())["error"]


async def test_lowering_to_zero_needs_a_supervisor_but_lowering_a_level2_to_1_does_not(start_app, settings) -> None:
    client = await start(start_app, settings)
    counsellor = await user(client, "c-gd", desk="gd")
    cid = await conversation(client, risk=2, category="self_harm")
    await engine(client).claim(cid, counsellor)
    owner = await login(client, "c-gd")
    assert (await client.put(f"/api/v1/conversations/{cid}/risk", headers=owner,
                             json={"level": 0, "reason": "无风险"})).status == 403
    assert (await client.put(f"/api/v1/conversations/{cid}/risk", headers=owner,
                             json={"level": 1, "reason": "已缓解"})).status == 200
    refused = await client.post(f"/api/v1/conversations/{cid}/close", headers=owner, json=CLOSE)
    assert refused.status == 409  # it was a level 2
