"""The pager's HTTP transport (``handoff.pager.Transport``): the handoff domain itself knows no HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp
from yarl import URL

from handoff.pager import PageFailed


async def http_transport(method: str, url: str, body: dict[str, Any] | None,
                         timeout_seconds: float) -> tuple[int, dict[str, Any]]:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_seconds)) as http:
            async with http.request(method, URL(url, encoded=True), json=body) as response:
                return response.status, await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise PageFailed(f"{url.split('?')[0]} unreachable: {exc}") from exc
