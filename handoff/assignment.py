"""Assignment: queueing a conversation, claiming it, taking the next one, auto-assignment.

Claiming is one conditional update on (state, owner) in ``store.handoff``, so two counsellors can
never own one conversation, even across gateway instances.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from contract import crash_points
from contract.handoff import HandoffRequest
from contract.models import Conversation, ConversationState, Event, SenderKind
from contract.people import Presence, Role, User
from contract.queue import Deadline, Handed, HandoffInfo, Transfer
from handoff import cases, floods, tasks, wellbeing
from handoff.access import ensure_desk_access, ensure_may_take, visible_desks
from handoff.context import HandoffContext
from handoff.desks import nearest_open_ancestor, open_now
from handoff.errors import Conflict, NotFound
from handoff.place_notices import PlaceNotices
from handoff.queue import load, queued
from handoff.replies import AT_RISK_NOBODY_ON_DUTY, CALLBACK_INVITE, at_risk_notice
from handoff.sessions import has_live_session
from handoff.users import active_count, online_counsellors
from store import handoff as stored

LEAVE_MESSAGE_NOTE = "留言：值班时间外收到，等待下一班处理"
AT_CAPACITY = "at capacity"


class Assignment:
    def __init__(self, context: HandoffContext) -> None:
        self.context = context
        # One auto-assignment pass per desk at a time, so one pass never hands out a conversation twice.
        self._desk_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.places = PlaceNotices(context)

    # ------------------------------------------------------------- queueing

    async def enqueue(self, conversation: Conversation, request: HandoffRequest) -> Handed | None:
        """Queue ``conversation`` with fresh bookkeeping; None if its state changed since it was read."""
        context, settings = self.context, self.context.settings
        now = context.now()
        level = max(conversation.risk_level, request.risk_level)
        category = request.category or conversation.risk_category
        desk = settings.desk(conversation.desk)
        info = HandoffInfo(
            reason=request.reason, waiting_since=now, skill=self._skill_for(conversation.topic, category),
            last_youth_at=now, cues=list(request.cues),
            previous_counsellor=await stored.previous_owner(context.store, conversation),
            overflow_due_at=now if level >= 2 else None,  # overflow looks at it (now, or on the next tick)
        )
        if not open_now(desk, now) and level >= 2:
            # A youth at risk does not wait for the morning shift: the nearest staffed desk above takes it.
            staffed = nearest_open_ancestor(settings, desk.id, now)
            if staffed is not None:
                info.transfers.append(Transfer(at=now, by="system", to="desk", from_desk=desk.id, to_desk=staffed,
                                               note="值班时间外的高危求助，自动转至上级值班台"))
                desk = settings.desk(staffed)
        is_open = open_now(desk, now)
        info.leave_message = not is_open or request.reason == "leave_message"
        if info.leave_message and level < 2:
            info.message_task = tasks.message_task_id(conversation.id, now)
        if is_open:
            info.start(Deadline.starting(now, settings.handoff.deadline(level).first_response_seconds))
        # The case before the queue: after a crash between the two, the message is routed again and
        # finds the conversation still in ``bot``, so it queues it (the case is idempotent). The other
        # way round, it would find the conversation queued and never open the case.
        await cases.open_case(context.store, settings,
                              conversation.model_copy(update={"desk": desk.id, "risk_level": level}))
        crash_points.reached("case.opened")
        updated = await stored.enqueue(context.store, conversation, level=level, category=category, desk=desk.id,
                                       info=info, now=now)
        if updated is None:
            return None
        await context.stream.record_event(Event.about("conversation.state_changed", updated, {
            "from": conversation.state, "to": ConversationState.QUEUED, "reason": request.reason,
            "risk_level": level}))
        if not is_open and level >= 2:
            await self.tell_nobody_on_duty(updated)
        elif not is_open:
            await context.stream.send(conversation.id, f"{desk.after_hours_message}{CALLBACK_INVITE}",
                                      sender=SenderKind.SYSTEM)
        if info.message_task is not None:
            await tasks.open_message_task(context, updated, now)
        if not is_open:
            await context.stream.send(conversation.id, LEAVE_MESSAGE_NOTE, sender=SenderKind.SYSTEM, private=True)
        if level >= 2 and await floods.group_if_flood(context, updated):
            info.level3_alerted = True  # the flood item is the supervisors' alert for this one
        return Handed(conversation=updated, info=info)

    async def announce(self, conversation: Conversation) -> None:
        """A conversation just joined the queue: the desk hears of it, auto-assignment tries,
        the youth learns their place."""
        await self.queue_changed(conversation.desk)
        await self.auto_assign(conversation.desk)
        await self.tell_youth(conversation.id)

    def _skill_for(self, topic: str | None, category: str | None) -> str | None:
        mapping = self.context.settings.handoff.topic_skills
        return mapping.get(topic or "") or mapping.get(category or "")

    async def queue_changed(self, desk: str) -> None:
        await self.context.stream.bus.publish(Event(type="queue.changed", desk=desk, data={"desk": desk}))
        await self.places.queue_changed(desk)

    async def queues_changed(self, conversation: Conversation) -> None:
        """Every queue ``conversation`` is in: its desk's and those of the desks it overflowed from."""
        for desk in (conversation.desk, *conversation.also_visible_to):
            await self.queue_changed(desk)

    async def tell_nobody_on_duty(self, conversation: Conversation) -> None:
        """A youth at risk and no desk staffed anywhere above: where to turn tonight (once per handoff,
        in place of "a person is coming"), and the first shift reaches out."""
        if await stored.mark_at_risk_notice_sent(self.context.store, conversation.id):
            await self.context.stream.send(conversation.id, AT_RISK_NOBODY_ON_DUTY, sender=SenderKind.SYSTEM)
        await tasks.outreach_for_the_morning(self.context, conversation)

    async def tell_youth(self, conversation_id: str) -> None:
        """At risk, on every platform, at once and once per handoff: a person is coming (never a wait) —
        also to a youth who got a queue notice before the risk showed. A place and a wait: ``places``."""
        context = self.context
        item = await load(context.store, conversation_id)
        if item is None or item.info.leave_message:
            return
        level = item.conversation.risk_level
        if level >= 2 and item.conversation.state in (ConversationState.QUEUED, ConversationState.ASSIGNED):
            if await stored.mark_at_risk_notice_sent(context.store, conversation_id):
                await context.stream.send(conversation_id, at_risk_notice(level), sender=SenderKind.SYSTEM)

    # ------------------------------------------------------------- claiming

    async def claim(self, conversation_id: str, user: User, *, by: str | None = None) -> Conversation:
        """Make ``user`` the owner of a queued conversation; Conflict if someone else was faster."""
        context = self.context
        item = await load(context.store, conversation_id)
        if item is None:
            raise NotFound(conversation_id)
        ensure_may_take(user, item, context.settings)  # its desk now, or one it overflowed from
        if user.role == Role.COUNSELLOR and await active_count(context.store, user.id) >= user.capacity:
            raise Conflict(AT_CAPACITY)
        conversation = await stored.claim(context.store, conversation_id, user.id, context.now())
        if conversation is None:
            raise Conflict("already owned")
        await context.stream.record_event(Event.about("conversation.state_changed", conversation, {
            "from": ConversationState.QUEUED, "to": ConversationState.ASSIGNED, "reason": "claimed",
            "by": by or user.id, "owner": user.id}))
        await context.stream.publish("conversation.assigned", conversation, owner=user.id,
                                     display_name=user.display_name, by=by or user.id)
        await self.queues_changed(conversation)  # it leaves the queues of the desks it overflowed from too
        return conversation

    async def take_next(self, user: User, desk: str | None = None) -> Conversation | None:
        """Pull: the highest-priority queued conversation this user may take and has the skill for."""
        if desk is not None:
            ensure_desk_access(user, desk, self.context.settings)
            desks = {desk}
        elif user.role != Role.ADMIN:
            desks = {user.desk}
        else:
            desks = visible_desks(user, self.context.settings)
        capped = await wellbeing.at_level3_cap(self.context, user.id)
        for item in await queued(self.context.store, desks):
            if item.info.skill and item.info.skill not in user.skills:
                continue
            if capped and item.conversation.risk_level >= 3 and await self._colleague_can_take(user, item):
                continue
            try:
                return await self.claim(item.conversation.id, user)
            except Conflict as exc:
                if str(exc) == AT_CAPACITY:
                    raise
        return None

    async def auto_assign(self, desk_id: str) -> int:
        """For ``assignment = "auto"`` desks: hand queued conversations to the least-loaded online
        counsellor (with a live session) with the skill and free capacity (the youth's previous counsellor first)."""
        try:
            desk = self.context.settings.desk(desk_id)
        except KeyError:
            return 0
        if desk.assignment != "auto" or not open_now(desk, self.context.now()):
            return 0
        assigned = 0
        async with self._desk_locks[desk_id]:
            for item in await queued(self.context.store, {desk_id}):
                user = await self._pick_counsellor(desk_id, item)
                if user is None:
                    continue
                try:
                    await self.claim(item.conversation.id, user, by="auto")
                    assigned += 1
                except Conflict:
                    continue
        return assigned

    async def _pick_counsellor(self, desk_id: str, item: Handed) -> User | None:
        context = self.context
        candidates: list[tuple[bool, int, str, User]] = []
        for user in await online_counsellors(context.store, desk_id):
            if item.info.skill and item.info.skill not in user.skills:
                continue
            load_now = await active_count(context.store, user.id)
            if load_now >= user.capacity or not await has_live_session(context.store, context.settings, user.id):
                continue
            capped = item.conversation.risk_level >= 3 and await wellbeing.at_level3_cap(context, user.id)
            candidates.append((capped, user.id != item.info.previous_counsellor, load_now, user.username, user))
        if not candidates:
            return None
        # A counsellor at the level-3 cap comes last, never not at all: the youth must not wait for it.
        return min(candidates, key=lambda c: c[:4])[4]

    async def _colleague_can_take(self, capped_user: User, item: Handed) -> bool:
        """Whether someone else online on the desk, below the cap, with the skill and room, could take ``item``."""
        context = self.context
        for user in await online_counsellors(context.store, item.conversation.desk):
            if user.id == capped_user.id or (item.info.skill and item.info.skill not in user.skills):
                continue
            if await active_count(context.store, user.id) >= user.capacity:
                continue
            if not await wellbeing.at_level3_cap(context, user.id):
                return True
        return False

    async def presence_changed(self, user: User) -> None:
        if user.presence == Presence.ONLINE:
            await self.auto_assign(user.desk)
        await self.places.queue_changed(user.desk)  # the expected waits follow the staff online
