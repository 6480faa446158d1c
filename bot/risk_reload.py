"""Reloading the promoted risk model into a running router: here, and on every gateway sharing the bus.

A reload reads the artifact ``current.json`` names off the event loop and swaps it into the router in
one assignment, so a message is scored by the old model or the new one, never by half of each. A
promoted artifact that cannot be read leaves the running model in place: loudly in the log, in
``/healthz`` (degraded) and in the answer (``promoted_model_unreadable``).

Several gateways (``REDIS_URL``) hear each other on the event bus: the instance asked publishes a
``risk_model.reload`` event, every other instance reloads and publishes a ``risk_model.reloaded``
answer, and the one asked waits (at most ``CONFIRM_SECONDS``) for as many answers as Redis says
instances heard the request. The console's sockets never see these events (``handoff.web.api.ws``
forwards a fixed list).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable

from bot.risk_artifact import LoadedModel, load_current
from bot.router import TriageRouter
from contract.models import Event, new_id
from contract.risk_model import Calibration, InstanceReload, ReloadFailure, RiskModelReload
from gateway.bus import EventBus, Subscription

log = logging.getLogger("youthdesk.bot")

REQUESTED = "risk_model.reload"
ANSWERED = "risk_model.reloaded"
CONFIRM_SECONDS = 10.0


class RiskModelReloads:
    def __init__(self, *, router: TriageRouter, loaded: LoadedModel, normalise: Callable[[str], str],
                 lexicon_version: str, bus: EventBus) -> None:
        self.router = router
        self.loaded = loaded
        self.note = ""  # why the running model is not the promoted one, when a reload failed
        self.instance = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
        self._normalise = normalise
        self._lexicon_version = lexicon_version
        self._bus = bus
        self._lock = asyncio.Lock()  # one reload at a time: the last one read is the one that runs

    @property
    def healthy(self) -> bool:
        return self.loaded.healthy and not self.note

    @property
    def detail(self) -> str:
        return self.loaded.detail + self.note

    async def reload_here(self) -> InstanceReload:
        async with self._lock:
            fresh = await asyncio.to_thread(load_current, self._normalise, self._lexicon_version)
            if fresh.model is None:
                if self.loaded.model is not None:
                    self.note = f"; the last reload failed, still running the earlier model: {fresh.detail}"
                    log.error("!!! risk model reload failed, triage keeps %s: %s", self.loaded.detail, fresh.detail)
                else:  # still lexicon-only; the newest reason is the one to read
                    self.loaded = fresh
                return self._answer(error="promoted_model_unreadable")
            self.router.model, self.loaded, self.note = fresh.model, fresh, ""
            log.warning("risk model reloaded: %s", fresh.detail)
            return self._answer()

    async def reload_everywhere(self) -> RiskModelReload:
        request = new_id("reload")
        answers = self._bus.subscribe(lambda e: e.type == ANSWERED and e.data.get("request") == request)
        try:
            others_reached = max(0, await self._bus.instances_listening() - 1)
            if others_reached:
                await self._bus.publish(Event(type=REQUESTED, data={"request": request, "from": self.instance}))
            here = await self.reload_here()
            others = await _collect(answers, others_reached)
        finally:
            answers.close()
        return RiskModelReload(here=here, others=others, others_reached=others_reached)

    async def answer_requests(self) -> None:
        """Every other instance's reload requests, until cancelled (a task of the triage context)."""
        while True:
            requests = self._bus.subscribe(lambda e: e.type == REQUESTED and e.data.get("from") != self.instance,
                                           maxsize=100)
            async for event in requests:
                try:
                    answer = await self.reload_here()
                    await self._bus.publish(Event(type=ANSWERED, data={
                        "request": event.data.get("request"), "answer": answer.model_dump(mode="json")}))
                except Exception:  # noqa: BLE001 - one failed answer must not stop the next reload
                    log.exception("risk model: answering reload request %s failed", event.data.get("request"))
            if not requests.lagged:
                return
            log.error("risk model reload listener lagged behind the bus; resubscribing")

    def _answer(self, error: ReloadFailure | None = None) -> InstanceReload:
        model, provenance = self.loaded.model, self.loaded.provenance
        calibrator = model.calibrator if model is not None else None
        return InstanceReload(
            instance=self.instance, reloaded=error is None, error=error,
            model_id=provenance.name if model is not None and provenance is not None else None,
            lexicon_version=self._lexicon_version,
            calibration=Calibration(method=calibrator.method, rows=calibrator.rows,
                                    held_out_error=dict(calibrator.chosen_by)) if calibrator is not None else None,
            healthy=self.healthy, detail=self.detail)


async def _collect(answers: Subscription, expected: int) -> list[InstanceReload]:
    """Up to ``expected`` answers, waiting at most ``CONFIRM_SECONDS`` in all."""
    collected: list[InstanceReload] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONFIRM_SECONDS
    while len(collected) < expected and (remaining := deadline - loop.time()) > 0:
        try:
            event = await asyncio.wait_for(answers.get(), remaining)
        except TimeoutError:
            break
        if event is None:  # the subscription was cut off (Redis lost): the rest cannot arrive here
            break
        try:
            collected.append(InstanceReload.model_validate(event.data["answer"]))
        except (KeyError, ValueError):
            log.error("risk model: ignored a malformed reload answer")
    return collected
