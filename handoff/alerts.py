"""Alerts for supervisors: level-3 risk, deadline breaches, outreach tasks, closed reply windows.

An alert is stored (``alerts``) and published (``alert.raised``) with the ids of the supervisors
who must see it now: the online supervisors of the conversation's desk, or, when none is online,
those of the nearest ancestor desk that has one.

A level-3 alert nobody acknowledges escalates (``AlertEscalation``, on the deadline tick):
after ``reescalate_after_seconds`` the parent desk's supervisors are added to it, after
``page_after_seconds`` more the desk's on-call people (``[[desks.on_call]]``, else the nearest
desk above with a roster) are paged. Each step is recorded on the alert and published again as
``alert.raised`` (same id), so the consoles update the banner in place.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from contract.alerts import Alert, AlertState, AlertType
from contract.config import Settings
from contract.escalation import AlertStep, OnCallEntry
from contract.models import Event
from contract.people import User
from gateway.stream import ConversationStream
from handoff.access import ancestors, ensure_desk_access, visible_desks
from handoff.context import HandoffContext
from handoff.errors import Conflict, NotFound
from handoff.pager import Page, PageFailed, Pager
from store import alerts as stored
from store.client import Store
from store.users import online_supervisor_ids

log = logging.getLogger("youthdesk.handoff.alerts")

MAX_LISTED = 200


async def supervisors_to_notify(store: Store, settings: Settings, desk: str) -> list[str]:
    for candidate in [desk, *ancestors(settings, desk)]:
        if found := await online_supervisor_ids(store, candidate):
            return found
    return []


async def raise_alert(stream: ConversationStream, settings: Settings, *, type: AlertType,  # noqa: A002
                      conversation_id: str, desk: str, data: dict[str, Any] | None = None,
                      now: datetime | None = None) -> Alert:
    """``now``: the engine's clock, which the escalation of an unacknowledged alert measures from."""
    recipients = await supervisors_to_notify(stream.store, settings, desk)
    if not recipients:
        log.error("%s alert for %s: no supervisor online on desk %s or above", type, conversation_id, desk)
    alert = Alert(type=type, conversation_id=conversation_id, desk=desk, recipients=recipients, data=data or {})
    if now is not None:
        alert.created_at = now
    await stored.insert_alert(stream.store, alert)
    await stream.record_event(Event(type="alert.raised", conversation_id=conversation_id, desk=desk,
                                    data={"alert": alert.public()}))
    return alert


async def alerts_in_scope(store: Store, settings: Settings, user: User, state: AlertState | None) -> list[Alert]:
    """The newest alerts of the desks ``user`` sees; ``state=None`` for open and acknowledged alike."""
    return await stored.alerts_on_desks(store, visible_desks(user, settings), state, MAX_LISTED)


async def acknowledge(store: Store, settings: Settings, user: User, alert_id: str, now: datetime) -> Alert:
    alert = await stored.find_alert(store, alert_id)
    if alert is None:
        raise NotFound(alert_id)
    ensure_desk_access(user, alert.desk, settings)
    acknowledged = await stored.acknowledge_open_alert(store, alert_id, user.id, now)
    if acknowledged is None:
        raise Conflict("already acknowledged")
    return acknowledged


PAGE_TEXT = "【12355】{desk}有一条生命危险级求助已{seconds}秒无人确认，请立即登录工作台处理（提醒编号{ref}）。"


def on_call_for(settings: Settings, desk: str) -> tuple[str, list[OnCallEntry]]:
    """The roster of ``desk``, or of the nearest desk above it that has one."""
    for candidate in [desk, *ancestors(settings, desk)]:
        if roster := settings.desk(candidate).on_call:
            return candidate, list(roster)
    return desk, []


class AlertEscalation:
    def __init__(self, context: HandoffContext, pager: Pager | None) -> None:
        self.context = context
        self.pager = pager

    async def tick(self) -> None:
        rules, now = self.context.settings.handoff.alert_escalation, self.context.now()
        reescalate_at = timedelta(seconds=rules.reescalate_after_seconds)
        page_at = reescalate_at + timedelta(seconds=rules.page_after_seconds)
        # Only those old enough for their first step: the tick runs every second.
        for alert in await stored.open_alerts_of_type(self.context.store, "risk_level_3",
                                                      created_by=now - reescalate_at):
            age = now - alert.created_at
            due = (not alert.steps and age >= reescalate_at) or (len(alert.steps) == 1 and age >= page_at)
            if not due or not await stored.claim_alert_step(self.context.store, alert):
                continue
            if not alert.steps:
                await self._reescalate(alert)
            else:
                await self._page(alert, int(age.total_seconds()))

    async def _reescalate(self, alert: Alert) -> None:
        settings = self.context.settings
        above = ancestors(settings, alert.desk)
        parent = above[0] if above else alert.desk
        added = [s for s in await supervisors_to_notify(self.context.store, settings, parent)
                 if s not in alert.recipients]
        step = AlertStep(at=self.context.now(), kind="reescalated", desk=parent, recipients=added,
                         detail="" if added else "上级无在线督导")
        await self._record(alert, step, recipients=added)

    async def _page(self, alert: Alert, seconds: int) -> None:
        settings = self.context.settings
        roster_desk, roster = on_call_for(settings, alert.desk)
        if self.pager is None or not roster:
            why = "未配置呼叫服务" if self.pager is None else "未配置值班名单"
            await self._record(alert, AlertStep(at=self.context.now(), kind="nobody_to_page", desk=roster_desk,
                                                detail=why), recipients=[])
            log.error("level-3 alert %s unacknowledged for %d s and nobody can be paged: %s", alert.id, seconds, why)
            return
        desk_name = settings.desk(alert.desk).name
        paged: list[str] = []
        failures: list[str] = []
        for entry in roster:
            page = Page(to=entry, text=PAGE_TEXT.format(desk=desk_name, seconds=seconds, ref=alert.id),
                        desk_name=desk_name, seconds=seconds, ref=alert.id)
            try:
                provider_id = await self.pager.send(page)
            except PageFailed as exc:
                failures.append(f"{entry.name}: {exc}")
                continue
            paged.append(f"{entry.name}（{'短信' if entry.via == 'sms' else '语音'}，{provider_id}）")
        kind = "paged" if paged else "page_failed"
        step = AlertStep(at=self.context.now(), kind=kind, desk=roster_desk, recipients=paged,
                         detail="; ".join(failures)[:500])
        await self._record(alert, step, recipients=[])

    async def _record(self, alert: Alert, step: AlertStep, *, recipients: list[str]) -> None:
        updated = await stored.add_alert_step(self.context.store, alert, step, recipients=recipients)
        if updated is None:
            return  # acknowledged (or escalated by another instance) meanwhile
        log.warning("level-3 alert %s unacknowledged: %s at %s", alert.id, step.kind, step.desk)
        await self.context.stream.record_event(Event(
            type="alert.raised", conversation_id=updated.conversation_id, desk=step.desk,
            data={"alert": updated.public(), "step": step.model_dump(mode="json")}))
