"""A stand-in call centre: the event sequence of a realistic call, signed and posted to the gateway.

A call rings for a few seconds, is answered by a counsellor, is sometimes transferred, and ends
with a duration and a recording reference, the way a call-centre platform reports it. Used by
``youthdesk simulate hotline``, the tests and the bench; the times are of a call that just ended.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from channels.signed_rest import signed_headers
from contract.config import ChannelAccountConfig

HOTLINE_NUMBER = "12355"


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
