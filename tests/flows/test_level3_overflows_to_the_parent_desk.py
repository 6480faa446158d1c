"""A youth in danger writes at night to the Shenzhen desk, where nobody is signed in.

The Guangdong counsellor, online at the parent desk, sees the conversation arrive in her queue with the
reason ("由深圳转入：无人在线") within Shenzhen's level-3 window, takes it with 接入下一个, and her answer
reaches the youth's widget. Real Chromium, real triage (the detector and the model; no Rasa).
"""

from __future__ import annotations

import time

import pytest

from contract.config import Settings
from contract.keys import STORE
from contract.people import Role
from tests.browser.harness import require_chromium, running_gateway
from tests.handoff.web.test_console_browser import (
    account,
    browser,
    console_page,
    console_settings,
    screenshot,
    widget,
    youth_says,
)

pytestmark = pytest.mark.browser

CRISIS = "我不想活了，今晚就从楼上跳下去"
ANSWER = "我是广东12355的陈老师，我在这里陪着你。你现在在哪里？身边有人吗？"


async def test_a_level3_at_an_unstaffed_city_desk_reaches_the_parent_desk_counsellor(
        settings: Settings, embedded_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    story = console_settings(settings)  # Shenzhen open around the clock, triage on
    window = story.desk("sz").overflow.level_3_seconds
    async with running_gateway(story, embedded_client, tmp_path) as gateway, browser() as chromium:
        # Nobody works Shenzhen tonight; Guangdong's counsellor is signed in and online.
        await account(gateway, "chen-gd", Role.COUNSELLOR, "gd")
        await gateway.app[STORE]["users"].update_one({"username": "chen-gd"}, {"$set": {"skills": ["psychological"]}})
        console = await console_page(chromium, gateway.base_url, "chen-gd")
        assert await console.locator("#presence").input_value() == "online"
        await console.locator("#queue-count", has_text="0").wait_for()

        # The youth writes from the partner's page; the widget feeds the Shenzhen desk.
        youth = await widget(chromium, gateway.base_url)
        sent_at = time.perf_counter()
        await youth_says(youth, CRISIS)

        # It appears in Guangdong's queue, saying where it came from and why, within the window.
        arrived = console.locator("#queue .queue-item .overflow", has_text="由深圳转入：无人在线")
        await arrived.wait_for(timeout=(window + 1) * 1000)
        took = time.perf_counter() - sent_at
        assert took <= window + 1, took
        assert "3级" in await console.locator("#queue .queue-item").first.text_content()
        await screenshot(console, "flow-level3-overflow-queue.png")

        # She takes the next conversation and answers; the answer reaches the youth.
        await console.locator("#take-next").click()
        await console.locator("#composer").wait_for(timeout=5_000)
        await console.locator("#transcript .msg-youth", has_text="不想活").wait_for(timeout=5_000)
        await console.locator("#composer").fill(ANSWER)
        await console.locator("#send").click()
        await youth.locator("li.message.out", has_text="我在这里陪着你").wait_for(timeout=5_000)
        # A youth in danger is told a person is coming, never a place in the queue or a wait in minutes.
        seen_by_youth = await youth.locator("body").inner_text()
        assert "分钟" not in seen_by_youth and "前面还有" not in seen_by_youth, seen_by_youth

        doc = await gateway.app[STORE].conversations.find_one({"platform": "widget"})
        assert (doc["desk"], doc["also_visible_to"], doc["risk_level"]) == ("gd", ["sz"], 3)
        print(f"\n   level 3 at an unstaffed Shenzhen desk → Guangdong counsellor's queue: {took * 1000:.0f} ms")
