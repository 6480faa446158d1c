"""Surge mode (重大突发事件): a desk's risk conversations go straight to named regional centres.

After a disaster or a school incident one city's desk can be flooded. A supervisor of a regional or
the national centre (or an admin) puts a desk they supervise into surge, naming regional centres;
from then on every waiting conversation at level >= 2 of that desk and the desks below it is moved
to the first named centre and shown in the others' queues too (``handoff.overflow``). Starting and
ending a surge is audited, and every affected console shows a banner (it re-reads ``/surges`` on
``queue.changed``, which each affected desk hears).
"""

from __future__ import annotations

from contract.config import Settings
from contract.escalation import Surge
from contract.models import Event
from contract.people import Role, User
from gateway.stream import ConversationStream
from handoff import audit
from handoff.access import descendants, ensure_desk_access, visible_desks
from handoff.context import HandoffContext
from handoff.errors import Invalid, NotFound, NotPermitted
from store import alerts as stored

SURGE_LEVELS = ("regional", "national")


def covering(settings: Settings, surges: list[Surge], desk_id: str) -> Surge | None:
    """The active surge that covers ``desk_id`` (its own desk or one above it), oldest first."""
    return next((s for s in surges if desk_id in descendants(settings, s.desk)), None)


def affected_desks(settings: Settings, surge: Surge) -> set[str]:
    return descendants(settings, surge.desk) | set(surge.to_desks)


def surges_in_scope(settings: Settings, user: User, surges: list[Surge]) -> list[Surge]:
    """The surges a user's console must show: those touching any desk they see."""
    mine = visible_desks(user, settings)
    return [s for s in surges if affected_desks(settings, s) & mine]


def _ensure_may_declare(settings: Settings, user: User) -> None:
    if user.role == Role.ADMIN:
        return
    if user.role != Role.SUPERVISOR or settings.desk(user.desk).level not in SURGE_LEVELS:
        raise NotPermitted("only a regional or national supervisor may declare a surge")


class Surges:
    def __init__(self, context: HandoffContext) -> None:
        self.context = context

    @property
    def stream(self) -> ConversationStream:
        return self.context.stream

    async def active(self) -> list[Surge]:
        return await stored.active_surges(self.context.store)

    async def start(self, user: User, *, desk: str, to_desks: list[str], reason: str) -> Surge:
        settings = self.context.settings
        _ensure_may_declare(settings, user)
        try:
            settings.desk(desk)
        except KeyError:
            raise NotFound(desk) from None
        ensure_desk_access(user, desk, settings)
        if not to_desks or len(set(to_desks)) != len(to_desks):
            raise Invalid("to_desks: one or more distinct regional centres")
        for target in to_desks:
            try:
                level = settings.desk(target).level
            except KeyError:
                raise Invalid(f"to_desks: unknown desk {target}") from None
            if level != "regional" or target in descendants(settings, desk):
                raise Invalid(f"to_desks: {target} is not a regional centre outside the surge")
        if any(s.desk == desk for s in await self.active()):
            raise Invalid("desk is already in surge")
        surge = Surge(desk=desk, to_desks=to_desks, reason=reason, started_by=user.id, started_at=self.context.now())
        await stored.insert_surge(self.context.store, surge)
        await audit.record(self.context.store, user.id, "surge.started", desk,
                           f"{reason} → {', '.join(to_desks)}")
        await self._announce(surge, "started")
        return surge

    async def end(self, user: User, surge_id: str) -> Surge:
        settings = self.context.settings
        _ensure_may_declare(settings, user)
        found = next((s for s in await self.active() if s.id == surge_id), None)
        if found is None:
            raise NotFound(surge_id)
        ensure_desk_access(user, found.desk, settings)
        ended = await stored.end_surge(self.context.store, surge_id, user.id, self.context.now())
        if ended is None:
            raise NotFound(surge_id)
        await audit.record(self.context.store, user.id, "surge.ended", ended.desk, ended.reason)
        await self._announce(ended, "ended")
        return ended

    async def _announce(self, surge: Surge, change: str) -> None:
        await self.stream.record_event(Event(type="surge.changed", desk=surge.desk,
                                             data={"surge": surge.public(), "change": change}))
        for desk in sorted(affected_desks(self.context.settings, surge)):
            await self.stream.bus.publish(Event(type="queue.changed", desk=desk, data={"desk": desk}))
