"""Overflow (溢出): a waiting risk conversation moves up the 12355 hierarchy until someone can take it.

A conversation at risk level >= 2 waiting at a desk where no counsellor is online with free capacity
and the skill it needs goes at once to the nearest desk above that has one ("无人在线"). If nobody
claims it within the desk's window (``[[desks]].overflow``: 30 s at level 3, 120 s at level 2 by
default) it goes one desk further up ("30秒无人接听"): the provincial desk, the regional centre, the
national centre. The desks it came from keep it in their queues, so whoever is first takes it.
Under a surge (``handoff.surge``) a covered desk's risk conversations go straight to the named centres.

Checked right after queueing and on every deadline tick, so a move happens within ``tick_seconds``
of its window. A tick reads only what may move, never every waiting conversation: those whose window
ends by now (``HandoffInfo.overflow_due_at``, stored, so no restart or other instance misses one),
those at a desk where nobody can take them while a desk above can, and those a surge covers.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from contract.config import DeskConfig
from contract.escalation import Offer, OfferReason, Surge
from contract.models import ConversationState, Event
from contract.queue import Handed, HandoffInfo
from handoff.access import ancestors, descendants
from handoff.assignment import Assignment
from handoff.context import HandoffContext
from handoff.desks import open_now
from handoff.surge import covering
from handoff.users import active_count, online_counsellors
from store import alerts as stored_alerts
from store import handoff as stored
from store import overflow as stored_overflow
from store.overflow import OVERFLOW_FROM_LEVEL

log = logging.getLogger("youthdesk.handoff.overflow")


def short_name(desk: DeskConfig) -> str:
    """What the console calls a desk in a label: 深圳 for 深圳市, 广东 for 广东省, the name for centres."""
    if desk.level in ("municipal", "provincial") and desk.area:
        return desk.area.removesuffix("市").removesuffix("省")
    return desk.name


def label(from_desk: DeskConfig, reason: OfferReason, waited_seconds: int) -> str:
    why = {"nobody_online": "无人在线", "unanswered": f"{waited_seconds}秒无人接听", "surge": "重大突发事件"}[reason]
    return f"由{short_name(from_desk)}转入：{why}"


def arrival(info: HandoffInfo) -> dict[str, str] | None:
    """Why a conversation is in this queue, when it came from below: the console's label."""
    if not info.offers:
        return None
    last = info.offers[-1]
    return {"from_desk": last.from_desk, "label": last.label}


def arrived_here(info: HandoffInfo) -> datetime | None:
    """When the conversation reached the desk it waits at: its last offer or transfer, else its queueing."""
    return max([*(offer.at for offer in info.offers), *(record.at for record in info.transfers)],
               default=info.waiting_since)


