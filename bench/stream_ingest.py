"""Stream ingest on the embedded store holding 100,000 messages: messages/s on one core and per-message latency.

``BENCH_STORE_PRELOAD`` changes the 100,000 (the store is filled before the clock starts). Then the event
loop's CPU for a youth's first message (contact and conversation opened) next to the same youths' second
(the baseline): what a burst of new youths costs the webhooks.
"""

from __future__ import annotations

import asyncio
import tempfile
import time

from bench._stats import describe_ms
from bench.store_inserts import PRELOAD, preload
from contract.channel import InboundMessage
from contract.config import DEMO_CONFIG_PATH, load_settings
from contract.crypto import DataProtector
from contract.models import MessageType
from gateway.bus import EventBus
from gateway.stream import ConversationStream
from store.client import open_store

YOUTHS = 200
MESSAGES_PER_YOUTH = 25


NEW_YOUTHS = 1000


async def _first_and_second(stream: ConversationStream) -> None:
    """CPU of the loop's thread inside ``ingest`` (routing runs between the calls, not in them)."""
    cpu = {}
    for nth in (1, 2):
        spent = 0.0
        for n in range(NEW_YOUTHS):
            message = InboundMessage(platform="wechat", account="wxdemo0000000001", external_user_id=f"new-{n}",
                                     channel_message_id=f"new-{n}-{nth}", type=MessageType.TEXT, text="在吗")
            started = time.thread_time()
            await stream.ingest(message)
            spent += time.thread_time() - started
        cpu[nth] = spent / NEW_YOUTHS * 1000
    print(f"   a youth's first message: {cpu[1]:.2f} ms of CPU; their second (baseline): {cpu[2]:.2f} ms "
          f"= {cpu[1] / cpu[2]:.2f}× ({NEW_YOUTHS:,} youths, one at a time)")


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="youthdesk-bench-") as data_dir:
        await _run(data_dir)


async def _run(data_dir: str) -> None:
    settings = load_settings(DEMO_CONFIG_PATH, environ={})
    store = open_store("", "bench", data_dir=data_dir)
    await store.ensure_indexes()
    await preload(store, PRELOAD)
    stream = ConversationStream(store=store, bus=EventBus(), protector=DataProtector(settings.service.data_key),
                                settings=settings)
    latencies: list[float] = []

    async def youth(n: int) -> None:
        for i in range(MESSAGES_PER_YOUTH):
            message = InboundMessage(platform="wechat", account="wxdemo0000000001", external_user_id=f"o-{n}",
                                     channel_message_id=f"{n}-{i}", type=MessageType.TEXT, text="我最近压力很大")
            started = time.perf_counter()
            await stream.ingest(message)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(youth(n) for n in range(YOUTHS)))
    elapsed = time.perf_counter() - started
    total = YOUTHS * MESSAGES_PER_YOUTH
    print(f"   ingest: {total} messages from {YOUTHS} concurrent youths in {elapsed:.2f} s "
          f"= {total / elapsed:,.0f} messages/s (one core, embedded store holding {PRELOAD:,} messages, "
          "routing included)")
    print(f"   ingest latency: {describe_ms(latencies)}")

    await _first_and_second(stream)

    duplicates = [InboundMessage(platform="wechat", account="wxdemo0000000001", external_user_id="o-1",
                                 channel_message_id="1-1", type=MessageType.TEXT, text="重试")] * 1000
    started = time.perf_counter()
    for message in duplicates:
        await stream.ingest(message)
    print(f"   duplicate (platform retry) check: {(time.perf_counter() - started) / 1000 * 1e6:.0f} µs each")
    await stream.drain(30)
    await store.close()
