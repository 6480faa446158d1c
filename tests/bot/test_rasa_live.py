"""A real Rasa server: installed into bot/.venv-rasa if missing, trained once per data hash, served.

The model is cached in bot/models/<hash>.tar.gz, so only the first run after a data change trains.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import yaml

from bot import lifecycle
from bot.lifecycle import RasaServer
from bot.rasa_client import RasaClient
from contract.config import PROJECT_ROOT, Settings
from contract.keys import STREAM
from contract.models import ConversationState
from tests.fakes import RecordingChannel, inbound, wait_for

pytestmark = pytest.mark.rasa


def _response(name: str) -> str:
    domain = yaml.safe_load((PROJECT_ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
    return str(domain["responses"][name][0]["text"])


@pytest.fixture(scope="session")
def rasa_server() -> Iterator[RasaServer]:
    # A token that begins with "-" (as a random URL-safe token sometimes does) must still reach Rasa as a token.
    token = "-" + secrets.token_urlsafe(24)
    with lifecycle.running_server(log_path=lifecycle.MODELS_DIR / "pytest-rasa.log", token=token) as server:
        yield server


@pytest.fixture
async def rasa(rasa_server: RasaServer) -> AsyncIterator[RasaClient]:
    async with aiohttp.ClientSession() as session:
        yield RasaClient(base_url=rasa_server.url, token=rasa_server.token, timeout=10.0, http=lambda: session)


async def test_the_server_has_the_model_for_the_current_data(rasa: RasaClient, rasa_server: RasaServer) -> None:
    assert await rasa.status()
    assert rasa_server.model == lifecycle.model_path()


async def test_a_faq_question_gets_its_answer(rasa: RasaClient) -> None:
    parse = await rasa.parse("晚上老是睡不着觉，怎么办")
    assert (parse.intent, parse.response_key) == ("faq", "faq/sleep")
    reply = await rasa.respond("live-faq", "晚上老是睡不着觉，怎么办")
    assert reply.texts == [_response("utter_faq/sleep")]


async def test_a_risk_intent_is_recognised(rasa: RasaClient) -> None:
    parse = await rasa.parse("我爸一回家就拿皮带抽我")
    assert parse.intent == "risk_abuse_home" and parse.confidence >= 0.6


async def test_the_api_refuses_a_wrong_token(rasa: RasaClient) -> None:
    rasa.token = "not-the-token"
    with pytest.raises(Exception, match="401"):
        await rasa.parse("你好")


async def test_pause_silences_the_bot_until_resumed(rasa: RasaClient) -> None:
    assert (await rasa.respond("live-pause", "你好")).texts == [_response("utter_greet")]
    await rasa.pause("live-pause")
    assert (await rasa.respond("live-pause", "你好")).texts == []
    await rasa.resume("live-pause")
    assert (await rasa.respond("live-pause", "你好")).texts == [_response("utter_greet")]


async def test_the_gateway_answers_through_rasa_and_pauses_it_on_handoff(start_app, settings: Settings,
                                                                   rasa_server: RasaServer) -> None:
    service = settings.service.model_copy(update={"triage_enabled": True, "rasa_url": rasa_server.url,
                                                  "rasa_token": rasa_server.token, "rasa_timeout_seconds": 10.0})
    client = await start_app(settings=settings.model_copy(update={"service": service}),
                             channel_classes=[RecordingChannel])
    stream = client.app[STREAM]
    channel = RecordingChannel.instances[-1]

    asked = await stream.ingest(inbound("考试前特别紧张，手心出汗怎么办", msg_id="live-1"))
    await wait_for(lambda: any(m.text == _response("utter_faq/exam_anxiety") for m in channel.sent), timeout=15)
    assert (await stream.get_conversation(asked.conversation_id)).state == ConversationState.BOT

    risky = await stream.ingest(inbound("班里那几个人天天堵我要钱，不给就打", msg_id="live-2"))
    await wait_for(lambda: _state_is(stream, risky.conversation_id, ConversationState.QUEUED), timeout=15)
    bot_replies = [m.text for m in await stream.history(risky.conversation_id, include_private=True)
                   if m.sender == "bot"]
    assert bot_replies == [_response("utter_faq/exam_anxiety")]
    # The handoff paused the conversation in the real Rasa: it would not answer even if asked.
    async with aiohttp.ClientSession() as session:
        rasa = RasaClient(base_url=rasa_server.url, token=rasa_server.token, timeout=10.0, http=lambda: session)
        assert (await rasa.respond(risky.conversation_id, "你好")).texts == []


async def _state_is(stream, conversation_id: str, state: ConversationState) -> bool:  # type: ignore[no-untyped-def]
    return (await stream.get_conversation(conversation_id)).state == state
