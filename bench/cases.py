"""Cases on the embedded store: concurrent case opening (numbering) and stats over 30 days of work."""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import timedelta

from bench._stats import describe_ms
from contract.config import DEMO_CONFIG_PATH, load_settings
from contract.models import Conversation, new_id, utcnow
from handoff.cases import open_case
from handoff.stats import compute_stats
from store.client import open_store

CASES = 1000
DESKS = ("gd", "sz", "national")


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="youthdesk-bench-") as data_dir:
        await _run(data_dir)


async def _run(data_dir: str) -> None:
    settings = load_settings(DEMO_CONFIG_PATH, environ={})
    store = open_store("", "bench-cases", data_dir=data_dir)
    await store.ensure_indexes()
    latencies: list[float] = []

    async def open_one(n: int) -> str:
        conversation = Conversation(id=new_id("cv"), contact_id=f"ct{n}", platform=("wechat", "weibo")[n % 2],
                                    account="a", desk=DESKS[n % 3], risk_level=n % 4)
        await store.conversations.insert_one(conversation.to_doc())
        started = time.perf_counter()
        case = await open_case(store, settings, conversation)
        latencies.append(time.perf_counter() - started)
        # Queue and answer it, so the stats below have waiting and first-response times to compute.
        at = utcnow() - timedelta(hours=n % 500)
        await store.events.insert_many([
            {"_id": new_id("ev"), "type": "conversation.state_changed", "conversation_id": conversation.id,
             "data": {"to": to}, "at": at + timedelta(seconds=offset)}
            for to, offset in (("queued", 0), ("assigned", n % 300))])
        await store.messages.insert_one({"_id": new_id("m"), "conversation_id": conversation.id, "seq": 1,
                                         "sender": "counsellor", "private": False, "created_at": at + timedelta(
                                             seconds=n % 300 + 20)})
        return case.number

    started = time.perf_counter()
    numbers = await asyncio.gather(*(open_one(n) for n in range(CASES)))
    elapsed = time.perf_counter() - started
    assert len(set(numbers)) == CASES, "duplicate case numbers"
    print(f"open_case, {CASES} concurrent across {len(DESKS)} desks: {CASES / elapsed:.0f} cases/s; "
          f"{describe_ms(latencies)}; numbers unique")
    stats_times: list[float] = []
    for _ in range(5):
        started = time.perf_counter()
        await compute_stats(store, set(DESKS), utcnow() - timedelta(days=30))
        stats_times.append(time.perf_counter() - started)
    print(f"stats over {CASES} handed-off conversations (30 days): {describe_ms(stats_times)}")
    await store.close()
