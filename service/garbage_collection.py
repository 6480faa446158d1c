"""Full passes of the garbage collector that walk only what is new, not every open socket again and again.

CPython 3.11 runs a full pass of its cyclic collector whenever the objects that survived the young
passes have grown by a quarter since the last full one, and a full pass walks every tracked object.
An open widget socket holds about a hundred (aiohttp's request, protocol, parser, reader and writer,
the session, its bus subscription and forwarding task): with 10,000 sockets open a full pass held
the event loop 0.5 to 1.2 s on a loaded 2-core machine, and while sockets joined one came every ten
seconds or so (README, "Widget sockets").

Right after a full pass everything still tracked is alive, so that is when it is frozen
(``gc.freeze``): later passes walk only what was created since. A frozen object that reference
counting frees goes as usual; one that becomes cyclic garbage after being frozen (a closed socket
leaves about forty) waits for the compaction, a full pass over everything every ``COMPACT_SECONDS``.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

COMPACT_SECONDS = 600.0


def _freeze_after_full_pass(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()


def compact() -> None:
    """Reclaim the cyclic garbage among frozen objects: one full pass over everything (frozen again after)."""
    gc.unfreeze()
    gc.collect()


async def _compact_periodically() -> None:
    while True:
        await asyncio.sleep(COMPACT_SECONDS)
        compact()


async def collector_ctx(app: web.Application) -> AsyncIterator[None]:
    if _freeze_after_full_pass not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full_pass)
    compaction = asyncio.create_task(_compact_periodically(), name="gc-compaction")
    yield
    compaction.cancel()
    await asyncio.gather(compaction, return_exceptions=True)
    if _freeze_after_full_pass in gc.callbacks:
        gc.callbacks.remove(_freeze_after_full_pass)
    gc.unfreeze()  # collectable again: a test process starts and stops many apps
