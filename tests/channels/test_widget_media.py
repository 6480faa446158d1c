"""Widget images at rest: sealed with the key ring, so a key rotation does not lose a youth's pictures."""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet

from channels.widget_media import MediaStore

PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 10


async def test_an_image_stored_under_a_replaced_key_stays_readable(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    reference = await MediaStore(tmp_path, [old]).put(PNG, "image/png")
    assert PNG not in (tmp_path / reference.media_id).read_bytes()  # noqa: ASYNC240 - a test reading its own file
    assert await MediaStore(tmp_path, [new, old]).get(reference.media_id) == (PNG, "image/png")
