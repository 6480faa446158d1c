"""Work orders to other hotlines: a referral becomes a signed order sent through a durable outbox to the
hotline's stand-in; signed status callbacks move the order and the referral on; bad callbacks change nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from aiohttp.test_utils import TestClient, TestServer

from contract.config import Settings
from contract.keys import STORE, STREAM
from contract.signing import signed_headers
from handoff.web.keys import WORK_ORDERS
from service.work_order_standin import HotlineOrdersStandIn, create_standin_app
from tests.fakes import wait_for
from tests.handoff_support import conversation, engine, login, start, user

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "work-order.schema.json").read_text(encoding="utf-8"))


@pytest.fixture
async def standin(settings: Settings) -> Any:
    app, standin = create_standin_app({e.agency: e.secret for e in settings.work_orders.endpoints})
    server = TestServer(app)
    await server.start_server()
    yield standin, str(server.make_url("/standin/work-orders"))
    await server.close()


def to_standin(settings: Settings, base: str) -> Settings:
    endpoints = [e.model_copy(update={"url": f"{base}/{e.agency}/orders"}) for e in settings.work_orders.endpoints]
    orders = settings.work_orders.model_copy(update={"endpoints": endpoints, "backoff_seconds": 0.01})
    return settings.model_copy(update={"work_orders": orders})


async def referred(client: TestClient, agency: str = "12345") -> tuple[str, str]:
    """A counsellor refers their case to ``agency``; (case id, work-order id)."""
    owner = await user(client, "owner-gd", desk="gd")
    cid = await conversation(client, risk=1)
    await engine(client).claim(cid, owner)
    case = await client.app[STORE]["cases"].find_one({"conversation_id": cid})
    headers = await login(client, "owner-gd")
    response = await client.post(f"/api/v1/cases/{case['_id']}/referrals", headers=headers, json={
        "agency": agency, "contact": "母亲 139****0000", "note": "家长欠薪问题，请协助处理",
        "due_at": "2030-01-01T01:00:00+00:00"})
    assert response.status == 201
    order = await client.app[STORE]["work_orders"].find_one({"case_id": case["_id"]})
    return case["_id"], order["_id"]


async def delivered(client: TestClient, standin: HotlineOrdersStandIn, order_id: str) -> dict[str, Any]:
    await client.app[WORK_ORDERS].tick()
    await wait_for(lambda: any(o["id"] == order_id for o in standin.received))
    return next(o for o in standin.received if o["id"] == order_id)


async def post_callback(client: TestClient, url: str, body: bytes, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return await client.post(urlsplit(url).path, data=body, headers=headers)


async def test_a_referral_to_a_hotline_is_sent_as_a_signed_work_order_in_the_documented_shape(
        start_app, settings, standin) -> None:  # type: ignore[no-untyped-def]
    recorder, base = standin
    client = await start(start_app, to_standin(settings, base))
    case_id, order_id = await referred(client)
    sent = await delivered(client, recorder, order_id)
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(sent)
    assert (sent["agency"], sent["from"]["desk"]) == ("12345", "gd")
    assert sent["request"]["note"] == "家长欠薪问题，请协助处理"
    stored = await client.app[STORE]["work_orders"].find_one({"_id": order_id})
    assert stored["delivery"]["state"] == "sent" and stored["delivery"]["attempts"] == 1
    assert stored["note"].startswith("enc1:") and stored["contact"].startswith("enc1:")  # sealed at rest
    headers = await login(client, "owner-gd")
    shown = await (await client.get(f"/api/v1/cases/{case_id}", headers=headers)).json()
    assert [(o["id"], o["delivery"]["state"]) for o in shown["work_orders"]] == [(order_id, "sent")]


async def test_status_callbacks_update_the_order_the_referral_and_the_case_panel(start_app, settings,
                                                                                 standin) -> None:  # type: ignore[no-untyped-def]
    recorder, base = standin
    client = await start(start_app, to_standin(settings, base))
    case_id, order_id = await referred(client)
    await delivered(client, recorder, order_id)
    heard = client.app[STREAM].bus.subscribe(lambda e: e.type == "case.work_order")
    for status, note in (("received", ""), ("accepted", "已受理，转区人社局"), ("in_progress", "已联系用人单位"),
                         ("resolved", "工资已结清")):
        response = await post_callback(client, *recorder.signed_callback(order_id, status, note))
        assert response.status == 200 and (await response.json())["status"] == status
    headers = await login(client, "owner-gd")
    shown = await (await client.get(f"/api/v1/cases/{case_id}", headers=headers)).json()
    [order] = shown["work_orders"]
    assert [(h["status"], h["note"]) for h in order["history"]] == [
        ("received", ""), ("accepted", "已受理，转区人社局"), ("in_progress", "已联系用人单位"),
        ("resolved", "工资已结清")]
    [referral] = shown["referrals"]
    assert referral["status"] == "resolved" and referral["history"][-1]["by"] == "hotline:12345"
    heard.close()
    events = [event async for event in heard]
    assert [e.data["work_order"]["status"] for e in events] == ["received", "accepted", "in_progress", "resolved"]
    assert {(e.desk, e.data["case_id"]) for e in events} == {("gd", case_id)}  # the console's case panel reloads


async def test_a_rejection_declines_the_referral(start_app, settings, standin) -> None:  # type: ignore[no-untyped-def]
    recorder, base = standin
    client = await start(start_app, to_standin(settings, base))
    case_id, order_id = await referred(client, agency="12338")
    await delivered(client, recorder, order_id)
    rejected = recorder.signed_callback(order_id, "rejected", "不属于本热线受理范围")
    assert (await post_callback(client, *rejected)).status == 200
    case = await client.app[STORE]["cases"].find_one({"_id": case_id})
    assert case["referrals"][0]["status"] == "declined"


async def test_busy_hotlines_are_retried_with_backoff_and_refusals_fail_visibly(start_app, settings,
                                                                                standin) -> None:  # type: ignore[no-untyped-def]
    recorder, base = standin
    client = await start(start_app, to_standin(settings, base))
    clock = {"now": engine(client).now()}
    engine(client).now = lambda: clock["now"]
    _, order_id = await referred(client)
    await client.app[WORK_ORDERS].stop()  # the test drives the sender itself
    recorder.fail_next(503)
    assert await client.app[WORK_ORDERS].tick() == 1
    pending = await client.app[STORE]["work_orders"].find_one({"_id": order_id})
    assert pending["delivery"]["state"] == "pending" and pending["delivery"]["last_error"] == "HTTP 503"
    assert await client.app[WORK_ORDERS].tick() == 0  # not due yet
    clock["now"] += timedelta(seconds=1)
    assert await client.app[WORK_ORDERS].tick() == 1
    sent = await client.app[STORE]["work_orders"].find_one({"_id": order_id})
    assert (sent["delivery"]["state"], sent["delivery"]["attempts"]) == ("sent", 2)
    assert len(recorder.received) == 1
    _, refused_id = await referred_again(client)
    recorder.fail_next(400)
    await client.app[WORK_ORDERS].tick()
    failed = await client.app[STORE]["work_orders"].find_one({"_id": refused_id})
    assert failed["delivery"]["state"] == "failed" and failed["delivery"]["last_error"] == "HTTP 400"


async def referred_again(client: TestClient) -> tuple[str, str]:
    """A second referral of the same case, to another hotline."""
    case = await client.app[STORE]["cases"].find_one({})
    headers = await login(client, "owner-gd")
    response = await client.post(f"/api/v1/cases/{case['_id']}/referrals", headers=headers, json={
        "agency": "12348", "note": "需要法律援助", "due_at": "2030-01-01T01:00:00+00:00"})
    assert response.status == 201
    order = await client.app[STORE]["work_orders"].find_one({"case_id": case["_id"], "agency": "12348"})
    return case["_id"], order["_id"]


async def test_a_pending_order_survives_a_restart(start_app, settings, standin) -> None:  # type: ignore[no-untyped-def]
    recorder, base = standin
    configured = to_standin(settings, base)
    client = await start(start_app, configured)
    await client.app[WORK_ORDERS].stop()  # the sender is down when the order is made …
    _, order_id = await referred(client)
    await client.close()
    again = await start(start_app, configured)  # … and the next process sends it
    await wait_for(lambda: any(o["id"] == order_id for o in recorder.received))
    assert (await again.app[STORE]["work_orders"].find_one({"_id": order_id}))["delivery"]["state"] == "sent"


async def test_bad_callbacks_get_a_reason_and_change_nothing(start_app, settings, standin) -> None:  # type: ignore[no-untyped-def]
    recorder, base = standin
    client = await start(start_app, to_standin(settings, base))
    _, order_id = await referred(client)
    await delivered(client, recorder, order_id)
    url, body, headers = recorder.signed_callback(order_id, "accepted", "已受理", event_id="ev-1")
    assert (await post_callback(client, url, body, headers)).status == 200
    before = await client.app[STORE]["work_orders"].find_one({"_id": order_id})
    secret = settings.work_orders.endpoint("12345").secret

    def signed(payload: dict[str, Any], key: str = secret, now: float | None = None) -> tuple[bytes, dict[str, str]]:
        raw = json.dumps(payload, ensure_ascii=False).encode()
        return raw, {"Content-Type": "application/json", **signed_headers(key, raw, now)}

    ok = {"work_order_id": order_id, "event_id": "ev-2", "status": "resolved", "at": "2026-11-28T12:00:00+08:00"}
    cases = [
        ("forged signature", url, *signed(ok, key="not-the-secret-of-12345"), 403, "signature mismatch"),
        ("stale timestamp", url, *signed(ok, now=1_000_000_000), 403, "timestamp outside"),
        ("replay", url, body, headers, 409, "replayed"),
        ("unknown work order", url, *signed({**ok, "work_order_id": "wo_nope"}), 404, "unknown work order"),
        ("another hotline's order", url.replace("12345", "12348"),
         *signed(ok, key=settings.work_orders.endpoint("12348").secret), 404, "unknown work order"),
        ("unknown hotline", url.replace("12345", "99999"), *signed(ok), 404, "unknown hotline"),
        ("absurd status", url, *signed({**ok, "status": "exploded"}), 400, "status"),
        ("status going back", url, *signed({**ok, "status": "received"}), 409, "cannot become received"),
        ("no time zone", url, *signed({**ok, "at": "2026-11-28T12:00:00"}), 400, "at"),
        ("unknown field", url, *signed({**ok, "extra": 1}), 400, "extra"),
        ("not JSON", url, b"{nope", {"Content-Type": "application/json", **signed_headers(secret, b"{nope")},
         400, "JSON"),
        ("oversized", url, *signed({**ok, "note": "长" * 20_000}), 413, "too large"),
        ("unsigned", url, json.dumps(ok).encode(), {"Content-Type": "application/json"}, 403, "required"),
    ]
    for name, target, raw, sent_headers, status, reason in cases:
        response = await post_callback(client, target, raw, sent_headers)
        answer = await response.json()
        assert (response.status, reason in answer["error"]) == (status, True), (name, answer)
    after = await client.app[STORE]["work_orders"].find_one({"_id": order_id})
    assert after == before  # no partial write
