"""The Rasa HTTP API, as the gateway uses it (``bot.router.BotClient``).

- ``parse``   — ``POST /model/parse``: intent, confidence, ranking and the FAQ answer chosen.
- ``respond`` — ``POST /webhooks/rest/webhook``: run the dialogue rules, collect the reply texts.
- ``pause`` / ``resume`` — ``POST /conversations/{id}/tracker/events``: a paused Rasa conversation
  predicts nothing, so a handed-off youth gets no bot reply even if a message slips through.
- ``status``  — ``GET /status``: is a model loaded.

Every call has the configured timeout; any transport failure, timeout or unexpected answer raises
``RasaUnavailable`` so that triage hands the message to a counsellor instead of dropping it.
The API endpoints take the server's auth token as ``?token=``; the REST channel needs none
(the server listens on localhost only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import aiohttp

from contract.config import ServiceConfig

FAQ_INTENT: Final = "faq"


class RasaUnavailable(Exception):
    """Rasa could not answer: down, slow, no model, or an answer we cannot read."""


@dataclass(frozen=True, slots=True)
class RasaParse:
    intent: str
    confidence: float
    ranking: list[tuple[str, float]] = field(default_factory=list)
    # For the FAQ retrieval intent: the answer the ResponseSelector chose, e.g. "faq/sleep".
    response_key: str | None = None
    response_confidence: float | None = None


@dataclass(frozen=True, slots=True)
class RasaReply:
    texts: list[str]


class RasaClient:
    def __init__(self, *, base_url: str, token: str, timeout: float,
                 http: Callable[[], aiohttp.ClientSession]) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._http = http  # a getter: the app's session exists only once its cleanup context ran

    async def parse(self, text: str) -> RasaParse:
        data = await self._request("POST", "/model/parse", json={"text": text})
        try:
            intent = data["intent"]
            ranking = [(str(item["name"]), float(item["confidence"])) for item in data.get("intent_ranking") or []]
            parse = RasaParse(intent=str(intent["name"]), confidence=float(intent["confidence"]), ranking=ranking)
        except (KeyError, TypeError, ValueError) as exc:
            raise RasaUnavailable(f"unreadable /model/parse answer: {exc!r}") from exc
        selected = ((data.get("response_selector") or {}).get(FAQ_INTENT) or {}).get("response") or {}
        if parse.intent == FAQ_INTENT and selected.get("intent_response_key"):
            return RasaParse(intent=parse.intent, confidence=parse.confidence, ranking=ranking,
                             response_key=str(selected["intent_response_key"]),
                             response_confidence=float(selected.get("confidence") or 0.0))
        return parse

    async def respond(self, sender_id: str, text: str) -> RasaReply:
        data = await self._request("POST", "/webhooks/rest/webhook", json={"sender": sender_id, "message": text},
                                   authenticated=False)
        if not isinstance(data, list):
            raise RasaUnavailable(f"unreadable webhook answer: {data!r}")
        return RasaReply(texts=[item["text"] for item in data if isinstance(item, dict) and item.get("text")])

    async def pause(self, sender_id: str) -> None:
        await self._event(sender_id, "pause")

    async def resume(self, sender_id: str) -> None:
        await self._event(sender_id, "resume")

    async def status(self) -> bool:
        """True when a model is loaded; False when the server answers without one (409)."""
        try:
            data = await self._request("GET", "/status")
        except _NoModel:
            return False
        return bool(isinstance(data, dict) and data.get("model_id"))

    async def _event(self, sender_id: str, event: str) -> None:
        await self._request("POST", f"/conversations/{quote(sender_id, safe='')}/tracker/events",
                            json=[{"event": event}])

    async def _request(self, method: str, path: str, *, json: Any = None, authenticated: bool = True) -> Any:
        params = {"token": self.token} if authenticated and self.token else None
        try:
            async with self._http().request(method, self.base_url + path, json=json, params=params,
                                            timeout=self.timeout) as response:
                if response.status == 409:
                    raise _NoModel(f"{method} {path}: no model loaded")
                if response.status >= 400:
                    body = (await response.text())[:200]
                    raise RasaUnavailable(f"{method} {path}: HTTP {response.status} {body}")
                return await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise RasaUnavailable(f"{method} {path}: {exc!r}") from exc


class _NoModel(RasaUnavailable):
    pass


def make_rasa_client(service: ServiceConfig, http: Callable[[], aiohttp.ClientSession],
                     *, base_url: str | None = None, token: str | None = None) -> RasaClient | None:
    """The Rasa client when a Rasa URL is set; ``None`` means no bot (every conversation goes to a human)."""
    url = base_url if base_url is not None else service.rasa_url
    if not url:
        return None
    return RasaClient(base_url=url, token=token if token is not None else service.rasa_token,
                      timeout=service.rasa_timeout_seconds, http=http)
