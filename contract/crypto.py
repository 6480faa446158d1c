"""Field-level protection for minors' personal data.

Identifiers (openids, uids, partner user ids), message text, notes, case summaries and referral
contacts are stored encrypted with Fernet; a keyed HMAC (a "blind index") lets the store find a
contact or a platform message again without ever holding the plaintext.

Keys form a ring: the first encrypts, every one decrypts (``MultiFernet``), so after a new key is put
in front the old data stays readable until ``youthdesk keys rotate`` has re-encrypted it. Blind indexes
are keyed from the **last** key of the ring, the oldest one: contact ids and message ids are derived
from them, so they must not change when the encryption key does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class DataProtector:
    def __init__(self, key: str, previous_keys: Sequence[str] = ()) -> None:
        if not key:
            raise ValueError("service.data_key: a Fernet key is required (Fernet.generate_key())")
        ring = [key, *previous_keys]
        fernets = []
        for position, ring_key in enumerate(ring):
            name = "service.data_key" if position == 0 else f"service.previous_data_keys[{position - 1}]"
            try:
                fernets.append(Fernet(ring_key.encode()))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{name}: not a valid Fernet key (32 url-safe base64 bytes)") from exc
        self._fernet = MultiFernet(fernets)
        self._index_key = hashlib.sha256(b"youthdesk-blind-index:" + base64.urlsafe_b64decode(ring[-1])).digest()

    @classmethod
    def from_keys(cls, data_key: str, previous_data_keys: str) -> DataProtector:
        """The ring as configured: ``previous_data_keys`` is comma-separated, newest first."""
        return cls(data_key, [k.strip() for k in previous_data_keys.split(",") if k.strip()])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("encrypted field cannot be read with the configured data keys") from exc

    def reencrypt(self, token: str) -> str:
        """``token`` encrypted under the first key of the ring (whichever ring key it was made with)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("encrypted field cannot be read with the configured data keys") from exc

    def blind_index(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()


def mask(value: str, visible: int = 2) -> str:
    """Show only the ends of an identifier: ``oAbc…xyz`` becomes ``oA****yz``."""
    if len(value) <= visible * 2:
        return "*" * len(value)
    return value[:visible] + "*" * 4 + value[-visible:]
