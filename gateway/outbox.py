"""Delivery workers: take pending outbound messages from the outbox and hand them to channels.

A message is claimed with a lease (so a crashed worker's claim expires), delivered in
per-conversation order, and every attempt is recorded on the message. A reply held back by an earlier one
waiting in backoff is made due when that one is tried again: during a platform outage a wake reads what
can go now, not the same blocked replies every time. Transient failures back
off exponentially; after ``delivery_max_attempts`` the message is ``failed`` with the reason,
and a closed reply window is reported to the stream (which records it) so the counsellor is told.
The outbox's documents and their leases are ``store.messages``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta

from contract import crash_points
from contract.channel import (
    Channel,
    DeliveryError,
    PermanentDeliveryError,
    ReplyWindowClosedError,
    TransientDeliveryError,
)
from contract.config import ServiceConfig
from contract.models import DeliveryAttempt, DeliveryStatus, Message, utcnow
from gateway.stream import ConversationStream
from store import messages

log = logging.getLogger("youthdesk.outbox")

POLL_INTERVAL = 0.5


class DeliveryWorkers:
    def __init__(self, *, stream: ConversationStream, channels: Mapping[str, Channel],
                 options: ServiceConfig) -> None:
        self.stream = stream
        self.store = stream.store
        self.channels = channels
        self.options = options
        self.lease = timedelta(seconds=options.delivery_lease_seconds)
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight: set[str] = set()  # conversation ids being delivered right now
        self._stopping = asyncio.Event()
        self.delivered = 0
        self.failed = 0

    @property
    def running(self) -> bool:
        return bool(self._tasks) and all(not task.done() for task in self._tasks)

    async def release_expired_claims(self) -> int:
        """Claims held by a worker that died are released, so those messages go out once more."""
        released = await messages.release_expired_claims(self.store, utcnow())
        if released:
            log.warning("released %d expired delivery claims", released)
        return released

    async def start(self) -> None:
        await self.release_expired_claims()
        self._tasks = [
            asyncio.create_task(self._run(), name=f"delivery-worker-{n}")
            for n in range(self.options.delivery_workers)
        ]

    async def stop(self, timeout: float) -> None:
        """Finish the deliveries in hand, then stop; claims not finished expire and are retried."""
        self._stopping.set()
        self.stream.outbox_ready.set()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._tasks = []

    async def pending_count(self) -> int:
        return await messages.count_undelivered(self.store)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_release = loop.time() + self.lease.total_seconds() / 4
        while not self._stopping.is_set():
            message = await self._claim()
            if message is None:
                if loop.time() >= next_release:
                    next_release = loop.time() + self.lease.total_seconds() / 4
                    await self.release_expired_claims()
                self.stream.outbox_ready.clear()
                try:
                    await asyncio.wait_for(self.stream.outbox_ready.wait(), await self._idle_seconds())
                except TimeoutError:
                    pass
                continue
            try:
                await self._deliver(message)
            except Exception:  # noqa: BLE001 - a worker must survive a bug in one delivery
                log.exception("delivery of %s crashed; it stays claimed until its lease expires", message.id)
            finally:
                self._in_flight.discard(message.conversation_id)

    async def _idle_seconds(self) -> float:
        """Sleep until the next retry is due (new messages wake the workers at once).

        A message due now that no worker here could take belongs to a conversation being delivered:
        the worker delivering it comes back for it, so this one need not spin until then.
        """
        next_due = await messages.next_attempt_due(self.store)
        if next_due is None:
            return POLL_INTERVAL
        wait = (next_due - utcnow()).total_seconds()
        return POLL_INTERVAL if wait <= 0 else min(wait, POLL_INTERVAL)

    async def _claim(self) -> Message | None:
        now = utcnow()
        deferred = True
        while deferred:  # what was deferred left the due ones: the next read sees those behind it
            deferred = False
            for entry in await messages.due_entries(self.store, now, skip_conversations=self._in_flight):
                if entry.conversation_id in self._in_flight:
                    continue
                # Keep the youth's view in order: a later message waits for an earlier one still retrying.
                if (ahead := await messages.held_back_by(self.store, entry)) is not None:
                    if ahead.retry_at is not None and ahead.retry_at > now:
                        await messages.defer(self.store, entry, ahead.retry_at)
                        deferred = True
                    continue
                self._in_flight.add(entry.conversation_id)
                message = await messages.claim(self.store, entry, lease_until=now + self.lease)
                if message is not None:
                    return message
                self._in_flight.discard(entry.conversation_id)
        return None

    async def _deliver(self, message: Message) -> None:
        outbound = await self.stream.outbound_for(message)
        channel = self.channels.get(outbound.platform)
        attempt_number = len(message.attempts) + 1
        try:
            if channel is None:
                raise PermanentDeliveryError(f"no channel adapter for platform {outbound.platform!r}")
            receipt = await asyncio.wait_for(channel.send(outbound), self.options.delivery_timeout_seconds)
        except TimeoutError:
            await self._failed_attempt(message, attempt_number, TransientDeliveryError("timed out"))
        except DeliveryError as exc:
            await self._failed_attempt(message, attempt_number, exc)
        except Exception as exc:  # noqa: BLE001 - an adapter bug is recorded like any failure
            log.exception("channel %s raised unexpectedly", outbound.platform)
            await self._failed_attempt(message, attempt_number, TransientDeliveryError(f"adapter error: {exc!r}"))
        else:
            crash_points.reached("delivery.sent")
            await self._finish(message, DeliveryStatus.SENT, DeliveryAttempt(at=utcnow(), ok=True),
                               channel_message_id=receipt.channel_message_id)
            await self.stream.reply_delivered(message.conversation_id)
            self.delivered += 1

    async def _failed_attempt(self, message: Message, attempt_number: int, error: DeliveryError) -> None:
        attempt = DeliveryAttempt(at=utcnow(), ok=False, error=error.reason)
        log.warning("delivery attempt %d of %s failed: %s", attempt_number, message.id, error.reason)
        if isinstance(error, TransientDeliveryError) and attempt_number < self.options.delivery_max_attempts:
            delay = self.options.delivery_backoff_seconds * 2 ** (attempt_number - 1)
            await messages.schedule_retry(self.store, message.id, attempt, utcnow() + timedelta(seconds=delay))
            return
        reason = error.reason if attempt_number == 1 else f"{error.reason} (after {attempt_number} attempts)"
        await self._finish(message, DeliveryStatus.FAILED, attempt, error=reason)
        self.failed += 1
        if isinstance(error, ReplyWindowClosedError):
            await self.stream.reply_window_closed(message, error.reason)

    async def _finish(self, message: Message, status: DeliveryStatus, attempt: DeliveryAttempt, *,
                      error: str | None = None, channel_message_id: str | None = None) -> None:
        await messages.finish_delivery(self.store, message.id, status, attempt, error=error,
                                       channel_message_id=channel_message_id)
        conversation = await self.stream.get_conversation(message.conversation_id)
        await self.stream.publish("message.status", conversation,
                                  message_id=message.id, status=status, error=error)
