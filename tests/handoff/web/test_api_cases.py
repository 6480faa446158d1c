"""Cases over the API: scope, audited reads, referrals, follow-ups, append-only mandatory reports, masking."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from contract.keys import STORE
from tests.handoff_support import conversation, login, start, user

DUE = "2030-01-01T08:00:00Z"
_TYPES = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool}


def _conforms(value: object, schema: dict, components: dict, where: str = "$") -> None:
    """A small OpenAPI 3.0 schema check (type, required, properties, items, enum, nullable, $ref, allOf)."""
    if "$ref" in schema:
        return _conforms(value, components[schema["$ref"].rsplit("/", 1)[1]], components, where)
    if value is None:
        assert schema.get("nullable"), f"{where}: null not allowed"
        return None
    for part in schema.get("allOf", []):
        _conforms(value, part, components, where)
    if "type" in schema:
        assert isinstance(value, _TYPES[schema["type"]]), f"{where}: expected {schema['type']}, got {value!r}"
        assert not (schema["type"] in ("integer", "number") and isinstance(value, bool)), where
    assert value in schema.get("enum", [value]), f"{where}: {value!r} not in enum"
    if isinstance(value, dict):
        for name in schema.get("required", []):
            assert name in value, f"{where}: missing {name}"
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                _conforms(value[name], sub, components, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _conforms(item, schema["items"], components, f"{where}[{index}]")
    return None


async def _setup(start_app, risk: int = 0, youth: str | None = None):  # type: ignore[no-untyped-def]
    client = await start(start_app)
    await user(client, "c1", desk="gd")
    await user(client, "c2", desk="gd")
    await user(client, "sup", role="supervisor", desk="gd")
    heads = {name: await login(client, name) for name in ("c1", "c2", "sup")}
    conversation_id = await conversation(client, risk=risk, youth=youth)
    case_id = await _claim(client, heads["c1"], conversation_id)
    return client, heads, conversation_id, case_id


async def _claim(client: TestClient, head: dict[str, str], conversation_id: str) -> str:
    response = await client.post(f"/api/v1/conversations/{conversation_id}/claim", headers=head)
    assert response.status == 200, await response.text()
    summary = await response.json()
    assert summary["case_number"].startswith("12355-GD-")
    return summary["case_id"]


async def test_owner_works_the_case(start_app) -> None:  # type: ignore[no-untyped-def]
    client, heads, conversation_id, case_id = await _setup(start_app)
    c1 = heads["c1"]
    case = await (await client.get(f"/api/v1/cases/{case_id}", headers=c1)).json()
    assert (case["conversation_id"], case["status"], case["desk"]) == (conversation_id, "open", "gd")
    response = await client.patch(f"/api/v1/cases/{case_id}", headers=c1,
                                  json={"classification": "legal.bullying", "summary": "同学长期欺负"})
    assert (await response.json())["classification"] == "legal.bullying"
    response = await client.put(f"/api/v1/cases/{case_id}/assessment", headers=c1, json={
        "level": 1, "factors": ["被孤立"], "immediate_danger": False, "protective_factors": ["班主任"],
        "plan": "联系学校", "notes": ""})
    assert (await response.json())["assessment"]["assessed_by"] is not None
    response = await client.post(f"/api/v1/cases/{case_id}/referrals", headers=c1,
                                 json={"agency": "school", "note": "请学校介入", "due_at": DUE})
    assert response.status == 201
    rid = (await response.json())["referrals"][0]["id"]
    bad = await client.patch(f"/api/v1/cases/{case_id}/referrals/{rid}", headers=c1, json={"status": "resolved"})
    assert bad.status == 400 and "cannot become resolved" in (await bad.json())["error"]
    for status in ("accepted", "resolved"):
        response = await client.patch(f"/api/v1/cases/{case_id}/referrals/{rid}", headers=c1, json={"status": status})
        assert response.status == 200
    assert (await response.json())["referrals"][0]["status"] == "resolved"
    missing = await client.patch(f"/api/v1/cases/{case_id}/referrals/ref_nope", headers=c1,
                                 json={"status": "accepted"})
    assert missing.status == 404
    response = await client.post(f"/api/v1/cases/{case_id}/followups", headers=c1,
                                 json={"title": "回访", "due_at": DUE})
    fid = (await response.json())["followups"][0]["id"]
    response = await client.patch(f"/api/v1/cases/{case_id}/followups/{fid}", headers=c1, json={"done": True})
    case = await response.json()
    assert case["followups"][0]["done"] is True
    document = await (await client.get("/api/v1/openapi.json")).json()
    components = document["components"]["schemas"]
    _conforms(case, {"$ref": "#/components/schemas/Case"}, components)
    assert (case["referrals"][0]["status"], case["assessment"]["level"]) == ("resolved", 1)
    items = await (await client.get(f"/api/v1/contacts/{case['contact_id']}/cases", headers=c1)).json()
    _conforms(items, document["paths"]["/contacts/{contact_id}/cases"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"], components)
    log = await (await client.get("/api/v1/audit", headers=heads["sup"])).json()
    _conforms(log, document["paths"]["/audit"]["get"]["responses"]["200"]["content"]["application/json"]["schema"],
              components)
    stats = await (await client.get("/api/v1/stats", params={"days": "30"}, headers=heads["sup"])).json()
    _conforms(stats, {"$ref": "#/components/schemas/Stats"}, components)
    assert stats["volume_by_category"] == {"legal.bullying": 1}


async def test_mandatory_reports_append_only_over_the_api(start_app) -> None:  # type: ignore[no-untyped-def]
    client, heads, _, case_id = await _setup(start_app)
    c1 = heads["c1"]
    url = f"/api/v1/cases/{case_id}/mandatory-reports"
    report = {"reported_to": "深圳市公安局南山分局", "reported_at": "2026-11-28T10:00:00Z", "reference": "NS-1",
              "note": "疑似家暴"}
    response = await client.post(url, headers=c1, json=report)
    assert response.status == 201
    saved = (await response.json())["mandatory_reports"][0]
    assert (saved["reported_by"], saved["seq"]) == (await _user_id(client, "c1"), 1)
    for method in ("PUT", "PATCH", "DELETE"):
        response = await client.request(method, url, headers=c1, json=report)
        assert response.status == 405, method
        response = await client.request(method, f"{url}/{saved['id']}", headers=c1, json=report)
        assert response.status in (404, 405), method
    response = await client.get(url, headers=c1)
    body = await response.json()
    assert body["chain_valid"] is True and [r["reference"] for r in body["items"]] == ["NS-1"]
    await client.app[STORE]["mandatory_reports"].update_one({"_id": saved["id"]}, {"$set": {"note": "改过"}})
    assert (await (await client.get(url, headers=c1)).json())["chain_valid"] is False


async def _user_id(client: TestClient, username: str) -> str:
    return (await client.app[STORE]["users"].find_one({"username": username}))["_id"]


async def test_scope_and_reasons(start_app) -> None:  # type: ignore[no-untyped-def]
    client, heads, _, case_id = await _setup(start_app)
    url = f"/api/v1/cases/{case_id}"
    assert (await client.get(url, headers=heads["c2"])).status == 403  # a colleague's assigned case
    assert (await client.patch(url, headers=heads["c2"], json={"summary": "x"})).status == 403
    client.session.cookie_jar.clear()  # sign-in left a session cookie; the API must then ask for one
    assert (await client.get(url)).status == 401
    response = await client.get(url, headers=heads["sup"])
    assert response.status == 400 and "reason" in (await response.json())["error"]
    assert (await client.get(url, params={"reason": "质量抽查"}, headers=heads["sup"])).status == 200
    assert (await client.get("/api/v1/cases/case_nope", headers=heads["c1"])).status == 404
    assert (await client.get("/api/v1/audit", headers=heads["c1"])).status == 403
    entries = (await (await client.get("/api/v1/audit", params={"target": case_id}, headers=heads["sup"])).json())
    reads = [e for e in entries["items"] if e["action"] == "case.read"]
    assert [(e["actor"], e["reason"]) for e in reads] == [(await _user_id(client, "sup"), "质量抽查")]


async def test_bad_input_is_rejected_and_nothing_changes(start_app) -> None:  # type: ignore[no-untyped-def]
    client, heads, _, case_id = await _setup(start_app)
    c1 = heads["c1"]
    url = f"/api/v1/cases/{case_id}"
    bad = [
        ("PATCH", url, {"classification": "made.up"}),
        ("PATCH", url, {"summary": 5}),
        ("PUT", f"{url}/assessment", {"level": "3", "immediate_danger": False}),
        ("PUT", f"{url}/assessment", {"level": 4, "immediate_danger": False}),
        ("PUT", f"{url}/assessment", {"level": 1}),
        ("POST", f"{url}/referrals", {"agency": "999", "due_at": DUE}),
        ("POST", f"{url}/referrals", {"agency": "110", "due_at": "tomorrow"}),
        ("POST", f"{url}/referrals", {"agency": "110", "due_at": "0001-01-01T00:00:00+01:00"}),
        ("POST", f"{url}/followups", {"title": "", "due_at": DUE}),
        ("POST", f"{url}/mandatory-reports", {"reported_to": "公安", "reported_at": DUE}),
        ("POST", f"{url}/mandatory-reports", ["not", "an", "object"]),
    ]
    for method, path, body in bad:
        response = await client.request(method, path, headers=c1, json=body)
        assert response.status == 400, (method, path, body, await response.text())
        assert "error" in await response.json()
    response = await client.post(f"{url}/followups", headers=c1, data="{")
    assert response.status in (400, 415)
    assert (await client.get("/api/v1/audit", params={"limit": "x"}, headers=heads["sup"])).status == 400
    case = await (await client.get(url, headers=c1)).json()
    assert (case["classification"], case["assessment"], case["referrals"], case["followups"],
            case["mandatory_reports"]) == (None, None, [], [], [])


async def test_closing_level3_needs_the_assessment(start_app) -> None:  # type: ignore[no-untyped-def]
    client, heads, conversation_id, case_id = await _setup(start_app, risk=3)
    c1 = heads["c1"]
    close = {"outcome": "resolved", "request_rating": False}
    response = await client.post(f"/api/v1/conversations/{conversation_id}/close", headers=c1, json=close)
    assert response.status == 409
    await client.put(f"/api/v1/cases/{case_id}/assessment", headers=c1, json={
        "level": 3, "factors": ["自杀计划"], "immediate_danger": True, "plan": "已联系120", "notes": ""})
    await client.patch(f"/api/v1/cases/{case_id}", headers=c1,
                       json={"classification": "psych.emotion", "summary": "有自杀计划，已联系120"})
    response = await client.post(f"/api/v1/conversations/{conversation_id}/close", headers=c1, json=close)
    assert response.status == 409  # level 3: a referral, a mandatory report or a reason why neither
    await client.post(f"/api/v1/cases/{case_id}/referrals", headers=c1, json={
        "agency": "120", "note": "已呼叫急救", "due_at": DUE})
    response = await client.post(f"/api/v1/conversations/{conversation_id}/close", headers=c1, json=close)
    assert response.status == 200, await response.text()
    case = await (await client.get(f"/api/v1/cases/{case_id}", headers=c1)).json()
    assert (case["status"], case["outcome"], case["risk_level"]) == ("closed", "resolved", 3)


async def test_previous_cases_are_masked_unless_permitted(start_app) -> None:  # type: ignore[no-untyped-def]
    client, heads, first_conversation, first_case = await _setup(start_app, youth="openid-returning")
    c1, c2 = heads["c1"], heads["c2"]
    await client.patch(f"/api/v1/cases/{first_case}", headers=c1, json={"summary": "父母离异后情绪低落"})
    await client.post(f"/api/v1/conversations/{first_conversation}/close", headers=c1,
                      json={"outcome": "resolved", "request_rating": False})
    second_conversation = await conversation(client, youth="openid-returning")
    second_case = await _claim(client, c2, second_conversation)
    contact_id = (await (await client.get(f"/api/v1/cases/{second_case}", headers=c2)).json())["contact_id"]
    items = (await (await client.get(f"/api/v1/contacts/{contact_id}/cases", headers=c2)).json())["items"]
    by_id = {item["id"]: item for item in items}
    assert by_id[first_case]["masked"] is True and by_id[first_case]["summary"] != "父母离异后情绪低落"
    assert "*" in by_id[first_case]["summary"] and by_id[second_case]["masked"] is False
    items = (await (await client.get(f"/api/v1/contacts/{contact_id}/cases", headers=heads["sup"])).json())["items"]
    assert {item["id"]: item["summary"] for item in items}[first_case] == "父母离异后情绪低落"
    assert (await client.get("/api/v1/contacts/ct_unknown/cases", headers=c2)).status == 403
    audited = await client.app[STORE]["audit"].count_documents({"action": "contact.cases.read", "target": contact_id})
    assert audited == 2


async def test_taxonomy_and_agencies_from_config(start_app) -> None:  # type: ignore[no-untyped-def]
    client, heads, _, _ = await _setup(start_app)
    taxonomy = (await (await client.get("/api/v1/taxonomy", headers=heads["c1"])).json())["items"]
    names = {node["name"]: [child["name"] for child in node["children"]] for node in taxonomy}
    assert "自杀风险" in names["危机干预"] and "校园欺凌" in names["法律咨询"] and names["其他"] == []
    agencies = (await (await client.get("/api/v1/agencies", headers=heads["c1"])).json())["items"]
    assert {"110", "120", "12345", "12320", "12348", "12338", "school", "guardian"} <= {a["code"] for a in agencies}
