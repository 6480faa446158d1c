"""The anonymous widget sockets of ``bench/widget_sockets.py``, opened and held by a process of their own.

Opening a socket costs the client about as much CPU as it costs a bare relay: with the measuring
youths in the same process and event loop, 100 handshakes at a time delayed the measuring client's
own reads, and the round trip it reported included that wait, for the gateway and the bare relay
alike. Here the joining client runs in its own process (as the youths opening sockets are other
machines in production); the measuring process tells it how many sockets to open and waits.

Commands over a pipe: ``("join", count)`` → ``(open, failed)`` once the step's handshakes are done;
``("close", 0)`` → ``(still open, failed)``, then the sockets are closed and the process ends.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
from multiprocessing.connection import Connection

import aiohttp

JOIN_CONCURRENCY = 100
HANDSHAKE_TIMEOUT = 60.0


class Joiner:
    """The measuring side's handle on the joining process."""

    def __init__(self, url: str) -> None:
        self._pipe, child = multiprocessing.get_context("spawn").Pipe()
        self.process = multiprocessing.get_context("spawn").Process(target=_run, args=(url, child), daemon=True)
        self.process.start()
        child.close()

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    async def join(self, count: int) -> tuple[int, int]:
        """Open ``count`` more sockets; (open now, failed so far)."""
        return await self._ask("join", count)

    async def close(self) -> tuple[int, int]:
        """(still open, failed so far); the process then closes its sockets and ends."""
        answer = await self._ask("close", 0)
        await asyncio.to_thread(self.process.join, 30)
        return answer

    async def _ask(self, command: str, count: int) -> tuple[int, int]:
        self._pipe.send((command, count))
        return await asyncio.to_thread(self._pipe.recv)


def _run(url: str, pipe: Connection) -> None:
    asyncio.run(_serve_commands(url, pipe))
    os._exit(0)  # the parent is waiting; skip tearing down 10,000 closed sockets' objects


async def _serve_commands(url: str, pipe: Connection) -> None:
    idle: list[aiohttp.ClientWebSocketResponse] = []
    readers: list[asyncio.Task[None]] = []
    failed = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def one(gate: asyncio.Semaphore) -> None:
            nonlocal failed
            async with gate:
                try:
                    ws = await asyncio.wait_for(_hello(http, url), HANDSHAKE_TIMEOUT)
                except (aiohttp.ClientError, ConnectionError, TimeoutError, OSError):
                    failed += 1
                    return
            idle.append(ws)
            readers.append(asyncio.create_task(drain(ws)))

        while True:
            command, count = await asyncio.to_thread(pipe.recv)
            if command == "close":
                pipe.send((sum(1 for ws in idle if not ws.closed), failed))
                break
            gate = asyncio.Semaphore(JOIN_CONCURRENCY)
            await asyncio.gather(*(one(gate) for _ in range(count)))
            pipe.send((len(idle), failed))
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await asyncio.gather(*(ws.close() for ws in idle), return_exceptions=True)


async def _hello(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    """An anonymous youth's page: hello, then read until the server says the history is synced."""
    ws = await http.ws_connect(url, max_msg_size=0, autoping=True)
    await ws.send_json({"type": "hello"})
    while True:
        message = await ws.receive()
        if message.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"socket closed ({ws.close_code})")
        if json.loads(message.data)["type"] == "synced":
            return ws


async def drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    """An idle youth's page: reads what it is sent (and answers the server's heartbeat)."""
    async for _ in ws:
        pass
