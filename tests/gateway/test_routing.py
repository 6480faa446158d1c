"""The routing backlog: urgent conversations at once and first, ordinary ones paced, one worker per conversation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from gateway.routing import LoopPace, RoutingBacklog
from tests.fakes import wait_for


class GatedRoute:
    """Records which conversation is routed when; each routing waits until the test opens its gate."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.running: set[str] = set()
        self.most_at_once = 0
        self.gates: dict[str, asyncio.Event] = {}

    def open(self, conversation_id: str) -> None:
        self.gates.setdefault(conversation_id, asyncio.Event()).set()

    def open_all(self) -> None:
        for conversation_id in [*self.gates, *self.running]:
            self.open(conversation_id)

    async def release_until(self, backlog: RoutingBacklog, routings: int) -> None:
        """Let every routing finish as it comes, until ``routings`` have started and the backlog is empty."""
        while len(self.started) < routings or len(backlog):
            self.open_all()
            await asyncio.sleep(0.001)

    async def __call__(self, conversation_id: str) -> None:
        assert conversation_id not in self.running, f"{conversation_id} routed by two workers at once"
        self.started.append(conversation_id)
        self.running.add(conversation_id)
        self.most_at_once = max(self.most_at_once, len(self.running))
        try:
            await self.gates.setdefault(conversation_id, asyncio.Event()).wait()
        finally:
            self.running.discard(conversation_id)
            self.gates.pop(conversation_id, None)


async def test_urgent_conversations_do_not_wait_for_the_ordinary_workers_most_urgent_first() -> None:
    route = GatedRoute()
    backlog = RoutingBacklog(route, workers=1)
    backlog.add("busy")
    await wait_for(lambda: route.started == ["busy"])  # the one ordinary worker is taken

    for conversation_id, urgency in [("a", 0), ("b", 0), ("c", 2), ("d", 0), ("e", 3), ("f", 2)]:
        backlog.add(conversation_id, urgency)
    await wait_for(lambda: route.running == {"busy", "e"})  # a worker of its own, while "busy" is still routed
    await route.release_until(backlog, 7)

    assert route.started == ["busy", "e", "c", "f", "a", "b", "d"]


async def test_no_ordinary_conversation_starts_while_an_urgent_one_waits_or_is_routed() -> None:
    route = GatedRoute()
    backlog = RoutingBacklog(route, workers=2)
    backlog.add("urgent", 3)
    backlog.add("ordinary")
    await wait_for(lambda: route.running == {"urgent"})
    await asyncio.sleep(0.05)  # an ordinary worker is free and the loop idle: still it waits
    assert route.started == ["urgent"]

    route.open("urgent")
    await wait_for(lambda: route.started == ["urgent", "ordinary"])
    route.open("ordinary")
    assert await backlog.idle(1)


async def test_every_new_text_is_screened_before_ordinary_routing_and_a_risk_found_there_goes_first() -> None:
    route = GatedRoute()
    screened: list[str] = []

    def screen(text: str) -> int:
        screened.append(text)
        return 3 if "想死" in text else 0

    backlog = RoutingBacklog(route, workers=1, screen=screen)
    for n in range(200):
        backlog.add(f"c{n}", 0, "作业好多")
    backlog.add("risky", 0, "我想死")
    await wait_for(lambda: route.started == ["risky"])
    assert len(screened) == 201

    await route.release_until(backlog, 201)
    assert route.started == ["risky", *(f"c{n}" for n in range(200))]


async def test_the_screen_keeps_pace_with_a_flood_so_a_crisis_in_it_waits_a_turn_not_the_whole_flood() -> None:
    route = GatedRoute()
    screened: list[str] = []

    def screen(text: str) -> int:
        _burn(0.001)  # a millisecond a message: a time slice alone screens two or three a turn
        screened.append(text)
        return 3 if "想死" in text else 0

    backlog = RoutingBacklog(route, workers=1, screen=screen)
    for turn in range(15):  # every turn of the loop brings 20 pushes, as a 500/s flood does
        for n in range(20):
            backlog.add(f"c{turn}-{n}", 0, "作业好多")
        await asyncio.sleep(0)
        assert len(screened) == 20 * (turn + 1)  # nothing left behind for the next turn
    backlog.add("risky", 0, "我想死")
    for _ in range(3):
        await asyncio.sleep(0)

    assert route.started == ["risky"]
    route.open_all()
    await backlog.stop()


async def test_a_text_the_screen_fails_on_is_routed_in_its_turn() -> None:
    routed: list[str] = []

    async def route(conversation_id: str) -> None:
        routed.append(conversation_id)

    def screen(text: str) -> int:
        raise RuntimeError("lexicon broken")

    backlog = RoutingBacklog(route, workers=1, screen=screen)
    backlog.add("c1", 0, "你好")
    backlog.add("c2", 0, "在吗")
    assert await backlog.idle(2)
    assert routed == ["c1", "c2"]


