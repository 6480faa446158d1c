"""Demo stand-ins: their record of youths and replies needs the stand-in token; their address is this server's."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from contract.config import DEMO_CONFIG_PATH, Settings, load_settings
from service.pager_standin import with_own_pager
from service.standins import inspection_headers, standin_token, with_own_standins

INSPECTION = [("GET", "/standin/wechat/sent"), ("GET", "/standin/miniprogram/sent"), ("GET", "/standin/weibo/sent"),
              ("POST", "/standin/wechat/fail"), ("POST", "/standin/weibo/fail"), ("POST", "/standin/wecom-kf/kf/inbox")]


@pytest.fixture
async def client(start_app) -> TestClient:  # type: ignore[no-untyped-def]
    return await start_app(channel_classes=[])


@pytest.mark.parametrize("method, path", INSPECTION)
async def test_inspection_routes_need_the_standin_token(client: TestClient, settings: Settings, method: str,
                                                        path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": standin_token(settings)}):
        response = await client.request(method, path, headers=headers)
        assert response.status == 401, headers
    response = await client.request(method, path, headers=inspection_headers(settings), json={})
    assert response.status in (200, 400)  # past the guard: an empty spec is the stand-in's own 400


def test_no_data_key_no_token() -> None:
    keyless = load_settings(DEMO_CONFIG_PATH, environ={}).model_copy(deep=True)
    keyless = keyless.model_copy(update={"service": keyless.service.model_copy(update={"data_key": ""})})
    assert standin_token(keyless) == ""  # and an empty token opens nothing (the guard refuses it)


async def test_the_platform_api_routes_keep_their_own_credentials(client: TestClient) -> None:
    response = await client.post("/standin/wechat/cgi-bin/stable_token",
                                 json={"grant_type": "client_credential", "appid": "wxdemo0000000001",
                                       "secret": "demo-only-wechat-secret"})
    assert response.status == 200 and (await response.json())["access_token"]


def test_demo_stand_ins_follow_the_serving_address() -> None:
    demo = load_settings(DEMO_CONFIG_PATH, environ={})
    # Every account that calls a platform API calls the stand-in; the hotline only receives events.
    assert {a.api_base for a in demo.accounts if a.platform != "hotline"} == {"standin"}
    second = with_own_standins(demo, "127.0.0.1", 8181)
    assert {a.platform: a.api_base for a in second.accounts if a.platform != "hotline"} == {
        a.platform: f"http://127.0.0.1:8181/standin/{a.platform}" for a in demo.accounts if a.platform != "hotline"}
    assert {"wechat", "miniprogram", "wecom-kf", "weibo", "qq"} <= {a.platform for a in second.accounts}
    assert with_own_standins(demo, "0.0.0.0", 9000).accounts[0].api_base == "http://127.0.0.1:9000/standin/wechat"
    assert with_own_standins(demo, "::", 9000).accounts[0].api_base == "http://[::1]:9000/standin/wechat"
    assert with_own_standins(demo, "::1", 9000).accounts[0].api_base == "http://[::1]:9000/standin/wechat"


def test_the_demo_pager_follows_the_serving_address_not_the_configured_port() -> None:
    demo = load_settings(DEMO_CONFIG_PATH, environ={})
    assert demo.handoff.pager.endpoint == "standin" and demo.service.port != 8181
    served = with_own_standins(demo, "0.0.0.0", 8181)  # youthdesk serve --host 0.0.0.0 --port 8181
    assert served.handoff.pager.endpoint == "http://127.0.0.1:8181/standin/pager"
    aliyun = demo.model_copy(update={"handoff": demo.handoff.model_copy(update={
        "pager": demo.handoff.pager.model_copy(update={"provider": "aliyun"})})})
    assert with_own_standins(aliyun, "::1", 9000).handoff.pager.endpoint == "http://[::1]:9000/standin/pager/aliyun/"
    # Not served by youthdesk serve (a test or bench on a free port): no address to guess, no pager.
    assert with_own_pager(demo).handoff.pager.provider == "none"
    assert with_own_pager(served).handoff.pager == served.handoff.pager
