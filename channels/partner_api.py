"""The partner API: server-to-server chat for partner platforms (``[[accounts]] platform = "partner-api"``).

Inbound: ``POST /channels/partner-api/{partner}/messages``, signed with the partner's ``secret``
(``channels/signed_rest.py``), with an ``Idempotency-Key`` header: a retry with the same key is
the same message (stored once, answered with the same ids), the key reused for another body is 409.
Each partner may send ``requests_per_minute`` requests (429 beyond, with ``Retry-After``).

Outbound: replies are POSTed to the partner's ``webhook_url`` (in demo/test: the stand-in under
``api_base``), signed the same way and carrying our message id as ``Idempotency-Key``, through the
outbox like every channel: 408/429/5xx and network errors are retried with backoff, other 4xx fail.
The partner's user ids are pseudonymous ids of its own; the gateway never learns who they are.
The contract is described at ``GET /channels/partner-api/openapi.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any, ClassVar

from aiohttp import web

from channels import partner_api_openapi
from channels.payloads import load_json_object, read_body
from channels.replay import MemoryReplayCache, ReplayCache, redis_replay_ctx
from channels.signed_rest import RateLimits, check_signature, post_signed
from contract.channel import (
    Channel,
    ChannelContext,
    DeliveryReceipt,
    InboundMessage,
    OutboundMessage,
    PermanentDeliveryError,
    WebhookRejected,
)
from contract.config import ChannelAccountConfig
from contract.models import MessageType
from gateway.stream import StreamClosed

log = logging.getLogger("youthdesk.channels.partner_api")

MAX_TEXT_CHARS = 2000
MAX_TAGS = 10
MAX_ID_CHARS = 128
# How long a key's body is remembered for the 409 check; the store deduplicates the key forever.
IDEMPOTENCY_MEMORY_SECONDS = 24 * 3600


def _short_id(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS or not value.isprintable():
        raise WebhookRejected(400, f"{name} must be a non-empty string of at most {MAX_ID_CHARS} characters")
    return value


def parse_message(account: ChannelAccountConfig, idempotency_key: str, payload: dict[str, Any]) -> InboundMessage:
    user = _short_id(payload.get("user"), "user")
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        raise WebhookRejected(400, "text must be a non-empty string")
    if len(text) > MAX_TEXT_CHARS:
        raise WebhookRejected(400, f"text too long (max {MAX_TEXT_CHARS} characters)")
    tags = payload.get("tags", {})
    if not isinstance(tags, dict) or len(tags) > MAX_TAGS or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 256 for k, v in tags.items()):
        raise WebhookRejected(400, f"tags must be at most {MAX_TAGS} short string pairs")
    return InboundMessage(
        platform="partner-api", account=account.id, external_user_id=user, type=MessageType.TEXT,
        channel_message_id=hashlib.sha256(idempotency_key.encode()).hexdigest()[:32], text=text.strip(),
        tags={f"partner_{key}": value for key, value in tags.items()},
    )


class PartnerApiChannel(Channel):
    platform: ClassVar[str] = "partner-api"

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        self.limits = RateLimits()
        self.idempotency: ReplayCache = MemoryReplayCache()

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post("/channels/partner-api/{partner}/messages", self._message),
                web.get("/channels/partner-api/openapi.json", self._openapi)]

    def setup(self, app: web.Application) -> None:
        def use(cache: ReplayCache) -> None:
            self.idempotency = cache

        app.cleanup_ctx.append(redis_replay_ctx(self.context.settings.service.redis_url, "idempotency", use))
        self.limits.setup(app, self.context.settings.service.redis_url, "partner-api:requests")

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.json_response(partner_api_openapi.document(self.context.settings.service.public_url))

    async def _message(self, request: web.Request) -> web.Response:
        try:
            account = self.account(request.match_info["partner"])
            service = self.context.settings.service
            body = await read_body(request, service.max_body_bytes, service.http_idle_timeout_seconds)
            check_signature(account.secret, request.headers, body, service.timestamp_window_seconds)
            # Counted after the signature: nobody else can spend a partner's budget.
            await self.limits.check(account.id, account.requests_per_minute)
            key = _short_id(request.headers.get("Idempotency-Key"), "Idempotency-Key")
            inbound = parse_message(account, key, load_json_object(body, "body"))
            first_body = await self.idempotency.first_fingerprint(
                f"partner-api:{account.id}:{key}", hashlib.sha256(body).hexdigest(),
                time.time() + IDEMPOTENCY_MEMORY_SECONDS)
            if first_body != hashlib.sha256(body).hexdigest():
                raise WebhookRejected(409, "Idempotency-Key already used for another body")
        except WebhookRejected as error:
            response = await self.reject(request, error)
            if error.status == 429:
                response.headers["Retry-After"] = "1"
            return response
        try:
            result = await self.context.ingest(inbound)
        except StreamClosed:
            return web.json_response({"error": "shutting down"}, status=503, headers={"Retry-After": "5"})
        return web.json_response({"message_id": result.message_id, "conversation_id": result.conversation_id,
                                  "duplicate": result.duplicate}, status=200 if result.duplicate else 202)

    def _reply_url(self, account: ChannelAccountConfig) -> str:
        if account.api_base:  # demo/test: the stand-in receiver
            return f"{account.api_base.rstrip('/')}/{account.id}/replies"
        if not account.webhook_url:
            raise PermanentDeliveryError(f"partner {account.id} has no webhook_url for replies")
        return account.webhook_url

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        account = self.accounts.get(message.account)
        if account is None:
            raise PermanentDeliveryError(f"unknown partner {message.account}")
        body = json.dumps({
            "message_id": message.message_id, "conversation_id": message.conversation_id,
            "user": message.external_user_id, "type": str(message.type), "text": message.text,
            "media_url": message.media.url if message.media else None,
        }, ensure_ascii=False).encode()
        return await post_signed(self.context.http(), self._reply_url(account), account.secret, body,
                                 message_id=message.message_id, peer="partner webhook")
