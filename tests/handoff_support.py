"""Shared set-up for the handoff tests: an app with users, queued conversations and API sign-in."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from contract.config import Settings
from contract.handoff import HandoffRequest
from contract.keys import SETTINGS, STORE, STREAM
from contract.people import Presence, User
from handoff.engine import HandoffEngine
from handoff.sessions import create_session
from handoff.users import create_user, get_user_by_username, set_presence
from handoff.web.keys import DEADLINES, ENGINE
from service.handoff import HandoffOnlyRouter
from tests.fakes import RecordingChannel, inbound, wait_for

PASSWORD = "correct-horse-battery"
_ids = itertools.count(1)


class AnotherRequest:
    """Another request on the event loop, taking a turn whenever the loop is given back: what a webhook
    arriving meanwhile would get. ``turns`` counts them; with ``steps``, a turn is marked there too (once
    between two other steps)."""

    def __init__(self, steps: list[str] | None = None) -> None:
        self.steps = steps
        self.turns = 0
        self._running = False
        self._task: asyncio.Task[None] | None = None

    async def _take_turns(self) -> None:
        while self._running:
            self.turns += 1
            if self.steps is not None and (not self.steps or self.steps[-1] != "turn"):
                self.steps.append("turn")
            await asyncio.sleep(0)

    async def __aenter__(self) -> AnotherRequest:
        self._running = True
        self._task = asyncio.create_task(self._take_turns())
        await asyncio.sleep(0)
        self.turns = 0
        if self.steps is not None:
            self.steps.clear()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._running = False
        assert self._task is not None
        await self._task


def engine(client: TestClient) -> HandoffEngine:
    return client.app[ENGINE]


async def start(start_app, settings: Settings | None = None, *, auto: bool = False,  # type: ignore[no-untyped-def]
                **kwargs: Any) -> TestClient:
    """The app with the recording channel (demo wechat account → desk gd, a pull desk, always open).

    ``auto=True`` makes gd an auto-assign desk. Triage's router, when present, is replaced by the one that
    only tells the engine a youth wrote.
    """
    kwargs.setdefault("channel_classes", [RecordingChannel])
    if settings is not None:
        if auto:
            desks = [d.model_copy(update={"assignment": "auto"}) if d.id == "gd" else d for d in settings.desks]
            settings = settings.model_copy(update={"desks": desks})
        kwargs["settings"] = settings
    client = await start_app(**kwargs)
    # These tests play triage themselves (explicit HandoffRequests); a live triage router would race them.
    client.app[STREAM].router = HandoffOnlyRouter(engine(client))
    return client


def at_shenzhen(settings: Settings) -> Settings:
    """The demo WeChat account feeds the Shenzhen desk, and every desk is open (the tests move the clock)."""
    accounts = [a.model_copy(update={"desk": "sz"}) if a.platform == "wechat" else a for a in settings.accounts]
    desks = [d.model_copy(update={"hours": "00:00-24:00", "assignment": "pull"}) for d in settings.desks]
    return settings.model_copy(update={"accounts": accounts, "desks": desks})


async def user(client: TestClient, username: str, role: str = "counsellor", desk: str = "sz", *,
               skills: list[str] | None = None, capacity: int = 3, online: bool = True) -> User:
    created = await create_user(client.app[STORE], client.app[SETTINGS], username=username, password=PASSWORD,
                                role=role, desk=desk, skills=skills, capacity=capacity)
    if online:
        created = await set_presence(client.app[STORE], created.id, Presence.ONLINE) or created
        await create_session(client.app[STORE], created)  # at a console: auto-assignment may pick them
    return created


async def conversation(client: TestClient, *, risk: int = 0, category: str | None = None,
                       account: str = "wxdemo0000000001", youth: str | None = None,
                       reason: str = "ask_human") -> str:
    """A youth writes in and is handed off; returns the conversation id."""
    n = next(_ids)
    result = await client.app[STREAM].ingest(inbound(f"消息{n}", user=youth or f"openid-{n}", msg_id=f"m{n}",
                                                     account=account))
    # Routed (in the bot's hands) before the handoff, as a youth's first message is: routed later, with a
    # counsellor, it would count as the youth writing again.
    await wait_for(lambda: client.app[STREAM].in_flight == 0)
    await engine(client).request_handoff(HandoffRequest(
        conversation_id=result.conversation_id, reason="risk" if risk else reason, risk_level=risk,
        category=category, cues=["测试"] if risk else [], message_id=result.message_id))
    return result.conversation_id


class Clock:
    """The engine's clock, moved by hand from the moment it is made; ``at`` also runs the deadline tick.

    The app's own deadline ticker is stopped at the first move: a background tick racing the one run by
    hand (on a loaded machine it lands mid-test) would page, count or read twice.
    """

    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.base = engine(client).now()

    async def at(self, seconds: float) -> None:
        await self.client.app[DEADLINES].stop()
        engine(self.client).now = lambda: self.base + timedelta(seconds=seconds)
        await self.client.app[DEADLINES].tick()


async def drain(ws, seconds: float = 0.3, *, until: Callable[[list[dict]], bool] | None = None,  # type: ignore[no-untyped-def]
                patience: float = 10.0) -> list[dict]:
    """The console WebSocket's events until it is quiet for ``seconds``; with ``until``, not before the
    events heard satisfy it (or ``patience`` seconds passed): on a loaded machine an expected event can
    come after a quiet gap longer than ``seconds``."""
    events: list[dict] = []
    try:
        while True:
            waiting = until is not None and not until(events)
            message = await asyncio.wait_for(ws.receive(), patience if waiting else seconds)
            if message.type != aiohttp.WSMsgType.TEXT:
                return events
            events.append(json.loads(message.data))
    except TimeoutError:
        return events


async def login(client: TestClient, username: str) -> dict[str, str]:
    """Bearer headers for ``username``: a session made directly (the sign-in route has its own tests,
    and skipping argon2 here keeps twenty-user tests fast)."""
    found = await get_user_by_username(client.app[STORE], username)
    assert found is not None, username
    token, _ = await create_session(client.app[STORE], found)
    return {"Authorization": f"Bearer {token}"}


def fed_to_shenzhen(settings: Settings) -> Settings:
    """The demo WeChat account feeding Shenzhen, a city desk (appointments), which assigns by pulling."""
    accounts = [a.model_copy(update={"desk": "sz"}) if a.id == "wxdemo0000000001" else a for a in settings.accounts]
    desks = [d.model_copy(update={"assignment": "pull"}) if d.id == "sz" else d for d in settings.desks]
    return settings.model_copy(update={"accounts": accounts, "desks": desks})
