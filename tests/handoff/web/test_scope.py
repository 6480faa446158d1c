"""Every /api/v1 route, called as each role: no 5xx, 401 without a session, nothing leaks across desks.

The routes are read from the app's router, so routes added later are covered automatically.
"""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from contract.keys import STORE
from handoff.sessions import create_session
from handoff.users import get_user_by_username
from tests.handoff_support import conversation, engine, start, user

PUBLIC = {("POST", "/api/v1/auth/login"), ("GET", "/api/v1/openapi.json")}
PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def api_routes(client: TestClient) -> list[tuple[str, str]]:
    routes = set()
    for route in client.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/api/v1") and route.method not in ("HEAD", "OPTIONS", "*"):
            routes.add((route.method, path))
    return sorted(routes)


def fill(path: str, ids: dict[str, str]) -> str:
    """Put the desk-gd resource ids into the path: the segment before a parameter names its kind."""
    parts = path.split("/")
    for index, part in enumerate(parts):
        if PARAM.fullmatch(part):
            parts[index] = ids.get(parts[index - 1], "missing-id")
    return "/".join(parts)


async def _token(client: TestClient, username: str) -> dict[str, str]:
    found = await get_user_by_username(client.app[STORE], username)
    assert found is not None
    token, _ = await create_session(client.app[STORE], found)
    return {"Authorization": f"Bearer {token}"}


async def test_every_route_enforces_role_and_desk_scope(start_app) -> None:
    client = await start(start_app)
    owner = await user(client, "owner-gd", desk="gd")
    await user(client, "counsellor-sz", desk="sz")
    await user(client, "supervisor-gd", "supervisor", "gd")
    await user(client, "admin", "admin", "national")
    cid = await conversation(client, risk=3, category="suicide")
    await engine(client).claim(cid, owner)
    doc = await client.app[STORE].conversations.find_one({"_id": cid})
    alert = await client.app[STORE]["alerts"].find_one({"conversation_id": cid})
    case = await client.app[STORE]["cases"].find_one({"conversation_id": cid})
    ids = {"conversations": cid, "alerts": alert["_id"], "contacts": doc["contact_id"],
           "cases": case["_id"] if case else "missing-case"}
    routes = api_routes(client)
    assert len(routes) >= 20
    problems: list[str] = []
    for method, template in routes:
        path = fill(template, ids)
        public = (method, template) in PUBLIC
        for role in ("anonymous", "counsellor-sz", "owner-gd", "supervisor-gd", "admin"):
            headers = {} if role == "anonymous" else await _token(client, role)
            kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            response = await client.request(method, path, headers=headers, **kwargs)
            text = await response.text()
            where = f"{method} {template} as {role}: {response.status} {text[:120]}"
            if response.status >= 500:
                problems.append(f"server error: {where}")
            if response.status >= 400 and response.content_type != "application/json":
                problems.append(f"non-JSON error: {where}")
            if role == "anonymous" and not public and response.status != 401:
                problems.append(f"anonymous not refused: {where}")
            if role == "counsellor-sz" and not public:
                if cid in text or doc["contact_id"] in text:
                    problems.append(f"desk-gd data leaked to desk sz: {where}")
                if "{" in template and response.status < 400:
                    problems.append(f"other desk's resource reachable: {where}")
    assert not problems, "\n".join(problems)
