"""A youth asks a simple question on WeChat; the bot answers; the answer reaches WeChat once.

The walk, file by file: channels/wechat.py verifies and parses the push → gateway/stream.py stores it
(store/messages.py, store/conversations.py) and acknowledges → the stream's router (bot/router.py)
asks triage (bot/triage.py: detector, model, Rasa) → the bot's answer is stored as pending →
gateway/outbox.py claims it → channels/wechat.py sends it through WeChat's API (here the stand-in).
"""

from __future__ import annotations

from contract.keys import STORE
from contract.models import ConversationState
from service.wechat_standin import WeChatStandIn
from tests.fakes import FakeRasa, wait_for

ANSWER = "考试前紧张很常见。可以试试深呼吸，把复习拆成小块。想和老师聊聊的话，随时说“转人工”。"


async def test_a_question_is_answered_by_the_bot_and_the_answer_reaches_wechat_once(
        gateway, youth, wechat: WeChatStandIn, rasa: FakeRasa) -> None:  # type: ignore[no-untyped-def]
    rasa.intent, rasa.texts = "faq/exam_anxiety", [ANSWER]

    await youth.writes("快考试了好紧张怎么办")

    # The bot's answer goes out through WeChat's customer-service API, to this youth, once.
    await wait_for(lambda: wechat.sent)
    [sent] = wechat.sent_to(youth.openid)
    assert (sent.api, sent.msgtype, sent.text) == ("custom", "text", ANSWER)

    # Both messages are on record, the answer delivered, and the conversation stays with the bot.
    store = gateway.app[STORE]
    stored = await store.messages.find({}).sort("seq", 1).to_list(None)
    assert [(m["direction"], m["sender"]) for m in stored] == [("in", "youth"), ("out", "bot")]
    await wait_for(lambda: store.messages.find_one({"direction": "out", "status": "sent"}))
    conversation = await store.conversations.find_one({"_id": stored[0]["conversation_id"]})
    assert conversation["state"] == ConversationState.BOT
    assert ("parse", "快考试了好紧张怎么办") in rasa.calls
