"""Sign-in, sessions, CSRF, expiry, bad input, and the audit log on transcript reads."""

from __future__ import annotations

from datetime import timedelta

from contract.keys import SETTINGS, STORE
from contract.models import utcnow
from handoff.errors import Invalid
from handoff.sessions import load_session
from handoff.users import create_user
from handoff.web.auth import COOKIE
from tests.handoff_support import PASSWORD, conversation, engine, login, start, user


async def test_login_cookie_csrf_and_logout(start_app) -> None:
    client = await start(start_app)
    await user(client, "c-gd", desk="gd")
    wrong = await client.post("/api/v1/auth/login", json={"username": "c-gd", "password": "nope-nope"})
    unknown = await client.post("/api/v1/auth/login", json={"username": "ghost", "password": "nope-nope"})
    assert wrong.status == unknown.status == 401
    assert await wrong.json() == await unknown.json()
    response = await client.post("/api/v1/auth/login", json={"username": "C-GD", "password": PASSWORD})
    assert response.status == 200
    body = await response.json()
    assert "password_hash" not in body["user"] and body["user"]["role"] == "counsellor"
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert (await client.get("/api/v1/me")).status == 200  # the cookie jar carries the session
    no_csrf = await client.put("/api/v1/me/presence", json={"presence": "away"})
    assert no_csrf.status == 403 and await no_csrf.json() == {"error": "csrf"}
    ok = await client.put("/api/v1/me/presence", json={"presence": "away"},
                          headers={"X-CSRF-Token": body["csrf_token"]})
    assert ok.status == 200 and (await ok.json())["presence"] == "away"
    out = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert out.status == 204
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})).status == 401


async def test_sessions_expire_when_idle_and_after_twelve_hours(start_app) -> None:
    client = await start(start_app)
    await user(client, "c-gd", desk="gd")
    headers = await login(client, "c-gd")
    token = headers["Authorization"].split()[1]
    store, settings = client.app[STORE], client.app[SETTINGS]
    now = utcnow()
    assert await load_session(store, settings, token, now=now + timedelta(minutes=29)) is not None
    # the touch above moved last_seen; 29 minutes later again is still fine, the 12 h cap is not
    assert await load_session(store, settings, token, now=now + timedelta(minutes=58)) is not None
    assert await load_session(store, settings, token, now=now + timedelta(hours=12, minutes=1)) is None
    headers = await login(client, "c-gd")
    token = headers["Authorization"].split()[1]
    assert await load_session(store, settings, token, now=utcnow() + timedelta(minutes=31)) is None
    assert (await client.get("/api/v1/me", headers=headers)).status == 401


async def test_bad_input_is_a_short_json_4xx(start_app) -> None:
    client = await start(start_app)
    await user(client, "c-gd", desk="gd")
    headers = await login(client, "c-gd")
    cases = [
        client.post("/api/v1/auth/login", data="{not json", headers={"Content-Type": "application/json"}),
        client.post("/api/v1/auth/login", json=["list"]),
        client.post("/api/v1/auth/login", data="username=x", headers={"Content-Type": "text/plain"}),
        client.put("/api/v1/me/presence", json={"presence": "dancing"}, headers=headers),
        client.get("/api/v1/conversations?scope=everything", headers=headers),
        client.get("/api/v1/conversations/does-not-exist", headers=headers),
        client.get("/api/v1/no-such-route", headers=headers),
        client.post("/api/v1/conversations/x/transfer", json={"to": "moon", "note": "x"}, headers=headers),
    ]
    for pending in cases:
        response = await pending
        assert 400 <= response.status < 500, response.status
        body = await response.json()
        assert set(body) == {"error"} and len(body["error"]) < 200


async def test_createuser_validation(start_app) -> None:
    client = await start(start_app)
    store, settings = client.app[STORE], client.app[SETTINGS]
    for kwargs in [{"username": "x"}, {"password": "short"}, {"desk": "atlantis"}, {"role": "king"}]:
        args = {"username": "valid-name", "password": PASSWORD, "role": "counsellor", "desk": "gd", **kwargs}
        try:
            await create_user(store, settings, **args)
        except Invalid:
            continue
        raise AssertionError(f"accepted {kwargs}")
    await create_user(store, settings, username="dup", password=PASSWORD, role="counsellor", desk="gd")
    try:
        await create_user(store, settings, username="DUP", password=PASSWORD, role="counsellor", desk="gd")
    except Invalid as exc:
        assert "already exists" in str(exc)
    else:
        raise AssertionError("duplicate username accepted")


async def test_transcript_reads_are_audited_and_need_a_reason_from_supervisors(start_app) -> None:
    client = await start(start_app)
    owner = await user(client, "c-gd", desk="gd")
    supervisor = await user(client, "sup-gd", "supervisor", "gd")
    cid = await conversation(client, youth="openid-secret-123456")
    await engine(client).claim(cid, owner)
    owner_headers, sup_headers = await login(client, "c-gd"), await login(client, "sup-gd")
    assert (await client.get(f"/api/v1/conversations/{cid}/messages", headers=owner_headers)).status == 200
    assert (await client.get(f"/api/v1/conversations/{cid}/messages", headers=sup_headers)).status == 400
    assert (await client.get(f"/api/v1/conversations/{cid}/messages?reason=质量抽查",
                             headers=sup_headers)).status == 200
    records = await client.app[STORE]["audit"].find({"target": cid}).sort("at", 1).to_list(None)
    assert [(r["actor"], r["action"], r["reason"]) for r in records] == [
        (owner.id, "transcript.read", None), (supervisor.id, "transcript.read", "质量抽查")]
    # the channel identifier is shown to the owner only, masked to everyone else
    owner_view = await (await client.get(f"/api/v1/conversations/{cid}", headers=owner_headers)).json()
    sup_view = await (await client.get(f"/api/v1/conversations/{cid}", headers=sup_headers)).json()
    assert "openid-secret-123456" in owner_view["contact"]["label"]
    assert "openid-secret-123456" not in await (await client.get(f"/api/v1/conversations/{cid}",
                                                                 headers=sup_headers)).text()
    assert sup_view["contact"]["label"].endswith("op****56")


async def test_password_guessing_is_throttled(start_app) -> None:
    client = await start(start_app)
    await user(client, "c-gd", desk="gd")
    for _ in range(5):
        response = await client.post("/api/v1/auth/login", json={"username": "c-gd", "password": "guess-guess"})
        assert response.status == 401
    blocked = await client.post("/api/v1/auth/login", json={"username": "c-gd", "password": PASSWORD})
    assert blocked.status == 429 and "error" in await blocked.json()
