"""What the stories share: a gateway with triage on, the WeChat account talking to a local stand-in,
a youth who writes through the signed webhook, and a scripted stand-in for Rasa."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from channels.wechat import WeChatChannel
from channels.wechat_protocol import signed_push
from contract.config import Settings
from contract.keys import SETTINGS, STREAM
from service.wechat_standin import WeChatStandIn, create_standin_app
from tests.fakes import FakeRasa

APPID = "wxdemo0000000001"
OPENID = "oYouthFlow000000000000000001"


@dataclass
class Youth:
    """A young person on the demo WeChat official account."""

    gateway: TestClient
    openid: str = OPENID
    _msg_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(24404512345670001))

    async def writes(self, text: str) -> None:
        account = next(a for a in self.gateway.app[SETTINGS].accounts if a.id == APPID)
        fields: dict[str, Any] = {"ToUserName": "gh_demo12355", "FromUserName": self.openid,
                                  "CreateTime": int(time.time()), "MsgType": "text", "Content": text,
                                  "MsgId": next(self._msg_ids)}
        params, body = signed_push(token=account.token, encoding_aes_key=account.encoding_aes_key,
                                   receive_id=account.id, mode=account.mode, fields=fields,
                                   push_format=account.push_format)
        response = await self.gateway.post(f"/channels/wechat/{APPID}", params=params, data=body)
        assert (response.status, await response.text()) == (200, "success")  # WeChat is told at once


@pytest.fixture
async def wechat() -> AsyncIterator[WeChatStandIn]:
    """WeChat's customer-service API, played locally: it records every reply it is asked to send."""
    app, recorder = create_standin_app({APPID: "demo-only-wechat-secret"})
    server = TestServer(app)
    await server.start_server()
    recorder.base_url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    yield recorder
    await server.close()


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
async def gateway(start_app, settings: Settings, wechat: WeChatStandIn, rasa: FakeRasa) -> TestClient:  # type: ignore[no-untyped-def]
    accounts = [a.model_copy(update={"api_base": wechat.base_url}) if a.id == APPID else a  # type: ignore[attr-defined]
                for a in settings.accounts]
    service = settings.service.model_copy(update={"triage_enabled": True})
    client = await start_app(settings=settings.model_copy(update={"accounts": accounts, "service": service}),
                             channel_classes=[WeChatChannel])
    client.app[STREAM].router.rasa = rasa
    return client


@pytest.fixture
def youth(gateway: TestClient) -> Youth:
    return Youth(gateway)
