"""The counsellor console at ``/console/``: one static page and its ES modules, no build step.

The page talks only to the handoff API (``/api/v1``), so everything it shows is scoped and audited
there. This module only serves the files, under a strict Content-Security-Policy: scripts and
styles from this origin only, no inline code, no framing, API calls to this origin only.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

WEB = Path(__file__).with_name("web")
# The files the page may load; anything else is a 404 (no directory listing, no path tricks).
STATIC: dict[str, str] = {
    "console.css": "text/css",
    "api.js": "text/javascript",
    "app.js": "text/javascript",
    "dom.js": "text/javascript",
    "charts.js": "text/javascript",
    "appointments.js": "text/javascript",
    "queue.js": "text/javascript",
    "conversation.js": "text/javascript",
    "casepanel.js": "text/javascript",
    "safetyplan.js": "text/javascript",
    "worklist.js": "text/javascript",
    "supervisor.js": "text/javascript",
    "dashboard.js": "text/javascript",
}
_COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def content_security_policy(host: str) -> str:
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' ws://{host} wss://{host}; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


async def console_page(request: web.Request) -> web.Response:
    return web.Response(body=(WEB / "index.html").read_bytes(), content_type="text/html", charset="utf-8",
                        headers={**_COMMON, "Content-Security-Policy": content_security_policy(request.host),
                                 "Cache-Control": "no-store"})


async def console_static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    return web.Response(body=(WEB / name).read_bytes(), content_type=STATIC[name], charset="utf-8",
                        headers={**_COMMON, "Cache-Control": "no-cache"})


async def console_redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/")


def setup_console(app: web.Application) -> None:
    app.router.add_get("/console", console_redirect)
    app.router.add_get("/console/", console_page)
    app.router.add_get("/console/static/{name}", console_static)
