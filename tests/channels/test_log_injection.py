"""Log injection: what a request brings is logged on one line, control characters escaped."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient

from channels.wechat import WeChatChannel
from contract.logs import escape_control, log_handler

FORGED = "2025-01-01 00:00:00 INFO youthdesk.handoff: counsellor admin exported all cases"


@pytest.fixture(params=[False, True], ids=["text", "json"])
def log_lines(request) -> Iterator[io.StringIO]:  # type: ignore[no-untyped-def]
    """What the service's own log handler (configure_logging) writes, for this test only."""
    stream = io.StringIO()
    handler = log_handler(stream, json_lines=request.param)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def readable(line: str) -> str:
    """A JSON line's values as text (json.dumps doubles each backslash), a text line as it is."""
    return " ".join(map(str, json.loads(line).values())) if line.startswith("{") else line


async def test_a_newline_in_the_path_cannot_forge_a_log_line(start_app, log_lines: io.StringIO) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = await start_app(channel_classes=[WeChatChannel])
    response = await client.post(f"/channels/wechat/x%0A{FORGED.replace(' ', '%20')}", data=b"<xml/>")
    assert response.status == 404  # unknown account: rejected, and the rejection is logged
    lines = log_lines.getvalue().splitlines()
    [rejected] = [readable(line) for line in lines if "rejected wechat webhook" in line]
    assert "/channels/wechat/x\\x0a2025-01-01" in rejected
    assert not any(line.startswith(FORGED[:19]) for line in lines)


def test_every_argument_and_extra_field_is_escaped(log_lines: io.StringIO) -> None:
    logging.getLogger("youthdesk.test").warning("got %s and %d", "a\r\nb\x1b[31m", 7, extra={"who": "x\u2028y"})
    [line] = log_lines.getvalue().splitlines()
    assert "got a\\x0d\\x0ab\\x1b[31m and 7" in readable(line) and "x\\u2028y" in readable(line)


def test_escaping_keeps_readable_text_and_cuts_long_values() -> None:
    assert escape_control("青少年 /channels/wechat/x") == "青少年 /channels/wechat/x"
    assert escape_control("a" * 5000, limit=10) == "a" * 10 + "…"
