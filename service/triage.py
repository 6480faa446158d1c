"""Wire triage into the app: the detector (loaded once), the Rasa client, the router, ``/healthz``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.rasa_client import RasaUnavailable, make_rasa_client
from bot.risk import RiskDetector
from bot.risk_artifact import load_current
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
    # The promoted artifact (bot/risk_models/); missing or broken, triage runs on the lexicon and says so.
    loaded = load_current(detector.normalise, detector.lexicon.version)
    model = loaded.model
    rasa = make_rasa_client(settings.service, lambda: app[HTTP])
    budgeted = frozenset(p for p, channel in app[CHANNELS].items() if channel.reply_policy is not None)
    app[STREAM].router = TriageRouter(stream=app[STREAM], settings=settings, detector=detector, model=model, rasa=rasa,
                                      handoff=app[HANDOFF], intents=load_risk_intents(), budgeted_platforms=budgeted)
    log.info("triage ready: lexicon %s, %s, Rasa %s", detector.lexicon.version, loaded.detail,
             settings.service.rasa_url or "not set")

    async def risk_model_health() -> ComponentHealth:
        return ComponentHealth("ok" if loaded.healthy else "degraded", loaded.detail)

    async def bot_health() -> ComponentHealth:
        lexicon = f"risk detector active (lexicon {detector.lexicon.version}, {loaded.detail})"
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
    app[HEALTH_CHECKS].append(HealthCheck("risk_model", False, risk_model_health))
    yield
