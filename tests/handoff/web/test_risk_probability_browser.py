"""The risk model's estimate next to the level in the console: a triaged level-2 message, in a real browser."""

from __future__ import annotations

import pytest

from contract.channel import InboundMessage
from contract.config import Settings
from contract.keys import STREAM
from contract.models import MessageType
from contract.people import Role
from tests.browser.harness import require_chromium, running_gateway
from tests.handoff.web.test_console_browser import account, browser, console_page, console_settings

pytestmark = pytest.mark.browser

LEVEL_2 = "其实我不想活了"


async def test_a_triaged_level_2_message_shows_the_model_s_estimate_beside_its_level(
        settings: Settings, embedded_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    async with running_gateway(console_settings(settings), embedded_client, tmp_path) as gateway, \
            browser() as chromium:
        await account(gateway, "c-sz", Role.COUNSELLOR, "sz")
        console = await console_page(chromium, gateway.base_url, "c-sz")
        model = gateway.app[STREAM].router.model
        assert model is not None and model.calibrator is not None
        shown = f"模型估计风险概率 {round(model.scores(LEVEL_2).calibrated * 100)}%"

        # Through triage (no Rasa here): detector and model score it, the engine queues it at level 2.
        await gateway.app[STREAM].ingest(InboundMessage(
            platform="widget", account="demo-video", external_user_id="anon-estimate", channel_message_id="est-1",
            type=MessageType.TEXT, text=LEVEL_2))
        row = console.locator("#queue .queue-item.risk-row-2")
        await row.wait_for(timeout=10_000)
        estimate = row.locator(".slot-risk .risk-probability")
        assert await row.locator(".slot-risk .risk").text_content() == "2级 高危"
        assert await estimate.text_content() == shown
        assert "不是判断" in await estimate.get_attribute("title")

        await row.locator(".preview").click()  # a queued conversation opens without taking it
        header = console.locator(".title", has=console.locator(".risk-2"))
        await header.wait_for(timeout=5_000)
        assert await header.locator(".risk-probability").text_content() == shown
