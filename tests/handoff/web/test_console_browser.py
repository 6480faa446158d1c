"""The counsellor console in a real browser: sign-in, live queue, take, reply, close, alerts, audit, scope."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from contract.channel import InboundMessage
from contract.config import Settings
from contract.handoff import HandoffRequest
from contract.keys import SETTINGS, STORE, STREAM
from contract.models import Event, MediaRef, MessageType
from contract.people import Role
from handoff.alerts import raise_alert
from handoff.desks import CHINA
from handoff.users import create_user, get_user_by_username
from handoff.web.keys import ENGINE
from store.cases import find_case
from tests.browser.harness import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_chromium, running_gateway
from tests.fakes import loopback_socket, wait_for

pytestmark = pytest.mark.browser

PASSWORD = "console-test-password"
FRAME = "iframe[data-youthdesk=frame]"
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
_ids = itertools.count(1)


def console_settings(settings: Settings, *, triage: bool = True) -> Settings:
    """Triage on (no Rasa: every youth reaches a counsellor); sz is a pull desk open around the clock,
    so the test decides when a conversation is taken."""
    desks = [d.model_copy(update={"assignment": "pull", "hours": "00:00-24:00"}) if d.id == "sz" else d
             for d in settings.desks]
    service = settings.service.model_copy(update={"triage_enabled": triage})
    return settings.model_copy(update={"desks": desks, "service": service})


@asynccontextmanager
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def console_page(chromium: Any, base_url: str, username: str) -> Any:
    context = await chromium.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    page.on("pageerror", lambda error: pytest.fail(f"console script error: {error}"))
    await page.goto(f"{base_url}/console/")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.locator("#topbar:not([hidden])").wait_for(timeout=10_000)
    await page.wait_for_function("() => document.body.dataset.live === 'on'", timeout=5_000)
    return page


async def widget(chromium: Any, base_url: str) -> Any:
    context = await chromium.new_context(viewport={"width": 412, "height": 860}, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{base_url}/demo/partner")
    await page.click("[data-youthdesk=launcher]")
    frame = page.frame_locator(FRAME)
    await frame.locator("#input:not([disabled])").wait_for(timeout=10_000)
    return frame


async def youth_says(frame: Any, text: str) -> None:
    await frame.locator("#input").fill(text)
    await frame.locator("#input").press("Enter")


async def account(gateway: Any, username: str, role: Role, desk: str) -> str:
    created = await create_user(gateway.app[STORE], gateway.app[SETTINGS], username=username, password=PASSWORD,
                                role=role, desk=desk, display_name=f"{desk}·{username}")
    return created.id


async def queued_conversation(gateway: Any, text: str, *, risk: int = 0, youth: str | None = None) -> str:
    """A web widget (desk sz) youth message handed off straight into the queue."""
    n = next(_ids)
    result = await gateway.app[STREAM].ingest(InboundMessage(
        platform="widget", account="demo-video", external_user_id=youth or f"anon-youth-{n}",
        channel_message_id=f"msg-{n}", type=MessageType.TEXT, text=text))
    await gateway.app[ENGINE].request_handoff(HandoffRequest(
        conversation_id=result.conversation_id, reason="risk" if risk else "ask_human", risk_level=risk,
        category="bullying" if risk else None, cues=["测试线索"] if risk else [], message_id=result.message_id))
    return result.conversation_id


def publish_screenshot(name: str) -> None:
    """With YOUTHDESK_UPDATE_SCREENSHOTS=1, copy test-artifacts/<name> to docs/screenshots/ (the README's)."""
    if os.environ.get("YOUTHDESK_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / name, SCREENSHOTS / name)


async def screenshot(page: Any, name: str, **kwargs: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / name), **kwargs)
    publish_screenshot(name)


async def test_widget_message_is_taken_answered_and_closed_with_a_rating_request(
        settings: Settings, embedded_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    async with running_gateway(console_settings(settings), embedded_client, tmp_path) as gateway, \
            browser() as chromium:
        await account(gateway, "c-sz", Role.COUNSELLOR, "sz")
        console = await console_page(chromium, gateway.base_url, "c-sz")
        await console.locator("#queue-count", has_text="0").wait_for()

        youth = await widget(chromium, gateway.base_url)
        await youth_says(youth, "我想找老师聊聊，最近压力很大")
        row = console.locator("#queue .queue-item")
        await row.wait_for(timeout=10_000)  # live over the socket, no reload
        assert "网页咨询" in await row.text_content() and "1级 关注" in await row.text_content()
        await console.wait_for_timeout(1_100)
        assert "秒" in await row.locator(".wait").text_content()  # waiting time counts up
        await screenshot(console, "console-queue.png")

        await console.locator("#take-next").click()
        await console.locator("#composer").wait_for(timeout=5_000)
        assert await console.locator("#queue .queue-item").count() == 0
        transcript = console.locator("#transcript")
        await transcript.locator(".msg-youth", has_text="最近压力很大").wait_for()
        assert "检测线索" in await transcript.locator(".msg-youth .cues").text_content()

        # A canned response with its placeholders filled in, then sent.
        await console.get_by_text("常用语").click()
        await console.locator("#canned-search").fill("问候")
        await console.locator("#canned button", has_text="问候").click()
        composed = await console.locator("#composer").input_value()
        assert "{counsellor}" not in composed and "c-sz" in composed and "深圳市12355青少年服务台" in composed
        await console.locator("#composer").fill("你好，我是值班老师。愿意说说最近的压力来自哪里吗？")
        await console.locator("#send").click()
        await youth.locator("li.message.out", has_text="愿意说说最近的压力").wait_for(timeout=5_000)
        await transcript.locator(".msg-counsellor .status", has_text="已读").wait_for(timeout=5_000)

        # A private note stays in the console.
        await console.get_by_label("发送方式").select_option("note")
        await console.locator("#composer").fill("青少年提到考试压力，留意睡眠情况")
        await console.locator("#send").click()
        await transcript.locator(".msg-private", has_text="考试压力").wait_for()
        await console.locator("#case-panel .case-number").wait_for()
        await screenshot(console, "console-conversation.png")

        # The case panel: every section saves through the cases API.
        panel = console.locator("#case-panel")
        await panel.get_by_label("案由分类").select_option("legal.bullying")
        await panel.get_by_label("个案摘要").fill("初三学生，考试压力大，睡眠差。")
        await panel.locator("#case-classification button").click()
        await console.locator(".toast", has_text="已保存案由与摘要").wait_for()
        await panel.get_by_label("风险因素（用逗号分隔）").fill("学业压力，睡眠差")
        await panel.get_by_label("安全计划").fill("每周回访一次")
        await panel.locator("#case-assessment button").click()
        await panel.locator("#case-assessment .done-tag").wait_for()
        await panel.locator("select[name=agency]").select_option("school")
        await panel.get_by_label("联系人").fill("学校心理老师")
        await panel.locator("#case-referrals button", has_text="添加转介").click()
        await panel.locator("#case-referrals li", has_text="学校心理老师").wait_for()
        await panel.get_by_label("任务").fill("三天后回访睡眠情况")
        await panel.locator("#case-followups button").click()
        await panel.locator("#case-followups li", has_text="三天后回访").wait_for()
        stored = await gateway.app[STORE]["cases"].find_one({})
        case = await find_case(gateway.app[STORE], stored["_id"])  # free text is sealed at rest: read it back
        assert case.classification == "legal.bullying" and case.assessment.plan == "每周回访一次"
        assert len(case.referrals) == 1 and len(case.followups) == 1
        await console.set_viewport_size({"width": 1440, "height": 2200})  # the whole panel in one picture
        await panel.screenshot(path=str(ARTIFACTS / "console-case-panel.png"))
        publish_screenshot("console-case-panel.png")
        await console.set_viewport_size({"width": 1440, "height": 900})

        await console.locator("#close").click()
        dialog = console.locator("dialog")
        await dialog.get_by_label("结束原因").select_option("resolved")
        await dialog.get_by_role("button", name="结束会话").click()
        await console.locator("#conv-state", has_text="已结束").wait_for(timeout=5_000)
        await youth.locator("#rating").wait_for(state="visible", timeout=5_000)
        assert await youth.locator("li.message.out", has_text="考试压力").count() == 0

        opened_on = datetime.now(CHINA).date()
        await console.goto(f"{gateway.base_url}/console/#/dashboard")
        await console.locator("#dashboard svg.chart").first.wait_for(timeout=5_000)
        assert await console.locator("#stats-csv").get_attribute("href") == "/api/v1/stats.csv?days=1"
        daily = console.locator("#daily-series .columns").first
        await daily.locator(".column").first.wait_for(timeout=5_000)
        assert await daily.locator(".column").count() == 30  # today and the 29 Beijing days before
        last_day = (await daily.locator(".column").last.get_attribute("title")).split("：")[0]
        assert last_day in {opened_on.isoformat(), datetime.now(CHINA).date().isoformat()}  # either, past midnight
        assert await console.locator("#daily-series tbody tr").count() == 30
        await screenshot(console, "console-dashboard.png", full_page=True)
        await console.locator("select[name=days]").select_option("90")

        async def ninety_days() -> bool:
            return await console.locator("#daily-series .columns").first.locator(".column").count() == 90

        await wait_for(ninety_days)
        assert await console.locator("#stats-csv").get_attribute("href") == "/api/v1/stats.csv?days=90"

        await console.get_by_role("button", name="退出登录").click()
        await console.locator("#login-form").wait_for()
        assert (await console.evaluate("fetch('/api/v1/me').then(r => r.status)")) == 401


async def test_level_three_message_raises_the_banner(settings: Settings, embedded_client,
                                                     tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    async with running_gateway(console_settings(settings), embedded_client, tmp_path) as gateway, \
            browser() as chromium:
        await account(gateway, "c-sz", Role.COUNSELLOR, "sz")
        console = await console_page(chromium, gateway.base_url, "c-sz")
        youth = await widget(chromium, gateway.base_url)
        await youth_says(youth, "今晚我就从楼顶跳下去")
        banner = console.locator("#banner[data-alert=risk_level_3]")
        await banner.wait_for(state="visible", timeout=10_000)
        assert "3级危急" in await banner.text_content()
        row = console.locator("#queue .queue-item.risk-row-3")
        await row.wait_for()
        assert "3级 危急" in await row.text_content()  # the level as text, not only a colour
        await console.wait_for_function("() => Number(document.body.dataset.sound || 0) >= 1", timeout=2_000)

        # Level 3 cannot be closed without the case's required fields.
        await banner.get_by_role("link", name="查看会话").click()
        await console.get_by_role("button", name="接入此会话").click()
        await console.locator("#close").wait_for()
        await console.locator("#close").click()
        dialog = console.locator("dialog")
        await dialog.locator(".required-list", has_text="风险评估").wait_for()
        await dialog.get_by_label("未转介、未强制报告的原因（3级必填）").fill("青少年已联系家长")
        await dialog.get_by_role("button", name="结束会话").click()
        await dialog.locator(".error", has_text="请先完成").wait_for()
        await dialog.get_by_role("button", name="取消").click()
        assert await console.locator("#conv-state").text_content() == "接待中"

        await banner.get_by_role("button", name="已知悉").click()
        await banner.wait_for(state="hidden")
        alert = await gateway.app[STORE]["alerts"].find_one({"type": "risk_level_3"})
        assert alert["state"] == "acknowledged"


async def test_a_console_cut_off_as_lagging_finds_the_alert_it_missed(settings: Settings, embedded_client,
                                                                      tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The server closes a console socket that falls behind; a level-3 alert raised meanwhile reaches it
    on reconnect (re-fetched), not never."""
    require_chromium()
    async with running_gateway(console_settings(settings, triage=False), embedded_client, tmp_path) as gateway, \
            browser() as chromium:
        await account(gateway, "c-sz", Role.COUNSELLOR, "sz")
        console = await console_page(chromium, gateway.base_url, "c-sz")
        stream = gateway.app[STREAM]
        waiting = await queued_conversation(gateway, "我在")
        # More than the console socket's queue holds, with no turn of the loop to send any: the socket is cut
        # off as lagging, and the alert published right after is not delivered to it.
        for n in range(600):
            await stream.bus.publish(Event(type="task.updated", desk="sz", data={"n": n}))
        await raise_alert(stream, gateway.app[SETTINGS], type="risk_level_3", conversation_id=waiting,
                          desk="sz", data={"risk_level": 3})
        banner = console.locator("#banner[data-alert=risk_level_3]")
        await banner.wait_for(state="visible", timeout=10_000)
        await console.wait_for_function("() => Number(document.body.dataset.sound || 0) >= 1", timeout=5_000)


async def test_supervisor_reads_a_transcript_and_the_audit_log_records_it(
        settings: Settings, embedded_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    async with running_gateway(console_settings(settings, triage=False), embedded_client, tmp_path) as gateway, \
            browser() as chromium:
        counsellor_id = await account(gateway, "c-sz", Role.COUNSELLOR, "sz")
        supervisor_id = await account(gateway, "s-gd", Role.SUPERVISOR, "gd")
        conversation_id = await queued_conversation(gateway, "同学一直在群里骂我", risk=2)
        counsellor = await get_user_by_username(gateway.app[STORE], "c-sz")
        assert counsellor is not None and counsellor.id == counsellor_id
        await gateway.app[ENGINE].claim(conversation_id, counsellor)

        page = await console_page(chromium, gateway.base_url, "s-gd")
        await page.get_by_role("link", name="督导").click()
        row = page.locator(f"#live-conversations tr[data-id='{conversation_id}']")
        await row.wait_for(timeout=5_000)
        assert "c-sz" in await row.text_content() and "2级 高危" in await row.text_content()
        await row.get_by_role("link", name="查阅").click()
        await page.get_by_label("查阅原因").fill("质量抽查")
        await page.get_by_role("button", name="查阅").click()
        await page.locator("#transcript .msg-youth", has_text="一直在群里骂我").wait_for()
        assert await page.locator("#composer").count() == 0  # read-only
        await wait_for(lambda: gateway.app[STORE]["audit"].find_one(
            {"actor": supervisor_id, "action": "transcript.read", "target": conversation_id, "reason": "质量抽查"}))

        await page.locator("#whisper").click()
        await page.get_by_label("提示内容（只有咨询师能看到）").fill("先确认他现在是否安全")
        await page.get_by_role("button", name="发送提示").click()
        await page.locator("#transcript .msg-private", has_text="先确认他现在是否安全").wait_for()

        await page.locator("#join").click()
        await page.locator("#composer").wait_for(timeout=5_000)  # joined: may now reply
        item = await gateway.app[ENGINE].store.conversations.find_one({"_id": conversation_id})
        assert supervisor_id in item["handoff"]["joined"]

        await page.get_by_role("link", name="督导").click()
        await page.locator("#audit li", has_text="查阅会话记录").filter(has_text="质量抽查").wait_for(timeout=5_000)
        await screenshot(page, "console-supervisor.png")


async def test_counsellor_transfers_to_another_desk_with_a_note(settings: Settings, embedded_client,
                                                                 tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    async with running_gateway(console_settings(settings, triage=False), embedded_client, tmp_path) as gateway, \
            browser() as chromium:
        await account(gateway, "c-sz", Role.COUNSELLOR, "sz")
        conversation_id = await queued_conversation(gateway, "我想咨询劳动合同的问题")
        page = await console_page(chromium, gateway.base_url, "c-sz")
        await page.locator("#take-next").click()
        await page.locator("#adjust-risk").click()
        await page.locator("dialog").get_by_label("风险等级").select_option("1")
        await page.locator("dialog").get_by_label("调整原因（记入记录）").fill("提到加班到深夜，情绪低落")
        await page.locator("dialog").get_by_role("button", name="保存").click()
        await page.locator(".conv-header .risk", has_text="1级 关注").wait_for()
        assert (await gateway.app[STORE].conversations.find_one({"_id": conversation_id}))["risk_level"] == 1
        await page.locator("#transfer").click()
        dialog = page.locator("dialog")
        await dialog.get_by_label("转接对象").select_option("desk")
        await dialog.get_by_label("目标服务台").select_option("gd")
        await dialog.get_by_label("交接说明（必填）").fill("涉及劳动法律问题，请省台法律专岗接待")
        await dialog.get_by_role("button", name="转接").click()
        await page.locator(".toast", has_text="已转接").wait_for()
        doc = await gateway.app[STORE].conversations.find_one({"_id": conversation_id})
        assert doc["desk"] == "gd" and doc["state"] == "queued"
        assert doc["handoff"]["transfers"][-1]["note"] == "涉及劳动法律问题，请省台法律专岗接待"


async def test_markup_in_a_message_is_shown_as_text(settings: Settings, embedded_client,
                                                    tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    async with running_gateway(console_settings(settings, triage=False), embedded_client, tmp_path) as gateway, \
            browser() as chromium:
        await account(gateway, "c-sz", Role.COUNSELLOR, "sz")
        payload = '<img src=x onerror="document.body.dataset.p=1"><script>alert(1)</script><b>粗</b>'  # < 80 chars'
        youth = "anon-markup"
        conversation_id = await queued_conversation(gateway, payload, youth=youth)
        page = await console_page(chromium, gateway.base_url, "c-sz")
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        preview = page.locator("#queue .preview")
        await preview.wait_for()
        assert await preview.text_content() == payload
        await page.locator(f"#queue .queue-item[data-id='{conversation_id}'] .claim").click()
        text = page.locator("#transcript .msg-youth .text")
        await text.wait_for()
        assert await text.text_content() == payload
        await page.wait_for_timeout(300)
        assert dialogs == []
        assert await page.locator("#transcript img, #transcript script, #transcript b, #queue img").count() == 0
        assert await page.evaluate("document.body.dataset.p") is None

        # Images: ours (same origin) are shown; a foreign URL is only named, never loaded.
        for n, url in enumerate(("/widget/media/md_test", "https://evil.example/x.png")):
            await gateway.app[STREAM].ingest(InboundMessage(
                platform="widget", account="demo-video", external_user_id=youth, channel_message_id=f"img-{n}",
                type=MessageType.IMAGE, media=MediaRef(kind="image", url=url, format="image/png")))
        await page.locator("#transcript .msg-youth img.media").wait_for()
        assert await page.locator("#transcript img").evaluate_all("els => els.map(e => e.getAttribute('src'))") == [
            "/widget/media/md_test"]
        await page.locator("#transcript .msg-youth .text", has_text="［图片］").wait_for()


async def test_counsellor_of_another_desk_cannot_open_the_conversation(
        settings: Settings, embedded_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    async with running_gateway(console_settings(settings, triage=False), embedded_client, tmp_path) as gateway, \
            browser() as chromium:
        await account(gateway, "c-gd", Role.COUNSELLOR, "gd")
        conversation_id = await queued_conversation(gateway, "深圳的求助消息")
        page = await console_page(chromium, gateway.base_url, "c-gd")
        await page.locator("#queue-count", has_text="0").wait_for()
        await page.goto(f"{gateway.base_url}/console/#/c/{conversation_id}")
        await page.locator("#denied", has_text="无权访问").wait_for(timeout=5_000)
        assert await page.locator("#transcript").count() == 0
        statuses = await page.evaluate("""async (id) => {
            const csrf = (await (await fetch('/api/v1/auth/session')).json()).csrf_token;
            const headers = {'X-CSRF-Token': csrf, 'Content-Type': 'application/json'};
            return [
              (await fetch(`/api/v1/conversations/${id}`)).status,
              (await fetch(`/api/v1/conversations/${id}/messages`)).status,
              (await fetch(`/api/v1/conversations/${id}/claim`, {method: 'POST', headers})).status,
            ];
        }""", conversation_id)
        assert statuses == [403, 403, 403]


async def test_queue_of_two_hundred_renders_and_updates_on_each_arrival(
        settings: Settings, embedded_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    async with running_gateway(console_settings(settings, triage=False), embedded_client, tmp_path) as gateway, \
            browser() as chromium:
        await account(gateway, "c-sz", Role.COUNSELLOR, "sz")
        for i in range(200):
            await queued_conversation(gateway, f"排队消息 {i}", risk=i % 4)
        page = await console_page(chromium, gateway.base_url, "c-sz")
        await page.locator("#queue-count", has_text="200").wait_for(timeout=30_000)
        first = await page.evaluate("window.consolePerf.renders[0]")
        for i in range(5):
            before = int(await page.locator("#queue").get_attribute("data-renders"))
            await queued_conversation(gateway, f"新到达 {i}", risk=3 if i == 2 else 1)
            # A function, not an expression: Playwright evaluates expressions with eval(), which the CSP forbids.
            await page.wait_for_function("n => Number(document.querySelector('#queue').dataset.renders) > n",
                                         arg=before, timeout=10_000)
        await page.locator("#queue-count", has_text="205").wait_for(timeout=10_000)
        # Timings are printed, not asserted: figures belong in bench/, and on a loaded CI machine a bound
        # would be a coin toss. What must hold (each arrival re-rendered the queue, all 205 shown) is waited for.
        perf = await page.evaluate("window.consolePerf")
        renders, updates = perf["renders"], perf["updates"]
        print(f"\nqueue of 200: first render {first:.1f} ms; later renders max {max(renders[1:]):.1f} ms "
              f"(n={len(renders) - 1}); event-to-screen incl. API fetch max {max(updates):.1f} ms, "
              f"median {sorted(updates)[len(updates) // 2]:.1f} ms")


async def test_wechat_reply_budget_warns_before_the_last_message_and_explains_the_closed_window(
        settings: Settings, embedded_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    sock = loopback_socket()
    port = sock.getsockname()[1]  # the WeChat stand-in runs inside the gateway
    accounts = [a.model_copy(update={"api_base": f"http://127.0.0.1:{port}/standin/wechat"})
                if a.platform == "wechat" else a for a in settings.accounts]
    configured = console_settings(settings.model_copy(update={"accounts": accounts}), triage=False)
    async with running_gateway(configured, embedded_client, tmp_path, sock) as gateway, browser() as chromium:
        await account(gateway, "c-gd", Role.COUNSELLOR, "gd")
        counsellor = await get_user_by_username(gateway.app[STORE], "c-gd")
        assert counsellor is not None
        result = await gateway.app[STREAM].ingest(InboundMessage(
            platform="wechat", account="wxdemo0000000001", external_user_id="oYouthOpenId0001",
            channel_message_id="wx-1", type=MessageType.TEXT, text="老师在吗"))
        engine = gateway.app[ENGINE]
        await engine.request_handoff(HandoffRequest(conversation_id=result.conversation_id, reason="ask_human",
                                                    risk_level=0, category=None, cues=[], message_id=None))
        await engine.claim(result.conversation_id, counsellor)
        for n in range(3):  # five messages per 48 h: the queue notice and three replies use four
            await engine.reply(result.conversation_id, counsellor, f"第{n + 1}条回复")

        async def delivered() -> bool:
            doc = await gateway.app[STORE].conversations.find_one({"_id": result.conversation_id})
            return doc["window"]["sent_since_youth_message"] == 4
        await wait_for(delivered, timeout=10)

        page = await console_page(chromium, gateway.base_url, "c-gd")
        await page.goto(f"{gateway.base_url}/console/#/c/{result.conversation_id}")
        budget = page.locator("#budget")
        await budget.locator("strong", has_text="最后一条").wait_for(timeout=5_000)
        assert "还可发送 1 条" in await budget.text_content() and "回复窗口剩余 47小时" in await budget.text_content()
        await page.locator("#composer").fill("这是最后一条：之后请拨打12355热线找我们。")
        await page.locator("#send").click()
        await budget.locator("strong", has_text="回复窗口已关闭").wait_for(timeout=10_000)
        assert await page.locator("#send").is_disabled() is False  # switched to notes, which stay possible
        assert await page.get_by_label("发送方式").input_value() == "note"
        await page.get_by_label("发送方式").select_option("reply")
        assert await page.locator("#send").is_disabled()


async def test_expired_session_returns_to_sign_in_and_csrf_is_enforced(
        settings: Settings, embedded_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    async with running_gateway(console_settings(settings, triage=False), embedded_client, tmp_path) as gateway, \
            browser() as chromium:
        await account(gateway, "c-sz", Role.COUNSELLOR, "sz")
        page = await console_page(chromium, gateway.base_url, "c-sz")
        assert await page.locator("#presence").input_value() == "online"  # signing in starts the shift
        forged = await page.evaluate("""() => fetch('/api/v1/me/presence', {method: 'PUT',
            headers: {'Content-Type': 'application/json'}, body: JSON.stringify({presence: 'away'})})
            .then(r => r.status)""")
        assert forged == 403
        await page.reload()  # the CSRF token comes back from the cookie session
        await page.locator("#topbar:not([hidden])").wait_for()
        await page.locator("#presence").select_option("away")
        await page.locator(".toast", has_text="已设为离开").wait_for()

        await gateway.app[STORE]["sessions"].delete_many({})  # as if idle for longer than allowed
        await page.locator("#presence").select_option("online")
        await page.locator("#login-error", has_text="登录已过期").wait_for(timeout=5_000)
        assert await page.locator("#topbar").is_hidden()
