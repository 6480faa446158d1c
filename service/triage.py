"""Wire triage into the app: the detector (loaded once), the Rasa client, the router, ``/healthz``.

The risk model is loaded at start and again on a reload (``bot.risk_reload``) after ``youthdesk risk
promote``: asked by an admin through the console API (``POST /api/v1/risk-model/reload``, or
``youthdesk risk reload``), which reaches every gateway sharing the event bus, or by SIGHUP
(``kill -HUP <pid>``), which reloads this process only. A reload that cannot read the promoted
artifact keeps the running model (it says so loudly and ``/healthz`` shows it).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from bot.rasa_client import RasaUnavailable, make_rasa_client
from bot.risk_artifact import load_current
from bot.risk_hint import RememberingDetector, RiskHint
from bot.risk_reload import RiskModelReloads
from bot.router import TriageRouter
from bot.triage import load_risk_intents
from contract.keys import BUS, CHANNELS, HANDOFF, HEALTH_CHECKS, HTTP, RISK_MODEL, SETTINGS, STREAM
from service.health import ComponentHealth, HealthCheck

log = logging.getLogger("youthdesk.bot")


def setup_triage(app: web.Application) -> None:
    """Call after the core contexts (and the handoff engine's): the router needs the stream."""
    if app[SETTINGS].service.triage_enabled:
        app.cleanup_ctx.append(_triage_ctx)


async def _triage_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # Loads and validates the lexicon once (a broken lexicon stops start-up); shared by the screen and triage.
    detector = RememberingDetector()
    # The promoted artifact (bot/risk_models/); missing or broken, triage runs on the lexicon and says so.
    loaded = load_current(detector.normalise, detector.lexicon.version)
    rasa = make_rasa_client(settings.service, lambda: app[HTTP])
    budgeted = frozenset(p for p, channel in app[CHANNELS].items() if channel.reply_policy is not None)
    router = TriageRouter(stream=app[STREAM], settings=settings, detector=detector, model=loaded.model, rasa=rasa,
                          handoff=app[HANDOFF], intents=load_risk_intents(), budgeted_platforms=budgeted)
    app[STREAM].router = router
    app[STREAM].risk_hint = RiskHint(detector)  # which stored messages the backlog routes first
    log.info("triage ready: lexicon %s, %s, Rasa %s", detector.lexicon.version, loaded.detail,
             settings.service.rasa_url or "not set")
    reloads = RiskModelReloads(router=router, loaded=loaded, normalise=detector.normalise,
                               lexicon_version=detector.lexicon.version, bus=app[BUS])
    app[RISK_MODEL] = reloads
    tasks: set[asyncio.Task[object]] = {asyncio.create_task(reloads.answer_requests(), name="risk_model:reloads")}

    def on_sighup() -> None:
        task = asyncio.get_running_loop().create_task(reloads.reload_here())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
        listening = True
    except (NotImplementedError, RuntimeError, ValueError) as exc:  # no signals here (not the main thread)
        log.warning("risk model reload on SIGHUP unavailable (%r): use youthdesk risk reload", exc)
        listening = False

    async def risk_model_health() -> ComponentHealth:
        return ComponentHealth("ok" if reloads.healthy else "degraded", reloads.detail)

    async def bot_health() -> ComponentHealth:
        lexicon = f"risk detector active (lexicon {detector.lexicon.version}, {reloads.loaded.detail})"
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
    if listening:
        loop.remove_signal_handler(signal.SIGHUP)
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
