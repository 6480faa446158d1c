"""The application's start-up order: work stored before a crash resumes only once every router is wired."""

from __future__ import annotations

from contract.config import Settings
from contract.keys import STREAM
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
