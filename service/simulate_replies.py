"""The second half of every simulator: watch a stand-in's record of sent messages and print new ones."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

Reply = dict[str, Any]


async def print_new_replies(fetch: Callable[[], Awaitable[list[Reply] | None]], already_sent: int, wait: float,
                            describe: Callable[[Reply], str]) -> None:
    """Poll ``fetch`` for up to ``wait`` seconds; each reply past ``already_sent`` is printed once."""
    deadline, shown = time.monotonic() + wait, already_sent
    while time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        replies = await fetch() or []
        for reply in replies[shown:]:
            print(describe(reply))
            deadline = min(deadline, time.monotonic() + 1.0)  # a little longer for follow-ups
        shown = max(shown, len(replies))
    if shown == already_sent:
        print(f"no reply within {wait:g} s (the conversation may be waiting for a counsellor)")
