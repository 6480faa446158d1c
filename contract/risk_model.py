"""Reloading the promoted risk model in running gateways: what each instance answers, and the seam.

Triage (``bot.risk_reload``) loads the model; the console API's admin route (``handoff.web.api.risk_model``)
asks for a reload through ``RiskModelReloader`` without knowing triage. With several gateways
(``REDIS_URL``) the instance that was asked reloads itself and asks the others over the event bus;
each answers with an ``InstanceReload``.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel

# Why an instance does not run the promoted artifact after a reload (short and machine-readable).
ReloadFailure = Literal["promoted_model_unreadable"]


class Calibration(BaseModel):
    """The calibrator of P(level >= 2) a model carries (``bot.risk_calibration``)."""

    method: str  # "platt" or "isotonic"
    rows: int  # validation rows it was fitted on
    held_out_error: dict[str, float]  # expected calibration error per method when it was chosen


class InstanceReload(BaseModel):
    """One gateway instance after a reload: what its triage scores with now."""

    instance: str  # host-pid-nonce, unique per running gateway
    reloaded: bool  # it runs the promoted artifact now
    error: ReloadFailure | None = None  # why not; the model it ran before is kept
    model_id: str | None  # None: triage runs on the lexicon (and Rasa) only
    lexicon_version: str
    calibration: Calibration | None  # None: no model, or a model without a calibrator
    healthy: bool  # what /healthz says of the risk model
    detail: str  # for people: the same words as /healthz


class RiskModelReload(BaseModel):
    """What a reload answers: the instance asked, and the others that confirmed in time."""

    here: InstanceReload
    others: list[InstanceReload]
    # Other instances that heard the request (Redis's subscriber count); fewer in ``others`` means some
    # did not confirm in time and still run whatever they ran.
    others_reached: int


class RiskModelReloader(Protocol):
    async def reload_everywhere(self) -> RiskModelReload:
        """Load the promoted artifact here and ask every other instance to; never raises for a broken artifact."""
