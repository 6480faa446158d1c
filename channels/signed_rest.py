"""Our own signing scheme for server-to-server traffic (the partner API, call-centre events); the
primitives live in ``contract/signing.py``, shared with the work orders to other hotlines.

A request carries ``X-Youthdesk-Timestamp`` (unix seconds) and ``X-Youthdesk-Signature``: the hex
HMAC-SHA256, keyed with the sender's secret, of ``<timestamp>.`` followed by the raw body. The
timestamp binds the signature to a moment (refused outside ``service.timestamp_window_seconds``);
the body is covered whole, so a replay within the window is the same request byte for byte and is
deduplicated by its message id. Replies we push to a partner are signed the same way with the
same secret, so the partner verifies them with the code it already has.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
from aiohttp import web

from channels.shared_limits import SharedWindow, shared_window_ctx
from channels.widget_session import TokenBucket
from contract.channel import (
    DeliveryReceipt,
    PermanentDeliveryError,
    TransientDeliveryError,
    WebhookRejected,
)
from contract.signing import (
    RETRYABLE_STATUSES,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    signature_problem,
    signed_headers,
)

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "RateLimits", "check_signature", "post_signed", "sign",
           "signed_headers"]


def check_signature(secret: str, headers: Mapping[str, str], body: bytes, window_seconds: int) -> None:
    """403 with a short reason unless the body was signed with ``secret`` within the window."""
    problem = signature_problem(secret, headers, body, window_seconds)
    if problem is not None:
        raise WebhookRejected(403, problem)


async def post_signed(http: aiohttp.ClientSession, url: str, secret: str, body: bytes, *, message_id: str,
                      peer: str) -> DeliveryReceipt:
    """Deliver one of our messages as a signed JSON POST, ``Idempotency-Key`` = its id; ``peer`` names the
    receiver in the failure reason. 408/425/429/5xx and network errors are worth a retry, the rest not."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": message_id, **signed_headers(secret, body)}
    try:
        async with http.post(url, data=body, headers=headers) as response:
            status, text = response.status, (await response.text())[:200]
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransientDeliveryError(f"{peer} unreachable: {exc!r}"[:200]) from None
    if status < 300:
        return DeliveryReceipt(channel_message_id=message_id)
    reason = f"{peer} answered HTTP {status}: {text}"
    if status >= 500 or status in RETRYABLE_STATUSES:
        raise TransientDeliveryError(reason)
    raise PermanentDeliveryError(reason)


class RateLimits:
    """``per_minute`` requests a minute per sender, bursts of as many: a token bucket per sender on one
    instance, a sliding minute in Redis (``channels.shared_limits``) when instances share the traffic."""

    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self.shared: SharedWindow | None = None

    async def check(self, sender: str, per_minute: int) -> None:
        if self.shared is not None:
            admitted = await self.shared.admit([(sender, per_minute)], 60) is None
        else:
            admitted = self._buckets.setdefault(sender, TokenBucket(per_minute / 60, per_minute)).take()
        if not admitted:
            raise WebhookRejected(429, "rate limit exceeded")

    def setup(self, app: web.Application, redis_url: str, namespace: str) -> None:
        def use(window: SharedWindow) -> None:
            self.shared = window

        app.cleanup_ctx.append(shared_window_ctx(redis_url, namespace, use))
