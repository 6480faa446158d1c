"""Typed keys for what the app holds (``app[STREAM]`` and so on)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    pass

SETTINGS = web.AppKey("settings", "Settings")
STORE = web.AppKey("store", "Store")
BUS = web.AppKey("bus", "EventBus")
STREAM = web.AppKey("stream", "ConversationStream")
CHANNELS = web.AppKey("channels", "dict[str, Channel]")
WORKERS = web.AppKey("workers", "DeliveryWorkers")
HTTP = web.AppKey("http", aiohttp.ClientSession)
HEALTH_CHECKS = web.AppKey("health_checks", "list[HealthCheck]")
LINKS = web.AppKey("links", "list[Link]")
HANDOFF = web.AppKey("handoff", "HandoffSink")
