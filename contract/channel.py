"""The channel contract: what every platform adapter receives and must provide.

An adapter verifies and parses inbound traffic into an ``InboundMessage`` and hands it to the
``ingest`` callback; it sends an ``OutboundMessage`` and answers with a ``DeliveryReceipt`` or
one of the delivery errors below. Nothing platform-specific travels past this module, and
adapters never see the store.
"""

from __future__ import annotations

import hmac
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from aiohttp import web

from contract.logs import escape_control
from contract.models import MediaRef, MessageType

if TYPE_CHECKING:
    import aiohttp

    from contract.config import ChannelAccountConfig, Settings
    from contract.models import Conversation, Event, Message

log = logging.getLogger("youthdesk.channels")


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    """A youth's message or event, normalised."""

    platform: str
    account: str
    external_user_id: str
    channel_message_id: str
    type: MessageType
    text: str = ""
    media: MediaRef | None = None
    event: str | None = None
    sent_at: datetime | None = None
    union_id: str | None = None
    # Context the platform gives about where the youth came from (e.g. SessionFrom, QR scene).
    tags: dict[str, str] = field(default_factory=dict)
    # What this message does to the platform's reply window: a youth message opens it,
    # an unfollow closes it, some events leave it as it is.
    window: Literal["open", "close", "keep"] = "open"


@dataclass(frozen=True, slots=True)
class ReplyPolicy:
    """How long after a youth's message, and how many times, the platform lets us write."""

    window: timedelta
    max_messages: int


# How a youth waiting for a counsellor hears about the wait: a text message ("text"), live
# ``queue.position`` events the channel shows itself ("live": the widget), or not at all ("none":
# a phone call, which takes no text).
QueueNotice = Literal["text", "live", "none"]


@dataclass(frozen=True, slots=True)
class IngestResult:
    message_id: str
    conversation_id: str
    duplicate: bool


IngestCallback = Callable[[InboundMessage], Awaitable[IngestResult]]


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundMessage:
    message_id: str
    conversation_id: str
    platform: str
    account: str
    external_user_id: str
    type: MessageType
    text: str = ""
    media: MediaRef | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    channel_message_id: str | None = None


class DeliveryError(Exception):
    """Base class: the platform did not take the message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientDeliveryError(DeliveryError):
    """Worth retrying later (network trouble, platform busy)."""


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help; the reason is recorded on the message."""


class ReplyWindowClosedError(PermanentDeliveryError):
    """The platform will not accept messages to this youth now (window expired, quota, unfollowed)."""


class WebhookRejected(Exception):
    """Inbound traffic refused; ``status`` and a short ``reason`` go back to the caller."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def constant_time_equals(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


class EventSubscription(Protocol):
    """A bounded queue of stream events; ``get`` returns None once it is closed (or cut off as lagging)."""

    lagged: bool

    def follow(self, conversation_id: str) -> None:
        """Also receive ``conversation_id``'s events from now on (a channel's subscription sees no others)."""

    async def get(self) -> Event | None: ...

    def close(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[Event]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationAccess:
    """Narrow read access to the stream for adapters that show the youth their own history (widget).

    ``recent`` returns the newest conversations of one platform identity (newest first);
    ``history`` the non-private messages of one conversation after a ``seq``; ``mark_read`` marks
    outbound messages up to a ``seq`` as read; ``subscribe``/``publish`` reach the event bus
    (a subscription receives only the events of the conversations it ``follow``s, then its filter decides);
    ``queue_place`` is the place in the queue a waiting youth below risk 2 was last told, or None.
    """

    recent: Callable[[str, str, str, int], Awaitable[list[Conversation]]]
    history: Callable[[str, int], Awaitable[list[Message]]]
    mark_read: Callable[[str, int], Awaitable[int]]
    subscribe: Callable[[Callable[[Event], bool]], EventSubscription]
    publish: Callable[[Event], Awaitable[None]]
    queue_place: Callable[[str], Awaitable[int | None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelState:
    """Small durable state an adapter owns (a pull cursor, a used one-time code), kept by the gateway.

    Keys are per platform. ``load`` returns the saved dict or None; ``save`` replaces it; ``claim``
    is True for the first caller only, across gateway instances (single-use tokens).
    """

    load: Callable[[str, str], Awaitable[dict[str, Any] | None]]
    save: Callable[[str, str, dict[str, Any]], Awaitable[None]]
    claim: Callable[[str, str], Awaitable[bool]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelContext:
    """What the app hands every adapter. ``http`` is a getter: the session exists only once started."""

    settings: Settings
    ingest: IngestCallback
    http: Callable[[], aiohttp.ClientSession]
    conversations: ConversationAccess | None = None
    state: ChannelState | None = None


class Channel(ABC):
    """One platform: its webhook routes and its sender, for all its configured accounts."""

    platform: ClassVar[str]
    reply_policy: ClassVar[ReplyPolicy | None] = None
    # True for a voice line: the caller hears the call centre's recorded notice, so no written one is sent.
    privacy_notice_by_voice: ClassVar[bool] = False
    queue_notice: ClassVar[QueueNotice] = "text"

    def __init__(self, context: ChannelContext) -> None:
        self.context = context
        self.accounts: dict[str, ChannelAccountConfig] = {
            account.id: account for account in context.settings.accounts_for(self.platform)
        }

    def account(self, account_id: str) -> ChannelAccountConfig:
        try:
            return self.accounts[account_id]
        except KeyError:
            raise WebhookRejected(404, f"unknown {self.platform} account") from None

    @abstractmethod
    def routes(self) -> list[web.AbstractRouteDef]:
        """The webhook routes, registered by the app factory before start-up."""

    @abstractmethod
    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Deliver one message or raise a DeliveryError."""

    def setup(self, app: web.Application) -> None:
        """Optional: start-page links, cleanup contexts, shutdown hooks (never the store)."""
        return None

    async def reject(self, request: web.Request, error: WebhookRejected) -> web.Response:
        return rejected_webhook(request, self.platform, error)


def rejected_webhook(request: web.Request, platform: str, error: WebhookRejected) -> web.Response:
    """The answer to a refused webhook, and its log line."""
    # The path arrives percent-decoded and the reason may quote a field: both are the sender's text.
    log.warning(
        "rejected %s webhook", platform,
        extra={"path": escape_control(request.path), "status": error.status,
               "reason": escape_control(error.reason), "remote": request.remote},
    )
    return web.json_response({"error": error.reason}, status=error.status)