class Overflow:
    def __init__(self, context: HandoffContext, assignment: Assignment) -> None:
        self.context = context
        self.assignment = assignment

    async def start(self) -> None:
        await stored_overflow.due_where_unknown(self.context.store, self.context.now())

    async def tick(self) -> None:
        """The deadline tick's pass: read what may move now and check each. Who can take what is asked
        once per desk and skill per pass, so a tick costs the desks and their counsellors, plus what moves."""
        store, settings, now = self.context.store, self.context.settings, self.context.now()
        surges = await stored_alerts.active_surges(store)
        able: dict[tuple[str, str | None], bool] = {}
        found = await stored_overflow.due(store, now)
        for surge in surges:
            found += await stored_overflow.waiting_seen_by(store, descendants(settings, surge.desk),
                                                           not_at=surge.to_desks)
        skills = [None, *sorted(set(settings.handoff.topic_skills.values()))]
        for desk in settings.desks:
            if not await stored_overflow.anyone_waiting_at(store, desk.id):
                continue
            stuck = [skill for skill in skills if not await self._someone_can_take(desk, skill, now, able)
                     and await self._nearest_able_above(desk.id, skill, now, able) is not None]
            if stuck:  # None among them: nobody here can take any, whatever skill each needs
                found += await stored_overflow.waiting_at(store, desk.id, None if None in stuck else stuck)
        checked: set[str] = set()
        for item in found:
            if item.conversation.id not in checked:
                checked.add(item.conversation.id)
                await self.check(item, surges, able)
                # A move writes, records an event and tells two queues: on the embedded store, which never
                # waits, a tick moving a few held the loop 10-17 ms in one block during a 500 pushes/s burst.
                await asyncio.sleep(0)

    async def check(self, item: Handed, surges: list[Surge] | None = None,
                    able: dict[tuple[str, str | None], bool] | None = None) -> None:
        conversation, info = item.conversation, item.info
        if (conversation.state != ConversationState.QUEUED or conversation.owner is not None
                or conversation.risk_level < OVERFLOW_FROM_LEVEL or info.leave_message):
            return
        if surges is None:
            surges = await stored_alerts.active_surges(self.context.store)
        able = {} if able is None else able  # within one pass: (desk, skill) -> someone can take it
        settings, now = self.context.settings, self.context.now()
        here = settings.desk(conversation.desk)
        home = info.offers[0].from_desk if info.offers else conversation.desk
        surge = covering(settings, surges, home)
        if surge is not None and conversation.desk not in surge.to_desks:
            await self._offer(item, surge.to_desks[0], "surge", 0, extra=surge.to_desks[1:])
            return
        skill = info.skill
        if not await self._someone_can_take(here, skill, now, able):
            staffed = await self._nearest_able_above(here.id, skill, now, able)
            if staffed is not None:
                await self._offer(item, staffed, "nobody_online", 0)
                return
        if here.parent is None:
            if info.overflow_due_at is not None:  # nowhere further up to go
                await stored_overflow.set_due(self.context.store, item, None)
            return
        window = timedelta(seconds=here.overflow.for_level(conversation.risk_level))
        due = (arrived_here(info) or now) + window
        if now >= due:
            await self._offer(item, here.parent, "unanswered", int(window.total_seconds()))
        elif due != info.overflow_due_at:
            await stored_overflow.set_due(self.context.store, item, due)

    async def _someone_can_take(self, desk: DeskConfig, skill: str | None, now: datetime,
                                able: dict[tuple[str, str | None], bool]) -> bool:
        key = (desk.id, skill)
        if key not in able:
            able[key] = await self._ask_someone_can_take(desk, skill, now)
        return able[key]

    async def _ask_someone_can_take(self, desk: DeskConfig, skill: str | None, now: datetime) -> bool:
        """An online counsellor of ``desk`` with free capacity and the skill, while the desk is open."""
        if not open_now(desk, now):
            return False
        for user in await online_counsellors(self.context.store, desk.id):
            if skill and skill not in user.skills:
                continue
            if await active_count(self.context.store, user.id) < user.capacity:
                return True
        return False

    async def _nearest_able_above(self, desk_id: str, skill: str | None, now: datetime,
                                  able: dict[tuple[str, str | None], bool]) -> str | None:
        settings = self.context.settings
        for candidate in ancestors(settings, desk_id):
            if await self._someone_can_take(settings.desk(candidate), skill, now, able):
                return candidate
        return None

    async def _offer(self, item: Handed, to_desk: str, reason: OfferReason, waited_seconds: int, *,
                     extra: list[str] | None = None) -> None:
        context, conversation = self.context, item.conversation
        from_desk = context.settings.desk(conversation.desk)
        offer = Offer(at=context.now(), from_desk=from_desk.id, to_desk=to_desk, reason=reason,
                      label=label(from_desk, reason, waited_seconds))
        keep_seeing = [from_desk.id, *(extra or [])]
        moved = await stored.offer_upwards(context.store, conversation, offer, also_visible_to=keep_seeing)
        if moved is None:
            return  # claimed or moved meanwhile
        log.warning("conversation %s (level %d) offered from %s to %s: %s", conversation.id,
                    conversation.risk_level, from_desk.id, to_desk, reason)
        await context.stream.record_event(Event.about("conversation.offered", moved, {
            "from_desk": from_desk.id, "to_desk": to_desk, "reason": reason, "label": offer.label,
            "risk_level": conversation.risk_level}))
        # The desk it came from still shows it (no change there); the desks that now see it must hear.
        for desk in (to_desk, *(extra or [])):
            await self.assignment.queue_changed(desk)
        await self.assignment.auto_assign(to_desk)
