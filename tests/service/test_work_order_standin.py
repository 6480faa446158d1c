"""The stand-in hotline checks orders as a hotline should and plays the hotline's signed status callbacks."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from contract.signing import signature_problem, signed_headers
from service.work_order_standin import create_standin_app

SECRET = "a-secret-of-the-12345-hotline"


def order(callback: str = "http://127.0.0.1:9/work-orders/12345/status", **changes: Any) -> dict[str, Any]:
    return {"schema": "youthdesk.work-order", "version": "1.0", "id": "wo_1", "agency": "12345",
            "created_at": "2026-11-28T04:00:00+00:00", "status_callback": callback, **changes}


async def post_order(client: TestClient, body: dict[str, Any], *, key: str = "wo_1", secret: str = SECRET,
                     agency: str = "12345"):  # type: ignore[no-untyped-def]
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": key, **signed_headers(secret, raw)}
    return await client.post(f"/standin/work-orders/{agency}/orders", data=raw, headers=headers)


async def test_orders_are_checked_and_recorded_once() -> None:
    app, standin = create_standin_app({"12345": SECRET})
    async with TestClient(TestServer(app)) as client:
        assert (await post_order(client, order(), secret="forged-secret-value")).status == 403
        assert (await post_order(client, order(version="2.0"))).status == 400
        assert (await post_order(client, order(), key="wo_other")).status == 400
        assert (await post_order(client, order(), agency="12348")).status == 404
        assert standin.received == []
        assert (await post_order(client, order())).status == 202
        assert (await post_order(client, order())).status == 202  # a resent order is the same order
        assert [o["id"] for o in standin.received] == ["wo_1"]


async def test_the_standin_sends_a_signed_status_callback_to_the_order() -> None:
    heard: list[tuple[str | None, dict[str, Any]]] = []

    async def gateway(request: web.Request) -> web.Response:
        body = await request.read()
        heard.append((signature_problem(SECRET, request.headers, body, 300), json.loads(body)))
        return web.json_response({"id": "wo_1", "status": "accepted"})

    receiver = web.Application()
    receiver.router.add_post("/work-orders/12345/status", gateway)
    app, _ = create_standin_app({"12345": SECRET})
    async with TestServer(receiver) as gateway_server, TestClient(TestServer(app)) as client:
        await post_order(client, order(str(gateway_server.make_url("/work-orders/12345/status"))))
        answer = await client.post("/standin/work-orders/12345/status",
                                   json={"work_order_id": "wo_1", "status": "accepted", "note": "已受理"})
        assert (await answer.json())["gateway_status"] == 200
        bad = await client.post("/standin/work-orders/12345/status", json={"work_order_id": "wo_unknown"})
        assert bad.status == 400
    [(problem, callback)] = heard
    assert problem is None and (callback["status"], callback["note"]) == ("accepted", "已受理")
    assert callback["event_id"].startswith("ev-")
