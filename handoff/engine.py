"""The handoff engine: queueing, claiming, auto-assignment, risk rules and replies.

It implements ``contract.handoff.HandoffSink`` for triage and the operations the API calls.
Claiming is one conditional ``find_one_and_update`` on (state, owner), so two counsellors can
never own one conversation, even across gateway instances. Time-based rules (deadlines,
outreach) live in ``handoff.deadlines`` and transfers in ``handoff.transfer``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument

from contract.channel import ReplyPolicy
from contract.config import Settings
from contract.handoff import HandoffRequest
from contract.models import Conversation, ConversationState, Event, Message, SenderKind, utcnow
from gateway.stream import ConversationStream
from handoff import cases, ratings
from handoff.alerts import raise_alert
from handoff.desks import open_now
from handoff.queue import Handed, HandoffInfo, Transfer, load, positions, queued
from handoff.users import Presence, Role, User, active_count
from handoff.web.auth import ancestors, has_live_session, visible_desks
from store.client import Store

log = logging.getLogger("youthdesk.handoff")

RATING_REQUEST = "请回复1-5为本次服务打分（5分为非常满意）。谢谢你的信任，祝你一切都好。"
QUEUE_NOTICE = "已为你转接人工老师，你前面还有{ahead}位，预计等待约{minutes}分钟。请不要离开，老师会尽快回复你。"
LEAVE_MESSAGE_NOTE = "留言：值班时间外收到，等待下一班处理"


class HandoffError(Exception):
    """An operation the engine refuses; subclasses say why (the API maps them to 4xx)."""


class NotFound(HandoffError):
    pass


class NotPermitted(HandoffError):
    pass


class Conflict(HandoffError):
    pass


class Invalid(HandoffError):
    pass


class HandoffEngine:
    def __init__(self, *, stream: ConversationStream, settings: Settings,
                 reply_policies: dict[str, ReplyPolicy | None],
                 clock: Callable[[], datetime] | None = None) -> None:
        self.stream = stream
        self.store: Store = stream.store
        self.settings = settings
        self.reply_policies = reply_policies
        self.now: Callable[[], datetime] = clock or utcnow
        self._desk_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._listener: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="handoff:listen")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)

    async def _listen(self) -> None:
        """Follow youth messages (they start reply deadlines and end silences) and closed reply windows."""
        while True:
            subscription = self.stream.bus.subscribe(_concerns_engine, maxsize=10_000)
            async for event in subscription:
                try:
                    if event.type == "conversation.window_closed":
                        await self.on_window_closed(event)
                    else:
                        await self.on_youth_message(event.conversation_id or "")
                except Exception:  # noqa: BLE001 - one bad event must not stop deadline tracking
                    log.exception("handoff: bookkeeping failed for %s %s", event.type, event.conversation_id)
            if not subscription.lagged:
                return
            log.error("handoff listener lagged behind the bus; resubscribing")

    # --------------------------------------------------------- HandoffSink

    async def request_handoff(self, request: HandoffRequest) -> None:
        item = await load(self.store, request.conversation_id)
        if item is None:
            raise NotFound(request.conversation_id)
        if request.message_id and (request.risk_level or request.cues):
            await self.store.messages.update_one({"_id": request.message_id}, {"$set": {"risk": {
                "level": request.risk_level, "category": request.category, "cues": list(request.cues)}}})
        conversation = item.conversation
        if conversation.state in (ConversationState.QUEUED, ConversationState.ASSIGNED):
            if request.risk_level > conversation.risk_level:
                await self.set_risk(conversation.id, request.risk_level, request.category, by=None,
                                    reason=f"detector: {', '.join(request.cues)[:200]}")
            return
        if conversation.state == ConversationState.CLOSED:
            log.warning("handoff requested for closed conversation %s; ignored", conversation.id)
            return
        await self._enqueue(conversation, request)

    async def take_rating(self, conversation: Conversation, message: Message) -> bool:
        return await ratings.record_rating_if_answer(self.store, self.stream, conversation, message)

    # ------------------------------------------------------------- queueing

    async def _enqueue(self, conversation: Conversation, request: HandoffRequest) -> None:
        now = self.now()
        level = max(conversation.risk_level, request.risk_level)
        category = request.category or conversation.risk_category
        desk = self.settings.desk(conversation.desk)
        info = HandoffInfo(
            reason=request.reason, waiting_since=now, skill=self._skill_for(conversation.topic, category),
            last_youth_at=now, cues=list(request.cues),
            previous_counsellor=await self._previous_counsellor(conversation),
        )
        if not open_now(desk, now) and level >= 3:
            # A life at risk does not wait for the morning shift: the nearest staffed desk above takes it.
            staffed = self._nearest_open_ancestor(desk.id, now)
            if staffed is not None:
                info.transfers.append(Transfer(at=now, by="system", to="desk", from_desk=desk.id, to_desk=staffed,
                                               note="值班时间外的高危求助，自动转至上级值班台"))
                desk = self.settings.desk(staffed)
        is_open = open_now(desk, now)
        info.leave_message = not is_open or request.reason == "leave_message"
        if is_open:
            self._start_deadline(info, now, self.settings.handoff.deadline(level).first_response_seconds)
        # Conditional on the state we read: two handoff requests racing queue the conversation once.
        doc = await self.store.conversations.find_one_and_update(
            {"_id": conversation.id, "state": conversation.state},
            {"$set": {"state": ConversationState.QUEUED, "owner": None, "risk_level": level, "desk": desk.id,
                      "risk_category": category, "updated_at": now, "handoff": info.model_dump()}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            await self.request_handoff(request)  # someone else moved it first; apply the request to the new state
            return
        updated = Conversation.from_doc(doc)
        await self.stream.record_event(Event(
            type="conversation.state_changed", conversation_id=updated.id, desk=updated.desk,
            data={"from": conversation.state, "to": ConversationState.QUEUED, "reason": request.reason,
                  "risk_level": level}))
        await cases.open_case(self.store, self.settings, updated)
        if not is_open:
            await self.stream.send(conversation.id, desk.after_hours_message, sender=SenderKind.SYSTEM)
            await self.stream.send(conversation.id, LEAVE_MESSAGE_NOTE, sender=SenderKind.SYSTEM, private=True)
        if level >= 3:
            await self._alert_level3(updated, info)
        await self.queue_changed(updated.desk)
        await self.auto_assign(updated.desk)
        await self._notify_position(updated.id)

    async def adopt(self, conversation: Conversation) -> None:
        """A conversation queued without the engine (the stream's routing-failure fallback) gets its bookkeeping."""
        await self._enqueue(conversation, HandoffRequest(conversation_id=conversation.id, reason="routing_failed",
                                                         risk_level=conversation.risk_level,
                                                         category=conversation.risk_category))

    def _nearest_open_ancestor(self, desk_id: str, now: datetime) -> str | None:
        return next((d for d in ancestors(self.settings, desk_id) if open_now(self.settings.desk(d), now)), None)

    async def _previous_counsellor(self, conversation: Conversation) -> str | None:
        doc = await self.store.conversations.find_one(
            {"contact_id": conversation.contact_id, "_id": {"$ne": conversation.id}, "owner": {"$ne": None}},
            {"owner": 1}, sort=[("created_at", -1)],
        )
        return doc["owner"] if doc else None

    def _skill_for(self, topic: str | None, category: str | None) -> str | None:
        mapping = self.settings.handoff.topic_skills
        return mapping.get(topic or "") or mapping.get(category or "")

    def _start_deadline(self, info: HandoffInfo, now: datetime, seconds: int) -> None:
        info.deadline_started_at = now
        info.deadline_due_at = now + timedelta(seconds=seconds)
        info.deadline_state = "ok"

    async def _alert_level3(self, conversation: Conversation, info: HandoffInfo) -> None:
        await raise_alert(self.stream, self.settings, type="risk_level_3", conversation_id=conversation.id,
                          desk=conversation.desk, data={"risk_level": 3, "category": conversation.risk_category,
                                                        "cues": info.cues})
        await self.store.conversations.update_one({"_id": conversation.id},
                                                  {"$set": {"handoff.level3_alerted": True}})

    async def queue_changed(self, desk: str) -> None:
        await self.stream.bus.publish(Event(type="queue.changed", desk=desk, data={"desk": desk}))
        await self.publish_positions(desk)

    async def publish_positions(self, desk: str) -> None:
        """Tell every waiting youth of ``desk`` their place and expected wait (the widget shows it)."""
        items = await queued(self.store, {desk})
        places = positions(items)
        staff = await self._online_staff(desk)
        for item in items:
            position = places[item.conversation.id]
            await self.stream.publish("queue.position", item.conversation, position=position,
                                      expected_wait_seconds=self._expected_wait(position, staff))

    def _expected_wait(self, position: int, online_staff: int) -> int:
        return int(position * self.settings.handoff.expected_handle_seconds / max(1, online_staff))

    async def _online_staff(self, desk: str) -> int:
        return await self.store["users"].count_documents(
            {"desk": desk, "role": Role.COUNSELLOR.value, "presence": Presence.ONLINE.value})

    async def _notify_position(self, conversation_id: str) -> None:
        """One text message per handoff on budgeted platforms, only when the youth will really wait."""
        item = await load(self.store, conversation_id)
        if item is None or item.conversation.state != ConversationState.QUEUED or item.info.leave_message:
            return
        if item.info.queue_notice_sent or self.reply_policies.get(item.conversation.platform) is None:
            return
        items = await queued(self.store, {item.conversation.desk})
        position = positions(items).get(conversation_id, 1)
        wait = self._expected_wait(position, await self._online_staff(item.conversation.desk))
        if wait < 60:
            return
        result = await self.store.conversations.update_one(
            {"_id": conversation_id, "handoff.queue_notice_sent": False}, {"$set": {"handoff.queue_notice_sent": True}})
        if result.modified_count:
            await self.stream.send(conversation_id, QUEUE_NOTICE.format(ahead=position - 1, minutes=max(1, wait // 60)),
                                   sender=SenderKind.SYSTEM)

    # ------------------------------------------------------------- claiming

    async def claim(self, conversation_id: str, user: User, *, by: str | None = None) -> Conversation:
        """Make ``user`` the owner of a queued conversation; Conflict if someone else was faster."""
        item = await load(self.store, conversation_id)
        if item is None:
            raise NotFound(conversation_id)
        if item.conversation.desk not in visible_desks(user, self.settings):
            raise NotPermitted("outside your desks")
        if user.role == Role.COUNSELLOR and await active_count(self.store, user.id) >= user.capacity:
            raise Conflict("at capacity")
        now = self.now()
        doc = await self.store.conversations.find_one_and_update(
            {"_id": conversation_id, "state": ConversationState.QUEUED, "owner": None},
            {"$set": {"state": ConversationState.ASSIGNED, "owner": user.id, "updated_at": now,
                      "handoff.assigned_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise Conflict("already owned")
        conversation = Conversation.from_doc(doc)
        await self.stream.record_event(Event(
            type="conversation.state_changed", conversation_id=conversation.id, desk=conversation.desk,
            data={"from": ConversationState.QUEUED, "to": ConversationState.ASSIGNED, "reason": "claimed",
                  "by": by or user.id, "owner": user.id}))
        await self.stream.publish("conversation.assigned", conversation, owner=user.id,
                                  display_name=user.display_name, by=by or user.id)
        await self.queue_changed(conversation.desk)
        return conversation

    async def take_next(self, user: User, desk: str | None = None) -> Conversation | None:
        """Pull: the highest-priority queued conversation this user may take and has the skill for."""
        desks = visible_desks(user, self.settings)
        if desk is not None:
            if desk not in desks:
                raise NotPermitted("outside your desks")
            desks = {desk}
        elif user.role != Role.ADMIN:
            desks = {user.desk}
        for item in await queued(self.store, desks):
            if item.info.skill and item.info.skill not in user.skills:
                continue
            try:
                return await self.claim(item.conversation.id, user)
            except Conflict as exc:
                if str(exc) == "at capacity":
                    raise
        return None

    async def auto_assign(self, desk_id: str) -> int:
        """For ``assignment = "auto"`` desks: hand queued conversations to the least-loaded online
        counsellor (with a live session) with the skill and free capacity (the youth's previous counsellor first)."""
        try:
            desk = self.settings.desk(desk_id)
        except KeyError:
            return 0
        if desk.assignment != "auto" or not open_now(desk, self.now()):
            return 0
        assigned = 0
        async with self._desk_locks[desk_id]:
            for item in await queued(self.store, {desk_id}):
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
        docs = await self.store["users"].find({"desk": desk_id, "role": Role.COUNSELLOR.value,
                                               "presence": Presence.ONLINE.value}).to_list(None)
        candidates: list[tuple[bool, int, str, User]] = []
        for doc in docs:
            user = User.from_doc(doc)
            if item.info.skill and item.info.skill not in user.skills:
                continue
            load_now = await active_count(self.store, user.id)
            if load_now >= user.capacity or not await has_live_session(self.store, self.settings, user.id):
                continue
            candidates.append((user.id != item.info.previous_counsellor, load_now, user.username, user))
        if not candidates:
            return None
        return min(candidates, key=lambda c: c[:3])[3]

    async def set_presence_changed(self, user: User) -> None:
        if user.presence == Presence.ONLINE:
            await self.auto_assign(user.desk)
        await self.publish_positions(user.desk)

    # ------------------------------------------------------------------ risk

    async def set_risk(self, conversation_id: str, level: int, category: str | None, *, by: str | None,
                       reason: str) -> Conversation:
        if not 0 <= level <= 3:
            raise Invalid("level: 0-3")
        item = await load(self.store, conversation_id)
        if item is None:
            raise NotFound(conversation_id)
        info, now = item.info, self.now()
        changes: dict[str, Any] = {"risk_level": level, "updated_at": now}
        if category:
            changes["risk_category"] = category
        # A higher level shortens a running deadline; a lower one never extends it.
        if info.deadline_due_at is not None and info.deadline_started_at is not None:
            rule = self.settings.handoff.deadline(level)
            seconds = rule.first_response_seconds if info.first_responded_at is None else rule.reply_seconds
            due = info.deadline_started_at + timedelta(seconds=seconds)
            if due < info.deadline_due_at:
                changes["handoff.deadline_due_at"] = due
        if level >= 2 and info.last_youth_at is None:
            changes["handoff.last_youth_at"] = now
        doc = await self.store.conversations.find_one_and_update(
            {"_id": conversation_id}, {"$set": changes}, return_document=ReturnDocument.AFTER)
        conversation = Conversation.from_doc(doc)
        await cases.follow_risk(self.store, conversation_id, level)
        await self.stream.record_event(Event(
            type="conversation.risk_changed", conversation_id=conversation_id, desk=conversation.desk,
            data={"from": item.conversation.risk_level, "to": level, "category": conversation.risk_category,
                  "by": by, "reason": reason}))
        if level >= 3 and conversation.state == ConversationState.QUEUED and info.leave_message:
            conversation = await self._escalate_waiting_message(conversation, now)
        if level >= 3 and not info.level3_alerted and conversation.state != ConversationState.CLOSED:
            await self._alert_level3(conversation, info)
        if conversation.state == ConversationState.QUEUED:
            await self.queue_changed(conversation.desk)
            if conversation.desk != item.conversation.desk:
                await self.queue_changed(item.conversation.desk)
            await self.auto_assign(conversation.desk)
        return conversation

    async def _escalate_waiting_message(self, conversation: Conversation, now: datetime) -> Conversation:
        """A 留言 that turns out to be a crisis moves to the nearest staffed desk above, clock running."""
        if open_now(self.settings.desk(conversation.desk), now):
            return conversation
        staffed = self._nearest_open_ancestor(conversation.desk, now)
        if staffed is None:
            return conversation
        seconds = self.settings.handoff.deadline(3).first_response_seconds
        record = Transfer(at=now, by="system", to="desk", from_desk=conversation.desk, to_desk=staffed,
                          note="留言中出现高危信号，自动转至上级值班台")
        doc = await self.store.conversations.find_one_and_update(
            {"_id": conversation.id, "state": ConversationState.QUEUED, "desk": conversation.desk},
            {"$set": {"desk": staffed, "handoff.leave_message": False, "handoff.deadline_started_at": now,
                      "handoff.deadline_due_at": now + timedelta(seconds=seconds), "handoff.deadline_state": "ok"},
             "$push": {"handoff.transfers": record.model_dump()}},
            return_document=ReturnDocument.AFTER)
        if doc is None:
            return conversation
        moved = Conversation.from_doc(doc)
        await cases.move_case(self.store, moved.id, staffed)
        return moved

    # ------------------------------------------------------------- messages

    async def reply(self, conversation_id: str, user: User, text: str) -> Message:
        item = await self._require(conversation_id)
        conversation = item.conversation
        if conversation.state != ConversationState.ASSIGNED:
            raise Conflict("conversation is not assigned")
        if conversation.owner != user.id and user.id not in item.info.joined:
            raise NotPermitted("only the owner (or a supervisor who joined) may reply")
        message = await self.stream.send(conversation_id, text, sender=SenderKind.COUNSELLOR, sender_id=user.id)
        now = self.now()
        changes: dict[str, Any] = {"handoff.deadline_due_at": None, "handoff.deadline_started_at": None,
                                   "handoff.deadline_state": "ok"}
        if item.info.first_responded_at is None:
            changes["handoff.first_responded_at"] = now
        await self.store.conversations.update_one({"_id": conversation_id}, {"$set": changes})
        return message

    async def on_youth_message(self, conversation_id: str) -> None:
        """A youth wrote while waiting or assigned: the silence ends, a reply deadline starts."""
        item = await load(self.store, conversation_id)
        if item is None or item.conversation.state not in (ConversationState.QUEUED, ConversationState.ASSIGNED):
            return
        now = self.now()
        changes: dict[str, Any] = {"handoff.last_youth_at": now}
        info = item.info
        if (item.conversation.state == ConversationState.ASSIGNED and info.first_responded_at is not None
                and info.deadline_due_at is None):
            seconds = self.settings.handoff.deadline(item.conversation.risk_level).reply_seconds
            changes.update({"handoff.deadline_started_at": now,
                            "handoff.deadline_due_at": now + timedelta(seconds=seconds),
                            "handoff.deadline_state": "ok"})
        await self.store.conversations.update_one({"_id": conversation_id}, {"$set": changes})

    async def on_window_closed(self, event: Event) -> None:
        """The platform refused a counsellor's message: a supervisor must find another way to reach the youth."""
        item = await load(self.store, event.conversation_id or "")
        if item is None or item.conversation.state not in (ConversationState.QUEUED, ConversationState.ASSIGNED):
            return
        await raise_alert(self.stream, self.settings, type="window_closed", conversation_id=item.conversation.id,
                          desk=item.conversation.desk, data={"reason": event.data.get("reason"),
                                                             "risk_level": item.conversation.risk_level})

    async def join(self, conversation_id: str, user: User) -> Conversation:
        if user.role not in (Role.SUPERVISOR, Role.ADMIN):
            raise NotPermitted("supervisors only")
        await self._require(conversation_id)
        doc = await self.store.conversations.find_one_and_update(
            {"_id": conversation_id}, {"$addToSet": {"handoff.joined": user.id}},
            return_document=ReturnDocument.AFTER)
        conversation = Conversation.from_doc(doc)
        await self.stream.publish("conversation.joined", conversation, user_id=user.id,
                                  display_name=user.display_name)
        return conversation

    # --------------------------------------------------------------- closing

    async def close(self, conversation_id: str, user: User, *, outcome: str, request_rating: bool,
                    no_referral_reason: str | None = None) -> Conversation:
        item = await self._require(conversation_id)
        conversation = item.conversation
        if conversation.state == ConversationState.CLOSED:
            raise Conflict("already closed")
        if user.role == Role.COUNSELLOR and conversation.owner != user.id:
            raise NotPermitted("only the owner may close")
        case = await cases.get_case_for_conversation(self.store, conversation_id)
        missing = cases.missing_before_close(case, conversation.risk_level, no_referral_reason)
        if missing:
            raise Conflict("required before closing: " + ", ".join(missing))
        closed = await self.stream.set_state(conversation_id, ConversationState.CLOSED, reason="closed",
                                             by=user.id, outcome=outcome[:200],
                                             **{"handoff.deadline_due_at": None, "handoff.deadline_state": "ok"})
        await cases.close_case(self.store, closed.id, outcome, by=user.id, no_referral_reason=no_referral_reason)
        if request_rating:
            await self.stream.send(conversation_id, RATING_REQUEST, sender=SenderKind.SYSTEM)
        await self.queue_changed(closed.desk)
        await self.auto_assign(closed.desk)
        return closed

    async def _require(self, conversation_id: str) -> Handed:
        item = await load(self.store, conversation_id)
        if item is None:
            raise NotFound(conversation_id)
        return item


def _concerns_engine(event: Event) -> bool:
    if event.type == "conversation.window_closed":
        return True
    if event.type != "message.created":
        return False
    message = event.data.get("message") or {}
    return message.get("direction") == "in"
