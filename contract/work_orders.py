"""Work orders (转办工单) to other hotlines: 12345, 12348, 12338, 12320.

A case's referral to an agency with a configured endpoint (``[[work_orders.endpoints]]``) becomes a
work order: a JSON document of the shape in ``docs/work-order.schema.json`` (``SCHEMA_VERSION``),
POSTed to the hotline's endpoint through a durable outbox and signed like our other server-to-server
traffic (``contract.signing``). The hotline answers with signed status callbacks, each with an id of
its own (``event_id``), which update the work order and the referral.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_NAME = "youthdesk.work-order"
SCHEMA_VERSION = "1.0"

WorkOrderStatus = Literal["received", "accepted", "in_progress", "resolved", "rejected"]
DeliveryState = Literal["pending", "sent", "failed"]

# What a hotline may report after what (``None``: nothing reported yet). Rejecting is possible until
# the order is resolved; nothing follows resolved or rejected.
STATUS_TRANSITIONS: dict[WorkOrderStatus | None, frozenset[WorkOrderStatus]] = {
    None: frozenset({"received", "accepted", "in_progress", "resolved", "rejected"}),
    "received": frozenset({"accepted", "in_progress", "resolved", "rejected"}),
    "accepted": frozenset({"in_progress", "resolved", "rejected"}),
    "in_progress": frozenset({"resolved", "rejected"}),
    "resolved": frozenset(),
    "rejected": frozenset(),
}


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkOrderEndpoint(_Config):
    """One hotline that takes work orders. ``url = "standin"``: this server's own stand-in (demo/test)."""

    agency: str = Field(min_length=1, max_length=64)  # a ``[[cases.agencies]]`` code, e.g. "12345"
    url: str = Field(min_length=1)
    secret: str = Field(min_length=16)  # signs our orders and their callbacks
    timeout_seconds: float = Field(default=10.0, gt=0)


class WorkOrdersConfig(_Config):
    endpoints: list[WorkOrderEndpoint] = Field(default_factory=list)
    max_attempts: int = Field(default=8, ge=1, le=50)
    backoff_seconds: float = Field(default=2.0, gt=0)  # doubled per failed attempt …
    max_backoff_seconds: float = Field(default=900.0, gt=0)  # … up to this
    max_callback_bytes: int = Field(default=16 * 1024, gt=0)

    def endpoint(self, agency: str) -> WorkOrderEndpoint | None:
        return next((e for e in self.endpoints if e.agency == agency), None)


class Delivery(BaseModel):
    """The outbox state of one work order: claimed with a lease, retried with backoff, failed visibly."""

    state: DeliveryState = "pending"
    attempts: int = 0
    next_attempt_at: datetime
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    last_error: str = ""


class StatusCallback(BaseModel):
    """What a hotline POSTs to ``/work-orders/{agency}/status`` (signed with the endpoint's secret)."""

    model_config = ConfigDict(extra="forbid")

    work_order_id: str = Field(min_length=1, max_length=64)
    event_id: str = Field(min_length=1, max_length=128)  # unique per update: a repeat is a replay
    status: WorkOrderStatus
    note: str = Field(default="", max_length=2000)
    at: AwareDatetime


class StatusUpdate(BaseModel):
    event_id: str
    status: WorkOrderStatus
    note: str = ""
    at: datetime  # when the hotline says it happened
    received_at: datetime


class WorkOrder(BaseModel):
    id: str
    agency: str
    case_id: str
    case_number: str
    referral_id: str
    desk: str
    risk_level: int = Field(ge=0, le=3)
    classification: str | None = None
    note: str = ""  # the referral's note for the hotline (sealed at rest)
    contact: str = ""  # whom the hotline should contact (sealed at rest)
    created_by: str
    created_at: datetime
    delivery: Delivery
    status: WorkOrderStatus | None = None
    history: list[StatusUpdate] = Field(default_factory=list)

    def public(self) -> dict[str, object]:
        """For the console's case panel: where the order stands, not what was sent."""
        return self.model_dump(mode="json", exclude={"note", "contact", "delivery"}) | {
            "delivery": self.delivery.model_dump(mode="json", exclude={"lease_until"})}
