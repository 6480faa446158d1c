"""Work orders (转办工单) to other hotlines: a referral becomes an order, sent until the hotline has it,
and the hotline's status callbacks move the order and the case's referral on.

Sending: every referral to an agency with a ``[[work_orders.endpoints]]`` entry gets one order (one
per referral, however often it is asked for). ``WorkOrderSender`` claims due orders from the store
with a lease, POSTs the JSON document (``docs/work-order.schema.json``) signed with the endpoint's
secret and a fresh timestamp, with the order id as ``Idempotency-Key`` so a resent order is
recognised; 408/425/429/5xx and network errors are retried with exponential backoff, other answers
and the last attempt fail visibly on the order (shown in the case panel).

Callbacks: ``record_status`` takes a callback whose signature the web layer has checked. Unknown
orders (or another hotline's) are not found; an ``event_id`` seen before is a replay; a status that
cannot follow the current one is refused; each refusal changes nothing. A recorded status moves the
referral too: accepted/in progress → accepted, resolved → resolved, rejected → declined.
The domain knows no HTTP: the sender speaks through a ``Transport`` (``service/work_order_http.py``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from contract.cases import Case, ReferralStatus
from contract.config import Settings
from contract.models import Event, new_id
from contract.signing import RETRYABLE_STATUSES, signed_headers
from contract.work_orders import (
    SCHEMA_NAME,
    SCHEMA_VERSION,
    STATUS_TRANSITIONS,
    Delivery,
    StatusCallback,
    StatusUpdate,
    WorkOrder,
)
from handoff import cases
from handoff.context import HandoffContext
from handoff.errors import Conflict, Invalid, NotFound
from handoff.ticker import Ticker
from store import work_orders as stored
from store.client import Store

log = logging.getLogger("youthdesk.handoff.work_orders")

LEASE = timedelta(seconds=60)
# What a hotline's status means for the referral in the case, and the steps to get there.
REFERRAL_STEPS: dict[str, tuple[ReferralStatus, ...]] = {
    "accepted": ("accepted",), "in_progress": ("accepted",), "resolved": ("accepted", "resolved"),
    "rejected": ("declined",),
}
CALLBACK_PATH = "/work-orders/{agency}/status"

# (url, body, headers, timeout seconds) -> HTTP status; raises ``OrderUnreachable`` on network trouble.
Transport = Callable[[str, bytes, dict[str, str], float], Awaitable[int]]


class OrderUnreachable(Exception):
    """The hotline's endpoint could not be reached (or did not answer in time)."""


async def open_for_case(store: Store, settings: Settings, case: Case, *, by: str, now: datetime) -> list[WorkOrder]:
    """An order for each referral of ``case`` to a hotline with an endpoint that has none yet."""
    opened = []
    for referral in case.referrals:
        if settings.work_orders.endpoint(referral.agency) is None:
            continue
        order = WorkOrder(id=new_id("wo"), agency=referral.agency, case_id=case.id, case_number=case.number,
                          referral_id=referral.id, desk=case.desk, risk_level=case.risk_level,
                          classification=case.classification, note=referral.note, contact=referral.contact,
                          created_by=by, created_at=now, delivery=Delivery(next_attempt_at=now))
        if await stored.insert_once(store, order):
            opened.append(order)
    return opened


async def for_case(store: Store, case_id: str) -> list[WorkOrder]:
    return await stored.for_case(store, case_id)


def callback_url(settings: Settings, agency: str) -> str:
    service = settings.service
    base = service.public_url or f"http://{service.host}:{service.port}"
    return base + CALLBACK_PATH.format(agency=agency)


def document(order: WorkOrder, settings: Settings) -> dict[str, Any]:
    """The order as the hotline receives it (``docs/work-order.schema.json``)."""
    try:
        desk_name = settings.desk(order.desk).name
    except KeyError:
        desk_name = order.desk
    return {
        "schema": SCHEMA_NAME, "version": SCHEMA_VERSION, "id": order.id, "agency": order.agency,
        "created_at": order.created_at.isoformat(),
        "from": {"service": "12355", "desk": order.desk, "desk_name": desk_name, "case_number": order.case_number},
        "case": {"risk_level": order.risk_level, "classification": order.classification},
        "request": {"note": order.note, "contact": order.contact},
        "status_callback": callback_url(settings, order.agency),
    }


