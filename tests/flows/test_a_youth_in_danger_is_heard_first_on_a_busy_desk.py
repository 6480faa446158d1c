"""The bot hangs while 200 youths wait for it; a youth in danger writes last and is still heard first.

The walk: channels/wechat.py stores each message and answers WeChat at once (gateway/stream.py);
the routing backlog (gateway/routing.py) gives the ordinary conversations its workers, and each
waits in bot/router.py for Rasa, which does not answer. The backlog's screen (bot/risk_hint.py, the
full detector) reads the crisis text as level 3, so it gets a worker of its own, bot/triage.py hands
off without asking Rasa, the crisis reply goes out and handoff/escalation.py raises the alert, while
all 200 ordinary messages still wait. When Rasa answers again, every one of them is answered, none
twice.
"""

from __future__ import annotations

import asyncio
import itertools

from aiohttp.test_utils import TestClient

from contract.keys import STREAM
from service.wechat_standin import WeChatStandIn
from tests.fakes import FakeRasa, wait_for
from tests.flows.conftest import Youth
from tests.handoff_support import login, user

ORDINARY = 200


class HangingRasa(FakeRasa):
    """Rasa that takes every question and answers none until ``recovered`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.recovered = asyncio.Event()
        self.waiting = 0

    async def parse(self, text: str):  # type: ignore[no-untyped-def]
        self.waiting += 1
        await self.recovered.wait()
        self.waiting -= 1
        return await super().parse(text)


async def test_a_youth_in_danger_is_alerted_while_the_bot_keeps_200_others_waiting(
        gateway: TestClient, wechat: WeChatStandIn) -> None:
    rasa = gateway.app[STREAM].router.rasa = HangingRasa()
    await user(gateway, "sup-gd", role="supervisor", desk="gd")
    supervisor = await login(gateway, "sup-gd")
    waiting = [Youth(gateway, openid=f"oYouthBusyDesk{n:014d}", _msg_ids=itertools.count(24404600000000000 + n * 100))
               for n in range(ORDINARY)]
    for youth in waiting:
        await youth.writes("请问怎么申请助学贷款")
    await wait_for(lambda: rasa.waiting == gateway.app[STREAM].settings.service.routing_workers)

    in_danger = Youth(gateway, openid="oYouthInDanger000000000000001")
    await in_danger.writes("我已经把一整瓶安眠药都吞了，跟大家说再见")

    async def alerted() -> bool:
        alerts = await (await gateway.get("/api/v1/alerts", headers=supervisor)).json()
        return [alert["type"] for alert in alerts["items"]] == ["risk_level_3"]

    await wait_for(alerted)
    await wait_for(lambda: wechat.sent_to(in_danger.openid))  # the crisis reply, before any human
    assert "120" in wechat.sent_to(in_danger.openid)[0].text

    async def only_the_ordinary_wait() -> bool:
        return await gateway.app[STREAM].unprocessed_count() == ORDINARY

    await wait_for(only_the_ordinary_wait)  # its message is routed; every ordinary one still waits, unanswered
    assert not any(wechat.sent_to(youth.openid) for youth in waiting)

    rasa.recovered.set()
    await wait_for(lambda: all(wechat.sent_to(youth.openid) for youth in waiting), timeout=60)
    assert [len(wechat.sent_to(youth.openid)) for youth in waiting] == [1] * ORDINARY
    assert await gateway.app[STREAM].unprocessed_count() == 0
