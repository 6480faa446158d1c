"""A stand-in call centre: the event sequence of a realistic call, signed and posted to the gateway,
and the call centre's SMS endpoint, which texts the caller of a call.

A call rings for a few seconds, is answered by a counsellor, is sometimes transferred, and ends
with a duration and a recording reference, the way a call-centre platform reports it. Used by
``youthdesk simulate hotline``, the tests and the bench; the times are of a call that just ended.
The SMS receiver (mounted under ``/standin/hotline`` in demo/test) checks our signature and
``Idempotency-Key`` and records each text once; ``sent`` (inspection, stand-in token) lists them.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from channels.signed_rest import check_signature, signed_headers
from contract.channel import WebhookRejected
from contract.config import ChannelAccountConfig, Settings

HOTLINE_NUMBER = "12355"
PREFIX = "/standin/hotline"
WINDOW_SECONDS = 300


@dataclass(frozen=True, slots=True)
class PlacedEvent:
    event: dict[str, Any]
    status: int
    answer: str


def call_events(call_id: str, caller: str, counsellor: str, *, transfer_to: str = "",
                rng: random.Random | None = None, now: float | None = None) -> list[dict[str, Any]]:
    """ringing → answered → (transferred) → ended, with plausible gaps, ending at ``now``."""
    rng = rng or random.Random()  # noqa: S311  # pacing of a simulated call, not a secret
    ring, talk = rng.randint(3, 20), rng.randint(90, 1500)
    end = int(time.time() if now is None else now)
    answered_at = end - talk
    base = {"call_id": call_id, "caller": caller, "line": HOTLINE_NUMBER}
    events = [{**base, "event": "ringing", "at": answered_at - ring},
              {**base, "event": "answered", "at": answered_at, "counsellor": counsellor}]
    if transfer_to:
        events.append({**base, "event": "transferred", "at": answered_at + talk // 3, "counsellor": counsellor,
                       "transfer_to": transfer_to})
    recording = f"REC-{time.strftime('%Y%m%d', time.localtime(end))}-{call_id}"
    events.append({**base, "event": "ended", "at": end, "duration_seconds": talk, "recording": recording})
    return events


async def place_call(http: aiohttp.ClientSession, base_url: str, centre: ChannelAccountConfig,
                     events: list[dict[str, Any]], pace_seconds: float = 0.0) -> list[PlacedEvent]:
    """Post each event as the call centre does (signed, one request per event), ``pace_seconds`` apart."""
    placed = []
    for index, event in enumerate(events):
        if index and pace_seconds:
            await asyncio.sleep(pace_seconds)
        body = json.dumps(event, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", **signed_headers(centre.secret, body)}
        async with http.post(f"{base_url.rstrip('/')}/channels/hotline/{centre.id}/events", data=body,
                             headers=headers) as response:
            placed.append(PlacedEvent(event, response.status, await response.text()))
    return placed


class CallCentreSmsStandIn:
    """Texts "the caller of call X" as a call centre does; we never send it a number."""

    def __init__(self, centre_secrets: dict[str, str]) -> None:
        self.centre_secrets = centre_secrets
        self.sent: list[dict[str, Any]] = []

    def routes(self, prefix: str = PREFIX) -> list[web.AbstractRouteDef]:
        return [web.post(f"{prefix}/{{centre}}/sms", self._sms)]

    def inspection_routes(self, prefix: str = PREFIX) -> list[web.RouteDef]:
        return [web.get(f"{prefix}/sent", self._sent)]

    async def _sms(self, request: web.Request) -> web.Response:
        secret = self.centre_secrets.get(request.match_info["centre"])
        if secret is None:
            return web.json_response({"error": "unknown call centre"}, status=404)
        body = await request.read()
        try:
            check_signature(secret, request.headers, body, WINDOW_SECONDS)
            sms = json.loads(body)
        except WebhookRejected as error:
            return web.json_response({"error": error.reason}, status=error.status)
        except json.JSONDecodeError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        key = request.headers.get("Idempotency-Key", "")
        if not key or not isinstance(sms, dict) or not sms.get("call_id") or not sms.get("text"):
            return web.json_response({"error": "call_id, text and Idempotency-Key required"}, status=400)
        if all(sent["idempotency_key"] != key for sent in self.sent):
            self.sent.append({**sms, "centre": request.match_info["centre"], "idempotency_key": key})
        return web.json_response({"ok": True})

    async def _sent(self, request: web.Request) -> web.Response:
        call_id = request.query.get("call_id")
        items = [sms for sms in self.sent if call_id is None or sms["call_id"] == call_id]
        return web.json_response({"items": items, "total": len(self.sent)})


def mounted(settings: Settings) -> CallCentreSmsStandIn | None:
    """The SMS stand-in this gateway mounts in demo/test, when it has call centres."""
    centres = settings.accounts_for("hotline")
    return CallCentreSmsStandIn({c.id: c.secret for c in centres}) if centres else None
