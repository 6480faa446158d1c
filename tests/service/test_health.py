"""``/healthz`` and the start page."""

from __future__ import annotations

from contract.keys import HEALTH_CHECKS, STORE
from service.health import ComponentHealth, HealthCheck
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
