"""The application's start-up order: work stored before a crash resumes only once every router is wired; the
embedded store's data kept out of the garbage collector's full passes."""

from __future__ import annotations

import gc

from contract.config import Settings
from contract.keys import STORE, STREAM
from contract.models import ConversationState
from tests.fakes import RecordingChannel, inbound, wait_for


async def test_a_message_stored_before_a_crash_is_triaged_after_the_restart(start_app, settings: Settings) -> None:
    first = await start_app(channel_classes=[RecordingChannel])
    first.app[STREAM]._schedule = lambda conversation_id, urgency, text: None  # the process dies right after storing
    stored = await first.app[STREAM].ingest(inbound("我不想活了，今晚就从楼上跳下去"))
    await first.close()

    # The demo start creates accounts (argon2 in a thread: the event loop runs other tasks meanwhile)
    # before triage is wired; a message resumed then would be marked processed without a risk assessment.
    service = settings.service.model_copy(update={"env": "demo", "triage_enabled": True})
    second = await start_app(settings=settings.model_copy(update={"service": service}),
                             channel_classes=[RecordingChannel])
    stream = second.app[STREAM]
    await wait_for(lambda: _no_backlog(stream), timeout=30)
    conversation = await stream.get_conversation(stored.conversation_id)
    assert (conversation.state, conversation.risk_level) == (ConversationState.QUEUED, 3)


async def _no_backlog(stream) -> bool:  # type: ignore[no-untyped-def]
    return await stream.unprocessed_count() == 0 and stream.in_flight == 0


async def test_the_embedded_store_loaded_at_start_is_left_out_of_full_garbage_collections(start_app) -> None:
    # A full pass of the cyclic collector over 100,000 stored messages paused the event loop for about 0.4 s.
    first = await start_app(channel_classes=[RecordingChannel])
    await first.app[STORE].messages.insert_many([{"_id": f"m{n}", "text": "旧消息", "attempts": []}
                                                       for n in range(1_000)])
    await first.close()
    assert gc.get_freeze_count() == 0  # a stopped app gives everything back to the collector

    second = await start_app(channel_classes=[RecordingChannel])
    documents = second.app[STORE].messages._store._documents  # what the restart loaded
    assert len(documents) == 1_000
    assert gc.get_freeze_count() > 1_000
    assert gc.is_tracked(documents["m1"]) and not _collected_by_full_pass(documents["m1"])
    await second.close()
    assert gc.get_freeze_count() == 0


def _collected_by_full_pass(document: dict) -> bool:
    """Whether a full collection would visit ``document``: frozen objects are in no generation."""
    return any(document is candidate for candidate in gc.get_objects())
