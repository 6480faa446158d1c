"""In-person appointments over the API: slots, booking from a case, the confirmation through the outbox,
outcomes, the case timeline, and every refusal leaving nothing behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from contract.config import Settings
from contract.keys import STORE
from handoff.web.keys import ENGINE
from tests.fakes import RecordingChannel, wait_for
from tests.handoff_support import conversation, fed_to_shenzhen, login, start, user

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Beijing


def at(hours: float) -> str:
    return (NOW + timedelta(hours=hours)).isoformat()


async def _setup(start_app, settings: Settings) -> tuple[TestClient, dict[str, dict[str, str]], str]:  # type: ignore[no-untyped-def]
    """The WeChat account feeds Shenzhen (a city desk): lin owns a case there, chen works Shenzhen too,
    zhao works the Guangdong desk, wang supervises Guangdong and so Shenzhen."""
    client = await start(start_app, fed_to_shenzhen(settings))
    client.app[ENGINE].context.now = lambda: NOW
    await user(client, "lin", desk="sz")
    await user(client, "chen", desk="sz")
    await user(client, "zhao", desk="gd")
    await user(client, "wang", role="supervisor", desk="gd")
    heads = {name: await login(client, name) for name in ("lin", "chen", "zhao", "wang")}
    conversation_id = await conversation(client)
    claimed = await client.post(f"/api/v1/conversations/{conversation_id}/claim", headers=heads["lin"])
    assert claimed.status == 200, await claimed.text()
    return client, heads, (await claimed.json())["case_id"]


async def _slot(client: TestClient, head: dict[str, str], **changes: Any) -> Any:
    body = {"desk": "sz", "starts_at": at(48), "ends_at": at(49), "place": "深圳市福田区团市委12355服务中心3楼",
            "counsellor": "lin", "capacity": 1, **changes}
    return await client.post("/api/v1/appointment-slots", headers=head, json=body)


async def _counts(client: TestClient) -> tuple[int, int, int]:
    store = client.app[STORE]
    return (await store["appointment_slots"].count_documents({}), await store["appointments"].count_documents({}),
            await store["messages"].count_documents({"direction": "out"}))


async def test_a_booking_confirms_on_the_youths_channel_in_beijing_time(start_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client, heads, case_id = await _setup(start_app, settings)
    response = await _slot(client, heads["wang"])
    assert response.status == 201, await response.text()
    slot = await response.json()
    assert (slot["free"], slot["counsellor_name"]) == (1, "lin")

    booked = await client.post(f"/api/v1/cases/{case_id}/appointments", headers=heads["lin"],
                               json={"slot_id": slot["id"]})
    assert booked.status == 201, await booked.text()
    appointment = await booked.json()
    assert appointment["status"] == "booked"
    assert datetime.fromisoformat(appointment["remind_at"]) == NOW + timedelta(hours=24)  # a day ahead

    channel = RecordingChannel.instances[-1]
    await wait_for(lambda: any("面询预约" in m.text for m in channel.sent))
    sent = next(m for m in channel.sent if "面询预约" in m.text)
    # 2026-12-09 02:00 UTC is Wednesday 10:00 in Beijing.
    assert "2026年12月9日（周三）10:00–11:00（北京时间）" in sent.text
    assert "福田区团市委12355服务中心3楼" in sent.text
    assert sent.message_id == appointment["confirmation_message_id"]

    slots = await (await client.get("/api/v1/appointment-slots", headers=heads["chen"])).json()
    assert [s["free"] for s in slots["items"]] == [0]
    timeline = await (await client.get(f"/api/v1/cases/{case_id}/timeline", headers=heads["lin"])).json()
    assert [entry["kind"] for entry in timeline["items"]] == ["appointment"]
    assert "预约面询" in timeline["items"][0]["text"]
    audit = await (await client.get("/api/v1/audit", params={"target": case_id}, headers=heads["wang"])).json()
    assert {"case.appointment.book", "case.timeline.read"} <= {entry["action"] for entry in audit["items"]}


async def test_refusals_leave_nothing_behind(start_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client, heads, case_id = await _setup(start_app, settings)
    slot = await (await _slot(client, heads["wang"])).json()
    other_case = await conversation(client)
    claimed = await client.post(f"/api/v1/conversations/{other_case}/claim", headers=heads["chen"])
    chens_case = (await claimed.json())["case_id"]

    # Slots: only supervisors, only city desks they oversee, sensible times and a real counsellor.
    refused_slots = [
        (heads["lin"], {}, 403, "not permitted for your role"),
        (heads["wang"], {"desk": "gd"}, 400, "city desks"),
        (heads["wang"], {"desk": "nowhere"}, 400, "unknown desk"),
        (heads["wang"], {"starts_at": at(-1), "ends_at": at(0)}, 400, "future"),
        (heads["wang"], {"ends_at": at(47)}, 400, "15 minutes to 8 hours"),
        (heads["wang"], {"ends_at": at(60)}, 400, "15 minutes to 8 hours"),
        (heads["wang"], {"starts_at": at(24 * 365), "ends_at": at(24 * 365 + 1)}, 400, "180 days"),
        (heads["wang"], {"starts_at": "3026-01-01T00:00:00Z"}, 400, "between 2000 and 2100"),
        (heads["wang"], {"counsellor": "zhao"}, 400, "no such user at this desk"),
        (heads["wang"], {"capacity": 0}, 400, "capacity"),
        (heads["wang"], {"place": ""}, 400, "place"),
    ]
    before = await _counts(client)
    for head, changes, status, reason in refused_slots:
        response = await _slot(client, head, **changes)
        assert response.status == status, (changes, await response.text())
        assert reason in (await response.json())["error"], changes
    assert await _counts(client) == before

    # Bookings: another counsellor's case, a supervisor of another desk's slot, unknown and full slots.
    cases = f"/api/v1/cases/{case_id}/appointments"
    chen_books_lins = await client.post(cases, headers=heads["chen"], json={"slot_id": slot["id"]})
    assert chen_books_lins.status == 403
    zhao_books = await client.post(f"/api/v1/cases/{chens_case}/appointments", headers=heads["zhao"],
                                   json={"slot_id": slot["id"]})
    assert zhao_books.status == 403
    unknown = await client.post(cases, headers=heads["lin"], json={"slot_id": "sl_nope"})
    assert (unknown.status, (await unknown.json())["error"]) == (404, "not found")
    not_json = await client.post(cases, headers=heads["lin"], json=["sl"])
    assert not_json.status == 400
    assert await _counts(client) == before

    first = await client.post(cases, headers=heads["lin"], json={"slot_id": slot["id"]})
    assert first.status == 201
    booked = await _counts(client)
    again = await client.post(cases, headers=heads["lin"], json={"slot_id": slot["id"]})
    assert (again.status, (await again.json())["error"]) == (409, "this case already holds a seat in this slot")
    full = await client.post(f"/api/v1/cases/{chens_case}/appointments", headers=heads["chen"],
                             json={"slot_id": slot["id"]})
    assert (full.status, (await full.json())["error"]) == (409, "this slot is full")
    assert await _counts(client) == booked

    # A slot that has begun cannot be booked.
    client.app[ENGINE].context.now = lambda: NOW + timedelta(hours=48, minutes=1)
    late = await client.post(f"/api/v1/cases/{chens_case}/appointments", headers=heads["chen"],
                             json={"slot_id": slot["id"]})
    assert (late.status, (await late.json())["error"]) == (400, "slot_id: this slot has already begun")
    assert await _counts(client) == booked


async def test_outcomes_follow_the_clock_and_cancelling_frees_the_seat(start_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client, heads, case_id = await _setup(start_app, settings)
    slot = await (await _slot(client, heads["wang"])).json()
    path = f"/api/v1/cases/{case_id}/appointments"
    appointment = await (await client.post(path, headers=heads["lin"], json={"slot_id": slot["id"]})).json()
    one = f"{path}/{appointment['id']}"

    early = await client.patch(one, headers=heads["lin"], json={"status": "attended"})
    assert (early.status, "once the appointment has begun" in (await early.json())["error"]) == (400, True)
    bad = await client.patch(one, headers=heads["lin"], json={"status": "lost"})
    assert bad.status == 400
    cancelled = await client.patch(one, headers=heads["lin"], json={"status": "cancelled", "note": "孩子考试"})
    assert (await cancelled.json())["status"] == "cancelled"
    twice = await client.patch(one, headers=heads["lin"], json={"status": "cancelled"})
    assert twice.status == 409
    slots = await (await client.get("/api/v1/appointment-slots", headers=heads["lin"])).json()
    assert slots["items"][0]["free"] == 1

    again = await (await client.post(path, headers=heads["lin"], json={"slot_id": slot["id"]})).json()
    client.app[ENGINE].context.now = lambda: NOW + timedelta(hours=48, minutes=5)
    late_cancel = await client.patch(f"{path}/{again['id']}", headers=heads["lin"], json={"status": "cancelled"})
    assert late_cancel.status == 400
    attended = await client.patch(f"{path}/{again['id']}", headers=heads["lin"], json={"status": "no_show"})
    assert (await attended.json())["status"] == "no_show"

    channel = RecordingChannel.instances[-1]
    await wait_for(lambda: any("已取消" in m.text for m in channel.sent))
    timeline = await (await client.get(f"/api/v1/cases/{case_id}/timeline", headers=heads["lin"])).json()
    texts = [entry["text"] for entry in timeline["items"]]
    assert sum("预约面询" in t for t in texts) == 2 and any("面询已取消" in t for t in texts)
    assert any("面询未到访" in t for t in texts)
    note = await client.app[STORE]["appointments"].find_one({"_id": appointment["id"]})
    assert "孩子考试" not in str(note["note"])  # sealed at rest

