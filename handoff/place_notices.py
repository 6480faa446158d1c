"""Place notices: what each waiting youth is told of their place in the queue and their expected wait.

The widget shows it live (``queue.position`` events); on a platform that cannot, the youth gets one
text notice per handoff, when their place is first worked out and only when they will really wait.
A youth at risk is never told they are behind others: they hear that a counsellor is coming.

A queue change can move every youth behind it (one leaving the head moves all the others up), so
working out places on every change costs the queue's length per change. After each pass over a desk's
queue comes a spell of ``handoff.place_notice_seconds`` instead: the first change after a spell is
worked out at once, every change during one folded into one pass at its end. A queue change itself
then reads nothing, however long the queue; a youth hears of a new place at most a spell (plus a pass) later.
A pass tells one youth at a time and gives the event loop back in between: at the end of a busy spell
a thousand youths may each get a first place (an event and a text), which the webhooks would otherwise
wait behind all at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict

from contract.models import ConversationState, Event, SenderKind, utcnow
from contract.queue import PositionNotice, QueueEntry
from handoff.context import HandoffContext
from handoff.queue import load, places, queue_entries
from handoff.replies import QUEUE_NOTICE
from handoff.users import online_counsellors
from store import handoff as stored
from store import queue_places

log = logging.getLogger("youthdesk.handoff.place_notices")


class PlaceNotices:
    def __init__(self, context: HandoffContext) -> None:
        self.context = context
        # Per desk, on this instance: when its last pass ended (loop time), whether a pass waits for the
        # end of the spell, and one pass at a time. What each youth was told is in the store, for every instance.
        self._last_pass: dict[str, float] = {}
        self._waiting: set[str] = set()
        self._passes: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def queue_changed(self, desk: str) -> None:
        """``desk``'s queue (or its staff) changed: its places are worked out now, or at the end of the spell."""
        if desk in self._waiting:
            return  # a pass is coming, and it reads the queue after this change
        if self._passes[desk].locked() or self._spell_left(desk) > 0:
            self._waiting.add(desk)
            task = asyncio.create_task(self._after_the_spell(desk), name=f"places:{desk}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        async with self._passes[desk]:
            await self._pass(desk)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spell_left(self, desk: str) -> float:
        """Seconds until ``desk`` may be worked out again: the spell runs from the end of its last pass, so
        passes take at most their share of the loop even when one takes longer than the spell."""
        ends = self._last_pass.get(desk, -math.inf) + self.context.settings.handoff.place_notice_seconds
        return ends - asyncio.get_running_loop().time()

    async def _after_the_spell(self, desk: str) -> None:
        async with self._passes[desk]:  # after a pass running now, and its spell
            await asyncio.sleep(max(0.0, self._spell_left(desk)))
            self._waiting.discard(desk)  # from here on a change needs a pass of its own: this one may have read
            try:
                await self._pass(desk)
            except Exception:  # noqa: BLE001 - a failed pass must not stop the next; the next change retries
                log.exception("place notices for desk %s failed", desk)

    async def _pass(self, desk: str) -> None:
        try:
            await self._tell_changed_places(desk)
        finally:
            self._last_pass[desk] = asyncio.get_running_loop().time()

    async def _tell_changed_places(self, desk: str) -> None:
        read_at = utcnow()  # orders this reading among every instance's: real time, not the engine's clock
        entries = await queue_entries(self.context.store, {desk})
        # The loop is given back between the read, the record and the telling, as a networked store would:
        # with ~500 waiting, reading the queue and recording their places held it 46-74 ms in one block,
        # the longest stall of a 500 pushes/s burst (the webhooks arriving meanwhile waited behind it).
        await asyncio.sleep(0)
        places_now = places(entries)
        staff = await self._online_staff(desk)
        told: dict[str, PositionNotice] = {}
        for entry in entries:
            if entry.risk_level >= 2:
                told[entry.conversation_id] = PositionNotice(urgent=True)
            else:
                position = places_now[entry.conversation_id]
                told[entry.conversation_id] = PositionNotice(
                    position=position, expected_wait_seconds=self._expected_wait(position, staff))
        # Recorded first, then told what changed since the record before, by whichever instance records it.
        told_before = await queue_places.record_told(self.context.store, desk, told, read_at)
        if told_before is None:
            return  # another instance read the queue later and tells that
        await asyncio.sleep(0)
        for entry in entries:
            notice = told[entry.conversation_id]
            if told_before.get(entry.conversation_id) == notice:
                continue
            await self.context.stream.bus.publish(Event(
                type="queue.position", conversation_id=entry.conversation_id, desk=entry.desk,
                also_desks=list(entry.also_visible_to), data=notice.model_dump()))
            if entry.conversation_id not in told_before and notice.position is not None:
                await self._text_notice(entry, notice)
            await asyncio.sleep(0)  # the embedded store never waits: let the webhooks in between youths

    async def _text_notice(self, entry: QueueEntry, notice: PositionNotice) -> None:
        """A youth's first place, by text where the channel does not show it live, once per handoff."""
        context = self.context
        wait = notice.expected_wait_seconds or 0
        if wait < 60 or notice.position is None:
            return
        item = await load(context.store, entry.conversation_id)
        if (item is None or item.conversation.state != ConversationState.QUEUED or item.info.leave_message
                or item.info.queue_notice_sent or item.conversation.risk_level >= 2
                or item.conversation.platform not in context.text_notice_platforms):
            return
        if await stored.mark_queue_notice_sent(context.store, entry.conversation_id):
            await context.stream.send(entry.conversation_id,
                                      QUEUE_NOTICE.format(ahead=notice.position - 1, minutes=max(1, wait // 60)),
                                      sender=SenderKind.SYSTEM)

    def _expected_wait(self, position: int, online_staff: int) -> int:
        return int(position * self.context.settings.handoff.expected_handle_seconds / max(1, online_staff))

    async def _online_staff(self, desk: str) -> int:
        return len(await online_counsellors(self.context.store, desk))
