"""Wire triage into the app: the detector (loaded once), the Rasa client, the router, ``/healthz``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.rasa_client import RasaUnavailable, make_rasa_client
from bot.risk import RiskDetector
from bot.risk_model import repository_model
from bot.router import TriageRouter
from bot.triage import load_risk_intents
from contract.keys import CHANNELS, HANDOFF, HEALTH_CHECKS, HTTP, SETTINGS, STREAM
from service.health import ComponentHealth, HealthCheck

log = logging.getLogger("youthdesk.bot")


def setup_triage(app: web.Application) -> None:
    """Call after the core contexts (and the handoff engine's): the router needs the stream."""
    if app[SETTINGS].service.triage_enabled:
        app.cleanup_ctx.append(_triage_ctx)


async def _triage_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    detector = RiskDetector()  # loads and validates the lexicon once; a broken lexicon stops start-up
    # A few seconds of training, once per process: start-up rather than the first youth message pays.
    model = repository_model(detector)
    rasa = make_rasa_client(settings.service, lambda: app[HTTP])
    budgeted = frozenset(p for p, channel in app[CHANNELS].items() if channel.reply_policy is not None)
    app[STREAM].router = TriageRouter(stream=app[STREAM], settings=settings, detector=detector, model=model, rasa=rasa,
                                      handoff=app[HANDOFF], intents=load_risk_intents(), budgeted_platforms=budgeted)
    log.info("triage ready: lexicon %s, risk model from %d messages, Rasa %s", detector.lexicon.version,
             model.examples, settings.service.rasa_url or "not set")

    async def bot_health() -> ComponentHealth:
        lexicon = (f"risk detector active (lexicon {detector.lexicon.version}, "
                   f"risk model from {model.examples} messages)")
        if rasa is None:
            return ComponentHealth("degraded", f"Rasa not configured; {lexicon}")
        try:
            up = await rasa.status()
        except RasaUnavailable:
            return ComponentHealth("degraded", f"Rasa unreachable at {rasa.base_url} (starting or down); {lexicon}")
        if not up:
            return ComponentHealth("degraded", f"Rasa has no model loaded; {lexicon}")
        return ComponentHealth("ok", f"Rasa up; {lexicon}")

    app[HEALTH_CHECKS].append(HealthCheck("bot", False, bot_health))
    yield
