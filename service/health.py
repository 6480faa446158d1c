"""``GET /healthz``: the state of every part, 503 when a required part is down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

Status = Literal["ok", "degraded", "down"]


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    status: Status
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HealthCheck:
    name: str
    required: bool
    check: Callable[[], Awaitable[ComponentHealth]]


def at_most_every(seconds: float, check: Callable[[], Awaitable[ComponentHealth]],
                  clock: Callable[[], float] = time.monotonic) -> Callable[[], Awaitable[ComponentHealth]]:
    """``check``, run at most once per ``seconds``; in between, its last result is the answer.

    ``/healthz`` needs no sign-in and load balancers poll it: a check whose cost grows with the data
    must not cost that on every request. Requests arriving while it runs wait for that run's result. A
    failed check is not kept: the next request runs it again.
    """
    last: tuple[float, ComponentHealth] | None = None
    one_at_a_time = asyncio.Lock()

    async def checked() -> ComponentHealth:
        nonlocal last
        async with one_at_a_time:
            now = clock()
            if last is None or now - last[0] >= seconds:
                last = (now, await check())
            return last[1]

    return checked


async def report(checks: list[HealthCheck]) -> tuple[bool, dict[str, dict[str, object]]]:
    parts: dict[str, dict[str, object]] = {}
    healthy = True
    for health_check in checks:
        try:
            result = await health_check.check()
        except Exception as exc:  # noqa: BLE001 - a failing check reports "down", it must not 500
            result = ComponentHealth("down", f"check failed: {exc!r}")
        parts[health_check.name] = {"status": result.status, "detail": result.detail,
                                    "required": health_check.required}
        if health_check.required and result.status == "down":
            healthy = False
    return healthy, parts


def handler(checks: list[HealthCheck]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def healthz(request: web.Request) -> web.Response:
        healthy, parts = await report(checks)
        body = {"status": "ok" if healthy else "down", "parts": parts}
        return web.json_response(body, status=200 if healthy else 503)

    return healthz
