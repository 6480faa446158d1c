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


async def test_consents_and_subject_requests_over_the_api(start_app) -> None:  # type: ignore[no-untyped-def]
    client, heads, conversation_id, _ = await _setup(start_app)
    contact = (await client.app[STORE].conversations.find_one({"_id": conversation_id}))["contact_id"]
    url = f"/api/v1/contacts/{contact}/consents"
    youth_alone = {"purpose": "profile", "decision": "granted", "given_by": "youth", "under_14": True}
    assert (await client.post(url, json=youth_alone, headers=heads["c1"])).status == 400
    # "Shown the privacy notice" is the service's entry to write, never staff's.
    shown = {"purpose": "privacy_notice", "decision": "shown", "given_by": "service", "under_14": False}
    assert (await client.post(url, json=shown, headers=heads["sup"])).status == 400
    guardian = youth_alone | {"given_by": "guardian"}
    assert (await client.post(url, json=guardian, headers=heads["c1"])).status == 201
    ledger = await (await client.get(url, headers=heads["sup"])).json()
    assert [item["given_by"] for item in ledger["items"]] == ["guardian"]
    for method in ("PUT", "PATCH", "DELETE"):  # append-only: no route changes an entry
        assert (await client.request(method, url, headers=heads["sup"])).status == 405

    data = f"/api/v1/contacts/{contact}/subject-data"
    assert (await client.get(data, headers=heads["sup"])).status == 400  # a reason is required
    assert (await client.get(data + "?reason=本人申请", headers=heads["c1"])).status == 403
    found = await client.get(data + "?reason=本人申请", headers=heads["sup"])
    assert found.status == 200 and len((await found.json())["records"]) == 1
    erased = await client.post(f"/api/v1/contacts/{contact}/erasure", json={"reason": "本人申请删除"},
                               headers=heads["sup"])
    assert erased.status == 200
    assert (await erased.json())["kept"] == {conversation_id: "会话尚未结束"}
