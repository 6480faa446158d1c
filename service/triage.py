"""Wire triage into the app: the detector (loaded once), the Rasa client, the router, ``/healthz``.

The risk model is loaded at start and again on SIGHUP (``kill -HUP <pid>`` after ``youthdesk risk
promote``): the new artifact is read off the event loop and swapped into the router in one assignment,
so a message is scored by the old model or the new one, never by half of each. A reload that cannot
read the promoted artifact keeps the running model (it says so loudly and ``/healthz`` shows it).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from bot.rasa_client import RasaUnavailable, make_rasa_client
from bot.risk import RiskDetector
from bot.risk_artifact import LoadedModel, load_current
from bot.risk_hint import RiskHint
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
    rasa = make_rasa_client(settings.service, lambda: app[HTTP])
    budgeted = frozenset(p for p, channel in app[CHANNELS].items() if channel.reply_policy is not None)
    router = TriageRouter(stream=app[STREAM], settings=settings, detector=detector, model=loaded.model, rasa=rasa,
                          handoff=app[HANDOFF], intents=load_risk_intents(), budgeted_platforms=budgeted)
    app[STREAM].router = router
    app[STREAM].risk_hint = RiskHint(detector.lexicon)  # which stored messages the backlog routes first
    log.info("triage ready: lexicon %s, %s, Rasa %s", detector.lexicon.version, loaded.detail,
             settings.service.rasa_url or "not set")
    state = _RiskModelState(loaded, "")

    async def reload() -> None:
        fresh = await asyncio.to_thread(load_current, detector.normalise, detector.lexicon.version)
        if fresh.model is None and state.loaded.model is not None:
            state.note = f"; the last reload failed, still running the earlier model: {fresh.detail}"
            log.error("!!! risk model reload failed, triage keeps %s: %s", state.loaded.detail, fresh.detail)
            return
        router.model, state.loaded, state.note = fresh.model, fresh, ""
        log.warning("risk model reloaded: %s", fresh.detail)

    reloads: set[asyncio.Task[None]] = set()

    def on_sighup() -> None:
        task = asyncio.get_running_loop().create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
        listening = True
    except (NotImplementedError, RuntimeError, ValueError) as exc:  # no signals here (not the main thread)
        log.warning("risk model reload on SIGHUP unavailable (%r): restart to load a promoted model", exc)
        listening = False

    async def risk_model_health() -> ComponentHealth:
        healthy = state.loaded.healthy and not state.note
        return ComponentHealth("ok" if healthy else "degraded", state.loaded.detail + state.note)

    async def bot_health() -> ComponentHealth:
        lexicon = f"risk detector active (lexicon {detector.lexicon.version}, {state.loaded.detail})"
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
    for task in list(reloads):
        task.cancel()


@dataclass(slots=True)
class _RiskModelState:
    loaded: LoadedModel
    note: str  # why the running model is not the promoted one, when a reload failed
