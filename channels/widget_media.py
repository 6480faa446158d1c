"""Images a youth sends from the widget: checked, encrypted at rest, served by an unguessable id.

Bytes are Fernet-encrypted with the data key (they may show a minor's face or handwriting) and
written under ``<data_dir>/widget-media/``. The message stores only a ``MediaRef``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet

from contract.models import MediaRef

MAX_IMAGE_BYTES = 2 * 1024 * 1024
MEDIA_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class MediaRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_image(data_base64: str) -> tuple[bytes, str]:
    """Base64 image → (bytes, mime type); the type comes from the bytes, never from the client."""
    if len(data_base64) > (MAX_IMAGE_BYTES * 4) // 3 + 8:
        raise MediaRejected("image too large (max 2 MB)")
    try:
        data = base64.b64decode(data_base64, validate=True)
    except (binascii.Error, ValueError):
        raise MediaRejected("image data is not valid base64") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise MediaRejected("image too large (max 2 MB)")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return data, "image/webp"
    for prefix, mime in _SIGNATURES:
        if data.startswith(prefix):
            return data, mime
    raise MediaRejected("unsupported image format (PNG, JPEG, GIF or WebP)")


class MediaStore:
    def __init__(self, directory: Path, data_keys: list[str]) -> None:
        """``data_keys`` is the key ring, newest first: images stored under a replaced key stay readable."""
        self.directory = directory
        self._fernet = MultiFernet([Fernet(key.encode()) for key in data_keys])

    async def put(self, data: bytes, mime: str) -> MediaRef:
        media_id = secrets.token_urlsafe(24)
        blob = self._fernet.encrypt(mime.encode() + b"\n" + data)
        await asyncio.to_thread(self._write, media_id, blob)
        return MediaRef(kind="image", media_id=media_id, url=f"/widget/media/{media_id}", format=mime)

    async def get(self, media_id: str) -> tuple[bytes, str] | None:
        if not MEDIA_ID.match(media_id):
            return None
        path = self.directory / media_id
        try:
            blob = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None
        mime, _, data = self._fernet.decrypt(blob).partition(b"\n")
        return data, mime.decode()

    def _write(self, media_id: str, blob: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / media_id).write_bytes(blob)
