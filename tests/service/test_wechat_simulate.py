"""``youthdesk simulate wechat|miniprogram|wecom-kf`` against a real gateway with its built-in stand-ins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from channels.wechat import MiniProgramChannel, WeChatChannel
from channels.wecom_kf import WeComKfChannel
from contract.config import Settings
from contract.keys import STREAM
from contract.models import Conversation, Message, MessageType, SenderKind
from tests.fakes import loopback_socket


class EchoRouter:
    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def route(self, conversation: Conversation, message: Message) -> None:
        reply = f"欢迎（{message.event}）" if message.type == MessageType.EVENT else f"收到：{message.text}"
        await self.app[STREAM].send(conversation.id, reply, sender=SenderKind.BOT)


@pytest.fixture
async def gateway_url(settings: Settings, embedded_client) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    from service.app import create_app

    sock = loopback_socket()
    port = sock.getsockname()[1]
    accounts = [a.model_copy(update={"api_base": f"http://127.0.0.1:{port}/standin/{a.platform}"})
                if a.platform in ("wechat", "miniprogram", "wecom-kf") else a for a in settings.accounts]
    app = create_app(settings.model_copy(update={"accounts": accounts}),
                     channel_classes=[WeChatChannel, MiniProgramChannel, WeComKfChannel],
                     embedded_client=embedded_client)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    app[STREAM].router = EchoRouter(app)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def simulate(capsys, *argv: str) -> str:  # type: ignore[no-untyped-def]
    from service.cli import main

    await asyncio.to_thread(main, ["simulate", *argv])
    return capsys.readouterr().out


async def test_official_account_safe_mode_text(gateway_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    out = await simulate(capsys, "--url", gateway_url, "wechat", "--account", "wxdemo0000000001", "--wait", "5",
                         "我想找人聊聊")
    assert "gateway answered HTTP 200 'success'" in out
    assert "reply to oSimulatedYouth0000000000001 (custom): 收到：我想找人聊聊" in out


async def test_official_account_subscribe_and_a_wrong_mode(gateway_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    out = await simulate(capsys, "--url", gateway_url, "wechat", "--account", "wxdemo0000000001", "--event",
                         "subscribe", "--key", "qrscene_poster", "--user", "oAnotherYouth00000000000002")
    assert "reply to oAnotherYouth00000000000002 (custom): 欢迎（subscribe）" in out
    out = await simulate(capsys, "--url", gateway_url, "wechat", "--account", "wxdemo0000000001", "--mode", "plain",
                         "明文")
    assert "gateway answered HTTP 400" in out and "safe mode: Encrypt required" in out


async def test_miniprogram_json_safe_mode(gateway_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    out = await simulate(capsys, "--url", gateway_url, "miniprogram", "--account", "wxdemominiprog01",
                         "小程序里问一下")
    assert "gateway answered HTTP 200 'success'" in out
    assert "(custom): 收到：小程序里问一下" in out


async def test_wecom_kf_enter_then_text(gateway_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    out = await simulate(capsys, "--url", gateway_url, "wecom-kf", "--account", "wwdemocorp000001", "--enter",
                         "--scene-param", "school%3D3")
    assert "gateway answered HTTP 200 'success'" in out
    assert "(kf_event): 欢迎（enter_session）" in out
    out = await simulate(capsys, "--url", gateway_url, "wecom-kf", "--account", "wwdemocorp000001", "被欺负了怎么办")
    assert "(kf): 收到：被欺负了怎么办" in out
