"""Our signing scheme for server-to-server traffic, shared by every floor that speaks it.

A request carries ``X-Youthdesk-Timestamp`` (unix seconds) and ``X-Youthdesk-Signature``: the hex
HMAC-SHA256, keyed with the shared secret, of ``<timestamp>.`` followed by the raw body. The partner
API and the call-centre events use it inbound (``channels/signed_rest.py``), partner replies and work
orders to other hotlines outbound, and the hotlines' status callbacks inbound again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Youthdesk-Timestamp"
SIGNATURE_HEADER = "X-Youthdesk-Signature"
# Answers to an outbound signed request worth another try (with 5xx and network errors); others are final.
RETRYABLE_STATUSES = frozenset({408, 425, 429})
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body)}


def signature_problem(secret: str, headers: Mapping[str, str], body: bytes, window_seconds: float,
                      now: float | None = None) -> str | None:
    """Why the request is not signed with ``secret`` within the window, or None if it is."""
    timestamp, signature = headers.get(TIMESTAMP_HEADER, ""), headers.get(SIGNATURE_HEADER, "")
    if not timestamp or not signature:
        return f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} required"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "timestamp not a number"
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.lower().encode()):
        return "signature mismatch"
    if abs((time.time() if now is None else now) - int(timestamp)) > window_seconds:
        return "timestamp outside the allowed window"
    return None
