"""The application factory: one ``create_app()``; one cleanup context per resource."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from contract import crash_points
from contract.channel import Channel, ChannelContext, ConversationAccess
from contract.client_address import client_address_middleware, parse_networks
from contract.config import ServiceConfig, Settings
from contract.crypto import DataProtector
from contract.keys import BUS, CHANNELS, HANDOFF, HEALTH_CHECKS, HTTP, LINKS, SETTINGS, STORE, STREAM, WORKERS
from gateway.bus import EventBus
from gateway.outbox import DeliveryWorkers
from gateway.redis_bus import RedisEventBus
from gateway.stream import ConversationStream
from service.admission import webhook_admission
from service.garbage_collection import collector_ctx
from service.handoff import setup_handoff
from service.health import ComponentHealth, HealthCheck, at_most_every
from service.health import handler as health_handler
from service.pages import render_start_page
from service.privacy import first_contact_notices, setup_privacy
from service.registry import CHANNEL_CLASSES
from service.standins import standin_routes
from service.triage import setup_triage
from store.channel_state import channel_state
from store.client import open_store
from store.durable import DurableMongoClient
from store.queue_places import told_place

log = logging.getLogger("youthdesk.app")

RESUME_INTERVAL_SECONDS = 5.0  # several instances: how often one looks for messages left unrouted
ROUTING_LAG_DEGRADED_SECONDS = 60.0  # /healthz: routing this far behind the stored messages is "degraded"
# Finding the oldest unrouted message reads every waiting one (13 ms of CPU with 5,000 waiting, the
# embedded store): /healthz repeats that read at most once a second, however often it is asked.
ROUTING_HEALTH_EVERY_SECONDS = 1.0


def create_app(
    settings: Settings,
    *,
    channel_classes: Sequence[type[Channel]] | None = None,
    embedded_client: DurableMongoClient | None = None,
    start_workers: bool = True,
) -> web.Application:
    """Build the gateway. Nothing connects until the app starts.

    ``embedded_client`` lets tests "restart" the service on the same open store (without it the
    durable store opens ``settings.service.data_dir``);
    ``start_workers=False`` lets them stop between storing and delivering.
    """
    # First of all middlewares: every handler and limit sees the client's address, not a proxy's.
    proxies = parse_networks(settings.service.trusted_proxies)
    app = web.Application(client_max_size=settings.service.max_body_bytes,
                          middlewares=[client_address_middleware(proxies),
                                       webhook_admission(settings.service.webhook_concurrency,
                                                         settings.service.http_idle_timeout_seconds,
                                                         settings.service.max_body_bytes)])
    if crash_points.arm(settings.service.env, os.environ.get(crash_points.VARIABLE, "")) == "webhook.answered":
        app.middlewares.append(_crash_after_answering)
    app[SETTINGS] = settings
    # Several instances share their events through Redis; one instance keeps them in process.
    app[BUS] = RedisEventBus(settings.service.redis_url) if settings.service.redis_url else EventBus()
    app[HEALTH_CHECKS] = []
    app[LINKS] = []
    http_session: list[aiohttp.ClientSession] = []

    def http() -> aiohttp.ClientSession:
        if not http_session:
            raise RuntimeError("HTTP client session used before the app started")
        return http_session[0]

    async def ingest_via_stream(inbound):  # type: ignore[no-untyped-def]
        return await app[STREAM].ingest(inbound)

    async def recent_via_stream(platform: str, account: str, external_user_id: str, limit: int):  # type: ignore[no-untyped-def]
        return await app[STREAM].recent_conversations(platform, account, external_user_id, limit)

    async def history_via_stream(conversation_id: str, after_seq: int):  # type: ignore[no-untyped-def]
        return await app[STREAM].history_after(conversation_id, after_seq)

    async def mark_read_via_stream(conversation_id: str, up_to_seq: int) -> int:
        return await app[STREAM].mark_read(conversation_id, up_to_seq)

    async def told_queue_place(conversation_id: str) -> int | None:
        return await told_place(app[STORE], conversation_id)

    conversations = ConversationAccess(
        recent=recent_via_stream, history=history_via_stream, mark_read=mark_read_via_stream,
        # Keyed by conversation: an event reaches only the sockets following its conversation.
        subscribe=lambda accept: app[BUS].subscribe(accept, conversations=()), publish=app[BUS].publish,
        queue_place=told_queue_place,
    )
    context = ChannelContext(settings=settings, ingest=ingest_via_stream, http=http, conversations=conversations,
                             state=channel_state(lambda: app[STORE]))
    channels = {cls.platform: cls(context) for cls in (CHANNEL_CLASSES if channel_classes is None else channel_classes)}
    app[CHANNELS] = channels
    app.router.add_routes(standin_routes(settings))
    for channel in channels.values():
        app.router.add_routes(channel.routes())
        channel.setup(app)

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        store = open_store(settings.service.mongodb_uri, settings.service.mongodb_database,
                           data_dir=settings.service.data_dir, embedded_client=embedded_client,
                           protector=DataProtector.from_keys(settings.service.data_key,
                                                             settings.service.previous_data_keys))
        await store.ensure_indexes()
        if store.embedded:
            # The embedded store's documents and indexes are now in memory for the life of the process.
            # Left to the cyclic garbage collector, each of its full passes walks them all: about 0.4 s with
            # 100,000 messages stored, a pause that every webhook waiting at that moment feels. They hold
            # no reference cycles; reference counting alone frees what is deleted.
            # What it stores from now on is frozen after the next full pass (service/garbage_collection.py).
            gc.freeze()
        app[STORE] = store
        log.info("store: %s", store.location)

        async def store_health() -> ComponentHealth:
            ok = await store.ping()
            return ComponentHealth("ok" if ok else "down", store.location)

        app[HEALTH_CHECKS].append(HealthCheck("store", True, store_health))
        yield
        await store.close()  # collector_ctx, cleaned up last, unfreezes what was frozen here

    async def http_ctx(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=settings.service.delivery_timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            http_session.append(session)
            app[HTTP] = session
            yield
            http_session.clear()

    async def stream_ctx(app: web.Application) -> AsyncIterator[None]:
        # A routing failure goes to the handoff engine, which is built after the stream (it needs it).
        stream = ConversationStream(store=app[STORE], bus=app[BUS], protector=app[STORE].protector, settings=settings,
                                    handoff=lambda: app[HANDOFF])
        stream.notices = first_contact_notices(app, channels)  # before resuming: resumed messages get it too
        app[STREAM] = stream

        async def routing_health() -> ComponentHealth:
            waiting, lag = await stream.routing_backlog()
            status = "degraded" if lag > ROUTING_LAG_DEGRADED_SECONDS else "ok"
            return ComponentHealth(status, f"{waiting} messages waiting for routing, oldest {lag:.1f} s")

        app[HEALTH_CHECKS].append(HealthCheck("routing", False,
                                              at_most_every(ROUTING_HEALTH_EVERY_SECONDS, routing_health)))
        # With a shared store, another instance may die with messages it stored but did not route.
        sweeper = None if app[STORE].embedded else asyncio.create_task(_resume_periodically(stream))
        yield
        if sweeper is not None:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)

    async def workers_ctx(app: web.Application) -> AsyncIterator[None]:
        workers = DeliveryWorkers(stream=app[STREAM], channels=channels, options=settings.service)
        app[WORKERS] = workers
        if start_workers:
            await workers.start()

        async def workers_health() -> ComponentHealth:
            pending = await workers.pending_count()
            if not workers.running:
                return ComponentHealth("down", f"delivery workers stopped; {pending} messages waiting")
            return ComponentHealth("ok", f"{pending} messages in the outbox")

        app[HEALTH_CHECKS].append(HealthCheck("delivery", True, workers_health))
        yield
        # Cleanup runs in reverse: stop intake and finish routing first, so the replies it
        # produced are in the outbox before the workers get their last chance to send them.
        if not await app[STREAM].drain(settings.service.shutdown_grace_seconds):
            log.error("shutdown: routing did not finish in time; unprocessed messages resume on restart")
        await workers.stop(settings.service.shutdown_grace_seconds)

    async def bus_ctx(app: web.Application) -> AsyncIterator[None]:
        if isinstance(app[BUS], RedisEventBus):
            await app[BUS].start()
        yield
        await app[BUS].close()

    setup_privacy(app)
    app.cleanup_ctx.extend([collector_ctx, bus_ctx, store_ctx, http_ctx, stream_ctx, workers_ctx])
    setup_handoff(app)

    setup_triage(app)
    app.on_startup.append(resume_routing)  # after every cleanup context: see resume_routing
    app.router.add_get("/healthz", health_handler(app[HEALTH_CHECKS]))
    app.router.add_get("/", start_page)
    return app


async def _resume_periodically(stream: ConversationStream) -> None:
    """Route what other instances left unrouted; conversations being routed elsewhere just wait their turn."""
    while True:
        await asyncio.sleep(RESUME_INTERVAL_SECONDS)
        try:
            await stream.resume()
        except Exception:  # noqa: BLE001 - the next round tries again; the failure is logged loudly
            log.exception("resuming unrouted messages failed")


async def resume_routing(app: web.Application) -> None:
    """Route the messages stored but not routed before a crash, once every router is wired in.

    Not in the stream's own context: the handoff and triage contexts set the router after it, and
    a resumed message routed before triage would be marked processed without a risk assessment.
    """
    resumed = await app[STREAM].resume()
    if resumed:
        log.warning("resumed routing of unprocessed messages in %d conversations", resumed)


def server_options(service: ServiceConfig) -> dict[str, Any]:
    """How the HTTP server treats connections (``web.run_app``/``web.AppRunner`` keyword arguments).

    aiohttp's one keep-alive timer also runs from the moment a connection opens until its first
    request header is complete, so it bounds half-sent headers and idle connections alike
    (its default, 75 s, let a hundred silent connections sit for over a minute each). After an answer
    to a request whose body never came (408), the connection lingers to drain it no longer than that.
    """
    return {"keepalive_timeout": service.http_idle_timeout_seconds,
            "lingering_time": service.http_idle_timeout_seconds}


@web.middleware
async def _crash_after_answering(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Crash tests only (``contract.crash_points``): a channel webhook's answer is sent, then the process dies."""
    response = await handler(request)
    if request.method == "POST" and request.path.startswith("/channels/") and response.status < 300:
        await response.prepare(request)
        await response.write_eof()
        crash_points.reached("webhook.answered")
    return response


async def start_page(request: web.Request) -> web.Response:
    return web.Response(text=render_start_page(request.app), content_type="text/html", charset="utf-8")
