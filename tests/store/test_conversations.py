"""Conversation documents: one open per channel account, message numbering, state, the reply window."""

from __future__ import annotations

from datetime import timedelta

from contract.models import Conversation, ConversationState, new_id, utcnow
from store.conversations import (
    ReplyWindowChange,
    change_reply_window,
    find_conversation,
    numbered_first,
    open_conversation,
    open_conversation_id,
    recent_conversations,
    take_next_seq,
    write_state,
)


def _candidate(contact_id: str = "ct_1", account: str = "wx1", age: timedelta = timedelta(0)) -> Conversation:
    return Conversation(id=new_id("cv"), contact_id=contact_id, platform="wechat", account=account, desk="gd",
                        created_at=utcnow() - age)


async def test_one_conversation_is_open_per_contact_and_channel_account(store):
    first, created = await open_conversation(store, _candidate())
    again, created_again = await open_conversation(store, _candidate())
    elsewhere, created_elsewhere = await open_conversation(store, _candidate(account="wx2"))
    assert (created, created_again, created_elsewhere) == (True, False, True)
    assert again.id == first.id != elsewhere.id
    assert await store.conversations.count_documents({}) == 2


async def test_the_open_conversation_s_id_is_found_without_opening_one(store):
    assert await open_conversation_id(store, "ct_1", "wechat", "wx1") is None
    first, _ = await open_conversation(store, _candidate())
    assert await open_conversation_id(store, "ct_1", "wechat", "wx1") == first.id
    assert await open_conversation_id(store, "ct_1", "wechat", "wx2") is None
    await write_state(store, first.id, ConversationState.CLOSED, {})
    assert await open_conversation_id(store, "ct_1", "wechat", "wx1") is None
    await store.conversations.delete_one({"_id": (await open_conversation(store, _candidate()))[0].id})
    assert await open_conversation_id(store, "ct_1", "wechat", "wx1") is None  # a pointer left without its document
    assert await store.conversations.count_documents({}) == 1


async def test_closing_frees_the_channel_account_for_a_new_conversation(store):
    first, _ = await open_conversation(store, _candidate())
    closed = await write_state(store, first.id, ConversationState.CLOSED, {"outcome": "done"})
    assert closed is not None and closed.state == ConversationState.CLOSED and closed.closed_at is not None
    assert (await store.conversations.find_one({"_id": first.id}))["outcome"] == "done"
    second, created = await open_conversation(store, _candidate())
    assert created and second.id != first.id
    assert await write_state(store, "cv_unknown", ConversationState.QUEUED, {}) is None


async def test_next_seq_numbers_messages_and_applies_tags_and_the_youth_writing(store):
    conversation, _ = await open_conversation(store, _candidate())
    await change_reply_window(store, conversation.id, ReplyWindowChange(reply_delivered=True))
    await change_reply_window(store, conversation.id, ReplyWindowChange(closed_reason="45015"))
    wrote_at = utcnow()
    numbered = await take_next_seq(store, conversation.id, tags={"scene": "qr"},
                                   window=ReplyWindowChange(youth_wrote_at=wrote_at))
    assert numbered is not None and numbered.last_seq == 1 and numbered.tags == {"scene": "qr"}
    assert numbered.window.sent_since_youth_message == 0 and numbered.window.closed_reason is None
    assert abs(numbered.window.last_youth_message_at - wrote_at) < timedelta(milliseconds=1)
    assert (await take_next_seq(store, conversation.id)).last_seq == 2
    assert await take_next_seq(store, "cv_unknown") is None


async def test_a_conversation_opened_numbered_is_what_numbering_its_first_message_would_leave(store):
    wrote_at = utcnow()
    for change in (ReplyWindowChange(youth_wrote_at=wrote_at), ReplyWindowChange(closed_reason="unsubscribe"), None):
        base = _candidate(contact_id=f"ct_{id(change)}").model_copy(update={"tags": {"scene": "qr"}})
        opened, _ = await open_conversation(store, base.model_copy(update={"id": new_id("cv")}))
        numbered_later = await take_next_seq(store, opened.id, tags={"scene": "qr"}, window=change)
        opened_numbered, created = await open_conversation(store, numbered_first(
            base.model_copy(update={"account": "wx2"}), change))
        stored = await find_conversation(store, opened_numbered.id)
        assert created
        assert stored.last_seq == numbered_later.last_seq == 1
        assert stored.window == numbered_later.window and stored.tags == numbered_later.tags


async def test_reply_window_counts_deliveries_and_records_closing(store):
    conversation, _ = await open_conversation(store, _candidate())
    for _ in range(2):
        await change_reply_window(store, conversation.id, ReplyWindowChange(reply_delivered=True))
    await change_reply_window(store, conversation.id, ReplyWindowChange(closed_reason="unsubscribe"))
    window = (await find_conversation(store, conversation.id)).window
    assert (window.sent_since_youth_message, window.closed_reason) == (2, "unsubscribe")


async def test_recent_conversations_are_newest_first(store):
    ids = []
    for days_ago in (3, 2, 1):
        conversation, _ = await open_conversation(store, _candidate(age=timedelta(days=days_ago)))
        ids.append(conversation.id)
        await write_state(store, conversation.id, ConversationState.CLOSED, {})
    recent = await recent_conversations(store, "ct_1", "wechat", "wx1", limit=2)
    assert [c.id for c in recent] == ids[:0:-1]
    assert await find_conversation(store, "cv_unknown") is None
