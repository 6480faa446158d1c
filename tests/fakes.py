"""Test doubles: a channel that records what it was asked to send and can be told to fail."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import ClassVar

from aiohttp import web

from contract.channel import (
    Channel,
    DeliveryError,
    DeliveryReceipt,
    InboundMessage,
    OutboundMessage,
)
from contract.models import MessageType


class RecordingChannel(Channel):
    """Stands in for a platform adapter. Uses the demo "wechat" accounts."""

    platform: ClassVar[str] = "wechat"
    instances: ClassVar[list[RecordingChannel]] = []

    def __init__(self, context) -> None:  # type: ignore[no-untyped-def]
        super().__init__(context)
        self.sent: list[OutboundMessage] = []
        self.failures: deque[DeliveryError] = deque()
        self.always_fail: DeliveryError | None = None
        self.delivered = asyncio.Event()
        RecordingChannel.instances.append(self)

    def routes(self) -> list[web.AbstractRouteDef]:
        return []

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        if self.always_fail is not None:
            raise self.always_fail
        if self.failures:
            raise self.failures.popleft()
        self.sent.append(message)
        self.delivered.set()
        return DeliveryReceipt(channel_message_id=f"chan-{len(self.sent)}")


def inbound(text: str = "你好", *, user: str = "openid-youth-1", msg_id: str = "1001",
            account: str = "wxdemo0000000001", **kwargs) -> InboundMessage:  # type: ignore[no-untyped-def]
    return InboundMessage(platform="wechat", account=account, external_user_id=user,
                          channel_message_id=msg_id, type=MessageType.TEXT, text=text, **kwargs)


async def wait_for(predicate, timeout: float = 5.0, interval: float = 0.01) -> None:  # type: ignore[no-untyped-def]
    """Poll until ``predicate()`` (sync or async) is true; fail the test on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
