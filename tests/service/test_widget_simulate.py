"""``youthdesk simulate widget``: the socket protocol end to end against a running gateway."""

from __future__ import annotations

import asyncio

from aiohttp import web

from channels.widget import WidgetChannel
from contract.config import Settings
from contract.keys import STREAM
from service.app import create_app
from service.cli import main
from tests.fakes import EchoRouter, loopback_socket


async def _simulate(settings: Settings, embedded_client, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
    sock = loopback_socket()
    port = sock.getsockname()[1]
    app = create_app(settings, channel_classes=[WidgetChannel], embedded_client=embedded_client)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        app[STREAM].router = EchoRouter(app)
        await asyncio.to_thread(main, ["simulate", "--url", f"http://127.0.0.1:{port}", "widget", *argv])
    finally:
        await runner.cleanup()


async def test_anonymous_chat_prints_the_ack_and_the_reply(settings: Settings, embedded_client, capsys) -> None:  # type: ignore[no-untyped-def]
    await _simulate(settings, embedded_client, ["--partner", "demo-video", "--wait", "5", "我想找人聊聊"])
    out = capsys.readouterr().out
    assert "gateway welcomed the youth (anonymous)" in out
    assert "gateway stored the message" in out
    assert "reply from bot: 收到：我想找人聊聊" in out


async def test_partner_token_signs_the_youth_in(settings: Settings, embedded_client, capsys) -> None:  # type: ignore[no-untyped-def]
    await _simulate(settings, embedded_client, ["--partner", "demo-video", "--user", "u-42", "--wait", "5", "在吗"])
    out = capsys.readouterr().out
    assert "gateway welcomed the youth (signed in)" in out
    assert "reply from bot: 收到：在吗" in out


async def test_refused_hello_is_reported(settings: Settings, embedded_client, capsys) -> None:  # type: ignore[no-untyped-def]
    partners = [p.model_copy(update={"anonymous_allowed": False}) for p in settings.partners]
    closed = settings.model_copy(update={"partners": partners})
    await _simulate(closed, embedded_client, ["--partner", "demo-video", "--wait", "1", "你好"])
    assert "gateway refused: anonymous chat is not allowed by this partner" in capsys.readouterr().out


def test_unknown_partner_is_refused_before_connecting(capsys) -> None:  # type: ignore[no-untyped-def]
    try:
        main(["simulate", "--url", "http://127.0.0.1:9", "widget", "--partner", "nobody", "你好"])
    except SystemExit as exc:
        assert "no widget partner 'nobody'" in str(exc)
    else:
        raise AssertionError("expected SystemExit")
