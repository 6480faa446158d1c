"""bot.rasa_client against a small stand-in for Rasa's HTTP API (the real server: tests/test_rasa_live.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.rasa_client import RasaClient, RasaParse, RasaUnavailable

TOKEN = "s3cret token/with+chars"


@dataclass
class FakeRasaState:
    model_loaded: bool = True
    delay: float = 0.0
    paused: set[str] = field(default_factory=set)
    events: list[tuple[str, list[dict]]] = field(default_factory=list)


def fake_rasa(state: FakeRasaState) -> web.Application:
    """The slice of Rasa 3.6's API the client uses, with its token check and pause semantics."""

    def authorised(request: web.Request) -> None:
        if request.query.get("token") != TOKEN:
            raise web.HTTPUnauthorized(text='{"status": "failure"}')

    async def parse(request: web.Request) -> web.Response:
        authorised(request)
        await asyncio.sleep(state.delay)
        text = (await request.json())["text"]
        if "失眠" in text:
            return web.json_response({
                "text": text, "intent": {"name": "faq", "confidence": 0.97},
                "intent_ranking": [{"name": "faq", "confidence": 0.97}, {"name": "greet", "confidence": 0.01}],
                "response_selector": {"faq": {"response": {"intent_response_key": "faq/sleep", "confidence": 0.9,
                                                           "responses": [{"text": "睡前放下手机。"}]}}}})
        return web.json_response({"text": text, "intent": {"name": "greet", "confidence": 0.88},
                                  "intent_ranking": [{"name": "greet", "confidence": 0.88}]})

    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        if body["sender"] in state.paused:
            return web.json_response([])
        return web.json_response([{"recipient_id": body["sender"], "text": "你好，我是小助手。"},
                                  {"recipient_id": body["sender"], "image": "https://example.invalid/x.png"}])

    async def events(request: web.Request) -> web.Response:
        authorised(request)
        sender = request.match_info["sender"]
        body = await request.json()
        state.events.append((sender, body))
        for event in body:
            (state.paused.add if event["event"] == "pause" else state.paused.discard)(sender)
        return web.json_response({"sender_id": sender})

    async def status(request: web.Request) -> web.Response:
        authorised(request)
        if not state.model_loaded:
            return web.json_response({"status": "failure", "reason": "No agent loaded."}, status=409)
        return web.json_response({"model_file": "m.tar.gz", "model_id": "abc", "num_active_training_jobs": 0})

    app = web.Application()
    app.router.add_post("/model/parse", parse)
    app.router.add_post("/webhooks/rest/webhook", webhook)
    app.router.add_post("/conversations/{sender}/tracker/events", events)
    app.router.add_get("/status", status)
    return app


@pytest.fixture
def state() -> FakeRasaState:
    return FakeRasaState()


@pytest.fixture
async def client(state: FakeRasaState) -> AsyncIterator[RasaClient]:
    server = TestServer(fake_rasa(state))
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield RasaClient(base_url=str(server.make_url("/")), token=TOKEN, timeout=0.5, http=lambda: session)
    await server.close()


async def test_parse_reads_intent_ranking_and_the_chosen_faq_answer(client: RasaClient) -> None:
    parse = await client.parse("最近总失眠")
    assert parse == RasaParse(intent="faq", confidence=0.97, ranking=[("faq", 0.97), ("greet", 0.01)],
                              response_key="faq/sleep", response_confidence=0.9)
    plain = await client.parse("你好")
    assert (plain.intent, plain.confidence, plain.response_key) == ("greet", 0.88, None)


async def test_respond_keeps_only_text_replies(client: RasaClient) -> None:
    reply = await client.respond("conv-1", "你好")
    assert reply.texts == ["你好，我是小助手。"]


async def test_pause_silences_and_resume_restores(client: RasaClient, state: FakeRasaState) -> None:
    await client.pause("wechat:acc/youth 1")
    assert (await client.respond("wechat:acc/youth 1", "在吗")).texts == []
    await client.resume("wechat:acc/youth 1")
    assert (await client.respond("wechat:acc/youth 1", "在吗")).texts
    # The conversation id is one path segment however it is spelled.
    assert [sender for sender, _ in state.events] == ["wechat:acc/youth 1"] * 2
    assert [body for _, body in state.events] == [[{"event": "pause"}], [{"event": "resume"}]]


async def test_status_is_false_without_a_model(client: RasaClient, state: FakeRasaState) -> None:
    assert await client.status() is True
    state.model_loaded = False
    assert await client.status() is False


async def test_a_wrong_token_is_unavailable_not_a_silent_answer(client: RasaClient) -> None:
    client.token = "wrong"
    with pytest.raises(RasaUnavailable, match="401"):
        await client.parse("你好")


async def test_a_slow_rasa_times_out_as_unavailable(client: RasaClient, state: FakeRasaState) -> None:
    state.delay = 2.0
    with pytest.raises(RasaUnavailable):
        await client.parse("你好")


async def test_a_dead_rasa_is_unavailable() -> None:
    async with aiohttp.ClientSession() as session:
        dead = RasaClient(base_url="http://127.0.0.1:9", token=TOKEN, timeout=0.5, http=lambda: session)
        for call in (dead.parse("你好"), dead.respond("c", "你好"), dead.pause("c"), dead.status()):
            with pytest.raises(RasaUnavailable):
                await call


def test_the_app_builds_this_client_from_the_settings() -> None:
    from contract.config import ServiceConfig
    from service.triage import make_rasa_client

    service = ServiceConfig(rasa_url="http://127.0.0.1:5005/", rasa_token=TOKEN, rasa_timeout_seconds=1.5)
    rasa = make_rasa_client(service, lambda: None)  # type: ignore[arg-type, return-value]
    assert isinstance(rasa, RasaClient)
    assert (rasa.base_url, rasa.token, rasa.timeout.total) == ("http://127.0.0.1:5005", TOKEN, 1.5)
