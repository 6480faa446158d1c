"""Statistics on a small fixture: volumes, waiting and first-response distributions, satisfaction; CSV = JSON."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from contract.keys import STORE
from contract.models import utcnow
from handoff.desks import CHINA
from handoff.stats import compute_stats, percentile
from store.client import Store
from tests.handoff_support import login, start, user


async def _fixture(store: Store, now: datetime) -> None:
    t0 = now - timedelta(hours=2)

    def conversation(cid: str, desk: str, platform: str, risk: int, created: datetime) -> dict:
        return {"_id": cid, "contact_id": f"ct_{cid}", "platform": platform, "account": "a", "desk": desk,
                "state": "closed", "risk_level": risk, "created_at": created}

    await store.conversations.insert_many([
        conversation("A", "gd", "wechat", 0, t0), conversation("B", "gd", "wechat", 3, t0),
        conversation("C", "sz", "weibo", 1, t0), conversation("X", "sh-regional", "wechat", 2, t0),
        conversation("OLD", "gd", "wecom", 0, now - timedelta(days=40)),
    ])

    def changed(cid: str, to: str, seconds: int) -> dict:
        return {"_id": f"ev{cid}{to}{seconds}", "type": "conversation.state_changed", "conversation_id": cid,
                "data": {"to": to, "reason": "test"}, "at": t0 + timedelta(seconds=seconds)}

    await store.events.insert_many([
        changed("A", "queued", 0), changed("A", "assigned", 20),
        changed("B", "queued", 0), changed("B", "assigned", 100),
        changed("C", "queued", 0), changed("C", "closed", 30),  # left the queue unanswered: no waiting sample
        changed("X", "queued", 0), changed("X", "assigned", 5),  # outside the desks asked for
    ])

    def message(cid: str, seq: int, sender: str, seconds: int, private: bool = False) -> dict:
        return {"_id": f"m{cid}{seq}", "conversation_id": cid, "seq": seq, "direction": "out", "sender": sender,
                "private": private, "created_at": t0 + timedelta(seconds=seconds), "text": "", "status": "sent"}

    await store.messages.insert_many([
        message("A", 1, "counsellor", 10, private=True), message("A", 2, "counsellor", 50),
        message("B", 1, "system", 5), message("B", 2, "counsellor", 400),
    ])
    await store["cases"].insert_many([
        {"_id": "kA", "conversation_id": "A", "desk": "gd", "classification": "psych.study", "created_at": t0},
        {"_id": "kB", "conversation_id": "B", "desk": "gd", "classification": "crisis.suicide", "created_at": t0},
        {"_id": "kC", "conversation_id": "C", "desk": "sz", "classification": None, "created_at": t0},
    ])
    await store["ratings"].insert_many([
        {"_id": "r1", "conversation_id": "A", "desk": "gd", "score": 5, "at": t0},
        {"_id": "r2", "conversation_id": "B", "desk": "gd", "score": 4, "at": t0},
        {"_id": "r3", "conversation_id": "X", "desk": "sh-regional", "score": 1, "at": t0},
    ])


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3, 1, 2], 0.5) == 2
    assert percentile(list(range(1, 11)), 0.9) == 9


async def test_numbers_on_a_small_fixture(start_app) -> None:  # type: ignore[no-untyped-def]
    client = await start(start_app)
    store, now = client.app[STORE], utcnow()
    await _fixture(store, now)
    stats = (await compute_stats(store, {"gd", "sz"}, now - timedelta(days=30))).public()
    assert stats["volume_by_channel"] == {"wechat": 2, "weibo": 1}
    assert stats["volume_by_risk"] == {"0": 1, "1": 1, "2": 0, "3": 1}
    assert stats["volume_by_category"] == {"crisis.suicide": 1, "psych.study": 1, "unclassified": 1}
    waiting = stats["waiting_seconds"]
    assert (waiting["count"], waiting["p50"], waiting["p90"]) == (2, 20.0, 100.0)
    assert {b["bucket"]: b["count"] for b in waiting["histogram"] if b["count"]} == {"0-30": 1, "60-120": 1}
    first = stats["first_response_seconds"]
    assert (first["count"], first["p50"], first["p90"]) == (2, 50.0, 400.0)  # the private note does not count
    assert {b["bucket"]: b["count"] for b in first["histogram"] if b["count"]} == {"30-60": 1, "300-600": 1}
    assert stats["satisfaction"] == {"count": 2, "mean": 4.5, "histogram": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}}


def _csv_numbers(text: str) -> dict[tuple[str, str], str]:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["section", "key", "value"]
    return {(section, key): value for section, key, value in rows[1:]}


async def test_api_scope_and_csv_matches_json(start_app) -> None:  # type: ignore[no-untyped-def]
    client = await start(start_app)
    await _fixture(client.app[STORE], utcnow())
    await user(client, "sup", role="supervisor", desk="gd")
    await user(client, "c1", desk="sz")
    head = await login(client, "sup")
    data = await (await client.get("/api/v1/stats", params={"days": "30"}, headers=head)).json()
    response = await client.get("/api/v1/stats.csv", params={"days": "30"}, headers=head)
    assert response.status == 200 and response.content_type == "text/csv"
    numbers = _csv_numbers(await response.text())
    for section in ("volume_by_channel", "volume_by_category", "volume_by_risk"):
        assert {key: int(v) for (s, key), v in numbers.items() if s == section} == data[section]
    for section in ("waiting_seconds", "first_response_seconds"):
        assert float(numbers[(section, "p50")]) == data[section]["p50"]
        assert float(numbers[(section, "p90")]) == data[section]["p90"]
        assert [int(numbers[(section, f"histogram:{b['bucket']}")]) for b in data[section]["histogram"]] == [
            b["count"] for b in data[section]["histogram"]]
    assert float(numbers[("satisfaction", "mean")]) == data["satisfaction"]["mean"] == 4.5
    assert data["volume_by_channel"] == {"wechat": 2, "weibo": 1}
    only_sz = await (await client.get("/api/v1/stats", params={"days": "30", "desk": "sz"}, headers=head)).json()
    assert only_sz["volume_by_channel"] == {"weibo": 1}
    counsellor = await login(client, "c1")
    mine = await (await client.get("/api/v1/stats", params={"days": "30"}, headers=counsellor)).json()
    assert mine["volume_by_channel"] == {"weibo": 1}  # a counsellor's scope is their desk
    assert (await client.get("/api/v1/stats", params={"days": "7"}, headers=head)).status == 400
    assert (await client.get("/api/v1/stats", params={"desk": "sh-regional"}, headers=head)).status == 403
    asked_at = datetime.now(CHINA)
    today = await (await client.get("/api/v1/stats", headers=head)).json()
    answered_at = datetime.now(CHINA)  # the request may cross midnight Beijing time: either day is right
    midnights = {at.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC).isoformat()
                 for at in (asked_at, answered_at)}
    assert today["since"] in midnights  # the desks' day starts at 00:00 Beijing
