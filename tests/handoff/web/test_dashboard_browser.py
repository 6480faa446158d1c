"""The dashboard in a real browser: a supervisor's desk filter (their desk and those below), region names,
the daily series for the chosen desk."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contract.config import Settings
from contract.keys import STORE
from contract.models import utcnow
from contract.people import Role
from handoff.daily_stats import series_start
from tests.browser.harness import require_chromium, running_gateway
from tests.handoff.data_support import add_case
from tests.handoff.web.test_console_browser import account, browser, console_page, console_settings

pytestmark = pytest.mark.browser


async def test_a_supervisor_filters_the_dashboard_by_desk(settings: Settings, embedded_client,
                                                          tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    async with running_gateway(console_settings(settings, triage=False), embedded_client, tmp_path) as gateway, \
            browser() as chromium:
        await account(gateway, "s-gd", Role.SUPERVISOR, "gd")
        now = utcnow()
        at = max(now - timedelta(minutes=5), series_start(1, now))  # today in Beijing, even just after midnight
        await add_case(gateway.app[STORE], at, desk="sz", risk=2)
        await add_case(gateway.app[STORE], at, desk="gd", platform="weibo")
        await add_case(gateway.app[STORE], at, desk="sh-regional")  # not theirs
        console = await console_page(chromium, gateway.base_url, "s-gd")
        await console.goto(f"{gateway.base_url}/console/#/dashboard")
        desk = console.locator("select[name=desk]")
        await desk.locator("option[value=sz]").wait_for(state="attached", timeout=5_000)
        assert await desk.locator("option").evaluate_all("els => els.map(e => e.value)") == ["", "gd", "sz"]

        summary = console.locator("#dashboard .summary")
        await summary.filter(has_text="会话总数 2").wait_for(timeout=5_000)
        await desk.select_option("sz")
        only_sz = "深圳市12355青少年服务台（深圳市 440300）及下级 · 会话总数 1"
        await summary.filter(has_text=only_sz).wait_for(timeout=5_000)
        assert await console.locator("#stats-csv").get_attribute("href") == "/api/v1/stats.csv?days=1&desk=sz"
        today = console.locator("#daily-series tbody tr").first
        assert [await cell.text_content() for cell in await today.locator("td").all()][1:4] == ["1", "1", "1"]
