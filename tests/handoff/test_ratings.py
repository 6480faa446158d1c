"""Satisfaction ratings after a closing that asked for one: widget event or a bare digit, once, within 24 h."""

from __future__ import annotations

from datetime import timedelta

from aiohttp.test_utils import TestClient

from contract.channel import InboundMessage
from contract.keys import STORE, STREAM
from contract.models import ConversationState, MessageType, SenderKind, utcnow
from handoff.ratings import THANKS, record_rating_if_answer
from store.messages import opened_message
from tests.handoff_support import conversation, login, start, user

YOUTH = "openid-rater"


async def _closed(start_app, *, ask: bool = True) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    client = await start(start_app)
    await user(client, "c1", desk="gd")
    head = await login(client, "c1")
    conversation_id = await conversation(client, youth=YOUTH)
    assert (await client.post(f"/api/v1/conversations/{conversation_id}/claim", headers=head)).status == 200
    response = await client.post(f"/api/v1/conversations/{conversation_id}/close", headers=head,
                                 json={"outcome": "resolved", "request_rating": ask})
    assert response.status == 200
    return client, conversation_id


async def _answer(client: TestClient, message: InboundMessage) -> tuple[bool, str]:
    stream = client.app[STREAM]
    result = await stream.ingest(message)
    stored = opened_message(client.app[STORE], await client.app[STORE].messages.find_one({"_id": result.message_id}))
    taken = await record_rating_if_answer(client.app[STORE], stream, await stream.get_conversation(
        result.conversation_id), stored)
    return taken, result.conversation_id


def _text(text: str, msg_id: str) -> InboundMessage:
    return InboundMessage(platform="wechat", account="wxdemo0000000001", external_user_id=YOUTH,
                          channel_message_id=msg_id, type=MessageType.TEXT, text=text)


async def test_bare_digit_rates_the_closed_conversation_once(start_app) -> None:  # type: ignore[no-untyped-def]
    client, rated_id = await _closed(start_app)
    taken, new_id = await _answer(client, _text("４", "r1"))  # full-width digits count
    assert taken and new_id != rated_id
    rating = await client.app[STORE]["ratings"].find_one({"conversation_id": rated_id})
    case = await client.app[STORE]["cases"].find_one({"conversation_id": rated_id})
    assert (rating["score"], rating["comment"], rating["case_id"]) == (4, None, case["_id"])
    thanks = await client.app[STORE].messages.find_one({"conversation_id": new_id, "sender": SenderKind.SYSTEM})
    assert opened_message(client.app[STORE], thanks).text == THANKS
    assert (await client.app[STREAM].get_conversation(new_id)).state == ConversationState.CLOSED
    taken, _ = await _answer(client, _text("2", "r2"))
    assert not taken  # already rated: an ordinary message now
    assert await client.app[STORE]["ratings"].count_documents({}) == 1


async def test_widget_satisfaction_event_with_comment(start_app) -> None:  # type: ignore[no-untyped-def]
    client, rated_id = await _closed(start_app)
    event = InboundMessage(platform="wechat", account="wxdemo0000000001", external_user_id=YOUTH,
                           channel_message_id="ev1", type=MessageType.EVENT, event="satisfaction", text="老师很耐心",
                           tags={"score": "5", "rated_conversation_id": rated_id})
    taken, _ = await _answer(client, event)
    assert taken
    rating = await client.app[STORE]["ratings"].find_one({"conversation_id": rated_id})
    assert (rating["score"], rating["comment"]) == (5, "老师很耐心")


async def test_no_rating_when_the_closing_did_not_ask(start_app) -> None:  # type: ignore[no-untyped-def]
    client, _ = await _closed(start_app, ask=False)
    taken, new_id = await _answer(client, _text("5", "n1"))
    assert not taken
    assert await client.app[STORE]["ratings"].count_documents({}) == 0
    assert (await client.app[STREAM].get_conversation(new_id)).state != ConversationState.CLOSED


async def test_no_rating_after_24_hours(start_app) -> None:  # type: ignore[no-untyped-def]
    client, rated_id = await _closed(start_app)
    await client.app[STORE].conversations.update_one({"_id": rated_id},
                                                     {"$set": {"closed_at": utcnow() - timedelta(hours=25)}})
    taken, _ = await _answer(client, _text("5", "n2"))
    assert not taken
    assert await client.app[STORE]["ratings"].count_documents({}) == 0


async def test_other_text_is_not_a_rating(start_app) -> None:  # type: ignore[no-untyped-def]
    client, _ = await _closed(start_app)
    for n, text in enumerate(("6", "0", "45", "我给5分", "")):
        taken, _ = await _answer(client, _text(text or "嗯", f"o{n}"))
        assert not taken, text
