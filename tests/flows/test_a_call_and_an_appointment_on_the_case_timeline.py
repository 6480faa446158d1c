"""A young person calls the 12355 hotline; a Shenzhen counsellor takes the call's case in the console and
books an in-person appointment (面询) for them.

The call centre (the hotline stand-in) posts the call's events; the call waits in the Shenzhen queue;
her supervisor opens a slot at the Shenzhen desk in the console; the counsellor signs in, takes the
call, sees it on the case timeline, books the slot, and sees the booking beside the call. The
confirmation (Beijing time, place) reaches the caller through the call centre's SMS, the hotline's
outbound path. Real Chromium, real triage.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from contract.config import Settings
from contract.keys import SETTINGS, STORE
from contract.people import Role
from handoff import appointments
from service.hotline_standin import call_events, place_call
from service.standins import inspection_headers
from tests.browser.harness import require_chromium, running_gateway
from tests.handoff.web.test_console_browser import account, browser, console_page, console_settings, screenshot

pytestmark = pytest.mark.browser

PLACE = "深圳市福田区团市委12355服务中心3楼"


def hotline_to_shenzhen(settings: Settings) -> Settings:
    story = console_settings(settings)
    accounts = [a.model_copy(update={"desk": "sz"}) if a.platform == "hotline" else a for a in story.accounts]
    return story.model_copy(update={"accounts": accounts})


async def test_a_call_and_a_booking_show_on_the_case_timeline(
        settings: Settings, embedded_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    story = hotline_to_shenzhen(settings)
    centre = next(a for a in story.accounts if a.platform == "hotline")
    async with running_gateway(story, embedded_client, tmp_path) as gateway, browser() as chromium:
        app = gateway.app
        await account(gateway, "lin", Role.COUNSELLOR, "sz")
        await account(gateway, "wang", Role.SUPERVISOR, "gd")
        # The Guangdong supervisor opens a slot at Shenzhen, the day after tomorrow 10:00–11:00 Beijing time.
        day = datetime.now(UTC).astimezone(appointments.CHINA).date() + timedelta(days=2)
        starts = datetime(day.year, day.month, day.day, 10, tzinfo=appointments.CHINA)
        boss = await console_page(chromium, gateway.base_url, "wang")
        await boss.get_by_role("link", name="督导").click()
        form = boss.locator("#new-slot")
        await form.locator("select[name=desk] option[value=sz]").wait_for(state="attached", timeout=5_000)
        await form.locator("select[name=desk]").select_option("sz")
        await form.locator("input[name=starts_at]").fill(f"{day.isoformat()}T10:00")
        await form.locator("input[name=place]").fill(PLACE)
        await form.locator("input[name=counsellor]").fill("lin")
        await form.locator("input[name=capacity]").fill("2")
        await form.locator("button").click()
        await boss.locator("#slot-list li", has_text=PLACE).wait_for(timeout=5_000)
        assert "10:00（北京时间）" in await boss.locator("#slot-list li").first.text_content()
        slot = await app[STORE]["appointment_slots"].find_one({"desk": "sz"})
        assert (slot["capacity"], slot["free"]) == (2, 2)

        # A youth calls: ringing, answered by the call centre, ended with a recording.
        events = call_events("call-0001", "13812345678", "热线李老师", rng=random.Random(5), now=time.time())
        async with aiohttp.ClientSession() as http:
            placed = await place_call(http, gateway.base_url, centre, events)
        assert [p.status for p in placed] == [200, 200, 200]

        console = await console_page(chromium, gateway.base_url, "lin")
        await console.locator("#queue .queue-item").wait_for(timeout=10_000)
        await console.locator("#take-next").click()
        await console.locator("#transcript .msg-youth", has_text="[电话] 来电 138****5678").wait_for(timeout=5_000)
        assert "来电 138****5678" in await console.locator(".conv-header .title").text_content()

        timeline = console.locator("#case-timeline-items")
        await timeline.locator("li[data-kind=call]", has_text="正在振铃").wait_for(timeout=5_000)
        await timeline.locator("li[data-kind=call]", has_text="通话结束").wait_for(timeout=5_000)
        await console.locator("#book-appointment select").select_option(slot["_id"])
        await console.locator("#book-appointment button").click()
        booked = timeline.locator("li[data-kind=appointment]", has_text="预约面询")
        await booked.wait_for(timeout=5_000)
        assert PLACE in await booked.text_content()
        kinds = [await item.get_attribute("data-kind") for item in await timeline.locator("li").all()]
        assert kinds == ["call", "call", "call", "appointment"]
        await console.locator("#appointment-list .appointment-status", has_text="已预约").wait_for()
        await screenshot(console, "flow-call-and-appointment.png", full_page=True)

        # The confirmation went out on the caller's own channel: the call centre's SMS to that call.
        weekday = appointments.WEEKDAYS[starts.weekday()]
        confirmation = console.locator("#transcript .msg-system", has_text="面询预约")
        await confirmation.locator(".status-sent").wait_for(timeout=10_000)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{gateway.base_url}/standin/hotline/sent", params={"call_id": "call-0001"},
                                headers=inspection_headers(app[SETTINGS])) as response:
                [sms] = (await response.json())["items"]
        assert f"{starts.month}月{starts.day}日（周{weekday}）10:00–11:00（北京时间）" in sms["text"]
        assert PLACE in sms["text"]
        assert "13812345678" not in str(sms)  # the gateway names the call, never the number
