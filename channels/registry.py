"""The platforms youthdesk speaks: one adapter class per platform module."""

from __future__ import annotations

from channels.base import Channel

CHANNEL_CLASSES: list[type[Channel]] = []
