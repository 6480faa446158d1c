"""Wire the handoff engine, its deadline and early-warning watchers, the API and the demo accounts into the app."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator

from aiohttp import web

from contract.handoff import HandoffSink, phone_call_handoff
from contract.keys import CHANNELS, HANDOFF, HTTP, LINKS, SETTINGS, STORE, STREAM, Link
from contract.models import Conversation, ConversationState, Direction, Message, SenderKind
from handoff.alerts import AlertEscalation
from handoff.appointments import AppointmentReminders
from handoff.deadlines import DeadlineWatcher
from handoff.early_warning_watch import EarlyWarningWatcher
from handoff.engine import HandoffEngine
from handoff.pager import pager_from
from handoff.presence import ConsolePresence, SharedConsoleCounts
from handoff.sign_in_limits import SharedSignInFailures
from handoff.tasks import TaskWatcher
from handoff.web.api import setup_api
from handoff.web.api.session import SHARED_FAILURES, THROTTLE
from handoff.web.console import setup_console
from handoff.web.keys import (
    APPOINTMENT_REMINDERS,
    CONSOLE_PRESENCE,
    DEADLINES,
    EARLY_WARNINGS,
    ENGINE,
    TASKS,
    WORK_ORDERS,
)
from handoff.web.work_orders import setup_work_order_callbacks
from handoff.work_orders import WorkOrderSender
from service.demo_accounts import ensure_demo_accounts
from service.pager_http import http_transport
from service.pager_standin import mount_pager_standin, with_own_pager
from service.work_order_http import session_transport

log = logging.getLogger("youthdesk.handoff")


class HandoffOnlyRouter:
    """The stream's router while triage is off: nobody answers in the ``bot`` state, but a phone call
    still goes to a human and the handoff engine still hears of every youth message in a conversation
    that is with a human (triage's router, when on, takes this over)."""

    def __init__(self, sink: HandoffSink) -> None:
        self.sink = sink

    async def route(self, conversation: Conversation, message: Message) -> None:
        if message.direction != Direction.INBOUND or message.sender != SenderKind.YOUTH:
            return
        if conversation.state in (ConversationState.QUEUED, ConversationState.ASSIGNED):
            await self.sink.youth_wrote(conversation, message)
        elif conversation.state == ConversationState.BOT and (call := phone_call_handoff(message)) is not None:
            await self.sink.request_handoff(call)


def setup_handoff(app: web.Application) -> None:
    """Call right after the core cleanup contexts: the engine starts once the stream exists."""
    setup_api(app)
    setup_console(app)
    mount_pager_standin(app, app[SETTINGS])
    setup_work_order_callbacks(app)
    app[LINKS].append(Link("咨询师工作台", "/console/", "接待转人工的会话、处理工单（需登录）"))
    app.cleanup_ctx.append(_handoff_ctx)


async def _handoff_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    policies = {platform: channel.reply_policy for platform, channel in app[CHANNELS].items()}
    by_text = frozenset(platform for platform, channel in app[CHANNELS].items() if channel.queue_notice == "text")
    engine = HandoffEngine(stream=app[STREAM], settings=settings, reply_policies=policies,
                           text_notice_platforms=by_text)
    alert_escalation = AlertEscalation(engine.context, pager_from(with_own_pager(settings), http_transport))
    watcher = DeadlineWatcher(engine.context, engine.assignment, overflow=engine.overflow,
                              alert_escalation=alert_escalation, leave_messages=engine.leave_messages)
    app[ENGINE] = engine
    app[DEADLINES] = watcher
    tasks = app[TASKS] = TaskWatcher(engine.context)
    early_warnings = app[EARLY_WARNINGS] = EarlyWarningWatcher(engine.context)
    reminders = app[APPOINTMENT_REMINDERS] = AppointmentReminders(engine.context)
    orders = app[WORK_ORDERS] = WorkOrderSender(engine.context, session_transport(lambda: app[HTTP]))
    app[HANDOFF] = engine
    app[STREAM].router = HandoffOnlyRouter(engine)
    shared = SharedConsoleCounts(settings.service.redis_url) if settings.service.redis_url else None
    if shared is not None:
        await shared.start()
    presence = app[CONSOLE_PRESENCE] = ConsolePresence(engine.assignment, settings.handoff.console_away_after_seconds,
                                                       shared)
    sign_in_failures = None
    if settings.service.redis_url:
        sign_in_failures = app[SHARED_FAILURES] = SharedSignInFailures(settings.service.redis_url, app[THROTTLE])
    if settings.service.env == "demo":
        # Every start: an operator who restarts the demo must still be able to sign in.
        sys.stdout.write((await ensure_demo_accounts(app[STORE], settings)).banner())
        sys.stdout.flush()
    await engine.start()
    await watcher.start()
    await tasks.start()
    await early_warnings.start()
    await reminders.start()
    await orders.start()
    yield
    await early_warnings.stop()
    await presence.close()
    if sign_in_failures is not None:
        await sign_in_failures.close()
    await reminders.stop()
    await orders.stop()
    await tasks.stop()
    await watcher.stop()
    await engine.stop()
