"""Sign in and out, who am I, presence."""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from contract.keys import SETTINGS, STORE
from contract.people import Presence, Role
from handoff.sessions import LoginThrottle, create_session, end_session, expires_at
from handoff.sign_in_limits import SharedSignInFailures
from handoff.users import SignInBusy, authenticate, normalise_username, public_user, set_presence
from handoff.web.api.common import engine_of
from handoff.web.api.openapi import INT, STR, TIME, obj, operation, ref
from handoff.web.auth import COOKIE, current_session, current_user, request_token
from handoff.web.errors import http_error, read_body

log = logging.getLogger("youthdesk.api.session")
ROUTES = web.RouteTableDef()
THROTTLE = web.AppKey("login_throttle", LoginThrottle)
# With several gateways (``service.redis_url``): wrong passwords counted across instances too.
SHARED_FAILURES = web.AppKey("shared_sign_in_failures", SharedSignInFailures)


def setup(app: web.Application) -> None:
    app[THROTTLE] = LoginThrottle()


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200)


class PresenceBody(BaseModel):
    presence: Literal["online", "away", "offline"]


@ROUTES.post("/auth/login")
async def login(request: web.Request) -> web.Response:
    body = await read_body(request, LoginBody)
    store, settings = request.app[STORE], request.app[SETTINGS]
    throttle, account, address = request.app[THROTTLE], normalise_username(body.username), request.remote or ""
    shared = request.app.get(SHARED_FAILURES)
    wait = throttle.admit(account, address)
    if wait:
        raise _retry_later(429, "too many sign-in attempts; try again later", wait)
    try:
        if shared is not None and (wait := await shared.wait(account, address)):
            raise _retry_later(429, "too many sign-in attempts; try again later", wait)  # abandoned below
        user = await authenticate(store, account, body.password, trusted=throttle.known(account, address))
    except SignInBusy:
        throttle.abandoned(account, address)
        raise _retry_later(503, "sign-in is busy; try again in a moment", 1) from None
    except BaseException:
        throttle.abandoned(account, address)
        raise
    if user is None:
        throttle.failed(account, address)
        if shared is not None:
            await shared.failed(account, address)
        log.warning("failed sign-in for %r from %s", account[:40], address)
        raise http_error(401, "wrong username or password")
    throttle.succeeded(account, address)
    if shared is not None:
        await shared.succeeded(account, address)
    token, session = await create_session(store, user)
    response = web.json_response({"user": await public_user(store, user), "csrf_token": session.csrf_token,
                                  "token": token})
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/",
                        secure=settings.service.public_url.startswith("https://"),
                        max_age=settings.handoff.session_max_hours * 3600)
    return response


def _retry_later(status: int, message: str, seconds: float) -> web.HTTPException:
    error = http_error(status, message)
    error.headers["Retry-After"] = str(math.ceil(seconds))
    return error


@ROUTES.post("/auth/logout")
async def logout(request: web.Request) -> web.Response:
    _, user = await current_session(request)
    token, _ = request_token(request)
    await end_session(request.app[STORE], token or "")
    # Signing out ends the shift: no more auto-assigned conversations.
    await engine_of(request).set_presence_changed(
        await set_presence(request.app[STORE], user.id, Presence.OFFLINE) or user)
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/")
    return response


@ROUTES.get("/auth/session")
async def session_info(request: web.Request) -> web.Response:
    """The console after a reload: the cookie is HttpOnly, so the page asks for its CSRF token and expiry."""
    session, user = await current_session(request)
    settings = request.app[SETTINGS]
    return web.json_response({"user": await public_user(request.app[STORE], user), "csrf_token": session.csrf_token,
                              "expires_at": expires_at(session, settings).isoformat(),
                              "idle_minutes": settings.handoff.session_idle_minutes})


@ROUTES.get("/me")
async def me(request: web.Request) -> web.Response:
    user = await current_user(request)
    return web.json_response(await public_user(request.app[STORE], user))


@ROUTES.put("/me/presence")
async def presence(request: web.Request) -> web.Response:
    user = await current_user(request)
    body = await read_body(request, PresenceBody)
    updated = await set_presence(request.app[STORE], user.id, Presence(body.presence))
    if updated is None:
        raise http_error(401, "not signed in")
    await engine_of(request).set_presence_changed(updated)
    return web.json_response(await public_user(request.app[STORE], updated))


USER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "username", "display_name", "role", "desk", "skills", "capacity", "presence",
                 "active_conversations"],
    "properties": {
        "id": {"type": "string"}, "username": {"type": "string"}, "display_name": {"type": "string"},
        "role": {"type": "string", "enum": [r.value for r in Role]}, "desk": {"type": "string"},
        "skills": {"type": "array", "items": {"type": "string"}}, "capacity": {"type": "integer"},
        "presence": {"type": "string", "enum": [p.value for p in Presence]},
        "active_conversations": {"type": "integer"},
    },
}
SCHEMAS = {"User": USER_SCHEMA}
PATHS = {
    "/auth/login": {"post": operation(
        "Sign in", body=obj(["username", "password"], username=STR, password=STR),
        ok=obj(["user", "csrf_token", "token"], user=ref("User"), csrf_token=STR, token=STR),
        errors=(400, 401, 415, 429, 503), public=True)},
    "/auth/session": {"get": operation(
        "The current session: CSRF token and expiry (sliding)",
        ok=obj(["user", "csrf_token", "expires_at", "idle_minutes"], user=ref("User"), csrf_token=STR,
               expires_at=TIME, idle_minutes=INT), errors=(401,))},
    "/auth/logout": {"post": operation("Sign out", status=204, errors=(401, 403))},
    "/me": {"get": operation("The signed-in user", ok=ref("User"), errors=(401,))},
    "/me/presence": {"put": operation(
        "Set presence", body=obj(["presence"], presence={"type": "string", "enum": ["online", "away", "offline"]}),
        ok=ref("User"), errors=(400, 401, 403, 415))},
}
