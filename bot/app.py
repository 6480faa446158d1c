"""Wire triage into the app: the detector (loaded once), the Rasa client, the router, ``/healthz``."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from bot.risk import RiskDetector
from bot.router import BotClient, TriageRouter
from bot.triage import load_risk_intents
from gateway.config import ServiceConfig
from gateway.health import ComponentHealth, HealthCheck
from gateway.keys import CHANNELS, HANDOFF, HEALTH_CHECKS, HTTP, SETTINGS, STREAM
from gateway.models import Conversation, ConversationState, Message
from gateway.stream import ConversationStream
from handoff.signal import HandoffRequest

log = logging.getLogger("youthdesk.bot")


def setup_triage(app: web.Application) -> None:
    """Call after the core contexts (and the handoff engine's): the router needs the stream."""
    if app[SETTINGS].service.triage_enabled:
        app.cleanup_ctx.append(_triage_ctx)


def make_rasa_client(service: ServiceConfig, http: Callable[[], aiohttp.ClientSession],
                     *, base_url: str | None = None, token: str | None = None) -> BotClient | None:
    """A ``bot.rasa_client.RasaClient`` when a Rasa URL is set and the client module is installed."""
    url = base_url if base_url is not None else service.rasa_url
    if not url:
        return None
    try:
        module = importlib.import_module("bot.rasa_client")
    except ModuleNotFoundError as exc:
        if exc.name != "bot.rasa_client":
            raise
        log.error("bot.rasa_client is missing: the bot is down, every conversation goes to a counsellor")
        return None
    return module.RasaClient(base_url=url, token=token if token is not None else service.rasa_token,
                             timeout=service.rasa_timeout_seconds, http=http)


async def _triage_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    detector = RiskDetector()  # loads and validates the lexicon once; a broken lexicon stops start-up
    rasa = make_rasa_client(settings.service, lambda: app[HTTP])
    sink = app.get(HANDOFF) or QueueOnlySink(app[STREAM])
    budgeted = frozenset(p for p, channel in app[CHANNELS].items() if channel.reply_policy is not None)
    app[STREAM].router = TriageRouter(stream=app[STREAM], settings=settings, detector=detector, rasa=rasa,
                                      handoff=sink, intents=load_risk_intents(), budgeted_platforms=budgeted)
    log.info("triage ready: lexicon %s, Rasa %s", detector.lexicon.version, settings.service.rasa_url or "not set")

    async def bot_health() -> ComponentHealth:
        lexicon = f"risk detector active (lexicon {detector.lexicon.version})"
        if rasa is None:
            return ComponentHealth("degraded", f"Rasa not configured; {lexicon}")
        try:
            up = await rasa.status()
        except Exception as exc:  # noqa: BLE001 - health reports, it does not raise
            return ComponentHealth("degraded", f"Rasa unreachable ({exc!r}); {lexicon}")
        if not up:
            return ComponentHealth("degraded", f"Rasa has no model loaded; {lexicon}")
        return ComponentHealth("ok", f"Rasa up; {lexicon}")

    app[HEALTH_CHECKS].append(HealthCheck("bot", False, bot_health))
    yield


class QueueOnlySink:
    """Without the handoff engine: put the conversation in the queue with its risk, nothing more."""

    def __init__(self, stream: ConversationStream) -> None:
        self.stream = stream

    async def request_handoff(self, request: HandoffRequest) -> None:
        conversation = await self.stream.get_conversation(request.conversation_id)
        if conversation.state == ConversationState.CLOSED:
            return
        level = max(conversation.risk_level, request.risk_level)
        await self.stream.set_state(conversation.id, ConversationState.QUEUED, reason=request.reason,
                                    risk_level=level, risk_category=request.category or conversation.risk_category)

    async def take_rating(self, conversation: Conversation, message: Message) -> bool:
        return False
