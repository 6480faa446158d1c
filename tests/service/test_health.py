"""``/healthz`` and the start page."""

from __future__ import annotations

import asyncio

import pytest

from contract.keys import HEALTH_CHECKS, STORE
from service.health import ComponentHealth, HealthCheck, at_most_every
from tests.fakes import RecordingChannel


async def test_healthz_reports_parts(start_app):
    client = await start_app(channel_classes=[RecordingChannel])
    response = await client.get("/healthz")
    assert response.status == 200
    body = await response.json()
    assert body["parts"]["store"]["status"] == "ok"
    assert body["parts"]["delivery"]["status"] == "ok"


async def test_healthz_is_503_when_store_is_down(start_app, monkeypatch):
    client = await start_app(channel_classes=[RecordingChannel])

    async def down() -> bool:
        return False

    monkeypatch.setattr(type(client.app[STORE]), "ping", lambda self: down())
    response = await client.get("/healthz")
    assert response.status == 503
    assert (await response.json())["parts"]["store"]["status"] == "down"


async def test_optional_part_down_is_degraded_not_503(start_app):
    client = await start_app(channel_classes=[RecordingChannel])

    async def bot() -> ComponentHealth:
        return ComponentHealth("down", "rasa unreachable")

    client.app[HEALTH_CHECKS].append(HealthCheck("bot", False, bot))
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["parts"]["bot"]["status"] == "down"


async def test_start_page_is_chinese_and_lists_simulators(start_app):
    client = await start_app(channel_classes=[RecordingChannel])
    html = await (await client.get("/")).text()
    assert "青少年服务台" in html and "youthdesk simulate wechat" in html


async def test_a_costly_check_runs_at_most_once_a_second_however_often_healthz_is_asked() -> None:
    now = [100.0]
    runs: list[float] = []

    async def backlog() -> ComponentHealth:
        runs.append(now[0])
        if len(runs) == 3:
            raise ConnectionError("store unreachable")
        return ComponentHealth("ok", f"reading {len(runs)}")

    check = at_most_every(1.0, backlog, clock=lambda: now[0])
    answers = [await check() for _ in range(100)]
    assert runs == [100.0] and {answer.detail for answer in answers} == {"reading 1"}
    now[0] += 0.99
    assert (await check()).detail == "reading 1" and len(runs) == 1
    now[0] += 0.01
    assert (await check()).detail == "reading 2" and len(runs) == 2
    # A check that failed is not kept: /healthz reports it down, and the next request asks again.
    now[0] += 1.0
    with pytest.raises(ConnectionError):
        await check()
    assert (await check()).detail == "reading 4" and len(runs) == 4


async def test_requests_during_a_slow_check_share_its_one_run() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    runs = 0

    async def slow_backlog() -> ComponentHealth:
        nonlocal runs
        runs += 1
        started.set()
        await release.wait()
        return ComponentHealth("ok", "read once")

    check = at_most_every(1.0, slow_backlog)
    waiting = [asyncio.create_task(check()) for _ in range(50)]
    await started.wait()
    release.set()
    assert {answer.detail for answer in await asyncio.gather(*waiting)} == {"read once"} and runs == 1
