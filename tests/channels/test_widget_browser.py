"""The widget in a real browser: demo partner page → launcher → iframe chat → reply → reload → history."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from contract.config import Settings
from contract.handoff import HandoffRequest
from contract.keys import SETTINGS, STORE, STREAM
from contract.models import SenderKind
from handoff.users import create_user
from handoff.web.keys import ENGINE
from tests.browser.harness import ARTIFACTS, chromium_page, require_chromium, running_gateway
from tests.fakes import stored_messages, wait_for

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"

FRAME = "iframe[data-youthdesk=frame]"


async def open_widget(page: Any, url: str) -> Any:
    await page.goto(url)
    await page.click("[data-youthdesk=launcher]")
    frame = page.frame_locator(FRAME)
    await frame.locator("#input:not([disabled])").wait_for(timeout=10_000)
    return frame


async def send(frame: Any, text: str) -> None:
    await frame.locator("#input").fill(text)
    await frame.locator("#input").press("Enter")


async def test_youth_chats_gets_a_reply_and_keeps_history_after_reload(settings: Settings, embedded_client,
                                                                     tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    async with running_gateway(settings, embedded_client, tmp_path) as gateway, chromium_page() as page:
        warnings: list[str] = []
        page.on("console", lambda message: warnings.append(message.text))
        frame = await open_widget(page, f"{gateway.base_url}/demo/partner")
        await send(frame, "你好，我最近睡不着")
        youth = frame.locator("li.message.in:not(.pending)", has_text="你好，我最近睡不着")
        await youth.wait_for(timeout=5_000)
        await frame.locator("li.message.in .meta", has_text="已送达").wait_for(timeout=5_000)

        # A counsellor takes the handed-off conversation and answers through the handoff API.
        conversation = await gateway.app[STORE].conversations.find_one({"platform": "widget"})
        await gateway.app[ENGINE].request_handoff(HandoffRequest(
            conversation_id=conversation["_id"], reason="ask_human", risk_level=0, category=None, cues=[]))
        await create_user(gateway.app[STORE], gateway.app[SETTINGS], username="xiaolin", password=PASSWORD,
                          role="counsellor", desk=conversation["desk"])
        async with aiohttp.ClientSession(base_url=gateway.base_url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as api:
            signed_in = await api.post("/api/v1/auth/login", json={"username": "xiaolin", "password": PASSWORD})
            assert signed_in.status == 200, await signed_in.text()
            csrf = {"X-CSRF-Token": (await signed_in.json())["csrf_token"]}
            claimed = await api.post(f"/api/v1/conversations/{conversation['_id']}/claim", headers=csrf)
            assert claimed.status == 200, await claimed.text()
            replied = await api.post(f"/api/v1/conversations/{conversation['_id']}/messages", headers=csrf,
                                     json={"text": "你好，我是值班老师小林，愿意说说发生了什么吗？"})
            assert replied.status == 201, await replied.text()
        reply = frame.locator("li.message.out", has_text="我是值班老师小林")
        await reply.wait_for(timeout=5_000)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "widget-chat.png"))

        # The youth's frame told the gateway it has read the reply.
        await wait_for(lambda: gateway.app[STORE].messages.find_one({"sender": "counsellor", "status": "read"}))

        # A message from an origin the partner did not register is ignored by the frame.
        await page.frame_locator(FRAME).locator("body").evaluate(
            """() => window.dispatchEvent(new MessageEvent("message", {
                   data: {type: "youthdesk:identity", token: "forged"},
                   origin: "https://evil.example", source: window.parent}))""")
        await wait_for(lambda: any("untrusted origin https://evil.example" in w for w in warnings))

        await page.reload()
        frame = await open_widget(page, f"{gateway.base_url}/demo/partner")
        await frame.locator("li.message.in", has_text="你好，我最近睡不着").wait_for(timeout=5_000)
        await frame.locator("li.message.out", has_text="我是值班老师小林").wait_for(timeout=5_000)
        assert await frame.locator("li.message").count() == 2
        await page.screenshot(path=str(ARTIFACTS / "widget-history.png"))


async def test_markup_in_a_message_is_shown_as_text(settings: Settings, embedded_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    async with running_gateway(settings, embedded_client, tmp_path) as gateway, chromium_page() as page:
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        frame = await open_widget(page, f"{gateway.base_url}/demo/partner")
        payload = "<img src=x onerror=alert(1)>"
        await send(frame, payload)
        bubble = frame.locator("li.message.in:not(.pending) .text")
        await bubble.wait_for(timeout=5_000)
        assert await bubble.text_content() == payload
        conversation = await gateway.app[STORE].conversations.find_one({"platform": "widget"})
        await gateway.app[STREAM].send(conversation["_id"], "<b>回复</b><script>alert(2)</script>",
                                       sender=SenderKind.COUNSELLOR)
        reply = frame.locator("li.message.out .text")
        await reply.wait_for(timeout=5_000)
        assert await reply.text_content() == "<b>回复</b><script>alert(2)</script>"
        await page.wait_for_timeout(300)
        assert dialogs == []
        assert await frame.locator("#messages img, #messages b, #messages script").count() == 0


async def test_frame_refuses_to_be_embedded_by_an_unregistered_origin(settings: Settings, embedded_client,
                                                                      tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    async with running_gateway(settings, embedded_client, tmp_path) as gateway, chromium_page() as page:
        # Same server, but "localhost" is a different origin from the registered 127.0.0.1 one.
        other_origin = gateway.base_url.replace("127.0.0.1", "localhost")
        await page.goto(f"{other_origin}/demo/partner")
        await page.click("[data-youthdesk=launcher]")
        await page.wait_for_timeout(1_000)
        assert await page.locator(FRAME).count() == 1  # the loader did add the iframe; the browser blocked it
        frames = [f for f in page.frames if "/widget/frame" in f.url]
        loaded = [f for f in frames if await f.evaluate("() => !!document.getElementById('input')")]
        assert loaded == []


async def test_closed_conversation_asks_for_a_rating(settings: Settings, embedded_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from contract.models import ConversationState

    require_chromium()
    async with running_gateway(settings, embedded_client, tmp_path) as gateway, chromium_page() as page:
        frame = await open_widget(page, f"{gateway.base_url}/demo/partner")
        await send(frame, "谢谢你们")
        await frame.locator("li.message.in:not(.pending)").wait_for(timeout=5_000)
        conversation = await gateway.app[STORE].conversations.find_one({"platform": "widget"})
        await gateway.app[STREAM].set_state(conversation["_id"], ConversationState.CLOSED, reason="resolved")
        rating = frame.locator("#rating")
        await rating.wait_for(state="visible", timeout=5_000)
        await frame.get_by_label("4 满意").check()
        await frame.get_by_label("想对我们说的话（可选）").fill("老师很耐心")
        await frame.get_by_role("button", name="提交评价").click()
        await frame.locator("li.separator", has_text="你已提交评价").wait_for(timeout=5_000)
        event = (await stored_messages(gateway.app[STORE], event="satisfaction"))[0]
        assert event.text == "老师很耐心"
        rated = await gateway.app[STREAM].get_conversation(event.conversation_id)
        assert rated.tags["score"] == "4" and rated.tags["rated_conversation_id"] == conversation["_id"]
        assert await rating.is_hidden()


def tiny_png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x0b\x4f\x8a" * 2 for _ in range(2)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


async def test_youth_sends_an_image(settings: Settings, embedded_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    async with running_gateway(settings, embedded_client, tmp_path / "data") as gateway, chromium_page() as page:
        frame = await open_widget(page, f"{gateway.base_url}/demo/partner")
        await frame.locator("#image-input").set_input_files(
            files=[{"name": "drawing.png", "mimeType": "image/png", "buffer": tiny_png()}])
        image = frame.locator("li.message.in img")
        await image.wait_for(timeout=5_000)
        assert (await image.get_attribute("src")).startswith("/widget/media/")
        # The image loads from the gateway under the frame's CSP (img-src 'self').
        width = await image.evaluate(
            "i => new Promise(r => i.complete ? r(i.naturalWidth) : (i.onload = () => r(i.naturalWidth)))")
        assert width == 2
        stored = await gateway.app[STORE].messages.find_one({"type": "image"})
        assert stored["media"]["format"] == "image/png"
