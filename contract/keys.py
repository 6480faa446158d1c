"""Typed keys for what the app holds (``app[STREAM]`` and so on), and the start page's links."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web


@dataclass(frozen=True, slots=True)
class Link:
    """An entry of the start page (the console, the demo partner page)."""

    title: str
    href: str
    description: str = ""

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
RISK_MODEL = web.AppKey("risk_model", "RiskModelReloader")  # set while triage runs
