"""The privacy notice a youth reads on first contact, and where its full text is served.

The wording lives in ``privacy_notice.toml`` next to this module, under a version: the consent ledger
records which version each contact was shown, and a new version is shown to everyone once more.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

NOTICE_PATH = Path(__file__).with_name("privacy_notice.toml")
FULL_NOTICE_PATH = "/privacy"  # served by the service as plain text
URL_PLACEHOLDER = "{url}"


class PrivacyNoticeError(Exception):
    """The notice file is missing, unreadable or incomplete (start-up stops: youth must be told)."""


class PrivacyNotice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z._-]+$")
    short: str = Field(min_length=1, max_length=600)  # one chat message on every platform
    full: str = Field(min_length=1)

    @field_validator("short")
    @classmethod
    def _links_the_full_notice(cls, value: str) -> str:
        if URL_PLACEHOLDER not in value:
            raise ValueError(f"the short notice must link the full one with {URL_PLACEHOLDER}")
        return value

    def short_text(self, public_url: str) -> str:
        """The chat message, linking the full notice at this service's public address."""
        return self.short.replace(URL_PLACEHOLDER, f"{public_url}{FULL_NOTICE_PATH}")


def load_privacy_notice(path: Path = NOTICE_PATH) -> PrivacyNotice:
    try:
        return PrivacyNotice.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise PrivacyNoticeError(f"privacy notice {path}: {exc}") from exc
