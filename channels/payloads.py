"""Reading what a platform sends: bounded bodies, bounded JSON nesting, timestamps in range.

Every adapter reads platform payloads through here, so a hostile or broken sender meets one set of
limits and always gets a ``WebhookRejected`` with a short reason, never an exception from deep
inside a parser (``json`` recurses once per nesting level; ``datetime`` refuses far-off years).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web

from contract.channel import WebhookRejected

# No platform nests deeper than a handful of levels; the margin costs nothing.
MAX_JSON_DEPTH = 32
# 2100-01-01T00:00:00Z: later than any honest CreateTime/send_time, early enough for every datetime
# (10**12 seconds is past year 9999 and 2**63 overflows: both used to end in a 500).
MAX_UNIX_SECONDS = 4_102_444_800
_TIMESTAMP = re.compile(r"[0-9]{1,13}")
# A JSON string (escapes included, unterminated ones to the end: one linear pass) or a bracket;
# brackets inside strings are text, not nesting.
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
_NESTING = {"[": 1, "{": 1, "]": -1, "}": -1}


def load_json(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON whose arrays and objects nest at most ``max_depth`` deep, else 400."""
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise WebhookRejected(400, "malformed JSON") from None
    depth = 0
    for token in _STRING_OR_BRACKET.finditer(text):
        depth += _NESTING.get(token.group(), 0)
        if depth > max_depth:
            raise WebhookRejected(400, "JSON nested too deeply")
    try:
        return json.loads(text)
    except ValueError:  # malformed, or an integer past Python's digit limit
        raise WebhookRejected(400, "malformed JSON") from None


def load_json_object(raw: bytes | str, what: str = "push") -> dict[str, Any]:
    payload = load_json(raw)
    if not isinstance(payload, dict):
        raise WebhookRejected(400, f"{what} must be a JSON object")
    return payload


def timestamp_seconds(timestamp: str, *, milliseconds: bool = False) -> float:
    """A signed ``timestamp`` query value as unix seconds (Weibo sends milliseconds), else 403."""
    if not _TIMESTAMP.fullmatch(timestamp):
        raise WebhookRejected(403, "timestamp not a number")
    value = int(timestamp)
    return value / 1000 if milliseconds and len(timestamp) >= 12 else float(value)


async def read_body(request: web.Request, limit: int, timeout: float) -> bytes:
    """The whole body, refused when over ``limit`` bytes, empty, or trickling in slower than ``timeout``."""
    body = await receive_body(request, limit, timeout)
    if not body.strip():
        raise WebhookRejected(400, "empty body")
    return body


async def receive_body(request: web.Request, limit: int, timeout: float) -> bytes:
    """The whole body, refused when over ``limit`` bytes or trickling in slower than ``timeout``; kept by the
    request, so a second read (``read_body``'s) gets the same bytes without waiting."""
    if request.content_length is not None and request.content_length > limit:
        raise WebhookRejected(413, "body too large")
    try:
        async with asyncio.timeout(timeout):
            body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise WebhookRejected(413, "body too large") from None
    except TimeoutError:
        raise WebhookRejected(408, "body not received in time") from None
    if len(body) > limit:
        raise WebhookRejected(413, "body too large")
    return body
