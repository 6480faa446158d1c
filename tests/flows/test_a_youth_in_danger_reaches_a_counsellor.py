"""A youth in danger writes on WeChat; a supervisor is alerted; a counsellor answers, assesses and closes.

The walk, file by file: channels/wechat.py → gateway/stream.py (stored, acknowledged) → bot/router.py
and bot/triage.py read level 3 → the crisis reply goes out first (gateway/outbox.py → WeChat) →
contract/handoff.py's HandoffRequest reaches handoff/engine.py → handoff/assignment.py queues it at the
front, handoff/escalation.py raises the level-3 alert (store/alerts.py) → the counsellor works it through
handoff/web/api (claim opens the case, handoff/cases.py) → handoff/actions.py closes it once the case
holds what a level-3 case must.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from contract.keys import STORE
from contract.models import ConversationState
from service.wechat_standin import WeChatStandIn
from tests.fakes import wait_for
from tests.handoff_support import login, user

DUE = "2030-01-01T00:00:00+00:00"


async def test_a_youth_in_danger_reaches_a_counsellor_who_answers_assesses_and_closes(
        gateway: TestClient, youth, wechat: WeChatStandIn) -> None:  # type: ignore[no-untyped-def]
    await user(gateway, "sup-gd", role="supervisor", desk="gd")
    await user(gateway, "c-gd", desk="gd")
    supervisor, counsellor = await login(gateway, "sup-gd"), await login(gateway, "c-gd")
    store = gateway.app[STORE]

    await youth.writes("我已经把一整瓶安眠药都吞了，跟大家说再见")

    # Before any human: the crisis reply reaches the youth (emergency numbers, no waiting time).
    await wait_for(lambda: wechat.sent_to(youth.openid))
    crisis = wechat.sent_to(youth.openid)[0].text
    assert "120" in crisis and "分钟" not in crisis

    # The supervisor of the desk is alerted; the conversation waits at the front of the queue at level 3.
    alerts = await _wait_json(gateway, "/api/v1/alerts", supervisor, lambda body: body["items"])
    [alert] = alerts["items"]
    assert alert["type"] == "risk_level_3"
    conversation_id = alert["conversation_id"]
    queue = await (await gateway.get("/api/v1/queue", headers=counsellor)).json()
    assert queue["items"][0]["id"] == conversation_id and queue["items"][0]["risk_level"] == 3

    # The counsellor takes it (a case opens) and answers; the answer reaches the youth on WeChat.
    claimed = await gateway.post(f"/api/v1/conversations/{conversation_id}/claim", headers=counsellor)
    assert claimed.status == 200, await claimed.text()
    case_id = (await claimed.json())["case_id"]
    answer = await gateway.post(f"/api/v1/conversations/{conversation_id}/messages", headers=counsellor,
                                json={"text": "我在这里陪着你。你现在在哪里？我们马上帮你联系120。"})
    assert answer.status in (200, 201), await answer.text()
    await wait_for(lambda: any("我在这里陪着你" in m.text for m in wechat.sent_to(youth.openid)))

    # A level-3 case cannot be closed on a whim: first the assessment, what happened, and who else acts.
    close = {"outcome": "resolved", "request_rating": False}
    refused = await gateway.post(f"/api/v1/conversations/{conversation_id}/close", headers=counsellor, json=close)
    assert refused.status == 409
    await gateway.put(f"/api/v1/cases/{case_id}/assessment", headers=counsellor, json={
        "level": 3, "factors": ["过量服药"], "immediate_danger": True, "plan": "已联系120送医", "notes": ""})
    await gateway.patch(f"/api/v1/cases/{case_id}", headers=counsellor,
                        json={"classification": "psych.emotion", "summary": "过量服药，已联系120送医"})
    await gateway.post(f"/api/v1/cases/{case_id}/referrals", headers=counsellor,
                       json={"agency": "120", "note": "已呼叫急救", "due_at": DUE})
    closed = await gateway.post(f"/api/v1/conversations/{conversation_id}/close", headers=counsellor, json=close)
    assert closed.status == 200, await closed.text()

    case = await (await gateway.get(f"/api/v1/cases/{case_id}", headers=counsellor)).json()
    assert (case["status"], case["risk_level"]) == ("closed", 3)
    conversation = await store.conversations.find_one({"_id": conversation_id})
    assert conversation["state"] == ConversationState.CLOSED


async def _wait_json(client: TestClient, path: str, headers: dict[str, str], ready: Any) -> Any:
    body: dict[str, Any] = {}

    async def fetched() -> bool:
        nonlocal body
        body = await (await client.get(path, headers=headers)).json()
        return bool(ready(body))

    await wait_for(fetched)
    return body
