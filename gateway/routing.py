"""The routing backlog: conversations with stored, unrouted messages, and the workers that route them.

A webhook only stores a message and answers; routing (triage, handoff) happens here, later. The
store stays the truth: a message is unrouted until it is marked processed, and after a crash
``ConversationStream.resume`` fills this backlog again from the store. What the backlog adds is
who gets the event loop when:

- every new message's text is screened first (``screen``, a quick risk level of its start: about
  a millisecond, where routing it costs tens), off the request path, a 2 ms slice at a time;
- urgent conversations (``URGENT`` or more: the conversation's known risk level, or what the
  screen found) are routed at once by workers of their own, and no ordinary conversation starts
  routing while a message waits for the screen or an urgent conversation waits or is routed:
  a level-3 alert goes out before anything else;
- ordinary conversations are routed in the loop's spare time (``LoopPace``), and when there is
  none, within a quarter of the loop's time. Routing a new conversation costs more CPU than
  answering its webhook, and it runs on the same loop: routed as fast as it comes, a burst of
  ordinary messages would keep the webhooks waiting (p99 over a second at 200 messages/s). Paced,
  they wait in the stored backlog instead, which ``/healthz`` reports: the back-pressure falls on
  routing, not on the platforms;
- otherwise first come, first served (the moment the conversation started waiting), one worker
  per conversation at a time, so its messages are routed in stored order; messages that arrive
  while it is being routed bring it back into the backlog afterwards.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger("youthdesk.routing")

URGENT = 2  # from this urgency on, a conversation is routed at once, ahead of everything else
SCREEN_SLICE_SECONDS = 0.002  # screening a burst holds the loop this long at a time (plus one message)
# A slice also screens what arrived since the previous one began, up to this many: time alone fell behind a
# saturated loop. At 500 pushes/s a loop turn ran every webhook that was ready and gave the screen 2 ms, so ~2,300
# messages waited unscreened after 8 s and a level-3 text waited seconds behind them; a cap of 50 still fell
# behind. This one, and the ceiling below, bound a slice when a restart or a resume of what another instance
# left hands over thousands at once (~0.3-0.5 ms a message: 500 would hold the loop 150-250 ms).
SCREEN_ARRIVALS_PER_SLICE = 500
SCREEN_SLICE_MAX_SECONDS = 0.05


class LoopPace:
    """Lets one ordinary routing start at a time: when the event loop has time to spare, and otherwise
    within a share of the loop's time.

    The probe is a short timer; the CPU time this thread spent until it fired is the work queued
    ahead of it (webhooks, deliveries, socket writes, a routing in progress). Measured as CPU, not as
    the timer's lateness, so a process merely waiting for a core on a busy machine is not taken for
    a busy loop. Probes are taken one at a time, so a routing that has just started (and holds the
    loop) fails the next probe: with the embedded store, whose calls never yield, ordinary routings
    run one after the other in the gaps; with a networked store, whose calls wait on I/O, several run
    at once. A loop that never has a gap still gives ordinary routing ``share`` of its time: after a
    routing that took *t*, the next one starts at the latest *t* × (1 − share) / share later (never
    more than ``max_wait``), so the backlog moves while the webhooks keep the larger part. None of
    this applies while intake is quiet (``intake_quiet``): then routing takes the loop at once.
    """

    def __init__(self, *, probe: float = 0.002, max_busy: float = 0.0005, share: float = 0.1,
                 max_wait: float = 1.0, intake_quiet: Callable[[], bool] | None = None) -> None:
        # Spare time is a probe the loop was at most a quarter busy for, not merely not saturated: at
        # 500 pushes/s (one every 2 ms, 1.1-1.4 ms of CPU each) a 2 ms allowance let most probes through,
        # and ordinary routing took the loop from ~80 % to 95-97 % busy during the burst (webhook p99
        # 78-285 ms). The share (was a quarter) is a floor for a loop that never has a gap, not a slice
        # taken from webhooks that are keeping up.
        # When nothing is coming in, the loop's other work (deliveries, notices, ticks) is no reason to
        # hold routing back: a backlog left by a burst drains at full speed once the burst is over.
        self.intake_quiet = intake_quiet
        self.probe = probe
        self.max_busy = max_busy
        self.share = share
        self.max_wait = max_wait
        self._last_routing = 0.0  # seconds the last ordinary routing took
        self._one_at_a_time = asyncio.Lock()

    async def spare_time(self) -> None:
        """Return when the loop did less than ``max_busy`` of other work during a probe, or when the
        others have had their share since the last routing."""
        async with self._one_at_a_time:
            loop = asyncio.get_running_loop()
            waited_since = loop.time()
            rest = min(self.max_wait, self._last_routing * (1 - self.share) / self.share)
            while not (self.intake_quiet is not None and self.intake_quiet()):
                started = time.thread_time()
                await asyncio.sleep(self.probe)
                if time.thread_time() - started <= self.max_busy or loop.time() - waited_since >= rest:
                    return

    def routed(self, seconds: float) -> None:
        """An ordinary routing took ``seconds``: what the others' share is reckoned from."""
        self._last_routing = seconds


