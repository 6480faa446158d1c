"""Widget channel over a real socket: identity at hello, sending, live replies, resume, history."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from channels.widget import WidgetChannel, desk_open
from channels.widget_identity import sign_partner_token
from contract.config import Settings
from contract.handoff import HandoffRequest
from contract.keys import BUS, STORE, STREAM
from contract.models import Event, MessageType, SenderKind
from service.handoff import HandoffOnlyRouter
from tests.fakes import stored_messages, wait_for
from tests.handoff_support import at_shenzhen, engine, user

WS = "/channels/widget/ws?partner=demo-video"


@pytest.fixture
def settings(settings: Settings, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"service": settings.service.model_copy(update={"data_dir": str(tmp_path)})})


@pytest.fixture
async def client(start_app, settings: Settings) -> TestClient:  # type: ignore[no-untyped-def]
    return await start_app(channel_classes=[WidgetChannel])


def token_for(settings: Settings, sub: str = "youth-1", **kwargs: Any) -> str:
    return sign_partner_token(settings.partner("demo-video"), sub, **kwargs)


async def receive(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 3.0) -> dict[str, Any]:
    """The next frame of ``kind`` (earlier frames of other kinds are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.TEXT, f"socket ended: {message.type} {ws.close_code}"
            frame = json.loads(message.data)
            if frame["type"] == kind:
                return frame


async def frames_until_synced(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    frames = []
    async with asyncio.timeout(3):
        while True:
            frame = json.loads((await ws.receive()).data)
            frames.append(frame)
            if frame["type"] == "synced":
                return frames


async def connect(client: TestClient, **hello: Any) -> tuple[aiohttp.ClientWebSocketResponse, list[dict[str, Any]]]:
    ws = await client.ws_connect(WS)
    await ws.send_json({"type": "hello", **hello})
    return ws, await frames_until_synced(ws)


def messages_in(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [frame["message"] for frame in frames if frame["type"] == "message"]


async def test_youth_sends_text_and_it_is_stored_once(client: TestClient, settings: Settings) -> None:
    ws, frames = await connect(client, token=token_for(settings))
    welcome = frames[0]
    assert welcome["type"] == "welcome" and welcome["session"] and welcome["anonymous"] is False
    await ws.send_json({"type": "text", "client_id": "c1", "text": "最近压力很大"})
    ack = await receive(ws, "ack")
    assert ack["client_id"] == "c1" and not ack["duplicate"]
    stored = await stored_messages(client)
    assert [(m.text, m.sender) for m in stored] == [("最近压力很大", "youth")]
    conversation = await client.app[STREAM].get_conversation(ack["conversation_id"])
    assert (conversation.platform, conversation.account, conversation.desk) == ("widget", "demo-video", "sz")
    await ws.close()


async def test_counsellor_reply_arrives_live_exactly_once(client: TestClient, settings: Settings) -> None:
    ws, _ = await connect(client, token=token_for(settings))
    await ws.send_json({"type": "text", "client_id": "c1", "text": "你好"})
    ack = await receive(ws, "ack")
    reply = await client.app[STREAM].send(ack["conversation_id"], "你好，我是值班老师", sender=SenderKind.COUNSELLOR)
    frame = await receive(ws, "message")
    while frame["message"]["id"] != reply.id:
        frame = await receive(ws, "message")
    assert frame["message"]["text"] == "你好，我是值班老师" and frame["message"]["sender"] == "counsellor"
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": reply.id, "status": "sent"}))
    await ws.send_json({"type": "ping"})
    rest = []
    async with asyncio.timeout(3):
        while (f := json.loads((await ws.receive()).data))["type"] != "pong":
            rest.append(f)
    assert reply.id not in [m["id"] for m in messages_in(rest)]
    await ws.close()


async def test_private_notes_never_reach_the_widget(client: TestClient, settings: Settings) -> None:
    ws, _ = await connect(client, token=token_for(settings))
    await ws.send_json({"type": "text", "client_id": "c1", "text": "你好"})
    ack = await receive(ws, "ack")
    await client.app[STREAM].send(ack["conversation_id"], "内部备注", sender=SenderKind.COUNSELLOR, private=True)
    public = await client.app[STREAM].send(ack["conversation_id"], "公开回复", sender=SenderKind.COUNSELLOR)
    texts = []
    while public.id not in [t[0] for t in texts]:
        frame = await receive(ws, "message")
        texts.append((frame["message"]["id"], frame["message"]["text"]))
    assert "内部备注" not in [t[1] for t in texts]
    await ws.close()


async def test_reconnect_resumes_without_loss_or_duplicates(client: TestClient, settings: Settings) -> None:
    ws, _ = await connect(client, token=token_for(settings))
    await ws.send_json({"type": "text", "client_id": "c1", "text": "第一条"})
    ack = await receive(ws, "ack")
    conversation_id = ack["conversation_id"]
    [first] = await stored_messages(client)
    await ws.close()

    stream = client.app[STREAM]
    missed = [await stream.send(conversation_id, f"离开时的回复{n}", sender=SenderKind.COUNSELLOR) for n in range(3)]
    # Nobody is connected: delivery still succeeds, the store is the widget's mailbox.
    async def all_sent() -> bool:
        return await client.app[STORE].messages.count_documents({"status": "sent"}) == 3

    await wait_for(all_sent)
    ws, frames = await connect(client, token=token_for(settings), seen={conversation_id: first.seq})
    welcome_session = frames[0]["session"]
    replayed = [m["id"] for m in messages_in(frames)]
    assert replayed == [m.id for m in missed]

    # The iframe resends a frame whose ack it never saw: stored once, acknowledged as a duplicate.
    await ws.send_json({"type": "text", "client_id": "c1", "text": "第一条"})
    assert (await receive(ws, "ack"))["duplicate"] is True
    await ws.close()

    # A reconnect with the gateway session (the partner token is single-use) replays nothing new.
    ws, frames = await connect(client, session=welcome_session, seen={conversation_id: missed[-1].seq})
    assert messages_in(frames) == []
    youth_messages = [m for m in await stored_messages(client) if m.direction == "in"]
    assert len(youth_messages) == 1
    await ws.close()


async def test_returning_youth_sees_history_with_a_fresh_token(client: TestClient, settings: Settings) -> None:
    ws, _ = await connect(client, token=token_for(settings, "returning"))
    await ws.send_json({"type": "text", "client_id": "c1", "text": "我又来了"})
    ack = await receive(ws, "ack")
    await client.app[STREAM].send(ack["conversation_id"], "欢迎回来", sender=SenderKind.COUNSELLOR)
    await ws.close()
    ws, frames = await connect(client, token=token_for(settings, "returning"))
    assert [m["text"] for m in messages_in(frames)] == ["我又来了", "欢迎回来"]
    await ws.close()
    # Someone else's token sees nothing of it.
    ws, frames = await connect(client, token=token_for(settings, "somebody-else"))
    assert messages_in(frames) == []
    await ws.close()


async def test_anonymous_browser_keeps_its_history(client: TestClient) -> None:
    ws, frames = await connect(client)
    anonymous_token = frames[0]["anonymous_token"]
    assert frames[0]["anonymous"] is True and anonymous_token
    await ws.send_json({"type": "text", "client_id": "a1", "text": "匿名咨询"})
    await receive(ws, "ack")
    await ws.close()
    ws, frames = await connect(client, session=anonymous_token)
    assert [m["text"] for m in messages_in(frames)] == ["匿名咨询"]
    assert frames[0]["anonymous_token"] == anonymous_token
    await ws.close()
    ws, frames = await connect(client)  # another browser: a new anonymous id, no history
    assert messages_in(frames) == []
    await ws.close()


@pytest.mark.parametrize("hello, reason", [
    ({"token": "garbage"}, "token signature or format invalid"),
    ({"session": "forged.session.token"}, "session token invalid"),
])
async def test_bad_identity_closes_with_reason_and_stores_nothing(client: TestClient, hello: dict[str, Any],
                                                                 reason: str) -> None:
    ws = await client.ws_connect(WS)
    await ws.send_json({"type": "hello", **hello})
    error = await receive(ws, "error")
    assert error == {"type": "error", "reason": reason, "fatal": True}
    assert (await ws.receive()).type == aiohttp.WSMsgType.CLOSE and ws.close_code == 4401
    assert await stored_messages(client) == []


async def test_replayed_and_expired_tokens_are_refused(client: TestClient, settings: Settings) -> None:
    token = token_for(settings)
    ws, _ = await connect(client, token=token)
    await ws.close()
    for bad, reason in [(token, "token already used"),
                        (token_for(settings, lifetime=30, now=0), "token expired"),
                        (token_for(settings, issuer="another-partner"), "token issuer is not this partner")]:
        ws = await client.ws_connect(WS)
        await ws.send_json({"type": "hello", "token": bad})
        assert (await receive(ws, "error"))["reason"] == reason
        await ws.close()


async def test_hello_must_come_first(client: TestClient) -> None:
    ws = await client.ws_connect(WS)
    await ws.send_str("{not json")
    assert (await receive(ws, "error"))["reason"] == "malformed JSON"
    ws = await client.ws_connect(WS)
    await ws.send_json({"type": "text", "client_id": "x", "text": "hi"})
    assert (await receive(ws, "error"))["reason"] == "hello expected"
    assert await stored_messages(client) == []


async def test_unknown_partner_is_refused_before_upgrade(client: TestClient) -> None:
    response = await client.get("/channels/widget/ws?partner=nobody")
    assert response.status == 404 and (await response.json()) == {"error": "unknown widget partner"}


async def test_partner_without_anonymous_chats_refuses_them(start_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    strict = settings.partners[0].model_copy(update={"anonymous_allowed": False})
    client = await start_app(channel_classes=[WidgetChannel],
                             settings=settings.model_copy(update={"partners": [strict]}))
    ws = await client.ws_connect(WS)
    await ws.send_json({"type": "hello"})
    assert (await receive(ws, "error"))["reason"] == "anonymous chat is not allowed by this partner"


async def test_malformed_and_invalid_frames_get_a_reason_and_store_nothing(client: TestClient,
                                                                          settings: Settings) -> None:
    ws, _ = await connect(client, token=token_for(settings))
    cases = [
        ("{broken", "malformed JSON"),
        ("[1, 2]", "frame must be a JSON object"),
        (json.dumps({"type": "shout"}), "unknown frame type"),
        (json.dumps({"type": "text", "client_id": "c", "text": "x" * 2001}), "text too long (max 2000 characters)"),
        (json.dumps({"type": "text", "client_id": "c", "text": "   "}), "empty message"),
        (json.dumps({"type": "text", "text": "no id"}), "client_id must be a string"),
        (json.dumps({"type": "rating", "client_id": "r", "score": 9}), "score must be an integer from 1 to 5"),
        (json.dumps({"type": "image", "client_id": "i", "data": "!!!"}), "image data is not valid base64"),
        (json.dumps({"type": "image", "client_id": "i", "data": "aGVsbG8="}),
         "unsupported image format (PNG, JPEG, GIF or WebP)"),
    ]
    for raw, reason in cases:
        await ws.send_str(raw)
        assert (await receive(ws, "error"))["reason"] == reason
    assert await stored_messages(client) == []
    await ws.close()


async def test_oversized_image_and_oversized_frame_are_refused(client: TestClient, settings: Settings) -> None:
    import base64

    ws, _ = await connect(client, token=token_for(settings))
    too_big = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 1024 * 1024)).decode()
    await ws.send_json({"type": "image", "client_id": "big", "data": too_big})
    assert (await receive(ws, "error"))["reason"] == "image too large (max 2 MB)"
    await ws.send_str("x" * (4 * 1024 * 1024))
    closing = await ws.receive()
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and ws.close_code == 1009
    assert await stored_messages(client) == []


async def test_image_is_stored_encrypted_and_served_by_reference(client: TestClient, settings: Settings,
                                                                 tmp_path) -> None:  # type: ignore[no-untyped-def]
    import base64

    png = b"\x89PNG\r\n\x1a\n" + b"pixels" * 10
    ws, _ = await connect(client, token=token_for(settings))
    await ws.send_json({"type": "image", "client_id": "img", "data": base64.b64encode(png).decode()})
    await receive(ws, "ack")
    [stored] = await stored_messages(client)
    assert stored.type == MessageType.IMAGE and stored.media.format == "image/png"
    on_disk = (tmp_path / "widget-media" / stored.media.media_id).read_bytes()
    assert b"pixels" not in on_disk
    response = await client.get(stored.media.url)
    assert response.status == 200 and response.content_type == "image/png" and await response.read() == png
    assert (await client.get("/widget/media/" + "A" * 32)).status == 404
    await ws.close()


async def test_flood_closes_that_socket_only(client: TestClient, settings: Settings) -> None:
    calm, _ = await connect(client, token=token_for(settings, "calm"))
    flood, _ = await connect(client, token=token_for(settings, "flood"))
    for n in range(30):
        await flood.send_json({"type": "ping", "n": n})
    assert (await receive(flood, "error"))["reason"] == "rate limit exceeded"
    while not flood.closed:
        await flood.receive()
    assert flood.close_code == 4429
    await calm.send_json({"type": "text", "client_id": "c1", "text": "我还在"})
    assert (await receive(calm, "ack"))["duplicate"] is False
    await calm.close()


async def test_rating_is_an_event_with_the_score(client: TestClient, settings: Settings) -> None:
    ws, _ = await connect(client, token=token_for(settings))
    await ws.send_json({"type": "rating", "client_id": "r1", "score": 4, "comment": "谢谢老师"})
    ack = await receive(ws, "ack")
    [stored] = await stored_messages(client)
    assert (stored.type, stored.event, stored.text) == ("event", "satisfaction", "谢谢老师")
    conversation = await client.app[STREAM].get_conversation(ack["conversation_id"])
    assert conversation.tags["score"] == "4"
    await ws.close()


async def test_queue_position_state_and_typing_are_forwarded(client: TestClient, settings: Settings) -> None:
    ws, _ = await connect(client, token=token_for(settings))
    await ws.send_json({"type": "text", "client_id": "c1", "text": "想找老师聊聊"})
    conversation_id = (await receive(ws, "ack"))["conversation_id"]
    bus = client.app[BUS]
    await bus.publish(Event(type="queue.position", conversation_id=conversation_id, desk="sz",
                            data={"position": 2, "expected_wait_seconds": 240}))
    assert (await receive(ws, "queue"))["position"] == 2
    await bus.publish(Event(type="typing", conversation_id=conversation_id, desk="sz",
                            data={"sender": "counsellor"}))
    assert (await receive(ws, "typing"))["sender"] == "counsellor"
    await bus.publish(Event(type="queue.position", conversation_id="cv_someone_else", desk="sz",
                            data={"position": 9}))
    from contract.models import ConversationState

    await client.app[STREAM].set_state(conversation_id, ConversationState.CLOSED, reason="resolved")
    assert (await receive(ws, "state"))["state"] == "closed"
    await ws.close()


async def test_youth_typing_and_read_reach_the_console(client: TestClient, settings: Settings) -> None:
    ws, _ = await connect(client, token=token_for(settings))
    await ws.send_json({"type": "text", "client_id": "c1", "text": "在吗"})
    conversation_id = (await receive(ws, "ack"))["conversation_id"]
    console = client.app[BUS].subscribe(lambda e: e.type in ("typing", "message.status"))
    await ws.send_json({"type": "typing"})
    typing = await asyncio.wait_for(console.get(), 3)
    assert typing.type == "typing" and typing.data["sender"] == "youth"
    reply = await client.app[STREAM].send(conversation_id, "在的", sender=SenderKind.COUNSELLOR)
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": reply.id, "status": "sent"}))
    await ws.send_json({"type": "read", "conversation_id": conversation_id, "seq": reply.seq})
    await wait_for(lambda: client.app[STORE].messages.find_one({"_id": reply.id, "status": "read"}))
    console.close()
    await ws.close()


async def test_frame_is_framed_only_by_partner_origins(client: TestClient) -> None:
    response = await client.get("/widget/frame?partner=demo-video")
    assert response.status == 200
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors http://127.0.0.1:8080 http://localhost:8080" in csp
    assert "script-src 'self'" in csp and "*" not in csp
    html = await response.text()
    assert "12355 青少年在线咨询" in html and 'lang="zh-CN"' in html
    assert (await client.get("/widget/frame?partner=nobody")).status == 404
    loader = await client.get("/widget/loader.js")
    assert loader.status == 200 and "postMessage" in await loader.text()


async def test_wildcard_origin_in_config_never_reaches_the_header(start_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    loose = settings.partners[0].model_copy(update={"origins": ["*", "https://partner.example"]})
    client = await start_app(channel_classes=[WidgetChannel],
                             settings=settings.model_copy(update={"partners": [loose]}))
    response = await client.get("/widget/frame?partner=demo-video")
    assert response.headers["Content-Security-Policy"].endswith("frame-ancestors https://partner.example")
    assert "&quot;*&quot;" not in await response.text()


async def test_demo_partner_page_carries_a_fresh_verifiable_token(client: TestClient, settings: Settings) -> None:
    import re

    response = await client.get("/demo/partner")
    html = await response.text()
    token = re.search(r'data-token="(ey[^"]+)"', html).group(1)
    ws, frames = await connect(client, token=token)
    assert frames[0]["type"] == "welcome" and frames[0]["anonymous"] is False
    await ws.close()
    start = await client.get("/")
    assert "/demo/partner" in await start.text()


async def test_demo_partner_page_only_in_demo_mode(start_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    development = settings.model_copy(update={"service": settings.service.model_copy(update={"env": "development"})})
    client = await start_app(channel_classes=[WidgetChannel], settings=development)
    assert (await client.get("/demo/partner")).status == 404


def test_desk_hours_in_beijing_time() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)  # 12:00 in Beijing
    assert desk_open("08:00-22:00", at)
    assert not desk_open("08:00-22:00", datetime(2026, 11, 28, 15, 0, tzinfo=UTC))  # 23:00
    assert desk_open("22:00-08:00", datetime(2026, 11, 28, 15, 0, tzinfo=UTC))
    assert desk_open("00:00-24:00", at)


async def test_failures_while_storing_close_the_socket_without_an_ack(client: TestClient, settings: Settings) -> None:
    stream = client.app[STREAM]
    ws, frames = await connect(client, token=token_for(settings))
    session_token = frames[0]["session"]
    original = stream.ingest

    async def broken(inbound):  # type: ignore[no-untyped-def]
        raise RuntimeError("store unavailable")

    stream.ingest = broken
    await ws.send_json({"type": "text", "client_id": "c1", "text": "还在吗"})
    while (message := await ws.receive()).type == aiohttp.WSMsgType.TEXT:
        assert json.loads(message.data)["type"] != "ack"
    assert ws.close_code == 1011
    stream.ingest = original

    stream.accepting = False  # shutting down: refused with a reason, the iframe reconnects elsewhere
    ws, _ = await connect(client, session=session_token)
    await ws.send_json({"type": "text", "client_id": "c1", "text": "还在吗"})
    assert (await receive(ws, "error"))["reason"] == "server restarting"
    while not ws.closed:
        await ws.receive()
    assert ws.close_code == 1012
    stream.accepting = True

    ws, _ = await connect(client, session=session_token)
    await ws.send_json({"type": "text", "client_id": "c1", "text": "还在吗"})
    assert (await receive(ws, "ack"))["duplicate"] is False
    assert [m.text for m in await stored_messages(client)] == ["还在吗"]
    await ws.close()


async def test_socket_opened_by_another_site_is_refused(client: TestClient) -> None:
    response = await client.get(WS, headers={"Origin": "https://evil.example", "Connection": "Upgrade",
                                             "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                                             "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert response.status == 403 and await response.json() == {"error": "origin not allowed"}
    own = f"http://{client.server.host}:{client.server.port}"
    ws = await client.ws_connect(WS, headers={"Origin": own})
    await ws.send_json({"type": "hello"})
    assert (await receive(ws, "welcome"))["anonymous"] is True
    await ws.close()


async def test_a_reconnecting_youth_is_told_their_current_place_and_never_a_wait(start_app,  # type: ignore[no-untyped-def]
                                                                                  settings: Settings) -> None:
    client = await start_app(settings=at_shenzhen(settings), channel_classes=[WidgetChannel])
    client.app[STREAM].router = HandoffOnlyRouter(engine(client))
    queued: list[tuple[str, str]] = []  # (conversation, the socket session to reconnect with)
    for n, risk in enumerate([0, 0, 0, 2]):
        ws, frames = await connect(client, token=token_for(settings, sub=f"youth-q{n}"))
        await ws.send_json({"type": "text", "client_id": "c1", "text": "想找老师聊聊"})
        ack = await receive(ws, "ack")
        await engine(client).request_handoff(HandoffRequest(
            conversation_id=ack["conversation_id"], reason="risk" if risk else "ask_human", risk_level=risk,
            message_id=ack["message_id"]))
        queued.append((ack["conversation_id"], frames[0]["session"]))
        await ws.close()
    # The youth at risk goes ahead of all three; then, while the third youth is away, the first is taken:
    # the third's place moves from 4 to 3 unseen.
    await engine(client).claim(queued[0][0], await user(client, "c-sz", desk="sz"))

    async def on_reconnect(session: str) -> list[dict[str, Any]]:
        ws, _ = await connect(client, session=session)
        await ws.send_json({"type": "ping"})
        frames = []
        while (frame := await receive_any(ws))["type"] != "pong":
            frames.append(frame)
        await ws.close()
        return [frame for frame in frames if frame["type"] == "queue"]

    third, at_risk = queued[2], queued[3]
    assert await on_reconnect(third[1]) == [{"type": "queue", "conversation_id": third[0], "position": 3,
                                             "expected_wait_seconds": None, "urgent": False}]
    # Ahead of everyone, a youth at risk still hears only that a person is coming, never a place.
    assert await on_reconnect(at_risk[1]) == [{"type": "queue", "conversation_id": at_risk[0], "position": None,
                                               "expected_wait_seconds": None, "urgent": True}]
    assert await on_reconnect(queued[0][1]) == []  # with a counsellor now: no place to tell


async def receive_any(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    async with asyncio.timeout(3):
        return json.loads((await ws.receive()).data)
