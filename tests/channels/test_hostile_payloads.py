"""Signed but hostile payloads: deep nesting, far-off times, oversized widget hellos → a 4xx reason, no traceback."""

from __future__ import annotations

import json
import logging
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from channels.payloads import load_json
from channels.wechat import MiniProgramChannel, WeChatChannel
from channels.wechat_protocol import Envelope, SignedQuery, encrypted_json, signed_push, to_xml, wechat_signature
from channels.weibo import WeiboChannel, weibo_signature
from channels.widget import WidgetChannel
from contract.channel import WebhookRejected
from contract.config import Settings
from contract.keys import STORE
from service.weibo_simulate import signed_query

DEEP = b"[" * 50_000
DEEP_XML = b"<xml><ToUserName>gh</ToUserName><Deep>" + b"<b>" * 7000 + b"</b>" * 7000 + b"</Deep></xml>"


@pytest.fixture
def settings(settings: Settings, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    service = settings.service.model_copy(update={"data_dir": str(tmp_path)})
    accounts = [a.model_copy(update={"mode": "plain"}) if a.platform == "wechat" else a for a in settings.accounts]
    return settings.model_copy(update={"service": service, "accounts": accounts})


@pytest.fixture
async def client(start_app, caplog) -> TestClient:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING)
    return await start_app(channel_classes=[WeChatChannel, MiniProgramChannel, WeiboChannel, WidgetChannel])


def account(settings: Settings, platform: str):  # type: ignore[no-untyped-def]
    return next(a for a in settings.accounts if a.platform == platform)


def wechat_query(token: str) -> dict[str, str]:
    params, _ = signed_push(token=token, encoding_aes_key="", receive_id="", mode="plain", fields={})
    return params


def assert_no_traceback(caplog) -> None:  # type: ignore[no-untyped-def]
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


async def refused(response: aiohttp.ClientResponse) -> tuple[int, str]:
    return response.status, (await response.json())["error"]


async def test_deep_nesting_is_refused_wherever_a_push_is_read(client: TestClient, settings: Settings,
                                                              caplog) -> None:  # type: ignore[no-untyped-def]
    wechat, mini, weibo = (account(settings, p) for p in ("wechat", "miniprogram", "weibo"))
    response = await client.post(f"/channels/wechat/{wechat.id}", params=wechat_query(wechat.token), data=DEEP)
    assert await refused(response) == (400, "JSON nested too deeply")
    response = await client.post(f"/channels/wechat/{wechat.id}", params=wechat_query(wechat.token), data=DEEP_XML)
    assert await refused(response) == (400, "XML nested too deeply")
    # Inside the mini-program's encrypted JSON envelope (shorter: base64 must fit the 64 KiB body limit).
    query = SignedQuery.now()
    body, msg_signature = encrypted_json(Envelope(mini.encoding_aes_key, mini.id), mini.token, DEEP[:40_000].decode(),
                                         query, "gh")
    params = {"signature": wechat_signature(mini.token, query.timestamp, query.nonce), "timestamp": query.timestamp,
              "nonce": query.nonce, "encrypt_type": "aes", "msg_signature": msg_signature}
    response = await client.post(f"/channels/miniprogram/{mini.id}", params=params, data=body)
    assert await refused(response) == (400, "JSON nested too deeply")
    response = await client.post(f"/channels/weibo/{weibo.id}", params=signed_query(weibo), data=DEEP)
    assert await refused(response) == (400, "JSON nested too deeply")
    assert await client.app[STORE].messages.count_documents({}) == 0
    assert_no_traceback(caplog)


@pytest.mark.parametrize("create_time", [10**12, 2**63, -1])
async def test_create_time_out_of_range_is_a_400(client: TestClient, settings: Settings, caplog,  # type: ignore[no-untyped-def]
                                                 create_time: int) -> None:
    wechat = account(settings, "wechat")
    fields = {"ToUserName": "gh", "FromUserName": "oYouth", "CreateTime": create_time, "MsgType": "text",
              "Content": "你好", "MsgId": 1}
    response = await client.post(f"/channels/wechat/{wechat.id}", params=wechat_query(wechat.token),
                                 data=to_xml(fields).encode())
    status, reason = await refused(response)
    assert status == 400 and reason.startswith("field CreateTime")
    assert_no_traceback(caplog)


@pytest.mark.parametrize("timestamp", ["9" * 400, "1e9", "-5", "١٧١٤٠٣٦٥٠٤"])
async def test_odd_signed_timestamps_are_a_403(client: TestClient, settings: Settings, caplog,  # type: ignore[no-untyped-def]
                                               timestamp: str) -> None:
    weibo = account(settings, "weibo")
    query = {"timestamp": timestamp, "nonce": "1", "signature": weibo_signature(weibo.secret, timestamp, "1")}
    response = await client.post(f"/channels/weibo/{weibo.id}", params=query, data=b"{}")
    assert await refused(response) == (403, "timestamp not a number")
    assert_no_traceback(caplog)


async def test_oversized_widget_hellos_are_refused_before_parsing(client: TestClient, caplog) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):  # every attempt, not just the first
        ws = await client.ws_connect("/channels/widget/ws?partner=demo-video")
        await ws.send_str('{"type":"hello","token":"' + "A" * (3 * 1024 * 1024) + '"}')
        assert (await ws.receive()).type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1009
        await ws.close()
    ws = await client.ws_connect("/channels/widget/ws?partner=demo-video")
    await ws.send_str(json.dumps({"type": "hello", "token": "A" * 20_000}))
    assert await ws.receive_json() == {"type": "error", "reason": "hello too large", "fatal": True}
    await ws.close()
    ws = await client.ws_connect("/channels/widget/ws?partner=demo-video")
    await ws.send_str("[" * 10_000)
    assert (await ws.receive_json())["reason"] == "JSON nested too deeply"
    await ws.close()
    assert_no_traceback(caplog)


def test_the_loader_counts_only_real_nesting() -> None:
    assert load_json('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"["}') == {"a": "[" * 41 + '"['}
    assert load_json("[" * 32 + "]" * 32) is not None
    with pytest.raises(WebhookRejected, match="nested too deeply"):
        load_json("[" * 33 + "]" * 33)
    with pytest.raises(WebhookRejected, match="malformed JSON"):
        load_json("1" * 5000)  # past Python's integer digit limit: a ValueError, not a JSONDecodeError
    started = time.perf_counter()
    with pytest.raises(WebhookRejected):
        load_json('"\\"' * 40_000)  # unterminated strings are scanned once, not once per quote
    assert time.perf_counter() - started < 5.0  # a rescan per quote is quadratic: tens of seconds at this size

