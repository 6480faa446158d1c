"""Per queue change and per overflow tick, at 20, 200 and 1,000 queued at one desk (durable store).

A queue change: within a desk's spell (``handoff.place_notice_seconds``) it only notes the change; the
pass at the spell's end reads the desk's queue once and tells whoever's place changed — what every
change cost before (``place_notice_seconds = 0`` does that still, and is measured as the old figure).
The overflow tick: reads the conversations whose overflow is due (none, then one moved each round), against
the old tick, which read every waiting conversation at risk (a tenth of the queue here) and checked each.
Baseline in the same run: the same store's ``find_one`` by id. Documents read are counted at ``find``.
``BENCH_QUEUE_SIZES`` changes the queue lengths (comma-separated).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web

from bench._stats import describe_ms
from contract.config import DEMO_CONFIG_PATH, Settings, load_settings
from contract.keys import SETTINGS, STORE
from contract.models import Conversation, ConversationState, utcnow
from contract.people import Presence
from contract.queue import Handed, HandoffInfo
from handoff.place_notices import PlaceNotices
from handoff.users import create_user, set_presence
from handoff.web.keys import DEADLINES, ENGINE
from service.app import create_app
from store.client import Store
from store.overflow import OVERFLOW_FROM_LEVEL

SIZES = [int(n) for n in os.environ.get("BENCH_QUEUE_SIZES", "20,200,1000").split(",")]
ROUNDS = 30
DESK = "sz"


class CountedFinds:
    """Documents returned by ``find`` on the conversations collection (what a read costs to copy out)."""

    def __init__(self, store: Store) -> None:
        self.documents = 0
        collection = store.conversations
        find = collection.find

        def counted(*args: Any, **kwargs: Any) -> Any:
            cursor = find(*args, **kwargs)
            to_list = cursor.to_list

            async def listed(length: int | None = None) -> list[dict[str, Any]]:
                docs = await to_list(length)
                self.documents += len(docs)
                return docs

            cursor.to_list = listed
            return cursor

        collection.find = counted


def _settings(data_dir: str) -> Settings:
    settings = load_settings(DEMO_CONFIG_PATH, environ={})
    desks = [d.model_copy(update={"hours": "00:00-24:00", "assignment": "pull"}) for d in settings.desks]
    service = settings.service.model_copy(update={"env": "test", "data_dir": data_dir})
    return settings.model_copy(update={"desks": desks, "service": service})


def _queued(n: int, risk: int, window: timedelta) -> dict[str, Any]:
    """A youth waiting at the desk since n ms after a minute ago; those at risk with their window ahead."""
    since = utcnow() - timedelta(minutes=1) + timedelta(milliseconds=n)
    doc = Conversation(id=f"cv-bench-{n}", contact_id=f"ct-bench-{n}", platform="wechat", account="bench",
                       desk=DESK, state=ConversationState.QUEUED, risk_level=risk).to_doc()
    due = since + window if risk >= OVERFLOW_FROM_LEVEL else None
    doc["handoff"] = HandoffInfo(waiting_since=since, overflow_due_at=due).model_dump()
    return doc


async def _timed(action: Callable[[], Awaitable[Any]], counter: CountedFinds) -> tuple[list[float], float]:
    """Latencies of ``ROUNDS`` runs of ``action``, and the documents it read per run."""
    samples, before = [], counter.documents
    for _ in range(ROUNDS):
        started = time.perf_counter()
        await action()
        samples.append(time.perf_counter() - started)
    return samples, (counter.documents - before) / ROUNDS


async def _old_overflow_tick(app: web.Application) -> None:
    """The tick before: every waiting conversation at risk read and checked."""
    overflow = app[DEADLINES].overflow
    docs = await app[STORE].conversations.find({
        "state": ConversationState.QUEUED, "owner": None, "risk_level": {"$gte": OVERFLOW_FROM_LEVEL},
        "handoff.leave_message": {"$ne": True}}).to_list(None)
    able: dict[tuple[str, str | None], bool] = {}
    for doc in docs:
        await overflow.check(Handed.from_doc(doc), [], able)


async def _measure(app: web.Application, size: int) -> None:
    store = app[STORE]
    await store.conversations.delete_many({"_id": {"$regex": "^cv-bench-"}})
    window = timedelta(seconds=app[SETTINGS].desk(DESK).overflow.for_level(2))
    await store.conversations.insert_many([_queued(n, 2 if n % 10 == 0 else 0, window) for n in range(size)])
    counter = CountedFinds(store)
    context = app[ENGINE].assignment.context
    every_change = PlaceNotices(dataclasses.replace(context, settings=context.settings.model_copy(update={
        "handoff": context.settings.handoff.model_copy(update={"place_notice_seconds": 0})})))
    spelled = PlaceNotices(context)
    lookup = f"cv-bench-{size // 2}"

    baseline, _ = await _timed(lambda: store.conversations.find_one({"_id": lookup}), counter)
    old_change, old_docs = await _timed(lambda: every_change.queue_changed(DESK), counter)
    await spelled.queue_changed(DESK)  # the spell's first change, at once; those measured fall within it
    new_change, new_docs = await _timed(lambda: spelled.queue_changed(DESK), counter)
    await spelled.stop()

    async def one_due_then_tick() -> None:  # one conversation's window has ended: the tick moves it
        n = next(due)
        await store.conversations.update_one({"_id": f"cv-bench-{n}"}, {"$set": {
            "handoff.overflow_due_at": utcnow() - timedelta(seconds=1),
            "handoff.waiting_since": utcnow() - timedelta(hours=1)}})
        await app[DEADLINES].overflow.tick()

    due = iter(range(0, size, 10))
    rounds = min(ROUNDS, size // 10)
    old_tick, old_tick_docs = await _timed(lambda: _old_overflow_tick(app), counter)
    idle_tick, idle_tick_docs = await _timed(app[DEADLINES].overflow.tick, counter)
    new_tick, new_tick_docs = [], 0.0
    before = counter.documents
    for _ in range(rounds):
        started = time.perf_counter()
        await one_due_then_tick()
        new_tick.append(time.perf_counter() - started)
    new_tick_docs = (counter.documents - before) / rounds
    print(f"   {size:>5,} queued ({size // 10} at risk) · find_one by id (baseline): {describe_ms(baseline)}")
    print(f"         queue change, old (a pass each, {old_docs:,.0f} docs read): {describe_ms(old_change)}")
    print(f"         queue change within a spell ({new_docs:,.0f} docs read): {describe_ms(new_change)}")
    print(f"         overflow tick, old ({old_tick_docs:,.0f} docs read): {describe_ms(old_tick)}")
    print(f"         overflow tick, nothing due ({idle_tick_docs:,.0f} docs read): {describe_ms(idle_tick)}")
    print(f"         overflow tick moving one due ({new_tick_docs:,.1f} docs read, incl. the parent desk's "
          f"queue for its new place): {describe_ms(new_tick)}")


async def main() -> None:
    logging.getLogger("youthdesk").setLevel(logging.CRITICAL)  # "offered upwards" warnings, one per move
    print(f"   load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 shared cores)")
    with tempfile.TemporaryDirectory(prefix="youthdesk-bench-") as data_dir:
        app = create_app(_settings(data_dir), start_workers=False)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            store, settings = app[STORE], app[SETTINGS]
            for username, desk in (("bench-sz", DESK), ("bench-gd", settings.desk(DESK).parent)):
                user = await create_user(store, settings, username=username, password="bench-password",
                                         role="counsellor", desk=desk, skills=["psychological", "legal"], capacity=3)
                await set_presence(store, user.id, Presence.ONLINE)
            for size in SIZES:
                await _measure(app, size)
        finally:
            await runner.cleanup()
    print(f"   load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