class RoutingBacklog:
    """Runs ``route(conversation_id)`` for each conversation added: urgent ones at once, the others paced.

    At most ``workers`` urgent and ``workers`` ordinary conversations are routed at once. Workers are
    started when work arrives and end when there is none, so an idle process holds no routing task
    and a test that stops the app leaves none behind.
    """

    def __init__(self, route: Callable[[str], Awaitable[None]], *, workers: int,
                 screen: Callable[[str], int] | None = None, pace: LoopPace | None = None) -> None:
        if workers < 1:
            raise ValueError("the routing backlog needs at least one worker")
        self._route = route
        self._limit = workers
        self._screen = screen
        self.pace = pace or LoopPace()
        self._unscreened: deque[tuple[str, str]] = deque()  # (conversation id, a new message's text)
        self._screening = False
        self._arrived = 0  # texts added to the screen since its current slice began
        # (-urgency, ticket, conversation id), urgent and ordinary apart; stale entries are skipped
        self._heaps: dict[bool, list[tuple[int, int, str]]] = {True: [], False: []}
        self._waiting: dict[str, tuple[int, int]] = {}  # conversation id -> (urgency, ticket) of its live entry
        self._busy: dict[str, bool] = {}  # conversation id -> routed as urgent
        self._again: dict[str, int] = {}  # busy conversations that got new messages: urgency to come back with
        self._tickets = itertools.count()
        self._workers: set[asyncio.Task[None]] = set()
        # Workers that have not yet found their heap empty, urgent and ordinary (a finished task is not
        # discarded from ``_workers`` at once: its done callback runs a loop iteration later).
        self._working: dict[bool, int] = {True: 0, False: 0}
        self._ordinary_may_start = asyncio.Event()
        self._ordinary_may_start.set()

    def add(self, conversation_id: str, urgency: int = 0, text: str = "") -> None:
        """The conversation has unrouted messages; ``urgency`` (0-3) moves it ahead of less urgent ones.

        ``text``, a new message's, is screened before any ordinary routing starts; the risk found
        there raises the conversation's urgency.
        """
        if text and self._screen is not None and urgency < URGENT:
            self._unscreened.append((conversation_id, text))
            self._arrived += 1
            self._ordinary_may_start.clear()
            if not self._screening:
                self._screening = True
                self._start(self._screen_all(self._screen), "routing-screen")
        if conversation_id in self._busy:
            self._again[conversation_id] = max(urgency, self._again.get(conversation_id, 0))
            if urgency >= URGENT:
                self._ordinary_may_start.clear()
            return
        waiting = self._waiting.get(conversation_id)
        if waiting is not None:
            if urgency <= waiting[0]:
                return
            ticket = waiting[1]  # more urgent now, but still ahead of equally urgent later arrivals
        else:
            ticket = next(self._tickets)
        self._waiting[conversation_id] = (urgency, ticket)
        urgent = urgency >= URGENT
        heapq.heappush(self._heaps[urgent], (-urgency, ticket, conversation_id))
        if urgent:
            self._ordinary_may_start.clear()
        if self._working[urgent] < self._limit:
            self._working[urgent] += 1
            self._start(self._work(urgent), "routing-worker")

    def _start(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def _screen_all(self, screen: Callable[[str], int]) -> None:
        try:
            while self._unscreened:
                # A slice at a time, the webhooks answering in between: at least SCREEN_SLICE_SECONDS and
                # at least what arrived meanwhile (within the caps above), so the screen keeps pace with the
                # intake however long a loop turn gets. (One message per turn fell behind at 200 messages/s,
                # 2 ms per turn at 500.)
                due = min(self._arrived, SCREEN_ARRIVALS_PER_SLICE)
                self._arrived = 0
                started = time.monotonic()
                while self._unscreened and ((due > 0 and time.monotonic() < started + SCREEN_SLICE_MAX_SECONDS)
                                            or time.monotonic() < started + SCREEN_SLICE_SECONDS):
                    self._screen_one(screen, *self._unscreened.popleft())
                    due -= 1
                await asyncio.sleep(0)
        finally:
            self._screening = False
            self._settle()

    def _screen_one(self, screen: Callable[[str], int], conversation_id: str, text: str) -> None:
        try:
            level = screen(text)
        except Exception:  # noqa: BLE001 - unscreened, it is routed in its turn, where triage assesses it
            log.exception("screening a message of conversation %s failed", conversation_id)
            return
        if level and conversation_id in self:
            self.add(conversation_id, level)

    def _next(self, urgent: bool) -> str | None:
        heap = self._heaps[urgent]
        while heap:
            urgency, ticket, conversation_id = heapq.heappop(heap)
            if self._waiting.get(conversation_id) == (-urgency, ticket):
                del self._waiting[conversation_id]
                self._busy[conversation_id] = urgent
                return conversation_id
        return None

    async def _ordinary_turn(self) -> None:
        """Wait until every message is screened, no urgent conversation waits or is routed, and the loop
        has time to spare."""
        while True:
            await self._ordinary_may_start.wait()
            await self.pace.spare_time()
            if self._ordinary_may_start.is_set():
                return

    def _settle(self) -> None:
        """Let ordinary routing go on once nothing waits for the screen and no urgent conversation waits,
        is routed or comes back urgent.

        Looks at a few entries at most, never the ordinary backlog; a stale urgent heap entry holds
        ordinary routing only until an urgent worker pops it.
        """
        if not (self._unscreened or self._heaps[True] or any(self._busy.values())
                or any(urgency >= URGENT for urgency in self._again.values())):
            self._ordinary_may_start.set()

    async def _work(self, urgent: bool) -> None:
        try:
            while True:
                if not urgent and self._heaps[False]:
                    await self._ordinary_turn()
                if (conversation_id := self._next(urgent)) is None:
                    self._settle()  # it may have popped the last stale urgent entry
                    return
                started = time.monotonic()
                try:
                    await self._route(conversation_id)
                except Exception:  # noqa: BLE001 - the messages stay unprocessed; the next add or resume retries
                    log.exception("routing conversation %s failed; its messages stay in the stored backlog",
                                  conversation_id)
                finally:
                    if not urgent:
                        self.pace.routed(time.monotonic() - started)
                    del self._busy[conversation_id]
                    if (urgency := self._again.pop(conversation_id, None)) is not None:
                        self.add(conversation_id, urgency)
                    self._settle()
                # Let the webhooks waiting on the event loop answer before the next conversation.
                await asyncio.sleep(0)
        finally:
            self._working[urgent] -= 1

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self._waiting or conversation_id in self._busy

    def __len__(self) -> int:
        """Conversations waiting for a worker or being routed."""
        return len(self._waiting) + len(self._busy)

    @property
    def workers(self) -> int:
        return self._working[True] + self._working[False]

    async def stop(self) -> None:
        """Forget what waits and cancel the routing in progress (at shutdown, once the grace period is
        over): the store still holds those messages as unrouted, and ``resume`` routes them after the
        restart, so nothing routes on against a store that is closing."""
        for heap in self._heaps.values():
            heap.clear()
        self._unscreened.clear()
        self._arrived = 0
        self._waiting.clear()
        self._again.clear()
        workers = list(self._workers)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def idle(self, timeout: float) -> bool:
        """Wait until nothing waits or is being routed; False if that took longer than ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._workers:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait(list(self._workers), timeout=remaining)
        return True
