"""Youth profile and legal holds over the API: who may record or hold what, and the responses' shapes."""

from __future__ import annotations

from contract.keys import STORE
from tests.handoff.web.test_api_cases import _setup


async def test_the_owner_records_the_profile_and_others_may_not(start_app) -> None:  # type: ignore[no-untyped-def]
    client, heads, _, case_id = await _setup(start_app)
    url = f"/api/v1/cases/{case_id}/profile"
    body = {"age_band": "15_17", "region_code": "440305", "left_behind": True}
    assert (await client.put(url, json=body, headers=heads["c2"])).status == 403  # not the owner
    response = await client.put(url, json=body, headers=heads["c1"])
    assert response.status == 200, await response.text()
    assert (await response.json())["age_band"] == "15_17"
    assert (await client.put(url, json={}, headers=heads["sup"])).status == 200  # nothing known: fine, too
    assert (await client.put(url, json={"age_band": "ten"}, headers=heads["c1"])).status == 400
    assert (await client.put(url, json={"region_code": "44"}, headers=heads["c1"])).status == 400
    assert (await client.put("/api/v1/cases/nope/profile", json={}, headers=heads["c1"])).status == 404


async def test_supervisors_place_and_release_legal_holds(start_app) -> None:  # type: ignore[no-untyped-def]
    client, heads, _, case_id = await _setup(start_app)
    url = f"/api/v1/cases/{case_id}/legal-hold"
    assert (await client.post(url, json={"reason": "法院调取"}, headers=heads["c1"])).status == 403
    assert (await client.post(url, json={"reason": ""}, headers=heads["sup"])).status == 400
    placed = await client.post(url, json={"reason": "法院调取"}, headers=heads["sup"])
    assert placed.status == 201
    assert (await placed.json())["reason"] == "法院调取"
    assert await client.app[STORE]["legal_holds"].count_documents({"_id": case_id, "released_at": None}) == 1
    released = await client.delete(url, headers=heads["sup"])
    assert released.status == 200 and (await released.json())["released_at"]
    assert (await client.delete(url, headers=heads["sup"])).status == 404
