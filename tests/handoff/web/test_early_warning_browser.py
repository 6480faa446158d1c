"""An early warning stored by another process appears in a supervisor's open console without a reload."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contract.config import Settings
from contract.keys import SETTINGS, STORE
from contract.models import utcnow
from contract.people import Role
from handoff.early_warning import raise_warnings
from handoff.web.keys import EARLY_WARNINGS
from tests.browser.harness import require_chromium, running_gateway
from tests.handoff.data_support import add_case
from tests.handoff.web.test_console_browser import account, browser, console_page, console_settings

pytestmark = pytest.mark.browser


async def test_a_new_early_warning_shows_in_the_open_supervisor_console(
        settings: Settings, embedded_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    async with running_gateway(console_settings(settings, triage=False), embedded_client, tmp_path) as gateway, \
            browser() as chromium:
        await account(gateway, "s-gd", Role.SUPERVISOR, "gd")
        console = await console_page(chromium, gateway.base_url, "s-gd")
        await console.goto(f"{gateway.base_url}/console/#/supervisor")
        await console.locator("#alerts li.muted", has_text="暂无提醒").wait_for(timeout=5_000)

        store, now = gateway.app[STORE], utcnow()
        for week in range(1, 9):
            await add_case(store, now - timedelta(days=7 * week + 2), desk="sz", category="legal.bullying")
        for day in range(8):
            await add_case(store, now - timedelta(days=day % 6, hours=1), desk="sz", category="legal.bullying")
        assert len(await raise_warnings(store, gateway.app[SETTINGS], now)) == 1  # as the command does
        await gateway.app[EARLY_WARNINGS].tick()  # the gateway's next poll

        banner = console.locator("#banner[data-alert=early_warning]")
        await banner.wait_for(state="visible", timeout=5_000)
        assert "研判预警" in await banner.text_content() and "深圳市（440300）" in await banner.text_content()
        item = console.locator("#alerts li.alert-early_warning")
        await item.wait_for(timeout=5_000)
        assert "校园欺凌" in await item.text_content()
        await banner.get_by_role("button", name="已知悉").click()
        await banner.wait_for(state="hidden")
