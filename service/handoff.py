"""Wire the handoff engine, its deadline watcher, the API and the demo accounts into the app."""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import AsyncIterator

from aiohttp import web

from contract.config import Settings
from contract.handoff import HandoffSink
from contract.keys import CHANNELS, HANDOFF, HTTP, LINKS, SETTINGS, STORE, STREAM, Link
from contract.models import Conversation, ConversationState, Direction, Message, SenderKind
from contract.people import Role
from handoff.alerts import AlertEscalation
from handoff.deadlines import DeadlineWatcher
from handoff.engine import HandoffEngine
from handoff.pager import pager_from
from handoff.presence import ConsolePresence
from handoff.tasks import TaskWatcher
from handoff.users import create_user, list_users
from handoff.web.api import setup_api
from handoff.web.console import setup_console
from handoff.web.keys import CONSOLE_PRESENCE, DEADLINES, ENGINE, TASKS, WORK_ORDERS
from handoff.web.work_orders import setup_work_order_callbacks
from handoff.work_orders import WorkOrderSender
from service.pager_http import http_transport
from service.pager_standin import mount_pager_standin, with_own_pager
from service.work_order_http import session_transport
from store.client import Store

log = logging.getLogger("youthdesk.handoff")


# (username, role, desk, display name, skills, capacity)
DEMO_ACCOUNTS: tuple[tuple[str, Role, str, str, list[str], int], ...] = (
    ("counsellor-sz", Role.COUNSELLOR, "sz", "深圳·林老师", ["psychological", "legal"], 3),
    ("counsellor-gd", Role.COUNSELLOR, "gd", "广东·陈老师", ["psychological"], 3),
    ("supervisor-gd", Role.SUPERVISOR, "gd", "广东·督导王老师", ["psychological", "legal"], 2),
    ("admin", Role.ADMIN, "national", "系统管理员", [], 0),
)


async def create_demo_accounts(store: Store, settings: Settings) -> dict[str, str]:
    """On a fresh demo store: the demo accounts with one-time random passwords (only hashes are kept)."""
    if await list_users(store):
        return {}
    passwords: dict[str, str] = {}
    for username, role, desk, display_name, skills, capacity in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(12)
        await create_user(store, settings, username=username, password=password, role=role, desk=desk,
                          display_name=display_name, skills=skills, capacity=capacity)
        passwords[username] = password
    return passwords


class HandoffOnlyRouter:
    """The stream's router while triage is off: nobody answers in the ``bot`` state, but the handoff
    engine still hears of every youth message in a conversation that is with a human (triage's
    router, when on, takes this over)."""

    def __init__(self, sink: HandoffSink) -> None:
        self.sink = sink

    async def route(self, conversation: Conversation, message: Message) -> None:
        if (message.direction == Direction.INBOUND and message.sender == SenderKind.YOUTH
                and conversation.state in (ConversationState.QUEUED, ConversationState.ASSIGNED)):
            await self.sink.youth_wrote(conversation, message)


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
    orders = app[WORK_ORDERS] = WorkOrderSender(engine.context, session_transport(lambda: app[HTTP]))
    app[HANDOFF] = engine
    app[STREAM].router = HandoffOnlyRouter(engine)
    presence = app[CONSOLE_PRESENCE] = ConsolePresence(engine.assignment, settings.handoff.console_away_after_seconds)
    if settings.service.env == "demo":
        passwords = await create_demo_accounts(app[STORE], settings)
        if passwords:
            lines = [f"    {name:<16} {password}" for name, password in passwords.items()]
            sys.stdout.write("\n  Demo console accounts (one-time passwords, shown only now):\n"
                             + "\n".join(lines) + "\n\n")
            sys.stdout.flush()
    await engine.start()
    await watcher.start()
    await tasks.start()
    await orders.start()
    yield
    await presence.close()
    await orders.stop()
    await tasks.stop()
    await watcher.stop()
    await engine.stop()
