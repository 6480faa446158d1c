"""A public entry that cannot be flooded: new conversations are limited per address and per partner,
refusals are said to the youth (never silent), and every message carries the keyed source the
handoff engine groups a flood by."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from channels.widget import WidgetChannel
from channels.widget_limits import TOO_MANY_FOR_PARTNER, TOO_MANY_FROM_ADDRESS
from contract.config import Settings
from contract.keys import STORE
from tests.channels.test_widget import connect


@pytest.fixture
def settings(settings: Settings, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    service = settings.service.model_copy(update={"data_dir": str(tmp_path), "widget_new_conversations_per_ip": 3})
    return settings.model_copy(update={"service": service})


async def _send(ws, text: str, client_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The answer to one text frame: its ``ack`` or the ``error`` that refused it."""
    await ws.send_json({"type": "text", "text": text, "client_id": client_id})
    async with asyncio.timeout(3):
        while True:
            frame = json.loads((await ws.receive()).data)
            if frame["type"] in ("ack", "error"):
                return frame


async def test_new_anonymous_conversations_from_one_address_are_limited_and_told(
        start_app, settings: Settings) -> None:
    client: TestClient = await start_app(settings=settings, channel_classes=[WidgetChannel])
    answers = []
    sockets = []
    for n in range(5):  # five fresh anonymous browsers behind one address
        ws, _ = await connect(client)
        sockets.append(ws)
        answers.append(await _send(ws, "我不想活了", f"c{n}"))
    assert [a["type"] for a in answers] == ["ack", "ack", "ack", "error", "error"]
    assert answers[3]["reason"] == TOO_MANY_FROM_ADDRESS and not answers[3].get("fatal")
    # An open conversation is not a new one: the first youth can go on writing.
    assert (await _send(sockets[0], "还在吗", "c0-2"))["type"] == "ack"
    docs = await client.app[STORE].conversations.find({"platform": "widget"}).to_list(None)
    assert len(docs) == 3
    sources = {doc["tags"]["widget_source"] for doc in docs}
    assert len(sources) == 1 and "127.0.0.1" not in next(iter(sources))  # keyed, never the address
    assert {doc["tags"]["widget_anonymous"] for doc in docs} == {"1"}
    for ws in sockets:
        await ws.close()


async def test_new_conversations_per_partner_are_limited(start_app, settings: Settings) -> None:
    partners = [settings.partners[0].model_copy(update={"new_conversations_per_window": 2}), *settings.partners[1:]]
    service = settings.service.model_copy(update={"widget_new_conversations_per_ip": 100})
    client: TestClient = await start_app(settings=settings.model_copy(update={"partners": partners,
                                                                              "service": service}),
                                         channel_classes=[WidgetChannel])
    answers = []
    for n in range(3):
        ws, _ = await connect(client)
        answers.append(await _send(ws, "你好", f"p{n}"))
        await ws.close()
    assert [a["type"] for a in answers] == ["ack", "ack", "error"]
    assert answers[2]["reason"] == TOO_MANY_FOR_PARTNER
