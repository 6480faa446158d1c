"""The console's pages and the session endpoint it boots from (the browser flows are in test_console_browser)."""

from __future__ import annotations

from datetime import datetime, timedelta

from contract.models import utcnow
from handoff.web.console import STATIC
from tests.handoff_support import PASSWORD, start, user


async def test_console_page_has_a_strict_content_security_policy(start_app) -> None:
    client = await start(start_app)
    response = await client.get("/console/")
    assert response.status == 200 and response.content_type == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    html = await response.text()
    assert "<script type=\"module\" src=\"/console/static/app.js\"></script>" in html
    assert "<style" not in html and "onclick" not in html and "<script>" not in html  # nothing inline
    redirect = await client.get("/console", allow_redirects=False)
    assert redirect.status == 302 and redirect.headers["Location"] == "/console/"
    start_page = await (await client.get("/")).text()
    assert 'href="/console/"' in start_page


async def test_console_serves_only_its_own_files(start_app) -> None:
    client = await start(start_app)
    for name, mime in STATIC.items():
        response = await client.get(f"/console/static/{name}")
        assert response.status == 200 and response.content_type == mime, name
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    for name in ("__init__.py", "index.html", "..%2F__init__.py", "nope.js"):
        assert (await client.get(f"/console/static/{name}")).status == 404, name


async def test_modules_never_put_data_into_html() -> None:
    from handoff.web.console import WEB

    for path in WEB.glob("*.js"):
        source = path.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in source, f"{path.name} uses {sink}"


async def test_session_endpoint_gives_the_csrf_token_back_after_a_reload(start_app) -> None:
    client = await start(start_app)
    await user(client, "c-sz", desk="sz")
    assert (await client.get("/api/v1/auth/session")).status == 401
    login = await client.post("/api/v1/auth/login", json={"username": "c-sz", "password": PASSWORD})
    csrf = (await login.json())["csrf_token"]
    session = await client.get("/api/v1/auth/session")  # the cookie only, as after a page reload
    assert session.status == 200
    body = await session.json()
    assert body["csrf_token"] == csrf and body["user"]["username"] == "c-sz" and body["idle_minutes"] == 30
    left = datetime.fromisoformat(body["expires_at"]) - utcnow()
    assert timedelta(minutes=29) < left <= timedelta(minutes=30)
    ok = await client.put("/api/v1/me/presence", json={"presence": "away"},
                          headers={"X-CSRF-Token": body["csrf_token"]})
    assert ok.status == 200
