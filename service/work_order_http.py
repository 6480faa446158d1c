"""The work-order sender's HTTP transport (``handoff.work_orders.Transport``): the domain knows no HTTP."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from handoff.work_orders import OrderUnreachable, Transport


def session_transport(http: Callable[[], aiohttp.ClientSession]) -> Transport:
    """POST through the app's shared client session (a getter: it exists once the app has started)."""

    async def post(url: str, body: bytes, headers: dict[str, str], timeout_seconds: float) -> int:
        try:
            async with http().post(url, data=body, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=timeout_seconds)) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise OrderUnreachable(f"{url} unreachable: {exc.__class__.__name__}") from exc

    return post
