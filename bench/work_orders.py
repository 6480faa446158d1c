"""Work-order send latency: through the durable outbox to the stand-in hotline, next to a bare aiohttp handler.

Full send = one ``WorkOrderSender.tick()`` with one due order: claim it from the durable embedded store
(with a lease), encode and sign it, POST it to the stand-in hotline (which checks the signature, the
timestamp and the schema), mark it sent. Next to it, in the same run: the same signed POST to the
stand-in without the store, and to a bare aiohttp handler that reads the body and answers 202. One
process, one event loop, loopback; orders are sent one after another (``BENCH_WORK_ORDERS``, default 200).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from bench._stats import describe_ms
from bench.wechat_webhook import _settings
from contract.config import Settings
from contract.keys import STORE
from contract.signing import signed_headers
from contract.work_orders import Delivery, WorkOrder
from handoff.web.keys import WORK_ORDERS
from handoff.work_orders import encoded
from service.app import create_app
from service.work_order_http import session_transport
from service.work_order_standin import create_standin_app
from store import work_orders as stored

ORDERS = int(os.environ.get("BENCH_WORK_ORDERS", "200"))
AGENCY = "12345"


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]


def _order(n: int) -> WorkOrder:
    now = datetime.now(UTC)
    return WorkOrder(id=f"wo_bench_{n:05d}", agency=AGENCY, case_id=f"case-{n}", case_number=f"12355-GD-20261128-{n}",
                     referral_id=f"ref-bench-{n}", desk="gd", risk_level=1, note="家长欠薪问题，请协助处理",
                     contact="母亲", created_by="bench", created_at=now, delivery=Delivery(next_attempt_at=now))


async def _timed(samples: list[float], call: Callable[[], Awaitable[object]]) -> None:
    started = time.perf_counter()
    await call()
    samples.append(time.perf_counter() - started)


async def _post_only(settings: Settings, url: str, http: aiohttp.ClientSession) -> list[float]:
    """The same encoded, freshly signed POST, without the store."""
    transport, secret = session_transport(lambda: http), settings.work_orders.endpoint(AGENCY).secret  # type: ignore[union-attr]
    samples: list[float] = []
    for n in range(ORDERS):
        order = _order(100_000 + n)

        async def send(order: WorkOrder = order) -> int:
            body = encoded(order, settings)
            headers = {"Content-Type": "application/json", "Idempotency-Key": order.id, **signed_headers(secret, body)}
            status = await transport(url, body, headers, 10.0)
            assert status == 202, status
            return status

        await _timed(samples, send)
    return samples


async def main() -> None:
    logging.getLogger("youthdesk").setLevel(logging.CRITICAL)
    standin_app, standin = create_standin_app({})

    async def bare(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"received": request.headers.get("Idempotency-Key", "")}, status=202)

    bare_app = web.Application()
    bare_app.router.add_post("/orders", bare)
    standin_runner, standin_base = await _serve(standin_app)
    bare_runner, bare_base = await _serve(bare_app)
    with tempfile.TemporaryDirectory(prefix="youthdesk-bench-") as data_dir:
        loaded = _settings(data_dir)
        endpoints = [e.model_copy(update={"url": f"{standin_base}/standin/work-orders/{e.agency}/orders"})
                     for e in loaded.work_orders.endpoints]
        settings = loaded.model_copy(update={"work_orders": loaded.work_orders.model_copy(
            update={"endpoints": endpoints})})
        standin.agency_secrets.update({e.agency: e.secret for e in endpoints})
        gateway = create_app(settings, start_workers=False)
        gateway_runner, _ = await _serve(gateway)
        try:
            sender = gateway[WORK_ORDERS]
            await sender.stop()  # this bench drives it
            full: list[float] = []
            for n in range(ORDERS):
                await stored.insert_once(gateway[STORE], _order(n))
                await _timed(full, sender.tick)
            assert len(standin.received) == ORDERS, len(standin.received)
            async with aiohttp.ClientSession() as http:
                to_standin = await _post_only(settings, f"{standin_base}/standin/work-orders/{AGENCY}/orders", http)
                to_bare = await _post_only(settings, f"{bare_base}/orders", http)
        finally:
            await gateway_runner.cleanup()
    await standin_runner.cleanup()
    await bare_runner.cleanup()
    print(f"   full send (outbox claim + sign + POST to stand-in + mark sent): {describe_ms(full)}")
    print(f"   signed POST to the stand-in only:                              {describe_ms(to_standin)}")
    print(f"   baseline: signed POST to a bare aiohttp handler:               {describe_ms(to_bare)}")
