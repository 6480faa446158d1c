"""A level-3 alert nobody acknowledges: after 60 s the parent desk's supervisors, after 60 s more the pager.

The engine's clock is moved by hand; the pager talks HTTP to the stand-in mounted on the test server.
"""

from __future__ import annotations

from contract.config import Settings
from contract.escalation import OnCallEntry, PagerConfig
from contract.keys import STORE
from handoff.pager import AliyunSmsPager, StandInPager
from handoff.web.keys import DEADLINES
from service.pager_http import http_transport
from service.pager_standin import PAGER_STANDIN
from tests.handoff_support import Clock, conversation, login, start, user

ON_CALL = OnCallEntry(name="深圳值班·赵老师", phone="+8613800000000", via="sms")
ALIYUN = PagerConfig(provider="aliyun", access_key_id="demo-key-id", access_key_secret="demo-only-aliyun-secret",
                     sign_name="共青团12355", template_code="SMS_000000001")


def shenzhen_with_on_call(settings: Settings) -> Settings:
    accounts = [a.model_copy(update={"desk": "sz"}) if a.platform == "wechat" else a for a in settings.accounts]
    desks = [d.model_copy(update={"hours": "00:00-24:00", "assignment": "pull",
                                  "on_call": [ON_CALL] if d.id == "sz" else []}) for d in settings.desks]
    handoff = settings.handoff.model_copy(update={"pager": ALIYUN})  # the stand-in's Aliyun door checks this secret
    return settings.model_copy(update={"accounts": accounts, "desks": desks, "handoff": handoff})


async def the_alert(client) -> dict:  # type: ignore[no-untyped-def]
    response = await client.get("/api/v1/alerts?state=all", headers=await login(client, "sup-national"))
    (alert,) = [a for a in (await response.json())["items"] if a["type"] == "risk_level_3"]
    return alert


async def started(start_app, settings: Settings, *, aliyun: bool = False):  # type: ignore[no-untyped-def]
    client = await start(start_app, shenzhen_with_on_call(settings))
    config = ALIYUN.model_copy(update={"endpoint": str(client.make_url("/standin/pager/aliyun/"))}) if aliyun else \
        PagerConfig(provider="standin", endpoint=str(client.make_url("/standin/pager")))
    pager = AliyunSmsPager(config, http_transport) if aliyun else StandInPager(config, http_transport)
    client.app[DEADLINES].alert_escalation.pager = pager
    sup_sz = await user(client, "sup-sz", "supervisor", "sz")
    sup_gd = await user(client, "sup-gd", "supervisor", "gd")
    await user(client, "sup-national", "supervisor", "national", online=False)
    await user(client, "c-sz", desk="sz", skills=["psychological"])
    return client, sup_sz, sup_gd


async def test_an_unacknowledged_level3_alert_goes_to_the_parent_desk_then_pages_the_on_call(start_app,
                                                                                              settings) -> None:
    client, sup_sz, sup_gd = await started(start_app, settings)
    await conversation(client, risk=3, category="suicide")
    clock = Clock(client)
    assert (await the_alert(client))["recipients"] == [sup_sz.id]

    await clock.at(59)
    assert (await the_alert(client))["steps"] == []
    await clock.at(60)
    alert = await the_alert(client)
    assert alert["recipients"] == [sup_sz.id, sup_gd.id]
    assert [(s["kind"], s["desk"], s["recipients"]) for s in alert["steps"]] == [("reescalated", "gd", [sup_gd.id])]

    await clock.at(119)
    assert client.app[PAGER_STANDIN].received == []
    await clock.at(120)
    (page,) = client.app[PAGER_STANDIN].received
    assert (page.to, page.via, page.ref, page.door) == ("+8613800000000", "sms", alert["id"], "standin")
    assert "深圳市12355青少年服务台" in page.text and "120秒" in page.text
    alert = await the_alert(client)
    assert [s["kind"] for s in alert["steps"]] == ["reescalated", "paged"]
    assert alert["steps"][1]["recipients"] == ["深圳值班·赵老师（短信，page-1）"]

    await clock.at(600)  # each step once
    assert len(client.app[PAGER_STANDIN].received) == 1
    assert len((await the_alert(client))["steps"]) == 2


async def test_acknowledging_stops_the_escalation(start_app, settings) -> None:
    client, sup_sz, _ = await started(start_app, settings)
    await conversation(client, risk=3, category="suicide")
    clock = Clock(client)
    alert = await the_alert(client)
    acked = await client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=await login(client, "sup-sz"))
    assert acked.status == 200
    await clock.at(60)
    await clock.at(120)
    assert (await the_alert(client))["steps"] == []
    assert client.app[PAGER_STANDIN].received == []


async def test_the_aliyun_adapter_signs_sendsms_and_a_refusal_is_recorded_on_the_alert(start_app, settings) -> None:
    client, *_ = await started(start_app, settings, aliyun=True)
    await conversation(client, risk=3, category="suicide")
    clock = Clock(client)
    await clock.at(60)
    await clock.at(120)
    (page,) = client.app[PAGER_STANDIN].received
    assert (page.to, page.door) == ("13800000000", "aliyun")  # the stand-in checked the HMAC-SHA1 signature
    assert '"seconds": "120"' in page.text

    # A second alert whose page the provider refuses: the failure is on the alert, for the console.
    await user(client, "c-sz-2", desk="sz", skills=["psychological"])
    await conversation(client, risk=3, category="suicide")
    client.app[PAGER_STANDIN].fail_next()
    clock = Clock(client)
    await clock.at(60)
    await clock.at(120)
    items = (await (await client.get("/api/v1/alerts?state=all", headers=await login(client, "sup-national")))
             .json())["items"]
    newest = [a for a in items if a["type"] == "risk_level_3"][0]
    assert [s["kind"] for s in newest["steps"]] == ["reescalated", "page_failed"]
    assert "isv.BUSINESS_LIMIT_CONTROL" in newest["steps"][1]["detail"]
    assert await client.app[STORE]["alerts"].count_documents({"steps.kind": "paged"}) == 1