def encoded(order: WorkOrder, settings: Settings) -> bytes:
    return json.dumps(document(order, settings), ensure_ascii=False, separators=(",", ":")).encode()


class WorkOrderSender(Ticker):
    """The outbox worker: sends due orders, one at a time, on the engine's tick."""

    name = "work-orders"

    def __init__(self, context: HandoffContext, transport: Transport) -> None:
        super().__init__(context)
        self.transport = transport

    async def tick(self) -> int:
        """Send every order due now; how many were tried."""
        tried = 0
        while (order := await stored.claim_due(self.context.store, self.context.now(), LEASE)) is not None:
            await self._send(order)
            tried += 1
        return tried

    async def _send(self, order: WorkOrder) -> None:
        settings, store = self.context.settings, self.context.store
        config = settings.work_orders
        endpoint = config.endpoint(order.agency)
        attempts = order.delivery.attempts + 1
        if endpoint is None:
            await stored.mark_failed(store, order.id, attempts=attempts, error="no endpoint configured any more")
            return
        body = encoded(order, settings)
        headers = {"Content-Type": "application/json", "Idempotency-Key": order.id,
                   **signed_headers(endpoint.secret, body)}
        try:
            status = await self.transport(endpoint.url, body, headers, endpoint.timeout_seconds)
        except OrderUnreachable as exc:
            status, error = 0, str(exc)
        else:
            error = f"HTTP {status}"
        now = self.context.now()
        if 200 <= status < 300:
            await stored.mark_sent(store, order.id, attempts=attempts, now=now)
            return
        if (status == 0 or status in RETRYABLE_STATUSES or status >= 500) and attempts < config.max_attempts:
            delay = min(config.backoff_seconds * 2 ** (attempts - 1), config.max_backoff_seconds)
            await stored.retry_later(store, order.id, attempts=attempts, at=now + timedelta(seconds=delay), error=error)
            return
        log.error("work order %s to %s failed after %d attempt(s): %s", order.id, order.agency, attempts, error)
        await stored.mark_failed(store, order.id, attempts=attempts, error=error)


async def record_status(context: HandoffContext, agency: str, callback: StatusCallback) -> WorkOrder:
    """Apply a hotline's (signature-checked) status callback to its order and the case's referral."""
    store = context.store
    order = await stored.find(store, callback.work_order_id)
    if order is None or order.agency != agency:
        raise NotFound(callback.work_order_id)
    if any(update.event_id == callback.event_id for update in order.history):
        raise Conflict("event_id already recorded (replayed callback)")
    if callback.status not in STATUS_TRANSITIONS[order.status]:
        raise Conflict(f"status: a work order {order.status or 'sent'} cannot become {callback.status}")
    update = StatusUpdate(event_id=callback.event_id, status=callback.status, note=callback.note, at=callback.at,
                          received_at=context.now())
    updated = await stored.append_status(store, order.id, order.status, update)
    if updated is None:
        raise Conflict("the work order changed meanwhile; retry")
    await _move_referral(store, updated, update)
    await context.stream.bus.publish(Event(type="case.work_order", desk=updated.desk,
                                           data={"case_id": updated.case_id, "work_order": updated.public()}))
    return updated


async def _move_referral(store: Store, order: WorkOrder, update: StatusUpdate) -> None:
    """The referral follows the order as far as its own transitions allow (a counsellor may be ahead)."""
    by = f"hotline:{order.agency}"
    for status in REFERRAL_STEPS.get(update.status, ()):
        try:
            await cases.set_referral_status(store, order.case_id, order.referral_id, status, by=by,
                                            note=update.note)
        except (Invalid, Conflict, NotFound) as exc:
            log.info("referral %s stays as it is for %s: %s", order.referral_id, update.status, exc)