async def test_a_conversation_routed_as_ordinary_that_turns_urgent_comes_back_ahead_of_the_others() -> None:
    route = GatedRoute()
    backlog = RoutingBacklog(route, workers=1)
    backlog.add("c1")
    await wait_for(lambda: route.running == {"c1"})
    backlog.add("c2")
    backlog.add("c1", 3)  # a crisis message while its earlier ones are routed: it cannot start twice

    route.open("c1")
    await wait_for(lambda: route.started == ["c1", "c1"])  # back at once, as urgent, before c2 starts
    assert "c2" not in route.started
    await route.release_until(backlog, 3)
    assert route.started == ["c1", "c1", "c2"]


def _burn(seconds: float) -> None:
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


async def _busy_loop(stop: asyncio.Event) -> None:
    """Stands in for webhooks coming back to back: the loop is never free for long."""
    while not stop.is_set():
        _burn(0.004)
        await asyncio.sleep(0)


@asynccontextmanager
async def _loop_kept_busy() -> AsyncIterator[None]:
    stop = asyncio.Event()
    busy = asyncio.create_task(_busy_loop(stop))
    try:
        yield
    finally:
        stop.set()
        await busy


class BurningRoute:
    """Routes by holding the loop ``seconds`` of CPU, as routing on the embedded store does."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.routed: list[str] = []

    async def __call__(self, conversation_id: str) -> None:
        _burn(self.seconds)
        self.routed.append(conversation_id)


async def test_ordinary_routing_waits_while_the_loop_is_busy_and_urgent_routing_does_not() -> None:
    route = BurningRoute(0.02)
    # A share so small that, after one ordinary routing, the next could only start in spare time.
    backlog = RoutingBacklog(route, workers=4, pace=LoopPace(share=0.0001, max_wait=60))
    async with _loop_kept_busy():
        for conversation_id in ["o1", "o2"]:
            backlog.add(conversation_id)
        await wait_for(lambda: route.routed == ["o1"])  # nothing measured yet: the first goes at once
        backlog.add("urgent", 3)
        await wait_for(lambda: route.routed == ["o1", "urgent"])
        for _ in range(20):  # o2 has had every chance to start, had the loop been free
            await asyncio.sleep(0.01)
        assert route.routed == ["o1", "urgent"]

    await wait_for(lambda: route.routed == ["o1", "urgent", "o2"])
    assert await backlog.idle(1)


async def _pushes_every_2_ms(stop: asyncio.Event) -> None:
    """Stands in for webhooks at 500/s that keep up: 0.7 ms of CPU every 2 ms, the loop free in between."""
    while not stop.is_set():
        _burn(0.0007)
        await asyncio.sleep(0.0013)


async def test_a_loop_keeping_up_with_500_pushes_a_second_has_no_spare_time_for_ordinary_routing() -> None:
    """A third of the loop's time is not to spare: routing there would take the webhooks' headroom."""
    route = BurningRoute(0.001)
    # The default probe and allowance; a share so small that only spare time could start o2.
    backlog = RoutingBacklog(route, workers=4, pace=LoopPace(share=0.0001, max_wait=60))
    stop = asyncio.Event()
    pushes = asyncio.create_task(_pushes_every_2_ms(stop))
    try:
        for conversation_id in ["o1", "o2"]:
            backlog.add(conversation_id)
        await wait_for(lambda: route.routed == ["o1"])  # nothing measured yet: the first goes at once
        for _ in range(30):  # ~150 probes, each with a push's CPU in it
            await asyncio.sleep(0.01)
        assert route.routed == ["o1"]
    finally:
        stop.set()
        await pushes
    await wait_for(lambda: route.routed == ["o1", "o2"])  # the pushes stopped: spare time at once
    assert await backlog.idle(1)


async def test_with_no_intake_a_busy_loop_does_not_hold_ordinary_routing_back() -> None:
    """After a burst the loop is busy with deliveries and notices, not webhooks: the backlog drains freely."""
    route = BurningRoute(0.02)
    intake = {"quiet": False}
    pace = LoopPace(share=0.0001, max_wait=60, intake_quiet=lambda: intake["quiet"])
    backlog = RoutingBacklog(route, workers=4, pace=pace)
    async with _loop_kept_busy():
        for conversation_id in ["o1", "o2", "o3"]:
            backlog.add(conversation_id)
        await wait_for(lambda: route.routed == ["o1"])
        for _ in range(20):  # messages still coming in: o2 waits for spare time that never comes
            await asyncio.sleep(0.01)
        assert route.routed == ["o1"]
        intake["quiet"] = True
        await wait_for(lambda: route.routed == ["o1", "o2", "o3"])


async def test_a_loop_that_stays_busy_still_gives_ordinary_routing_its_share() -> None:
    route = BurningRoute(0.005)
    backlog = RoutingBacklog(route, workers=1, pace=LoopPace(share=0.5, max_wait=60))
    async with _loop_kept_busy():
        for n in range(5):
            backlog.add(f"c{n}")
        await wait_for(lambda: route.routed == [f"c{n}" for n in range(5)])


async def test_a_waiting_conversation_that_becomes_urgent_moves_ahead_of_ordinary_ones_only() -> None:
    route = GatedRoute()
    backlog = RoutingBacklog(route, workers=1)
    backlog.add("busy")
    await wait_for(lambda: route.started == ["busy"])
    for conversation_id, urgency in [("urgent-early", 2), ("ordinary", 0), ("urgent-late", 2)]:
        backlog.add(conversation_id, urgency)

    backlog.add("ordinary", 2)  # a risky new message in a conversation that was already waiting
    backlog.add("urgent-early", 0)  # an ordinary one does not lower its place
    await route.release_until(backlog, 4)

    # "ordinary" waited before "urgent-late" and is now as urgent: ahead of it, behind "urgent-early".
    assert route.started == ["busy", "urgent-early", "ordinary", "urgent-late"]


async def test_no_more_than_the_worker_limit_route_at_once_and_every_conversation_is_routed() -> None:
    route = GatedRoute()
    backlog = RoutingBacklog(route, workers=3)
    for n in range(10):
        backlog.add(f"c{n}")

    await wait_for(lambda: len(route.running) == 3)
    await asyncio.sleep(0.02)  # give a fourth worker every chance to start, if it could
    assert (len(route.running), backlog.workers, len(backlog)) == (3, 3, 10)

    await route.release_until(backlog, 10)
    assert sorted(route.started) == sorted(f"c{n}" for n in range(10))
    assert route.most_at_once == 3
    assert await backlog.idle(1)  # the workers end once they find nothing left
    assert (backlog.workers, len(backlog)) == (0, 0)


async def test_a_conversation_is_never_routed_twice_at_once_and_new_messages_bring_it_back() -> None:
    route = GatedRoute()
    backlog = RoutingBacklog(route, workers=4)
    backlog.add("c1")
    await wait_for(lambda: route.running == {"c1"})

    backlog.add("c1")  # a new message arrives while c1 is being routed: no second worker takes it
    backlog.add("c1", 3)
    await asyncio.sleep(0.02)
    assert route.started == ["c1"]
    assert "c1" in backlog

    route.open("c1")
    await wait_for(lambda: route.started == ["c1", "c1"])  # once more, for the messages stored meanwhile
    route.open("c1")
    assert await backlog.idle(1)
    assert route.started == ["c1", "c1"] and "c1" not in backlog


async def test_a_failing_route_leaves_the_workers_running() -> None:
    routed: list[str] = []

    async def route(conversation_id: str) -> None:
        if conversation_id == "broken":
            raise RuntimeError("store unreachable")
        routed.append(conversation_id)

    backlog = RoutingBacklog(route, workers=1)
    for conversation_id in ["broken", "c1", "c2"]:
        backlog.add(conversation_id)
    assert await backlog.idle(1)
    assert routed == ["c1", "c2"]

    backlog.add("broken")  # added again (a new message, or resume): tried again
    backlog.add("c3")
    assert await backlog.idle(1)
    assert routed == ["c1", "c2", "c3"]


async def test_idle_says_when_routing_did_not_finish_in_time() -> None:
    route = GatedRoute()
    backlog = RoutingBacklog(route, workers=2)
    backlog.add("slow")
    assert not await backlog.idle(0.05)
    route.open("slow")
    assert await backlog.idle(1)


async def test_stop_cancels_the_routing_in_progress_and_forgets_what_waits() -> None:
    route = GatedRoute()
    backlog = RoutingBacklog(route, workers=1)
    backlog.add("stuck")
    backlog.add("waiting")
    await wait_for(lambda: route.started == ["stuck"])
    backlog.add("stuck", urgency=3)  # a new message while it is being routed: would bring it back
    await backlog.stop()
    assert backlog.workers == 0 and len(backlog) == 0
    assert all(task.done() for task in asyncio.all_tasks() if task.get_name() == "routing-worker")
    await asyncio.sleep(0.01)
    assert route.started == ["stuck"]


def test_a_backlog_without_workers_is_refused() -> None:
    async def route(conversation_id: str) -> None:
        return None

    with pytest.raises(ValueError, match="at least one worker"):
        RoutingBacklog(route, workers=0)
