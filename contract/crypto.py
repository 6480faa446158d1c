"""Field-level protection for minors' personal data.

Identifiers (openids, uids, partner user ids) and contact details are stored encrypted with
Fernet; a keyed HMAC of the identifier (a "blind index") lets the store find a contact again
without ever holding the plaintext.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken


class DataProtector:
    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("service.data_key: a Fernet key is required (Fernet.generate_key())")
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise ValueError("service.data_key: not a valid Fernet key (32 url-safe base64 bytes)") from exc
        self._index_key = hashlib.sha256(b"youthdesk-blind-index:" + base64.urlsafe_b64decode(key)).digest()

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("encrypted field cannot be read with the configured data key") from exc

    def blind_index(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()


def mask(value: str, visible: int = 2) -> str:
    """Show only the ends of an identifier: ``oAbc…xyz`` becomes ``oA****yz``."""
    if len(value) <= visible * 2:
        return "*" * len(value)
    return value[:visible] + "*" * 4 + value[-visible:]
