"""The dashboard's daily series: Beijing days, zero days listed, risk ≥ 2, median first response; desk filter."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from contract.config import Settings
from contract.keys import STORE
from handoff.daily_stats import daily_series, series_start
from store.client import Store
from tests.handoff.data_support import add_case, store  # noqa: F401 - the fixture
from tests.handoff_support import engine, login, start, user

NOW = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)  # 09:00 on 6 December in Beijing


async def _fixture(store: Store) -> None:  # noqa: F811
    await add_case(store, datetime(2026, 12, 5, 17, 0, tzinfo=UTC), risk=3, first_reply_seconds=60)  # 6 Dec 01:00 BJT
    await add_case(store, datetime(2026, 12, 5, 18, 0, tzinfo=UTC), desk="sz", first_reply_seconds=300)
    await add_case(store, datetime(2026, 12, 5, 19, 0, tzinfo=UTC), risk=2, first_reply_seconds=120)
    await add_case(store, datetime(2026, 12, 5, 15, 30, tzinfo=UTC), desk="sz", risk=1)  # 5 Dec 23:30 BJT
    await add_case(store, datetime(2026, 11, 6, 16, 0, tzinfo=UTC))  # 7 Nov 00:00 BJT: the first of 30 days
    await add_case(store, datetime(2026, 11, 6, 15, 59, tzinfo=UTC))  # a minute before: outside
    await add_case(store, datetime(2026, 12, 1, tzinfo=UTC), desk="sh-regional", risk=3)  # another desk


def test_thirty_days_end_today_and_start_at_beijing_midnight() -> None:
    assert series_start(30, NOW) == datetime(2026, 11, 6, 16, 0, tzinfo=UTC)
    assert series_start(90, NOW) == datetime(2026, 9, 7, 16, 0, tzinfo=UTC)


async def test_days_are_beijing_days_with_zeros_listed(store: Store) -> None:  # noqa: F811
    await _fixture(store)
    series = await daily_series(store, {"gd", "sz"}, 30, NOW)
    assert len(series) == 30 and series[0].day == date(2026, 11, 7) and series[-1].day == date(2026, 12, 6)
    today, yesterday = series[-1], series[-2]
    assert (today.conversations, today.cases, today.risk_2_plus) == (3, 3, 2)
    assert today.first_response_p50 == 120
    assert (yesterday.conversations, yesterday.cases, yesterday.risk_2_plus, yesterday.first_response_p50) == (
        1, 1, 0, None)
    assert (series[0].conversations, series[0].cases) == (1, 1)
    assert sum(day.conversations for day in series) == 5  # not the day before the window, not Shanghai
    assert sum(1 for day in series if day.conversations == 0) == 27
    assert (await daily_series(store, {"gd", "sz"}, 90, NOW))[-1] == today


async def test_api_filters_by_desk_within_the_callers_scope(start_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client = await start(start_app, settings)
    engine(client).now = lambda: NOW
    await _fixture(client.app[STORE])
    await user(client, "sup-gd", role="supervisor", desk="gd")
    await user(client, "c-sz", desk="sz")
    await user(client, "root", role="admin", desk="national")

    async def today(name: str, **params: str) -> dict:
        response = await client.get("/api/v1/stats/daily", params=params, headers=await login(client, name))
        assert response.status == 200, await response.text()
        body = await response.json()
        return body["days"][-1] | {"desks": body["desks"], "n": len(body["days"])}

    mine = await today("sup-gd")
    assert (mine["date"], mine["conversations"], mine["risk_2_plus"], mine["n"]) == ("2026-12-06", 3, 2, 30)
    assert mine["desks"] == ["gd", "sz"]
    assert (await today("sup-gd", desk="sz"))["conversations"] == 1
    assert (await today("c-sz"))["desks"] == ["sz"]  # a counsellor sees their own desk
    assert (await today("sup-gd", days="90"))["n"] == 90
    assert (await today("root", desk="sh-regional"))["desks"] == ["sh-regional"]  # an admin: any desk
    head = await login(client, "sup-gd")
    for params, status in (({"days": "7"}, 400), ({"desk": "sh-regional"}, 403), ({"desk": "nowhere"}, 400)):
        response = await client.get("/api/v1/stats/daily", params=params, headers=head)
        assert response.status == status, params
        assert "Traceback" not in await response.text()
    listed = await (await client.get("/api/v1/desks", headers=head)).json()
    sz = next(desk for desk in listed["items"] if desk["id"] == "sz")
    assert (sz["region_code"], sz["region_name"], sz["visible"]) == ("440300", "深圳市", True)  # the filter's list
    ninety = await client.get("/api/v1/stats", params={"days": "90"}, headers=head)
    assert ninety.status == 200
    assert (await ninety.json())["since"] == (NOW - timedelta(days=90)).isoformat()
